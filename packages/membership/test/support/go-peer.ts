// Builds and drives the Go memberlist test peer (test/go-peer/main.go: HashiCorp memberlist 0.2.2
// from Debian's golang-github-hashicorp-memberlist-dev), so that tests can put real Go nodes into
// a cluster. Each peer is one process on 127.0.0.1, driven by JSON lines on stdin and reporting
// JSON lines on stdout; this module correlates replies, keeps a log of every event, and stops
// only the processes it started, by PID. Every wait is bounded.
//
// The same harness drives the TypeScript twin of that peer (test/ts-peer/main.ts: one
// `Memberlist` of this package per process, same flags, same protocol): `startTsPeer`, or
// `startPeer({ impl: 'go' | 'ts', ... })`. Either gives a {@link Peer}.
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Where Debian installs Go library sources (GOPATH layout). */
export const DEBIAN_GOPATH = '/usr/share/gocode';
const MEMBERLIST_SOURCE = join(DEBIAN_GOPATH, 'src/github.com/hashicorp/memberlist');
const SOURCE = fileURLToPath(new URL('../go-peer/main.go', import.meta.url));
const TS_SOURCE = fileURLToPath(new URL('../ts-peer/main.ts', import.meta.url));
/** The repository root: the TypeScript peer runs from there, where `tsx` resolves. */
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BUILD_TIMEOUT_MS = 300_000;
const INSTALL_HINT = 'install it with: apt-get install -y golang-go golang-github-hashicorp-memberlist-dev';

/** Environment for an offline GOPATH-mode build against Debian's memberlist 0.2.2. */
function goBuildEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    CGO_ENABLED: '0',
    GOPATH: DEBIAN_GOPATH,
    GOFLAGS: '',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
  };
  if (!env.GOCACHE && !env.XDG_CACHE_HOME && !env.HOME)
    env.GOCACHE = join(tmpdir(), 'clusteros-go-build-cache');
  return env;
}

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      file,
      args,
      { cwd, env, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            fail(new Error(`the Go toolchain (\`${file}\`) is not on PATH; ${INSTALL_HINT}`));
          } else {
            fail(new Error(`\`${file} ${args.join(' ')}\` failed: ${error.message}\n${stdout}${stderr}`));
          }
          return;
        }
        done(stdout);
      },
    );
  });
}

let binary: Promise<string> | undefined;

/**
 * Builds the Go peer once and returns the path of the executable. The build is cached under
 * `os.tmpdir()/clusteros-go-peer-<first 12 hex of sha256(main.go)>/memberlist-peer`; it is written
 * under a unique temporary name and renamed into place, so parallel test processes never see a
 * half-written binary. Throws (never skips) when Go or memberlist's source is missing.
 */
export function goPeerBinary(): Promise<string> {
  binary ??= buildBinary();
  binary.catch(() => {
    binary = undefined;
  });
  return binary;
}

async function buildBinary(): Promise<string> {
  const source = await readFile(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `clusteros-go-peer-${hash}`);
  const target = join(dir, 'memberlist-peer');
  try {
    await access(target, constants.X_OK);
    return target;
  } catch {
    // Not built yet: build below.
  }
  const env = goBuildEnv();
  await run('go', ['version'], dirname(SOURCE), env);
  try {
    await access(join(MEMBERLIST_SOURCE, 'memberlist.go'));
  } catch {
    throw new Error(`HashiCorp memberlist source is missing at ${MEMBERLIST_SOURCE}; ${INSTALL_HINT}`);
  }
  await mkdir(dir, { recursive: true });
  const temporary = join(dir, `.memberlist-peer-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await run('go', ['build', '-o', temporary, 'main.go'], dirname(SOURCE), env);
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// Protocol types.

/** memberlist's NodeStateType values. */
export const NodeState = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;

/** Which peer program: HashiCorp memberlist (Go) or this package (TypeScript). */
export type PeerImpl = 'go' | 'ts';

/** A node as a peer reports it. `state` and `incarnation` are null if unavailable. */
export interface GoNode {
  readonly name: string;
  readonly addr: string;
  readonly port: number;
  readonly meta: Uint8Array;
  readonly state: number | null;
  readonly incarnation: number | null;
  /** [pMin, pMax, pCur, dMin, dMax, dCur] */
  readonly vsn: readonly number[];
}

export type GoPeerEvent =
  | { readonly event: 'ready'; readonly name: string; readonly addr: string; readonly port: number }
  | { readonly event: 'join' | 'leave' | 'update'; readonly node: GoNode }
  | { readonly event: 'message'; readonly data: Uint8Array }
  | { readonly event: 'merge_remote_state'; readonly join: boolean; readonly data: Uint8Array }
  | { readonly event: 'reply'; readonly id: unknown; readonly body: Readonly<Record<string, unknown>> }
  | { readonly event: 'error'; readonly id: unknown; readonly message: string }
  | { readonly event: 'shutdown'; readonly reason: string };

export type GoNodeEvent = Extract<GoPeerEvent, { readonly node: GoNode }>;

/** Neutral names: the protocol and options are the same for Go and TypeScript peers. */
export type PeerNode = GoNode;
export type PeerEvent = GoPeerEvent;
export type PeerNodeEvent = GoNodeEvent;
export type PeerOptions = GoPeerOptions;

export interface GoPeerOptions {
  readonly name: string;
  /** memberlist base configuration; default 'local'. */
  readonly config?: 'lan' | 'local' | 'wan' | undefined;
  /** 0 (default) lets the peer pick a free port. */
  readonly port?: number | undefined;
  readonly probeIntervalMs?: number | undefined;
  readonly probeTimeoutMs?: number | undefined;
  readonly gossipIntervalMs?: number | undefined;
  readonly pushPullIntervalMs?: number | undefined;
  readonly suspicionMult?: number | undefined;
  readonly tcpTimeoutMs?: number | undefined;
  readonly protocolVersion?: number | undefined;
  /** 16, 24 or 32 bytes; handed over in a 0600 temporary file, never on argv. */
  readonly key?: Uint8Array | undefined;
  readonly meta?: Uint8Array | undefined;
  /** What the peer's delegate returns from LocalState (push/pull user state). */
  readonly userState?: string | undefined;
  /** Delegate protocol [min, max, current]; default [0, 0, 0]. */
  readonly delegateVersion?: readonly [number, number, number] | undefined;
  readonly compression?: boolean | undefined;
  readonly gossipVerifyIncoming?: boolean | undefined;
  readonly gossipVerifyOutgoing?: boolean | undefined;
  /** Bound on start-up; default 15 s. */
  readonly readyTimeoutMs?: number | undefined;
  /** Default bound on each command's reply; default 10 s. */
  readonly commandTimeoutMs?: number | undefined;
}

/** A command the peer answered with an error event. */
export class GoPeerCommandError extends Error {
  constructor(
    readonly peer: string,
    readonly command: string,
    readonly reason: string,
    readonly impl: PeerImpl = 'go',
  ) {
    super(`${impl} peer ${peer}: ${command} failed: ${reason}`);
    this.name = 'GoPeerCommandError';
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const unb64 = (text: unknown): Uint8Array =>
  new Uint8Array(Buffer.from(typeof text === 'string' ? text : '', 'base64'));

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function toNode(value: unknown): GoNode {
  const raw = asRecord(value);
  return {
    name: String(raw.name),
    addr: String(raw.addr),
    port: Number(raw.port),
    meta: unb64(raw.meta_b64),
    state: typeof raw.state === 'number' ? raw.state : null,
    incarnation: typeof raw.incarnation === 'number' ? raw.incarnation : null,
    vsn: Array.isArray(raw.vsn) ? raw.vsn.map(Number) : [],
  };
}

/** Turns one stdout line into an event; undefined when it is not one. */
function parseEvent(line: string): GoPeerEvent | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = asRecord(JSON.parse(line));
  } catch {
    return undefined;
  }
  switch (raw.event) {
    case 'ready':
      return { event: 'ready', name: String(raw.name), addr: String(raw.addr), port: Number(raw.port) };
    case 'join':
    case 'leave':
    case 'update':
      return { event: raw.event, node: toNode(raw.node) };
    case 'message':
      return { event: 'message', data: unb64(raw.data_b64) };
    case 'merge_remote_state':
      return { event: 'merge_remote_state', join: raw.join === true, data: unb64(raw.data_b64) };
    case 'reply': {
      const { event: _event, id, ...body } = raw;
      return { event: 'reply', id, body };
    }
    case 'error':
      return { event: 'error', id: raw.id, message: String(raw.message) };
    case 'shutdown':
      return { event: 'shutdown', reason: String(raw.reason) };
    default:
      return undefined;
  }
}

function buildArgs(options: GoPeerOptions, keyFile: string | undefined): string[] {
  const args = ['-name', options.name, '-bind', '127.0.0.1', '-port', String(options.port ?? 0)];
  args.push('-config', options.config ?? 'local');
  const numeric: [string, number | undefined][] = [
    ['-probe-interval-ms', options.probeIntervalMs],
    ['-probe-timeout-ms', options.probeTimeoutMs],
    ['-gossip-interval-ms', options.gossipIntervalMs],
    ['-pushpull-interval-ms', options.pushPullIntervalMs],
    ['-suspicion-mult', options.suspicionMult],
    ['-tcp-timeout-ms', options.tcpTimeoutMs],
    ['-protocol-version', options.protocolVersion],
  ];
  for (const [flag, value] of numeric) if (value !== undefined) args.push(flag, String(value));
  const booleans: [string, boolean | undefined][] = [
    ['-compression', options.compression],
    ['-gossip-verify-incoming', options.gossipVerifyIncoming],
    ['-gossip-verify-outgoing', options.gossipVerifyOutgoing],
  ];
  for (const [flag, value] of booleans) if (value !== undefined) args.push(`${flag}=${value}`);
  if (keyFile !== undefined) args.push('-key-file', keyFile);
  if (options.meta !== undefined) args.push('-meta-b64', b64(options.meta));
  if (options.userState !== undefined) args.push('-user-state', options.userState);
  if (options.delegateVersion !== undefined)
    args.push('-delegate-version', options.delegateVersion.join(','));
  return args;
}

const STDERR_LIMIT = 64 * 1024;

interface Pending {
  readonly command: string;
  readonly resolve: (body: Readonly<Record<string, unknown>>) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Neutral name of {@link GoPeerCommandError}. */
export const PeerCommandError = GoPeerCommandError;
export type PeerCommandError = GoPeerCommandError;

/**
 * A running peer process (Go or TypeScript). Create with {@link startGoPeer}, {@link startTsPeer}
 * or {@link startPeer}.
 */
export class Peer {
  /** Emits 'event' with every {@link GoPeerEvent}, and 'exit' with (code, signal). */
  readonly events = new EventEmitter();
  /** Every event received so far, in order (including those before 'ready'). */
  readonly log: GoPeerEvent[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly pid: number;
  private boundPort = 0;
  private stderr = '';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  /** @internal */
  constructor(
    readonly name: string,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly commandTimeoutMs: number,
    private readonly keyDir: string | undefined,
    /** Which program this is. */
    readonly impl: PeerImpl = 'go',
  ) {
    if (child.pid === undefined) throw new Error(`${impl} peer ${name} did not start`);
    this.pid = child.pid;
    this.events.setMaxListeners(0);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => this.appendStderr(chunk));
    child.on('error', (error) => this.appendStderr(`[process error] ${error.message}\n`));
    child.stdin.on('error', () => {
      // The process is gone; its exit rejects whatever is pending.
    });
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      const event = parseEvent(line);
      if (event === undefined) {
        this.appendStderr(`[stdout, not an event] ${line}\n`);
        return;
      }
      this.log.push(event);
      if (event.event === 'reply' || event.event === 'error') this.settle(event);
      this.events.emit('event', event);
    });
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        for (const [id, pending] of this.pending) {
          clearTimeout(pending.timer);
          pending.reject(
            new Error(
              `${impl} peer ${name} exited (code ${code}, signal ${signal}) before replying to ${pending.command}${this.tail()}`,
            ),
          );
          this.pending.delete(id);
        }
        this.events.emit('exit', code, signal);
        done({ code, signal });
      });
    });
  }

  /** The UDP/TCP port the peer bound (known once it is ready). */
  get port(): number {
    return this.boundPort;
  }

  /** '127.0.0.1:port', what other peers join. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** @internal */
  setReady(port: number): void {
    this.boundPort = port;
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The last part of the peer's stderr (memberlist's log). */
  stderrTail(chars = 4000): string {
    return this.stderr.slice(-chars);
  }

  private tail(): string {
    const text = this.stderrTail().trimEnd();
    return text === '' ? '' : `\n--- stderr of ${this.impl} peer ${this.name} (tail) ---\n${text}`;
  }

  private appendStderr(chunk: string): void {
    this.stderr += chunk;
    if (this.stderr.length > STDERR_LIMIT) this.stderr = this.stderr.slice(-STDERR_LIMIT);
  }

  private settle(event: Extract<GoPeerEvent, { event: 'reply' | 'error' }>): void {
    if (typeof event.id !== 'number') return;
    const pending = this.pending.get(event.id);
    if (pending === undefined) return;
    this.pending.delete(event.id);
    clearTimeout(pending.timer);
    if (event.event === 'reply') pending.resolve(event.body);
    else pending.reject(new GoPeerCommandError(this.name, pending.command, event.message, this.impl));
  }

  /**
   * Sends one command and resolves with its reply (without `event` and `id`); rejects on the
   * peer's error event, on its exit, or after `timeoutMs`.
   */
  command(
    cmd: string,
    args: Readonly<Record<string, unknown>> = {},
    timeoutMs = this.commandTimeoutMs,
  ): Promise<Readonly<Record<string, unknown>>> {
    if (!this.running)
      return Promise.reject(new Error(`${this.impl} peer ${this.name} has exited; cannot ${cmd}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new Error(
            `${this.impl} peer ${this.name}: no reply to ${cmd} within ${timeoutMs} ms${this.tail()}`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { command: cmd, resolve, reject, timer });
      this.child.stdin.write(`${JSON.stringify({ ...args, id, cmd })}\n`);
    });
  }

  /** Joins through the given 'host:port' addresses; resolves with how many were contacted. */
  async join(addrs: readonly string[], timeoutMs?: number): Promise<number> {
    const reply = await this.command('join', { addrs }, timeoutMs);
    return Number(reply.contacted);
  }

  /** Live (alive or suspect) members, including this peer. */
  async members(): Promise<GoNode[]> {
    const reply = await this.command('members');
    return Array.isArray(reply.members) ? reply.members.map(toNode) : [];
  }

  async localNode(): Promise<GoNode> {
    return toNode((await this.command('local')).node);
  }

  async numMembers(): Promise<number> {
    return Number((await this.command('num_members')).num_members);
  }

  /** Sets this peer's meta and re-advertises it, waiting up to `timeoutMs` for the broadcast. */
  async updateMeta(meta: Uint8Array, timeoutMs = 5_000): Promise<void> {
    await this.command('update_meta', { meta_b64: b64(meta), timeout_ms: timeoutMs }, timeoutMs + 5_000);
  }

  /** Sends a user message to the live member `node` (by name), over TCP if `reliable`, else UDP. */
  async send(node: string, data: Uint8Array, reliable: boolean): Promise<void> {
    await this.command('send', { node, reliable, data_b64: b64(data) });
  }

  /** Queues a user broadcast, piggybacked on gossip; resolves with the queue length. */
  async broadcast(data: Uint8Array): Promise<number> {
    return Number((await this.command('broadcast', { data_b64: b64(data) })).queued);
  }

  /** memberlist Leave (the process keeps running); waits up to `timeoutMs` for the broadcast. */
  async leave(timeoutMs = 5_000): Promise<void> {
    await this.command('leave', { timeout_ms: timeoutMs }, timeoutMs + 5_000);
  }

  async installKey(key: Uint8Array): Promise<number> {
    return this.keyring('install', key);
  }

  async useKey(key: Uint8Array): Promise<number> {
    return this.keyring('use', key);
  }

  async removeKey(key: Uint8Array): Promise<number> {
    return this.keyring('remove', key);
  }

  private async keyring(op: 'install' | 'use' | 'remove', key: Uint8Array): Promise<number> {
    return Number((await this.command('keyring', { op, key_b64: b64(key) })).num_keys);
  }

  /** memberlist's awareness health score (0 is healthy). */
  async healthScore(): Promise<number> {
    return Number((await this.command('health')).score);
  }

  /**
   * Resolves with the first event, in the log from index `from` (default 0, so events already
   * received count) or arriving later, that satisfies `predicate`; rejects after `timeoutMs`
   * or if the process exits first.
   */
  waitForEvent<T extends GoPeerEvent>(
    predicate: (event: GoPeerEvent) => event is T,
    timeoutMs?: number,
    options?: { from?: number; what?: string },
  ): Promise<T>;
  waitForEvent(
    predicate: (event: GoPeerEvent) => boolean,
    timeoutMs?: number,
    options?: { from?: number; what?: string },
  ): Promise<GoPeerEvent>;
  waitForEvent(
    predicate: (event: GoPeerEvent) => boolean,
    timeoutMs = 10_000,
    options: { from?: number; what?: string } = {},
  ): Promise<GoPeerEvent> {
    const what = options.what ?? 'the expected event';
    const seen = this.log.slice(options.from ?? 0).find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('event', onEvent);
        this.events.off('exit', onExit);
      };
      const onEvent = (event: GoPeerEvent) => {
        if (!predicate(event)) return;
        cleanup();
        resolve(event);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(
          new Error(
            `${this.impl} peer ${this.name} exited (code ${code}, signal ${signal}) waiting for ${what}${this.tail()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `${this.impl} peer ${this.name}: ${what} did not arrive within ${timeoutMs} ms${this.tail()}`,
          ),
        );
      }, timeoutMs);
      if (!this.running) {
        onExit(this.exitStatus?.code ?? null, this.exitStatus?.signal ?? null);
        return;
      }
      this.events.on('event', onEvent);
      this.events.on('exit', onExit);
    });
  }

  /** Waits for a join/leave/update event about node `name` matching `predicate`. */
  waitForNodeEvent(
    kind: GoNodeEvent['event'],
    name: string,
    timeoutMs?: number,
    predicate: (node: GoNode) => boolean = () => true,
  ): Promise<GoNodeEvent> {
    return this.waitForEvent(
      (e): e is GoNodeEvent => e.event === kind && e.node.name === name && predicate(e.node),
      timeoutMs,
      { what: `${kind} of ${name}` },
    );
  }

  /** Sends `signal` to this peer's PID and waits (bounded) for it to exit; SIGKILL if it lingers. */
  async kill(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5_000): Promise<void> {
    if (this.running) {
      this.child.kill(signal);
      await this.waitExit(timeoutMs, true);
    }
    await this.removeKeyFile();
  }

  /** Graceful stop: the shutdown command, then SIGKILL by PID if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.running) {
      this.child.stdin.write(`${JSON.stringify({ id: this.nextId++, cmd: 'shutdown' })}\n`);
      this.child.stdin.end();
      await this.waitExit(timeoutMs, true);
    }
    await this.removeKeyFile();
  }

  private async waitExit(timeoutMs: number, escalate: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((done) => {
        timer = setTimeout(() => done(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!expired || !escalate) return;
    if (this.running) this.child.kill('SIGKILL');
    const stuck = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((done) => {
        timer = setTimeout(() => done(true), 5_000);
      }),
    ]);
    clearTimeout(timer);
    if (stuck) throw new Error(`${this.impl} peer ${this.name} (pid ${this.pid}) survived SIGKILL for 5 s`);
  }

  /** @internal */
  async removeKeyFile(): Promise<void> {
    if (this.keyDir !== undefined) await rm(this.keyDir, { recursive: true, force: true });
  }
}

/** The Go peer under its former name: the class is {@link Peer}. */
export { Peer as GoPeer };

/** How to run one peer program. */
interface Launch {
  readonly impl: PeerImpl;
  readonly file: string;
  readonly prefix: readonly string[];
  readonly cwd?: string;
}

/**
 * Starts a peer process on 127.0.0.1 and resolves once it has printed its ready line (bounded by
 * `readyTimeoutMs`, default 15 s). The key, if any, is written to a 0600 temporary file that is
 * deleted once the peer has started (or failed to).
 */
async function launch(how: Launch, options: GoPeerOptions): Promise<Peer> {
  let keyDir: string | undefined;
  let keyFile: string | undefined;
  if (options.key !== undefined) {
    keyDir = await mkdtemp(join(tmpdir(), `clusteros-${how.impl}-peer-key-`));
    keyFile = join(keyDir, 'key');
    await writeFile(keyFile, `base64:${b64(options.key)}\n`, { mode: 0o600 });
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  let peer: Peer;
  try {
    const child = spawn(how.file, [...how.prefix, ...buildArgs(options, keyFile)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(how.cwd === undefined ? {} : { cwd: how.cwd }),
    });
    if (child.pid === undefined) {
      const error = await new Promise<Error>((done) => child.once('error', done));
      throw new Error(`could not start ${how.file}: ${error.message}`);
    }
    peer = new Peer(options.name, child, options.commandTimeoutMs ?? 10_000, keyDir, how.impl);
  } catch (error) {
    if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
    throw error;
  }
  try {
    const ready = await peer.waitForEvent(
      (e): e is Extract<GoPeerEvent, { event: 'ready' }> => e.event === 'ready',
      readyTimeoutMs,
      { what: 'the ready line' },
    );
    peer.setReady(ready.port);
    return peer;
  } catch (error) {
    await peer.kill('SIGKILL');
    throw error;
  } finally {
    await peer.removeKeyFile();
  }
}

/** Starts a Go peer (building it first if needed); see {@link launch} for the bounds and the key. */
export async function startGoPeer(options: GoPeerOptions): Promise<Peer> {
  return launch({ impl: 'go', file: await goPeerBinary(), prefix: [] }, options);
}

/**
 * Starts a TypeScript peer (test/ts-peer/main.ts under `node --conditions=@clusteros/source
 * --import tsx`, from the repository root), with the same options and handle as a Go peer.
 * `bundle`, if given, is a plain-JavaScript bundle of that program, run with `node` alone (no
 * transpiler in the process, as the benchmarks measure it).
 */
export function startTsPeer(options: PeerOptions, bundle?: string): Promise<Peer> {
  return launch(
    {
      impl: 'ts',
      file: process.execPath,
      prefix:
        bundle === undefined ? ['--conditions=@clusteros/source', '--import', 'tsx', TS_SOURCE] : [bundle],
      cwd: REPO_ROOT,
    },
    options,
  );
}

/** Starts a Go or a TypeScript peer (`tsBundle`: see {@link startTsPeer}). */
export function startPeer(
  options: PeerOptions & { readonly impl: PeerImpl; readonly tsBundle?: string | undefined },
): Promise<Peer> {
  const { impl, tsBundle, ...rest } = options;
  return impl === 'go' ? startGoPeer(rest) : startTsPeer(rest, tsBundle);
}

/** Stops every given peer (graceful, then SIGKILL), even if some stops fail; rethrows the first failure. */
export async function stopAll(peers: readonly (Peer | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(peers.map((p) => p?.stop()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
