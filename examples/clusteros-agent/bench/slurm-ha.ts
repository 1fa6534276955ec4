// SLURM's own HA, measured on namespace hosts (SLURM-NOTES.md §3 and §4a): two controllers ctl1
// (primary) and ctl2 (backup) share one StateSaveLocation (a directory bind-mounted over
// /var/lib/slurm/slurmctld in both), one worker n1 runs the jobs and every client command.
//
// * takeover runs: with a job running for >= 8 s, `scontrol takeover` on ctl2 (ctl1's slurmctld
//   saves its state and exits); measured from n1 until `scontrol ping` shows ctl2 UP and ctl1
//   DOWN, and until a `timeout 30 squeue -h` issued at that moment returned OK (reissued if it
//   failed or was answered by ctl1 before the switch). Once ctl2's log says it is in control,
//   ctl1's slurmctld is started again: it asks ctl2 for control back, ctl2 saves state and goes
//   back to standby. The job must end COMPLETED. ctl2's slurmctld is then restarted in standby
//   (see restartBackup for why).
// * crash runs: with a job running for >= 8 s, the whole host ctl1 is SIGKILLed (lab.crash);
//   measured the same way (ctl2 takes over after SlurmctldTimeout=10). Then ctl1 is rebooted,
//   its munged, bind mount and slurmctld come back, and it takes control again.
//
// Every wait polls with a deadline; the lab and every daemon are torn down however it ends.
// Run alone: node --conditions=@clusteros/source --import tsx examples/clusteros-agent/bench/slurm-ha.ts
// (TAKEOVERS and CRASHES in the environment; defaults 3 and 1). Needs root.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import {
  jobHasEnded,
  MungeKey,
  parseScontrolPing,
  parseSinfoJson,
  parseSqueueJson,
  type SlurmControllerPing,
  writeMungeKeyFile,
} from '@clusteros/slurm';
import { type LabHost, type LabProcess, NetnsLab, within } from '../test/support/netns-lab.js';
import { GiveUp, until } from '../test/support/slurm-agent-lab.js';

export interface SlurmHaResult {
  /**
   * Per `scontrol takeover` run: ms from issuing the takeover (on ctl2) until `scontrol ping` run
   * on worker n1 shows ctl2 UP and ctl1 (which the takeover makes exit) DOWN, and until a
   * `timeout 30 squeue -h` issued at the moment of the takeover has returned successfully
   * (reissued if it failed or was answered by ctl1 before the ping showed the switch). A backup
   * in standby answers pings as UP, so ctl2 UP alone would be true from the start.
   */
  readonly takeover: { pingUpMs: number; firstSqueueOkMs: number; inControlMs: number }[];
  /**
   * Per crash run: ms from SIGKILL of ctl1's host (lab.crash) until ping from n1 shows ctl2 UP
   * and ctl1 DOWN (how fast ping notices ctl1 is gone, not when ctl2 takes control: ctl2 is UP
   * in standby), and until a squeue issued right at the crash (reissued as above) returned OK.
   */
  readonly crash: { pingUpMs: number; firstSqueueOkMs: number; inControlMs: number }[];
  /** Whether the job running across each takeover and each crash completed (state COMPLETED). */
  readonly jobsCompleted: boolean;
  /** The slurm.conf used, for the report. */
  readonly slurmConf: string;
}

export interface SlurmHaOptions {
  /** `scontrol takeover` runs. */
  takeovers: number;
  /** Crash runs (after the takeovers). */
  crashes: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

const SLURM_CONF = '/etc/slurm/slurm.conf';
const MUNGE_KEY = '/etc/munge/munge.key';
const STATE_DIR = '/var/lib/slurm/slurmctld';
/** The job that runs across every takeover/crash. */
const JOB_SECONDS = 25;
/** State-save lag (notes §6.6): a job younger than ~5 s may be lost by a crash. */
const JOB_AGE_BEFORE_ACTION_MS = 8_000;
const PING_EVERY_MS = 50;
const MUNGE_READY_MS = 10_000;
const CONTROLLER_UP_MS = 30_000;
const NODE_IDLE_MS = 30_000;
const JOB_RUNNING_MS = 30_000;
/** Bound for ctl2 to take over: takeover ~2 s; a crash SlurmctldTimeout=10 plus client retries. */
const TAKEOVER_MS = 60_000;
/** A job ending while no controller answers reports its completion on the stepd's next retry (~24 s). */
const JOB_END_SLACK_MS = 75_000;
const DAEMON_EXIT_MS = 20_000;
const CLIENT_TIMEOUT_MS = 35_000;
const PING_TIMEOUT_MS = 10_000;

interface Timing {
  pingUpMs: number;
  firstSqueueOkMs: number;
  /** From the event until ctl2's log says "Running as primary controller". */
  inControlMs: number;
}

/** `scontrol ping` from `host`: the controller lines (exit 1 when one is down is normal). */
async function ping(host: LabHost): Promise<SlurmControllerPing[]> {
  const out = await host.run(['scontrol', 'ping'], { timeoutMs: PING_TIMEOUT_MS });
  return parseScontrolPing(out.stdout);
}

function pingState(lines: readonly SlurmControllerPing[], controller: string): 'UP' | 'DOWN' | undefined {
  return lines.find((line) => line.controller === controller)?.state;
}

function describePing(lines: readonly SlurmControllerPing[]): string {
  return lines.map((line) => `${line.controller}(${line.role})=${line.state}`).join(' ');
}

function ms(value: number): number {
  return Math.round(value);
}

async function jobs(host: LabHost) {
  const out = await host.run(['squeue', '--json'], { timeoutMs: CLIENT_TIMEOUT_MS });
  if (out.code !== 0) throw new Error(`squeue --json exited ${out.code}: ${out.stderr.trim()}`);
  return parseSqueueJson(out.stdout);
}

async function jobState(host: LabHost, id: number): Promise<string | undefined> {
  return (await jobs(host)).find((job) => job.id === id)?.state;
}

/** What the ping loop has seen of the switch so far, shared with the squeue probe. */
interface SwitchSeen {
  /** ms (from the event) of the first ping from n1 that showed ctl1 DOWN and ctl2 UP. */
  backupAloneMs?: number;
}

/**
 * The squeue probe: `timeout 30 squeue -h` on `host`, issued at `start` and re-issued until a
 * call exits 0 after the ping loop has seen the old controller gone; resolves with the ms from
 * `start` to the return of that call. A call that failed, or that the old controller answered
 * before it let go (the probe and the takeover race each other), does not count.
 */
async function firstSqueueOk(
  host: LabHost,
  start: number,
  seen: SwitchSeen,
  log: (line: string) => void,
): Promise<number> {
  const deadline = start + TAKEOVER_MS;
  for (;;) {
    const issued = performance.now();
    const out = await host.run(['timeout', '30', 'squeue', '-h'], { timeoutMs: CLIENT_TIMEOUT_MS });
    const at = performance.now();
    if (out.code === 0 && seen.backupAloneMs !== undefined) return at - start;
    if (out.code === 0) {
      log(
        `  squeue issued at +${ms(issued - start)} ms answered at +${ms(at - start)} ms, before the switch`,
      );
    } else {
      const why = out.stderr.trim().split('\n')[0] ?? '';
      log(`  squeue issued at +${ms(issued - start)} ms exited ${out.code} at +${ms(at - start)} ms: ${why}`);
    }
    if (at >= deadline) throw new Error(`no squeue succeeded within ${TAKEOVER_MS} ms`);
    await delay(PING_EVERY_MS);
  }
}

/**
 * Polls `scontrol ping` on `host` every 50 ms from `start` on until ctl2 is UP and ctl1 DOWN
 * (a backup in standby answers pings too, so "ctl2 UP" alone says nothing); resolves with the
 * ms from `start` to the return of that ping and records it in `seen`. Logs every change.
 */
async function pingUntilBackupAlone(
  host: LabHost,
  start: number,
  seen: SwitchSeen,
  log: (line: string) => void,
): Promise<number> {
  let shown = '';
  return until(
    'scontrol ping to show ctl2 UP and ctl1 DOWN',
    TAKEOVER_MS,
    async () => {
      const lines = await ping(host);
      const at = performance.now();
      const now = describePing(lines);
      if (now !== shown) {
        log(`  +${ms(at - start)} ms ping: ${now}`);
        shown = now;
      }
      if (pingState(lines, 'ctl2') !== 'UP' || pingState(lines, 'ctl1') !== 'DOWN') return undefined;
      seen.backupAloneMs = at - start;
      return at - start;
    },
    PING_EVERY_MS,
  );
}

/** Size in bytes of a host-side log file (0 if missing): where its new lines will start. */
async function logSize(file: string): Promise<number> {
  return stat(file).then(
    (info) => info.size,
    () => 0,
  );
}

/** The lines a host-side log file gained after byte `offset`. */
async function logSince(file: string, offset: number): Promise<string[]> {
  const bytes = await readFile(file).catch(() => Buffer.alloc(0));
  return bytes.subarray(offset).toString('utf8').split('\n');
}

/**
 * Epoch ms of the first line in `lines` that matches `pattern`, from SLURM's log timestamp
 * (`[2026-12-01T02:46:16.109] ...`, local time, as `Date` parses a time without offset).
 */
function loggedAt(lines: readonly string[], pattern: RegExp): number | undefined {
  for (const line of lines) {
    const stamp = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\]/.exec(line)?.[1];
    if (stamp !== undefined && pattern.test(line)) return new Date(stamp).getTime();
  }
  return undefined;
}

/** slurmctld's log line when it starts serving as the controller in charge. */
const IN_CONTROL = /Running as primary controller/;
/** slurmctld's log line when it (re)enters standby as a backup. */
const IN_STANDBY = /slurmctld running in background mode/;

function renderConf(ctl1: LabHost, ctl2: LabHost, n1: LabHost, cpus: number, realMemory: number): string {
  return [
    'ClusterName=bench',
    `SlurmctldHost=${ctl1.name}(${ctl1.ip})`,
    `SlurmctldHost=${ctl2.name}(${ctl2.ip})`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `StateSaveLocation=${STATE_DIR}`,
    'SlurmdSpoolDir=/var/lib/slurm/slurmd',
    'SlurmctldPidFile=/run/slurmctld.pid',
    'SlurmdPidFile=/run/slurmd.pid',
    'SlurmctldLogFile=/var/log/slurm/slurmctld.log',
    'SlurmdLogFile=/var/log/slurm/slurmd.log',
    'SlurmctldDebug=info',
    'SlurmdDebug=info',
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'MpiDefault=none',
    'MailProg=/bin/true',
    'SchedulerType=sched/backfill',
    'SchedulerParameters=batch_sched_delay=0',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'ReturnToService=2',
    'SlurmctldTimeout=10',
    'SlurmdTimeout=30',
    `NodeName=${n1.name} NodeAddr=${n1.ip} CPUs=${cpus} RealMemory=${realMemory} State=UNKNOWN`,
    'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n');
}

export async function measureSlurmHa(options: SlurmHaOptions): Promise<SlurmHaResult> {
  const log = options.log ?? (() => {});
  for (const [name, value] of [
    ['takeovers', options.takeovers],
    ['crashes', options.crashes],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number >= 0`);
  }
  const began = performance.now();
  const lab = await NetnsLab.create();
  /** Every daemon started, in start order; killed in `finally`. */
  const daemons: LabProcess[] = [];
  try {
    let ctl1 = await lab.addHost('ctl1');
    const ctl2 = await lab.addHost('ctl2');
    const n1 = await lab.addHost('n1');
    log(`lab ${lab.base}: ctl1 ${ctl1.ip}, ctl2 ${ctl2.ip}, n1 ${n1.ip}`);

    const start = (host: LabHost, argv: readonly string[], logName: string): LabProcess => {
      // `env -C /`: the daemons must not inherit (and write into) this process's directory.
      const daemon = host.spawn(['env', '-C', '/', ...argv], {
        logFile: host.path(`/var/log/slurm/${logName}`),
      });
      daemons.push(daemon);
      return daemon;
    };

    // munge: one key for all hosts, munged (foreground, default paths) on each.
    const key = MungeKey.generate();
    const startMunge = async (host: LabHost): Promise<void> => {
      await writeMungeKeyFile(host.path(MUNGE_KEY), key);
      start(host, ['munged', '-F'], 'munged.stdout');
      await until(
        `munge -n | unmunge on ${host.name}`,
        MUNGE_READY_MS,
        async () => {
          const out = await host.run(['sh', '-c', 'munge -n | unmunge >/dev/null'], { timeoutMs: 5_000 });
          return out.code === 0 ? true : undefined;
        },
        100,
      );
    };
    for (const host of [ctl1, ctl2, n1]) await startMunge(host);
    log('munged answers on every host');

    // The "shared file system" for StateSaveLocation.
    const shared = join(lab.base, 'shared-state');
    await mkdir(shared, { recursive: true, mode: 0o755 });
    const mountShared = async (host: LabHost): Promise<void> => {
      const out = await host.run(['mount', '--bind', shared, STATE_DIR]);
      if (out.code !== 0) throw new Error(`mount --bind on ${host.name}: ${out.stderr.trim()}`);
    };
    await mountShared(ctl1);
    await mountShared(ctl2);

    const nproc = await n1.run(['nproc']);
    const cpus = Number.parseInt(nproc.stdout.trim(), 10);
    if (nproc.code !== 0 || !Number.isSafeInteger(cpus) || cpus < 1)
      throw new Error(`nproc on n1: ${nproc.stdout}`);
    const realMemory = Math.min(1000, Math.floor(totalmem() / 2 ** 20 / 4));
    const slurmConf = renderConf(ctl1, ctl2, n1, cpus, realMemory);
    const writeConf = (host: LabHost) => writeFile(host.path(SLURM_CONF), slurmConf, { mode: 0o644 });
    for (const host of [ctl1, ctl2, n1]) await writeConf(host);

    const waitPing = async (
      what: string,
      ok: (lines: SlurmControllerPing[]) => boolean,
      limitMs = CONTROLLER_UP_MS,
    ) => {
      let last = 'no answer';
      try {
        return await until(what, limitMs, async () => {
          const lines = await ping(n1);
          last = describePing(lines);
          return ok(lines) ? lines : undefined;
        });
      } catch (error) {
        throw new Error(`${error instanceof Error ? error.message : String(error)}; last ping: ${last}`);
      }
    };
    const bothUp = (lines: SlurmControllerPing[]): boolean =>
      pingState(lines, 'ctl1') === 'UP' && pingState(lines, 'ctl2') === 'UP';

    let ctl1Daemon = start(ctl1, ['slurmctld', '-D'], 'slurmctld.stdout');
    await waitPing('ctl1 UP', (lines) => pingState(lines, 'ctl1') === 'UP');
    let ctl2Daemon = start(ctl2, ['slurmctld', '-D'], 'slurmctld.stdout');
    await waitPing('ctl2 UP (standby)', bothUp);
    start(n1, ['slurmd', '-D'], 'slurmd.stdout');
    await until('n1 idle', NODE_IDLE_MS, async () => {
      const out = await n1.run(['sinfo', '--json'], { timeoutMs: CLIENT_TIMEOUT_MS });
      if (out.code !== 0) return undefined;
      return parseSinfoJson(out.stdout).find((node) => node.name === 'n1')?.state === 'idle'
        ? true
        : undefined;
    });
    log(`cluster up (${ms(performance.now() - began)} ms): ${describePing(await ping(n1))}, n1 idle`);

    /** Submits a job on n1 and returns once it has been RUNNING for JOB_AGE_BEFORE_ACTION_MS. */
    const agedJob = async (): Promise<number> => {
      const out = await n1.run(
        [
          'sbatch',
          '--parsable',
          '-w',
          'n1',
          '-o',
          '/var/log/slurm/job-%j.out',
          '--wrap',
          `sleep ${JOB_SECONDS}`,
        ],
        { timeoutMs: CLIENT_TIMEOUT_MS },
      );
      const id = Number(out.stdout.trim().split(';')[0]);
      if (out.code !== 0 || !Number.isSafeInteger(id)) throw new Error(`sbatch: ${out.stderr.trim()}`);
      await until(`job ${id} RUNNING`, JOB_RUNNING_MS, async () =>
        (await jobState(n1, id)) === 'RUNNING' ? true : undefined,
      );
      log(`  job ${id} RUNNING; letting it age ${JOB_AGE_BEFORE_ACTION_MS / 1000} s (state-save lag)`);
      await delay(JOB_AGE_BEFORE_ACTION_MS);
      return id;
    };

    /** Waits until job `id` ended; true if COMPLETED. */
    const jobCompleted = async (id: number): Promise<boolean> => {
      const state = await until(
        `job ${id} to end`,
        JOB_SECONDS * 1000 + JOB_END_SLACK_MS,
        async () => {
          const found = await jobState(n1, id);
          return found !== undefined && jobHasEnded(found) ? found : undefined;
        },
        500,
      );
      const show = await n1.run(['scontrol', '-o', 'show', 'job', String(id)], {
        timeoutMs: CLIENT_TIMEOUT_MS,
      });
      const fields = show.stdout.match(/(JobState|RunTime|Restarts|ExitCode)=\S+/g) ?? [];
      log(`  job ${id} ended ${state}: ${fields.join(' ')}`);
      return state === 'COMPLETED';
    };

    const ctl1Log = (): string => ctl1.path('/var/log/slurm/slurmctld.log');
    const ctl2Log = ctl2.path('/var/log/slurm/slurmctld.log');

    /**
     * Starts ctl1's slurmctld (ctl2 must be in control: see ctl2InControl) and waits until ctl1 is
     * back in control: ping from n1 shows both controllers UP (ctl2 answers pings in standby too),
     * ctl2's log says it went back to standby (after ctl1's REQUEST_CONTROL) no later than ctl1's
     * log says "Running as primary controller", and a squeue from n1 works.
     */
    const restoreCtl1 = async (): Promise<void> => {
      const [from1, from2] = [await logSize(ctl1Log()), await logSize(ctl2Log)];
      const t0 = performance.now();
      const daemon = start(ctl1, ['slurmctld', '-D'], 'slurmctld.stdout');
      ctl1Daemon = daemon;
      let exited: number | string | undefined;
      void daemon.exited.then((how) => {
        exited = how;
      });
      await waitPing('ctl1 UP again', (lines) => {
        if (exited !== undefined) throw new GiveUp(`ctl1's slurmctld exited (${exited})`);
        return bothUp(lines);
      });
      const pingMs = performance.now() - t0;
      const [controlAt, standbyAt] = await until(
        'ctl1 in control and ctl2 in standby (logs)',
        CONTROLLER_UP_MS,
        async () => {
          if (exited !== undefined) throw new GiveUp(`ctl1's slurmctld exited (${exited})`);
          const control = loggedAt(await logSince(ctl1Log(), from1), IN_CONTROL);
          const standby = loggedAt(await logSince(ctl2Log, from2), IN_STANDBY);
          return control !== undefined && standby !== undefined ? [control, standby] : undefined;
        },
      );
      if (controlAt < standbyAt) {
        throw new Error(
          `both controllers in control: ctl1 from ${new Date(controlAt).toISOString()}, ` +
            `ctl2 until ${new Date(standbyAt).toISOString()}`,
        );
      }
      await until('squeue from n1 after the restore', CONTROLLER_UP_MS, async () => {
        const out = await n1.run(['timeout', '30', 'squeue', '-h'], { timeoutMs: CLIENT_TIMEOUT_MS });
        return out.code === 0 ? true : undefined;
      });
      log(
        `  ctl1 back: ping UP after ${ms(pingMs)} ms, squeue OK after ${ms(performance.now() - t0)} ms ` +
          `(logs: ctl2 standby ${new Date(standbyAt).toISOString()}, ctl1 in control ${new Date(controlAt).toISOString()})`,
      );
    };

    /**
     * Restarts ctl2's slurmctld in standby (SIGTERM, bounded wait, start, wait for its standby
     * log line and for ping UP), so that every run starts from a backup that never held control.
     * Without this, the 3rd or 4th REQUEST_CONTROL in a row hung in the same backup process: it
     * saved state but never got back to standby, stopped answering pings, and ctl1's start-up
     * blocked ~28 s until "REQUEST_CONTROL reply but backup not completely done relinquishing
     * control. Old state possible".
     */
    const restartBackup = async (): Promise<void> => {
      const t0 = performance.now();
      ctl2Daemon.kill('SIGTERM');
      if (!(await within(ctl2Daemon.exited, DAEMON_EXIT_MS))) {
        throw new Error(`ctl2's slurmctld did not stop within ${DAEMON_EXIT_MS} ms of SIGTERM`);
      }
      const from = await logSize(ctl2Log);
      ctl2Daemon = start(ctl2, ['slurmctld', '-D'], 'slurmctld.stdout');
      await until('ctl2 in standby again (its log)', CONTROLLER_UP_MS, async () =>
        loggedAt(await logSince(ctl2Log, from), IN_STANDBY),
      );
      await waitPing('ctl2 UP in standby', bothUp);
      log(`  ctl2's slurmctld restarted in standby (${ms(performance.now() - t0)} ms)`);
    };

    /**
     * Waits until ctl2's log (past byte `from`) says it runs as primary controller, and logs when
     * it noticed and took control relative to the event at epoch ms `wallT0`. Starting ctl1's
     * slurmctld before this moment gives two controllers in charge of the same state: ctl1 took
     * control at once while ctl2 finished its takeover and went back to standby only ~10 s later
     * (seen when ctl1 was restarted as soon as the takeover made it exit).
     */
    const ctl2InControl = async (from: number, wallT0: number): Promise<number> => {
      const [notice, at] = await until('ctl2 in control (its log)', TAKEOVER_MS, async () => {
        const lines = await logSince(ctl2Log, from);
        const control = loggedAt(lines, IN_CONTROL);
        return control === undefined ? undefined : [loggedAt(lines, /taking over/), control];
      });
      log(
        `  ctl2's log: "taking over" at ${notice === undefined ? '?' : `+${notice - wallT0}`} ms, ` +
          `"Running as primary controller" at +${at - wallT0} ms`,
      );
      return at - wallT0;
    };

    const takeover: Timing[] = [];
    const crash: Timing[] = [];
    let jobsCompleted = true;

    for (let run = 1; run <= options.takeovers; run++) {
      log(`takeover run ${run}/${options.takeovers}`);
      const id = await agedJob();
      const oldDaemon = ctl1Daemon;
      const from2 = await logSize(ctl2Log);
      const wallT0 = Date.now();
      const t0 = performance.now();
      const seen: SwitchSeen = {};
      const squeueOk = firstSqueueOk(n1, t0, seen, log);
      const command = ctl2.run(['scontrol', 'takeover'], { timeoutMs: CLIENT_TIMEOUT_MS }).then((out) => {
        const said = `${out.stdout}${out.stderr}`.trim();
        log(
          `  scontrol takeover exited ${out.code} after ${ms(performance.now() - t0)} ms${said ? `: ${said}` : ''}`,
        );
        if (out.code !== 0) throw new Error(`scontrol takeover exited ${out.code}: ${said}`);
      });
      const pingUp = pingUntilBackupAlone(n1, t0, seen, log);
      const [pingUpMs, firstSqueueOkMs] = await Promise.all([pingUp, squeueOk, command]);
      log(`  pingUpMs ${ms(pingUpMs)}, firstSqueueOkMs ${ms(firstSqueueOkMs)}`);
      const inControlMs = await ctl2InControl(from2, wallT0);
      takeover.push({ pingUpMs: ms(pingUpMs), firstSqueueOkMs: ms(firstSqueueOkMs), inControlMs });
      if (!(await within(oldDaemon.exited, DAEMON_EXIT_MS))) {
        throw new Error(`ctl1's slurmctld did not exit within ${DAEMON_EXIT_MS} ms of the takeover`);
      }
      log(`  ctl1's slurmctld exited (${String(await oldDaemon.exited)})`);
      await restoreCtl1();
      if (!(await jobCompleted(id))) jobsCompleted = false;
      await restartBackup();
    }

    for (let run = 1; run <= options.crashes; run++) {
      log(`crash run ${run}/${options.crashes}`);
      const id = await agedJob();
      const from2 = await logSize(ctl2Log);
      const wallT0 = Date.now();
      const t0 = performance.now();
      const crashed = lab.crash('ctl1');
      const seen: SwitchSeen = {};
      const squeueOk = firstSqueueOk(n1, t0, seen, log);
      const pingUp = pingUntilBackupAlone(n1, t0, seen, log);
      const [pingUpMs, firstSqueueOkMs] = await Promise.all([pingUp, squeueOk, crashed]);
      log(`  pingUpMs ${ms(pingUpMs)}, firstSqueueOkMs ${ms(firstSqueueOkMs)}`);
      const inControlMs = await ctl2InControl(from2, wallT0);
      crash.push({ pingUpMs: ms(pingUpMs), firstSqueueOkMs: ms(firstSqueueOkMs), inControlMs });
      // Reboot ctl1: its files persist, /run starts empty; munged, mount and slurmctld come back.
      ctl1 = await lab.reboot('ctl1');
      await startMunge(ctl1);
      await mountShared(ctl1);
      await writeConf(ctl1);
      await restoreCtl1();
      if (!(await jobCompleted(id))) jobsCompleted = false;
      await restartBackup();
    }

    log(`done in ${ms(performance.now() - began)} ms`);
    return { takeover, crash, jobsCompleted, slurmConf };
  } catch (error) {
    // The lab's files go with the tear-down: show what the daemons said first.
    for (const host of lab.hosts()) {
      for (const file of ['slurmctld.log', 'slurmctld.stdout', 'slurmd.log']) {
        const lines = (await readFile(host.path(`/var/log/slurm/${file}`), 'utf8').catch(() => ''))
          .split('\n')
          .filter((line) => line !== '' && !/pmix|hwloc|cons_tres|mcs|Recovered/.test(line));
        if (lines.length > 0)
          log(`--- ${host.name}:/var/log/slurm/${file} (last lines)\n${lines.slice(-25).join('\n')}`);
      }
    }
    throw error;
  } finally {
    // Daemons first (newest first), then the hosts; both bounded, neither throws.
    for (const daemon of daemons.reverse()) daemon.kill('SIGKILL');
    await Promise.all(daemons.map((daemon) => within(daemon.exited, 5_000)));
    await lab.teardown();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await measureSlurmHa({
    takeovers: Number(process.env.TAKEOVERS ?? 3),
    crashes: Number(process.env.CRASHES ?? 1),
    log: console.log,
  });
  console.log(JSON.stringify(result, null, 2));
}
