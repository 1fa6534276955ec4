// Several "hosts" on one machine, built from Linux namespaces (root only), following the recipe
// measured in SLURM-NOTES.md §3:
//
// * a hub network namespace holds a bridge `br0` and no uplink, so nothing leaves the machine and
//   the root namespace cannot reach the hosts (clients run inside a host);
// * every host is a bash that is PID 1 of its own net + uts + pid + mount namespaces. Its veth
//   `eth0` is plugged into the bridge (hub side `v-<name>`), its hostname is its name, and the
//   stock Debian paths in PRIVATE_DIRS (plus `/etc/hosts`) are bind mounts of a per-host
//   directory, so software with default paths runs unchanged and every file can be read from
//   outside;
// * SIGKILL to a host's PID 1 makes the kernel kill everything in it: that is a crashed machine,
//   and it is also why tear-down cannot leave strays behind.
//
// Every wait here is bounded, and only PIDs this module started are ever signalled.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Outcome of {@link LabHost.run}: the exit code (128 + signal number if killed) and the output. */
export interface LabCommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A long-running process started with {@link LabHost.spawn}. */
export interface LabProcess {
  /** PID (root namespace) of the `nsenter` process that waits for the command. */
  readonly pid: number;
  /** Resolves with the exit code, or the signal name if the command was killed (e.g. 'SIGKILL'). */
  readonly exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM) to the command itself; SIGKILL also hits its process group. */
  kill(signal?: NodeJS.Signals): void;
}

/** Options of {@link LabHost.run}. */
export interface LabRunOptions {
  /** Written to the command's stdin (stdin is closed either way). */
  input?: string;
  /** Kill the command (SIGKILL to its process group) and reject after this long; default 20000. */
  timeoutMs?: number;
  /** Merged over a minimal environment that holds only PATH. */
  env?: Record<string, string>;
}

/** Options of {@link LabHost.spawn}. */
export interface LabSpawnOptions {
  /** Host-side path; stdout and stderr are appended to it. */
  logFile: string;
  /** Merged over a minimal environment that holds only PATH. */
  env?: Record<string, string>;
}

/**
 * One boot of one host. After {@link NetnsLab.crash} the object stays dead ({@link alive} false,
 * `run` rejects); {@link NetnsLab.reboot} returns a new object for the new boot.
 */
export interface LabHost {
  /** Host name, also its hostname (UTS namespace). */
  readonly name: string;
  /** IPv4 address on the lab bridge, e.g. 10.77.0.10. */
  readonly ip: string;
  /** PID (root namespace view) of the host's PID 1. */
  readonly pid: number;
  /** Host-side directory holding this host's private files. */
  readonly root: string;
  /**
   * Host-side path of an in-host path that is bind-mounted, e.g. path('/etc/slurm/slurm.conf') ->
   * `${root}/etc/slurm/slurm.conf`; '/etc/hosts' maps to this host's own hosts file
   * `${root}/etc-hosts`. Throws for relative paths and paths not under a private mount.
   */
  path(inHost: string): string;
  /**
   * Runs argv inside the host (`nsenter -t pid -n -u -m -p -- ...`). Never rejects for a non-zero
   * exit: returns the code. Rejects (with the command in the message) only if the host is not
   * running, `nsenter` cannot be spawned, or on timeout.
   */
  run(argv: readonly string[], options?: LabRunOptions): Promise<LabCommandResult>;
  /**
   * Starts a long-running process inside the host, stdout and stderr appended to `options.logFile`
   * (host-side path). Throws if the host is not running or `nsenter` cannot be spawned.
   */
  spawn(argv: readonly string[], options: LabSpawnOptions): LabProcess;
  /** False once the host was crashed, torn down, or its PID 1 died. */
  readonly alive: boolean;
}

/** Options of {@link NetnsLab.create}. */
export interface NetnsLabOptions {
  /**
   * Scratch directory; default: a new `clusteros-netns-*` directory under os.tmpdir(). If given,
   * it must be missing or empty, because teardown deletes it.
   */
  base?: string;
  /** First three octets of the /24 the hosts live in; default '10.77.0'. */
  subnet?: string;
}

/** In-host directories that are private per host (bind mounts of `${root}${dir}`). */
export const PRIVATE_DIRS: readonly string[] = Object.freeze([
  '/etc/slurm',
  '/etc/munge',
  '/run',
  '/var/lib/slurm',
  '/var/log/slurm',
  '/var/lib/munge',
  '/var/log/munge',
  '/var/lib/clusteros',
]);

// Modes the Debian packages give these directories; munged refuses keys, logs and sockets in
// directories that are more open (or, for the socket dir, not traversable by others).
const DIR_MODES: Readonly<Record<string, number>> = {
  '/etc/munge': 0o700,
  '/var/log/munge': 0o700,
  '/var/lib/munge': 0o711,
  '/run': 0o755,
  '/run/munge': 0o755,
};
// Created inside the private dirs because slurm.conf with stock paths expects them.
const EXTRA_DIRS = ['/run/munge', '/var/lib/slurm/slurmctld', '/var/lib/slurm/slurmd'];

const PLUGSTACK = '/etc/slurm/plugstack.conf';
const DEFAULT_SUBNET = '10.77.0';
const FIRST_HOST_OCTET = 10;
const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,11}$/; // hub side `v-<name>` must fit IFNAMSIZ (15)
const MINIMAL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const RUN_TIMEOUT_MS = 20_000;
const SETUP_TIMEOUT_MS = 10_000;
const HOLDER_START_MS = 5_000;
const DEATH_WAIT_MS = 5_000;
const STREAM_GRACE_MS = 250;
// PID 1 of every namespace holder: as PID 1, bash reaps re-parented daemons (no zombies keep
// PIDs alive); the `sleep & wait` loop keeps it interruptible by TERM.
const HOLDER_SCRIPT = 'trap "exit 0" TERM; while :; do sleep 1 & wait; done';

// ---------------------------------------------------------------------------------------------
// Processes

/** Kills a process (or, for a negative number, a process group), ignoring "already gone". */
function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: gone already. EPERM cannot happen as root.
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function describe(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0));
}

interface ExecOptions {
  input?: string | undefined;
  timeoutMs: number;
  env?: Record<string, string> | undefined;
}

/**
 * Runs `file args`, collecting its output. The child gets its own process group (detached), so a
 * timeout can SIGKILL everything the command started in that group too (see signalCommand).
 */
function execute(file: string, args: readonly string[], options: ExecOptions): Promise<LabCommandResult> {
  const command = describe([file, ...args]);
  return new Promise<LabCommandResult>((resolve, reject) => {
    const child = spawn(file, args, {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: MINIMAL_PATH, ...options.env },
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      outcome();
    };
    const timer = setTimeout(() => {
      signalCommand(child, 'SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      finish(() => reject(new Error(`timed out after ${options.timeoutMs} ms: ${command}`)));
    }, options.timeoutMs);
    const result = (code: number | null, signal: NodeJS.Signals | null): LabCommandResult => ({
      code: exitCode(code, signal),
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
    });
    child.on('error', (error) => finish(() => reject(new Error(`cannot run ${command}: ${error.message}`))));
    child.on('close', (code, signal) => finish(() => resolve(result(code, signal))));
    // 'close' waits for stdout/stderr to close; a daemon the command left behind may hold them
    // open for ever, so after the exit give the pipes a short grace and then stop reading.
    child.on('exit', (code, signal) => {
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(() => resolve(result(code, signal)));
      }, STREAM_GRACE_MS);
    });
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** Like {@link execute}, but a non-zero exit is an error carrying stderr. */
async function check(file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await execute(file, args, { input, timeoutMs: SETUP_TIMEOUT_MS });
  if (result.code !== 0) {
    throw new Error(
      `${describe([file, ...args])} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

/** Polls `probe` every `intervalMs` until it returns a value, for at most `limitMs`. */
async function pollUntil<T>(
  what: string,
  limitMs: number,
  intervalMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A namespace holder: `unshare ... --fork` (our child) and the bash it forked, PID 1 inside. Known
 * to the lab from the moment unshare is spawned, so a tear-down racing a start can kill it.
 */
interface Tracked {
  readonly child: ChildProcess;
  /** PID of the unshare process (our child, in a session of its own). */
  readonly unsharePid: number;
  /** PID (root namespace view) of the bash that holds the namespaces, once it runs. */
  pid: number | undefined;
  /** Resolves when unshare exited, i.e. after the holder bash died and was reaped. */
  readonly gone: Promise<void>;
}

/** A holder whose bash runs. */
interface Holder extends Tracked {
  readonly pid: number;
}

function holderRunning(holder: { child: ChildProcess }): boolean {
  return holder.child.exitCode === null && holder.child.signalCode === null;
}

/**
 * Starts `unshare FLAGS --fork --kill-child=KILL bash -c HOLDER_SCRIPT` in a new session (so a
 * terminal's Ctrl-C does not hit it behind our back: teardown kills it) and returns once the
 * forked bash runs. `--kill-child=KILL` makes the kernel SIGKILL that bash if unshare dies.
 * `onStarted` learns the unshare child at once, so a tear-down racing this start can kill it.
 */
async function startHolder(
  flags: readonly string[],
  logFile: string,
  onStarted: (tracked: Tracked) => void,
): Promise<Holder> {
  // unshare's own errors ("unshare failed: ...") go to a log file we can quote.
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn('unshare', [...flags, '--fork', '--kill-child=KILL', 'bash', '-c', HOLDER_SCRIPT], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: MINIMAL_PATH },
    });
  } finally {
    closeSync(fd);
  }
  child.unref(); // a lab must not keep the test process alive; teardown and 'exit' kill it
  let spawnError: Error | undefined;
  const gone = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', (error) => {
      spawnError = error;
      resolve();
    });
  });
  const unsharePid = child.pid;
  if (unsharePid === undefined) {
    await within(gone, 1_000); // let the 'error' event arrive
    throw new Error(`cannot start unshare: ${spawnError?.message ?? 'no pid'}`);
  }
  const tracked: Tracked = { child, unsharePid, pid: undefined, gone };
  onStarted(tracked);
  try {
    // The forked child exists before it has made its mounts private and mounted /proc (that
    // happens between fork and exec): wait until it is the bash, so nobody enters a half-made
    // namespace (a bind mount made there could even propagate to the machine).
    tracked.pid = await pollUntil(
      `the holder forked by unshare (pid ${unsharePid})`,
      HOLDER_START_MS,
      10,
      async () => {
        if (!holderRunning(tracked)) {
          const log = await readFile(logFile, 'utf8').catch(() => '');
          const reason = log.trim().split('\n').pop() ?? '';
          throw new Error(
            `unshare ${flags.join(' ')} exited (${child.exitCode ?? child.signalCode}): ${reason}`,
          );
        }
        const found = await execute('pgrep', ['-P', String(unsharePid)], { timeoutMs: SETUP_TIMEOUT_MS });
        const first = Number.parseInt(found.stdout.trim().split('\n')[0] ?? '', 10);
        if (!Number.isInteger(first)) return undefined;
        const comm = await readFile(`/proc/${first}/comm`, 'utf8').catch(() => '');
        return comm.trim() === 'bash' ? first : undefined;
      },
    );
  } catch (error) {
    await killHolder(tracked, DEATH_WAIT_MS);
    throw error;
  }
  return { ...tracked, pid: tracked.pid };
}

/**
 * SIGKILLs a holder's bash (the kernel then kills everything in its PID namespace) and waits
 * (bounded) until unshare reaped it and exited; SIGKILLs unshare itself if that does not happen
 * (or if the bash is not known yet: `--kill-child` then kills the bash). True if it is gone.
 */
async function killHolder(holder: Tracked, limitMs: number): Promise<boolean> {
  if (holderRunning(holder)) signalQuietly(holder.pid ?? holder.unsharePid, 'SIGKILL');
  if (await within(holder.gone, limitMs)) return true;
  if (holderRunning(holder)) signalQuietly(holder.unsharePid, 'SIGKILL');
  return within(holder.gone, 1_000);
}

/**
 * Signals the command an `nsenter -p` child process runs. nsenter forks the command and does not
 * forward signals, so the command (nsenter's only child) is signalled, and nsenter then exits
 * with the command's status. Never nsenter and the command at once: an orphaned command would be
 * re-parented to the machine's init (nsenter lives in the root PID namespace), and the host's
 * PID 1 cannot finish dying until that init reaps it (seen: 1.4 s under a lazy init). For
 * SIGKILL, what the command left in nsenter's process group is killed once nsenter has exited.
 */
function signalCommand(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const command = childrenOf(pid)[0];
  // No child: nsenter has not forked yet (so it can die alone), or the command just ended.
  signalQuietly(command ?? pid, signal);
  if (signal !== 'SIGKILL') return;
  child.once('exit', () => {
    for (const member of groupMembers(pid)) signalQuietly(member, 'SIGKILL');
  });
  // Bounded: should nsenter not exit (the command stuck in the kernel), kill it after a second.
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) signalQuietly(pid, 'SIGKILL');
  }, 1_000).unref();
}

/**
 * Processes whose process group is `pgid`, per /proc. A group id stays allocated while it has
 * members, so these are exactly the processes left in a group this module created.
 */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

/** Children of `pid` per /proc (CONFIG_PROC_CHILDREN); empty if unknown or gone. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Safety net: holders outlive this process unless killed, so kill them on the way out.

interface Registered {
  killSync(): void;
  teardown(): Promise<void>;
}
const liveLabs = new Map<NetnsLab, Registered>();
let tearingDownOnSignal = false;

function onExit(): void {
  for (const entry of liveLabs.values()) entry.killSync();
}

function onSignal(signal: NodeJS.Signals): void {
  const code = signal === 'SIGINT' ? 130 : 143;
  if (tearingDownOnSignal) {
    // Second signal: stop waiting, kill synchronously ('exit' handler) and go.
    process.exit(code);
  }
  tearingDownOnSignal = true;
  const all = [...liveLabs.values()].map((entry) => entry.teardown());
  void Promise.allSettled(all).finally(() => process.exit(code));
}

function register(lab: NetnsLab, entry: Registered): void {
  if (liveLabs.size === 0) {
    process.on('exit', onExit);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  liveLabs.set(lab, entry);
}

function unregister(lab: NetnsLab): void {
  if (!liveLabs.delete(lab) || liveLabs.size > 0) return;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

// ---------------------------------------------------------------------------------------------
// Hosts

/** Everything that survives a crash: name, address and files. */
interface HostRecord {
  readonly name: string;
  readonly ip: string;
  readonly root: string;
  current: LabHostImpl | undefined;
}

class LabHostImpl implements LabHost {
  readonly name: string;
  readonly ip: string;
  readonly root: string;
  readonly pid: number;
  readonly holder: Holder;
  /** Set by crash and teardown: from then on the PID may be reused, so it must not be used. */
  dead = false;

  constructor(record: HostRecord, holder: Holder) {
    this.name = record.name;
    this.ip = record.ip;
    this.root = record.root;
    this.holder = holder;
    this.pid = holder.pid;
  }

  get alive(): boolean {
    return !this.dead && holderRunning(this.holder);
  }

  path(inHost: string): string {
    if (!inHost.startsWith('/')) throw new Error(`not an absolute path: ${inHost}`);
    const normal = posix.normalize(inHost).replace(/(.)\/+$/, '$1');
    if (normal === '/etc/hosts') return join(this.root, 'etc-hosts');
    if (PRIVATE_DIRS.some((dir) => normal === dir || normal.startsWith(`${dir}/`))) {
      return join(this.root, normal);
    }
    throw new Error(
      `${inHost} is not under a private mount of host ${this.name} (${PRIVATE_DIRS.join(', ')})`,
    );
  }

  private nsenterArgs(argv: readonly string[]): string[] {
    if (argv.length === 0) throw new Error('empty argv');
    if (!this.alive) throw new Error(`host ${this.name} (pid ${this.pid}) is not running: ${describe(argv)}`);
    return ['-t', String(this.pid), '-n', '-u', '-m', '-p', '--', ...argv];
  }

  async run(argv: readonly string[], options: LabRunOptions = {}): Promise<LabCommandResult> {
    const args = this.nsenterArgs(argv);
    return execute('nsenter', args, {
      input: options.input,
      timeoutMs: options.timeoutMs ?? RUN_TIMEOUT_MS,
      env: options.env,
    });
  }

  spawn(argv: readonly string[], options: LabSpawnOptions): LabProcess {
    const args = this.nsenterArgs(argv);
    const fd = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      // Own process group, as in execute(): kill('SIGKILL') takes the command's helpers too.
      child = spawn('nsenter', args, {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: { PATH: MINIMAL_PATH, ...options.env },
      });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<number | string>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      child.on('error', (error) => resolve(`error: ${error.message}`));
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`cannot spawn nsenter for ${describe(argv)} on ${this.name}`);
    return {
      pid,
      exited,
      kill(signal: NodeJS.Signals = 'SIGTERM'): void {
        signalCommand(child, signal);
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Lab

/**
 * Several hosts on one machine: a hub network namespace with a bridge, and per host a PID 1 in
 * its own net, uts, pid and mount namespaces. Needs root, util-linux and iproute2.
 */
export class NetnsLab {
  /** Scratch directory: `hosts/<name>/` holds each host's files. */
  readonly base: string;
  private readonly subnet: string;
  private readonly hub: Holder;
  private readonly records = new Map<string, HostRecord>();
  /** Every holder this lab started whose unshare still runs: tear-down kills exactly these. */
  private readonly holders = new Set<Tracked>();
  private nextOctet = FIRST_HOST_OCTET;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private teardownPromise: Promise<void> | undefined;

  private constructor(base: string, subnet: string, hub: Holder) {
    this.base = base;
    this.subnet = subnet;
    this.hub = hub;
  }

  /** Creates the scratch directory and the hub (bridge `br0`, no uplink). */
  static async create(options: NetnsLabOptions = {}): Promise<NetnsLab> {
    const subnet = options.subnet ?? DEFAULT_SUBNET;
    const octets = subnet.split('.');
    if (octets.length !== 3 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) {
      throw new Error(`subnet must be three octets like '10.77.0': ${subnet}`);
    }
    let base: string;
    if (options.base === undefined) {
      base = await mkdtemp(join(tmpdir(), 'clusteros-netns-'));
    } else {
      base = options.base;
      await mkdir(base, { recursive: true });
      // teardown deletes base: refuse anything that already holds files.
      if ((await readdir(base)).length > 0) throw new Error(`base directory is not empty: ${base}`);
    }
    // mkdtemp makes 0700: open it up like a real root file system, so the files of the hosts can be
    // reached by anyone (the notes: munged refuses a socket directory others cannot traverse).
    await chmod(base, 0o755);
    await mkdir(join(base, 'hosts'), { mode: 0o755 });
    await chmod(join(base, 'hosts'), 0o755);

    // Started before the lab object exists, so a failure kills it here.
    let hub: Holder | undefined;
    try {
      hub = await startHolder(['--net'], join(base, 'hub.holder.log'), () => {});
      await check(
        'nsenter',
        ['-t', String(hub.pid), '-n', 'ip', '-batch', '-'],
        'link set lo up\nlink add br0 type bridge\nlink set br0 up\n',
      );
    } catch (error) {
      if (hub !== undefined) await killHolder(hub, DEATH_WAIT_MS);
      await rm(base, { recursive: true, force: true }).catch(() => {});
      throw error;
    }
    const lab = new NetnsLab(base, subnet, hub);
    lab.track(hub);
    register(lab, { killSync: () => lab.killSync(), teardown: () => lab.teardown() });
    return lab;
  }

  /**
   * Creates and boots host `name` (lowercase letters, digits and '-', not starting with '-', at
   * most 12 characters) with the next free address .10, .11, ... (or `options.ip`, which must be
   * in the subnet). Its private directories are bind-mounted over PRIVATE_DIRS, its own hosts file
   * over /etc/hosts, and every host's hosts file gains a line for it. If booting fails, the host
   * stays known but down (its line stays too), and {@link reboot} can try again.
   */
  addHost(name: string, options: { ip?: string } = {}): Promise<LabHost> {
    return this.serial(async () => {
      this.assertOpen();
      if (!NAME_PATTERN.test(name)) {
        throw new Error(
          `host name must be 1-12 of [a-z0-9-], not starting with '-': ${JSON.stringify(name)}`,
        );
      }
      if (this.records.has(name)) throw new Error(`host ${name} exists already`);
      const ip = options.ip === undefined ? this.nextFreeIp() : this.checkIp(options.ip);
      const record: HostRecord = { name, ip, root: join(this.base, 'hosts', name), current: undefined };
      await this.prepareRoot(record);
      // Existing hosts learn the newcomer (in their own files, keeping whatever else they hold).
      const known = new Set([...this.records.values()].map((r) => hostLine(r)));
      for (const other of this.records.values()) {
        await insertHostLine(join(other.root, 'etc-hosts'), hostLine(record), known);
      }
      this.records.set(name, record);
      await writeFile(join(record.root, 'etc-hosts'), this.initialHostsFile(), { mode: 0o644 });
      return this.boot(record);
    });
  }

  /** The current boot of host `name`; throws if there is no such host. */
  host(name: string): LabHost {
    const current = this.records.get(name)?.current;
    if (current === undefined) throw new Error(`no host ${name} in this lab`);
    return current;
  }

  /** The current boot of every host, in order of creation (crashed ones have alive false). */
  hosts(): readonly LabHost[] {
    return [...this.records.values()].flatMap((r) => (r.current === undefined ? [] : [r.current]));
  }

  /**
   * Crashes host `name`: SIGKILL to its PID 1 (the kernel kills every process in it), waits (at
   * most 5 s) until it is gone, and removes its veth from the hub. Its files stay. A host that is
   * down already is left alone.
   */
  crash(name: string): Promise<void> {
    return this.serial(async () => {
      const record = this.records.get(name);
      if (record === undefined) throw new Error(`no host ${name} in this lab`);
      const current = record.current;
      if (current !== undefined) {
        current.dead = true;
        if (!(await killHolder(current.holder, DEATH_WAIT_MS))) {
          throw new Error(`host ${name} (pid ${current.pid}) did not die within ${DEATH_WAIT_MS} ms`);
        }
      }
      await this.removeVeth(name);
    });
  }

  /**
   * Boots a crashed host again with the same name, address and directory, in new namespaces.
   * Like a real reboot, /run (a tmpfs on real machines) starts empty but for /run/munge.
   */
  reboot(name: string): Promise<LabHost> {
    return this.serial(async () => {
      this.assertOpen();
      const record = this.records.get(name);
      if (record === undefined) throw new Error(`no host ${name} in this lab`);
      if (record.current?.alive === true) throw new Error(`host ${name} is running: crash it first`);
      await this.removeVeth(name); // in case its PID 1 died without crash()
      await rm(join(record.root, 'run'), { recursive: true, force: true });
      await this.prepareRoot(record);
      return this.boot(record);
    });
  }

  /**
   * Kills every host and the hub, waits (bounded) for them to die, and removes the base directory
   * unless `options.keep`. Idempotent; never throws.
   */
  teardown(options: { keep?: boolean } = {}): Promise<void> {
    if (this.teardownPromise === undefined) {
      this.closed = true;
      this.teardownPromise = this.doTeardown(options.keep === true);
    }
    return this.teardownPromise;
  }

  // -------------------------------------------------------------------------------------------

  private async doTeardown(keep: boolean): Promise<void> {
    try {
      for (const record of this.records.values()) {
        if (record.current !== undefined) record.current.dead = true;
      }
      // Every holder we started and that still runs: the hosts, the hub, and any boot in flight.
      // SIGKILL all PID 1s at once, then wait for them together.
      const holders = [...this.holders];
      await Promise.all(holders.map((holder) => killHolder(holder, DEATH_WAIT_MS)));
      // Reaped by unshare means gone; check anyway (bounded) before deleting their files.
      await pollUntil('the hosts to vanish', DEATH_WAIT_MS, 20, () =>
        holders.every((h) => h.pid === undefined || !exists(h.pid)) ? true : undefined,
      ).catch(() => {});
      if (!keep) await rm(this.base, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // never throws: tear-down is what runs when something already went wrong
    } finally {
      unregister(this);
    }
  }

  /** Synchronous best effort for process 'exit': SIGKILL every holder bash and unshare we started. */
  private killSync(): void {
    for (const holder of this.holders) {
      if (!holderRunning(holder)) continue; // reaped: its PIDs may belong to others by now
      if (holder.pid !== undefined) signalQuietly(holder.pid, 'SIGKILL');
      signalQuietly(holder.unsharePid, 'SIGKILL'); // --kill-child: the kernel kills its bash too
    }
  }

  private track(holder: Tracked): void {
    this.holders.add(holder);
    void holder.gone.then(() => this.holders.delete(holder));
  }

  /** Runs lab mutations one at a time (hosts files and the bridge are shared state). */
  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => {});
    return result;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('lab was torn down');
  }

  private checkIp(ip: string): string {
    const prefix = `${this.subnet}.`;
    const last = ip.startsWith(prefix) ? ip.slice(prefix.length) : '';
    if (!/^\d{1,3}$/.test(last) || Number(last) < 1 || Number(last) > 254) {
      throw new Error(`address ${ip} is not a host address in ${this.subnet}.0/24`);
    }
    const normal = `${prefix}${Number(last)}`;
    const owner = [...this.records.values()].find((r) => r.ip === normal);
    if (owner !== undefined) throw new Error(`address ${normal} belongs to host ${owner.name}`);
    return normal;
  }

  private nextFreeIp(): string {
    const used = new Set([...this.records.values()].map((r) => r.ip));
    for (; this.nextOctet <= 254; this.nextOctet++) {
      const ip = `${this.subnet}.${this.nextOctet}`;
      if (!used.has(ip)) {
        this.nextOctet++;
        return ip;
      }
    }
    throw new Error(`no free address left in ${this.subnet}.0/24`);
  }

  private initialHostsFile(): string {
    const lines = [...this.records.values()].map((r) => hostLine(r));
    return ['127.0.0.1 localhost', '::1 localhost', ...lines, ''].join('\n');
  }

  /** Creates the host's directories (idempotent) with the modes the Debian packages use. */
  private async prepareRoot(record: HostRecord): Promise<void> {
    await mkdirTraversable(record.root);
    for (const dir of [...PRIVATE_DIRS, ...EXTRA_DIRS]) {
      // Every directory on the way (etc, var, var/lib, ...) must be traversable by others.
      const parts = dir.split('/').filter((p) => p !== '');
      let at = record.root;
      for (const part of parts) {
        at = join(at, part);
        await mkdirTraversable(at);
      }
    }
    for (const [dir, mode] of Object.entries(DIR_MODES)) await chmod(join(record.root, dir), mode);
    await copyFile(PLUGSTACK, join(record.root, PLUGSTACK)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** Starts the host's namespaces and wires them: veth into the hub, hostname, address, mounts. */
  private async boot(record: HostRecord): Promise<LabHost> {
    const logFile = join(this.base, 'hosts', `${record.name}.holder.log`);
    const holder = await startHolder(
      ['--net', '--uts', '--pid', '--mount-proc', '--propagation', 'private'],
      logFile,
      (tracked) => this.track(tracked),
    );
    const host = new LabHostImpl(record, holder);
    try {
      this.assertOpen(); // a teardown raced this boot: its kill may have missed this holder
      const pid = String(holder.pid);
      const veth = `v-${record.name}`;
      await check(
        'nsenter',
        ['-t', String(this.hub.pid), '-n', 'ip', '-batch', '-'],
        `link add ${veth} type veth peer name eth0 netns ${pid}\nlink set ${veth} master br0 up\n`,
      );
      await check('nsenter', ['-t', pid, '-u', 'hostname', record.name]);
      await check(
        'nsenter',
        ['-t', pid, '-n', 'ip', '-batch', '-'],
        `link set lo up\naddr add ${record.ip}/24 dev eth0\nlink set eth0 up\n`,
      );
      // One nsenter for all mounts (each spawn costs a few ms); paths arrive as arguments.
      const mounts = [
        ...PRIVATE_DIRS.map((dir) => [join(record.root, dir), dir]),
        [join(record.root, 'etc-hosts'), '/etc/hosts'],
      ];
      for (const [, target] of mounts) await ensureMountpoint(target ?? '');
      await check('nsenter', [
        '-t',
        pid,
        '-m',
        '--',
        'sh',
        '-ec',
        'while [ $# -gt 0 ]; do mount --bind "$1" "$2"; shift 2; done',
        'mount-private',
        ...mounts.flat(),
      ]);
    } catch (error) {
      host.dead = true;
      await killHolder(holder, DEATH_WAIT_MS);
      await this.removeVeth(record.name).catch(() => {});
      throw error;
    }
    record.current = host;
    return host;
  }

  /** Deletes `v-<name>` from the hub if it is there, and waits (bounded) until it is gone. */
  private async removeVeth(name: string): Promise<void> {
    const hubArgs = ['-t', String(this.hub.pid), '-n', 'ip'];
    // The kernel also destroys it with the host's network namespace, asynchronously.
    await execute('nsenter', [...hubArgs, 'link', 'del', `v-${name}`], { timeoutMs: SETUP_TIMEOUT_MS });
    await pollUntil(`v-${name} to leave the hub`, DEATH_WAIT_MS, 20, async () => {
      const shown = await execute('nsenter', [...hubArgs, 'link', 'show', `v-${name}`], {
        timeoutMs: SETUP_TIMEOUT_MS,
      });
      return shown.code === 0 ? undefined : true;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Files

function hostLine(record: { ip: string; name: string }): string {
  return `${record.ip} ${record.name}`;
}

async function mkdirTraversable(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755); // explicit: mkdir's mode is subject to the umask
}

/**
 * A bind mount needs its target to exist. The hosts share the machine's root file system, so a
 * missing mountpoint (e.g. /var/lib/clusteros when the product is not installed) is created there
 * as an empty directory; nothing else on the machine is touched.
 */
async function ensureMountpoint(target: string): Promise<void> {
  if (target === '/etc/hosts') return;
  await mkdir(target, { recursive: true, mode: 0o755 });
}

/**
 * Inserts `line` into a hosts file after the last line that is one of `known` (the lab's host
 * lines), or at the end, keeping everything else. The file is rewritten in place (same inode):
 * the host's /etc/hosts is a bind mount of this very inode, and a rename would detach it.
 */
async function insertHostLine(file: string, line: string, known: ReadonlySet<string>): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const text = await handle.readFile('utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop(); // trailing newline
    const normal = (l: string): string => l.trim().split(/\s+/).join(' ');
    if (lines.some((l) => normal(l) === line)) return;
    let at = lines.length;
    for (let i = lines.length - 1; i >= 0; i--) {
      if (known.has(normal(lines[i] ?? ''))) {
        at = i + 1;
        break;
      }
    }
    lines.splice(at, 0, line);
    const next = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    // Write then truncate (rather than truncate then write): a reader never sees an empty file.
    await handle.write(next, 0, next.length, 0);
    await handle.truncate(next.length);
  } finally {
    await handle.close();
  }
}
