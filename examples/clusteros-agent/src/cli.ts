// node-agent: the ClusterOS node agent's command line (see src/cli/main.ts).
//   node examples/clusteros-agent/dist/cli.js status --api http://127.0.0.1:9090
import { main } from './cli/main.js';

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
    // `start` and `demo` have stopped everything they started; anything still holding the event
    // loop (a socket in TIME_WAIT teardown, a late timer) must not keep the process alive.
    if (['start', 'demo'].includes(process.argv[2] ?? '')) setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    process.stderr.write(`node-agent: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
