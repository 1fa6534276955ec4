/**
 * The ClusterOS side of the SLURM benchmark: three real agents on namespace hosts (the lab of
 * test/support/slurm-agent-lab.ts) run SLURM; the controller is handed from node to node with a
 * job running, and the holder's host is crashed, while probes on another host measure what a
 * SLURM user sees. Every run checks that the job it ran across the change completed with its own
 * run time.
 */
import { readFile } from 'node:fs/promises';
import { jobRuntimeSeconds } from '@clusteros/slurm';
import {
  controllerSeenFrom,
  readProbe,
  SlurmAgentLab,
  sinfo,
  slurmLogTime,
  startProbe,
  submit,
  until,
  waitEnded,
  waitRunning,
} from '../test/support/slurm-agent-lab.js';

/** One planned handoff. */
export interface HandoffRun {
  /** Longest stretch in which `scontrol ping` on a worker (every 50 ms) got no answer. */
  readonly clientOutageMs: number;
  /** From "Terminate signal" in the old slurmctld's log to "Running as primary controller" in the new one's. */
  readonly controllerGapMs: number;
  /** `squeue` calls issued every 200 ms on the worker during the handoff, and how many failed. */
  readonly squeueCalls: number;
  /** Failed squeue calls. */
  readonly squeueFailed: number;
  /** The slowest of those squeue calls (a call issued while no controller answers waits and retries). */
  readonly slowestSqueueMs: number;
  /** The job that ran across the handoff completed with its own run time. */
  readonly jobIntact: boolean;
}

/** One crash of the holder's host. */
export interface CrashRun {
  /** From SIGKILL of the host's PID 1 until `scontrol ping` on a survivor answers UP. */
  readonly recoveryMs: number;
  /** The job that had run ≥ 8 s before the crash completed. */
  readonly jobSurvived: boolean;
}

/** Everything measured. */
export interface ClusterOsResult {
  readonly handoffs: HandoffRun[];
  readonly crashes: CrashRun[];
}

/** Milliseconds of the last log line matching `pattern` (slurmctld logs local time; only differences are used). */
async function lastLogTime(file: string, pattern: RegExp): Promise<number> {
  const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => pattern.test(l));
  return slurmLogTime(lines.at(-1) ?? '');
}

const NAMES = ['n1', 'n2', 'n3'] as const;

/** Runs the ClusterOS measurements on one lab. */
export async function measureClusterOs(options: {
  readonly handoffs: number;
  readonly crashes: number;
  readonly log: (line: string) => void;
}): Promise<ClusterOsResult> {
  const env = await SlurmAgentLab.create(NAMES);
  const handoffs: HandoffRun[] = [];
  const crashes: CrashRun[] = [];
  try {
    for (const name of NAMES) env.startAgent(name);
    const settle = async (): Promise<string> => {
      const holder = await until(
        'one controller seen from every host',
        120_000,
        async () => {
          env.agentsAlive();
          const seen = await Promise.all(NAMES.map((n) => controllerSeenFrom(env.host(n))));
          return seen.every((s) => s !== null && s === seen[0]) ? (seen[0] as string) : undefined;
        },
        500,
      );
      await until(
        'three idle nodes',
        120_000,
        async () => {
          const nodes = await sinfo(env.host(holder));
          return nodes.length === 3 && nodes.every((n) => n.state === 'idle') ? true : undefined;
        },
        500,
      );
      return holder;
    };
    let holder = await settle();

    for (let run = 0; run < options.handoffs; run++) {
      const others = NAMES.filter((n) => n !== holder);
      const target = others[run % others.length] as string;
      const worker = env.host(others.find((n) => n !== target) as string);
      const job = await submit(worker, worker.name, 'sleep 6');
      await waitRunning(worker, job);
      const probe = startProbe(worker, 40, `handoff-${run}`);
      await until('the probe has samples', 10_000, async () =>
        (await readFile(probe.pingLog, 'utf8').catch(() => '')).length > 0 ? true : undefined,
      );
      await env.handoff(holder, 'slurm-controller', target);
      await until('the new controller answers', 30_000, async () =>
        (await controllerSeenFrom(worker)) === target ? true : undefined,
      );
      const done = await waitEnded(worker, job);
      const probed = await readProbe(probe);
      const stopped = await lastLogTime(
        env.host(holder).path('/var/log/slurm/slurmctld.log'),
        /Terminate signal/,
      );
      const ready = await lastLogTime(
        env.host(target).path('/var/log/slurm/slurmctld.log'),
        /Running as primary controller/,
      );
      const runtime = jobRuntimeSeconds(done, Date.now() / 1000);
      const result: HandoffRun = {
        clientOutageMs: probed.outageMs,
        controllerGapMs: ready - stopped,
        squeueCalls: probed.squeueCalls,
        squeueFailed: probed.failed.length,
        slowestSqueueMs: probed.slowestSqueueMs,
        jobIntact: done.state === 'COMPLETED' && runtime >= 6 && runtime <= 7,
      };
      handoffs.push(result);
      options.log(`handoff ${run + 1}: ${holder} -> ${target} ${JSON.stringify(result)}`);
      for (const failure of probed.failed)
        options.log(
          `  failed squeue: ${failure} (old slurmctld stopped at ${stopped}, new primary at ${ready})`,
        );
      holder = target;
    }

    for (let run = 0; run < options.crashes; run++) {
      const survivors = NAMES.filter((n) => n !== holder);
      const watcher = env.host(survivors[0] as string);
      const runsOn = survivors[1] as string;
      const job = await submit(watcher, runsOn, 'sleep 20');
      await waitRunning(watcher, job, 8);
      const crashedAt = Date.now();
      const crashed = holder;
      await env.lab.crash(crashed);
      env.release(crashed);
      const next = await until(
        'a new controller answers',
        60_000,
        async () => {
          const seen = await controllerSeenFrom(watcher);
          return seen !== null && seen !== crashed ? seen : undefined;
        },
        50,
      );
      const recoveryMs = Date.now() - crashedAt;
      const done = await waitEnded(watcher, job);
      crashes.push({ recoveryMs, jobSurvived: done.state === 'COMPLETED' });
      options.log(`crash ${run + 1}: ${crashed} -> ${next} ${JSON.stringify(crashes.at(-1))}`);
      // The crashed host boots again and its agent rejoins, for the next run.
      await env.lab.reboot(crashed);
      env.startAgent(crashed);
      holder = await settle();
    }
    return { handoffs, crashes };
  } catch (error) {
    options.log(await env.warnings());
    throw error;
  } finally {
    await env.teardown();
  }
}
