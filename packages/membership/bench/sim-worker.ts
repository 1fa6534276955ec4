// One simulation run in a process of its own (spawned by sim-runner.ts): a fresh heap and JIT per
// run, a heap limit of its own, and CPU time that belongs to this run alone. The job comes as
// JSON in argv[2]; the result goes to stdout as one line `RESULT <json>`; progress to stderr.
import { runConverged } from './sim-converged.js';
import { encodeResult, type Job } from './sim-job.js';
import { runLifeguard } from './sim-lifeguard.js';
import { runScale } from './sim-scale.js';

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
};

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as Job;
  const result =
    job.kind === 'scale'
      ? await runScale({ ...job.settings, log })
      : job.kind === 'converged'
        ? await runConverged({ ...job.settings, log })
        : await runLifeguard({ ...job.settings, log });
  process.stdout.write(`RESULT ${encodeResult(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
