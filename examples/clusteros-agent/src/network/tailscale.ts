/**
 * The `tailscale` network provider: the node's address is its Tailscale IPv4 and its peers are
 * the tailnet's nodes, both read from tailscaled.
 *
 * Status source, in order:
 *  1. the LocalAPI, `GET /localapi/v0/status` over tailscaled's unix socket (default
 *     `/var/run/tailscale/tailscaled.sock`), sent with `Host: local-tailscaled.sock` because
 *     tailscaled refuses Node's default `Host: localhost` (and any Origin/Referer) with 403;
 *  2. if the socket cannot be used (missing, refused, denied, non-200), `tailscale status --json`
 *     (same document: the CLI re-encodes the LocalAPI answer), run with `execFile` and a timeout.
 *
 * The JSON is parsed defensively (zod, unknown fields ignored): only BackendState, the Tailscale
 * IPs, Self.HostName/Online and the Peer map entries' HostName/TailscaleIPs/Online are used and
 * checked. A document that fails the check is a {@link TailscaleStatusError} of kind `malformed`,
 * never a crash. The IP is picked by family, not position: the first 100.64.0.0/10 address.
 *
 * `ready()` polls with a bounded exponential backoff (p-retry: this is real I/O) until
 * BackendState is `Running`, logging one line per wait, under a total deadline and the caller's
 * AbortSignal. Nothing secret is logged: the status' `AuthURL` (a login link) never is, and this
 * provider never sees an auth key.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { isIP } from 'node:net';
import pRetry from 'p-retry';
import { z } from 'zod';
import {
  type NetworkLogger,
  NetworkNotReadyError,
  type NetworkPeer,
  type NetworkProvider,
  type NetworkState,
  silentLogger,
} from './provider.js';

/** tailscaled's default LocalAPI socket on Linux. */
export const DEFAULT_TAILSCALED_SOCKET = '/var/run/tailscale/tailscaled.sock';
/** The Host header tailscaled's LocalAPI accepts. */
export const LOCALAPI_HOST = 'local-tailscaled.sock';
/** The LocalAPI status path. */
export const LOCALAPI_STATUS_PATH = '/localapi/v0/status';
/** Largest status document accepted, in bytes (a big tailnet is a few MB). */
export const MAX_STATUS_BYTES = 16 * 1024 * 1024;

/** Options of {@link TailscaleNetworkProvider}; every one has a default. */
export interface TailscaleNetworkOptions {
  /** tailscaled's LocalAPI socket. Default {@link DEFAULT_TAILSCALED_SOCKET}. */
  readonly socketPath?: string;
  /** The `tailscale` CLI used when the socket fails (a name looked up on PATH, or a path). Default `tailscale`. */
  readonly cliPath?: string;
  /** Whether to fall back to the CLI at all. Default true. */
  readonly cliFallback?: boolean;
  /** Timeout of one LocalAPI request, ms. Default 3000. */
  readonly requestTimeoutMs?: number;
  /** Timeout of one CLI run, ms (the child is killed after it). Default 5000. */
  readonly cliTimeoutMs?: number;
  /** Total time `ready()` may wait, ms. Default 60000. */
  readonly readyTimeoutMs?: number;
  /** First backoff delay of `ready()`, ms. Default 250. */
  readonly minBackoffMs?: number;
  /** Largest backoff delay of `ready()`, ms. Default 5000. */
  readonly maxBackoffMs?: number;
  /** Where wait/fallback lines go. Default: nowhere. */
  readonly logger?: NetworkLogger;
}

/** What went wrong reading tailscaled's status. */
export type TailscaleStatusErrorKind = 'unavailable' | 'malformed';

/** tailscaled's status could not be read (`unavailable`) or understood (`malformed`). */
export class TailscaleStatusError extends Error {
  /** Always `'TailscaleStatusError'`. */
  static override readonly name = 'TailscaleStatusError' as const;
  /** Always `'TailscaleStatusError'`. */
  override readonly name = 'TailscaleStatusError' as const;
  /** `unavailable`: neither the socket nor the CLI answered; `malformed`: the document failed validation. */
  readonly kind: TailscaleStatusErrorKind;
  /** Creates the error. */
  constructor(kind: TailscaleStatusErrorKind, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.kind = kind;
  }
}

/** Whether `value` is a {@link TailscaleStatusError}. */
export function isTailscaleStatusError(value: unknown): value is TailscaleStatusError {
  return (
    value instanceof TailscaleStatusError ||
    (value instanceof Error && (value as { name?: unknown }).name === 'TailscaleStatusError')
  );
}

/** The parts of tailscaled's status this provider uses, validated. */
export interface TailscaleStatus {
  /** tailscaled's BackendState (`NoState`, `NeedsLogin`, `NeedsMachineAuth`, `Stopped`, `Starting`, `Running`). */
  readonly backendState: string;
  /** This node's host name, or null when the status has no Self. */
  readonly selfHostName: string | null;
  /** This node's Tailscale IPs, in the daemon's order (empty when none yet). */
  readonly selfIps: readonly string[];
  /** Whether this node is connected to the control plane. */
  readonly selfOnline: boolean;
  /** This node's first 100.64.0.0/10 address, or null. */
  readonly ipv4: string | null;
  /** This node's MagicDNS name without the trailing dot (`host.tailnet.ts.net`), or null. */
  readonly selfDnsName: string | null;
  /** The other nodes, sorted by host name then first IP. */
  readonly peers: readonly NetworkPeer[];
}

const ipList = z
  .array(z.string().refine((s) => isIP(s) !== 0, 'expected an IP address'))
  .nullish()
  .transform((v) => v ?? []);

const peerStatus = z.object({
  HostName: z.string(),
  DNSName: z.string().nullish(),
  TailscaleIPs: ipList,
  Online: z
    .boolean()
    .nullish()
    .transform((v) => v ?? false),
});

const statusDocument = z.object({
  BackendState: z.string().min(1),
  TailscaleIPs: ipList,
  Self: peerStatus.nullish(),
  Peer: z.record(z.string(), peerStatus).nullish(),
});

/** Whether `ip` is an IPv4 address in Tailscale's CGNAT range 100.64.0.0/10. */
export function isTailscaleIPv4(ip: string): boolean {
  if (isIP(ip) !== 4) return false;
  const [a, b] = ip.split('.').map(Number);
  return a === 100 && b !== undefined && b >= 64 && b <= 127;
}

/**
 * Parses a `tailscale status --json` / LocalAPI status document. Throws a
 * {@link TailscaleStatusError} of kind `malformed` naming the first bad field.
 */
export function parseTailscaleStatus(text: string): TailscaleStatus {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TailscaleStatusError(
      'malformed',
      `tailscale status is not valid JSON: ${(err as Error).message}`,
      err,
    );
  }
  const result = statusDocument.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '(document)' : issue.path.join('.');
    throw new TailscaleStatusError(
      'malformed',
      `tailscale status has an unexpected shape at ${where}: ${issue?.message ?? 'invalid'}`,
      result.error,
    );
  }
  const doc = result.data;
  const selfIps =
    doc.Self != null && doc.Self.TailscaleIPs.length > 0 ? doc.Self.TailscaleIPs : doc.TailscaleIPs;
  const peers = Object.values(doc.Peer ?? {})
    .map((p) => ({ hostName: p.HostName, ips: [...p.TailscaleIPs], online: p.Online }))
    .sort((x, y) => cmp(x.hostName, y.hostName) || cmp(x.ips[0] ?? '', y.ips[0] ?? ''));
  return {
    backendState: doc.BackendState,
    selfHostName: doc.Self?.HostName ?? null,
    selfIps,
    selfOnline: doc.Self?.Online ?? false,
    ipv4: selfIps.find(isTailscaleIPv4) ?? null,
    selfDnsName: magicDnsName(doc.Self?.DNSName),
    peers,
  };
}

/** A MagicDNS name as tailscaled prints it (FQDN with a trailing dot), checked, without the dot. */
function magicDnsName(value: string | null | undefined): string | null {
  if (value == null) return null;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  return name.length > 0 && name.length <= 253 && name.split('.').every((part) => label.test(part))
    ? name.toLowerCase()
    : null;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Reads tailscaled's status through its LocalAPI unix socket. Rejects with a plain Error on transport failure. */
export function readLocalApiStatus(
  socketPath: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: LOCALAPI_STATUS_PATH,
        method: 'GET',
        headers: { Host: LOCALAPI_HOST, Accept: 'application/json' },
        timeout: timeoutMs,
        ...(signal === undefined ? {} : { signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_STATUS_BYTES) {
            req.destroy(new Error(`LocalAPI status is larger than ${MAX_STATUS_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`LocalAPI answered HTTP ${res.statusCode}: ${clip(body)}`));
            return;
          }
          resolve(body);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`LocalAPI request timed out after ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Runs `<cliPath> status --json` and returns its stdout. Rejects with a plain Error naming the cause. */
export function readCliStatus(cliPath: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cliPath,
      ['status', '--json'],
      {
        timeout: timeoutMs,
        maxBuffer: MAX_STATUS_BYTES,
        encoding: 'utf8',
        windowsHide: true,
        ...(signal === undefined ? {} : { signal }),
      },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve(stdout);
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        if (e.code === 'ENOENT') reject(new Error(`tailscale CLI not found: ${cliPath}`));
        else if (e.killed === true && e.name !== 'AbortError') {
          reject(new Error(`${cliPath} status --json timed out after ${timeoutMs}ms`));
        } else if (e.name === 'AbortError') reject(err);
        else {
          const detail = clip(stderr.trim()) || e.message;
          reject(new Error(`${cliPath} status --json failed (exit ${String(e.code)}): ${detail}`));
        }
      },
    );
  });
}

/** Reads `signal.aborted` through a call, so the compiler does not narrow it across awaits. */
const isAborted = (signal: AbortSignal): boolean => signal.aborted;

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
}

/** Thrown inside `ready()`'s retry loop while tailscaled is reachable but not yet Running. */
class NotRunningYet extends Error {
  constructor(readonly backendState: string) {
    super(`BackendState is ${backendState}`);
  }
}

const HINTS: Record<string, string> = {
  NeedsLogin: 'the node is not logged in: run `tailscale up` with an auth key',
  NeedsMachineAuth: 'the node awaits approval in the tailnet admin console',
  Stopped: 'tailscale is stopped: run `tailscale up`',
  Starting: 'tailscaled is connecting',
  NoState: 'tailscaled is starting up',
};

/** The `tailscale` network provider (see the file header). */
export class TailscaleNetworkProvider implements NetworkProvider {
  /** Always `'tailscale'`. */
  readonly name = 'tailscale' as const;
  /** The LocalAPI socket in use. */
  readonly socketPath: string;
  /** The CLI used as a fallback. */
  readonly cliPath: string;
  readonly #cliFallback: boolean;
  readonly #requestTimeoutMs: number;
  readonly #cliTimeoutMs: number;
  readonly #readyTimeoutMs: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: NetworkLogger;
  #state: NetworkState = { provider: 'tailscale', connected: false, ip: null, peerCount: 0 };
  #lastBackendState: string | null = null;

  /** Creates the provider; does no I/O. Throws a `RangeError` for a non-positive timeout. */
  constructor(options: TailscaleNetworkOptions = {}) {
    this.socketPath = options.socketPath ?? DEFAULT_TAILSCALED_SOCKET;
    this.cliPath = options.cliPath ?? 'tailscale';
    this.#cliFallback = options.cliFallback ?? true;
    this.#requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? 3000);
    this.#cliTimeoutMs = positive('cliTimeoutMs', options.cliTimeoutMs ?? 5000);
    this.#readyTimeoutMs = positive('readyTimeoutMs', options.readyTimeoutMs ?? 60_000);
    this.#minBackoffMs = positive('minBackoffMs', options.minBackoffMs ?? 250);
    this.#maxBackoffMs = Math.max(this.#minBackoffMs, positive('maxBackoffMs', options.maxBackoffMs ?? 5000));
    this.#log = options.logger ?? silentLogger;
  }

  /** The last known state (no I/O). */
  state(): NetworkState {
    return this.#state;
  }

  /**
   * Reads and validates the status once: LocalAPI first, then the CLI. Updates `state()`.
   * Rejects with a {@link TailscaleStatusError} (`unavailable` naming both failures, or `malformed`).
   */
  async status(signal?: AbortSignal): Promise<TailscaleStatus> {
    let text: string;
    try {
      text = await readLocalApiStatus(this.socketPath, this.#requestTimeoutMs, signal);
    } catch (socketErr) {
      if (signal !== undefined && isAborted(signal)) throw signal.reason;
      const socketMsg = `LocalAPI at ${this.socketPath}: ${(socketErr as Error).message}`;
      if (!this.#cliFallback)
        throw new TailscaleStatusError('unavailable', `tailscaled unreachable (${socketMsg})`, socketErr);
      this.#log.debug(
        { provider: 'tailscale', socketPath: this.socketPath },
        `${socketMsg}; trying ${this.cliPath}`,
      );
      try {
        text = await readCliStatus(this.cliPath, this.#cliTimeoutMs, signal);
      } catch (cliErr) {
        if (signal !== undefined && isAborted(signal)) throw signal.reason;
        throw new TailscaleStatusError(
          'unavailable',
          `tailscaled unreachable (${socketMsg}; CLI fallback: ${(cliErr as Error).message})`,
          cliErr,
        );
      }
    }
    const status = parseTailscaleStatus(text);
    this.#lastBackendState = status.backendState;
    this.#state = {
      provider: 'tailscale',
      connected: status.backendState === 'Running' && status.ipv4 !== null,
      ip: status.ipv4,
      peerCount: status.peers.length,
      ...(status.selfDnsName === null ? {} : { dnsName: status.selfDnsName }),
    };
    return status;
  }

  /** The tailnet's other nodes (one status read). */
  async peers(): Promise<NetworkPeer[]> {
    const status = await this.status();
    return status.peers.map((p) => ({ hostName: p.hostName, ips: [...p.ips], online: p.online }));
  }

  /** Waits until BackendState is `Running` with a Tailscale IPv4 (see {@link NetworkProvider.ready}). */
  async ready(signal?: AbortSignal): Promise<NetworkState> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`deadline of ${this.#readyTimeoutMs}ms passed`)),
      this.#readyTimeoutMs,
    );
    const combined = signal === undefined ? deadline.signal : AbortSignal.any([signal, deadline.signal]);
    const started = Date.now();
    let lastError: unknown;
    try {
      const status = await pRetry(
        async () => {
          const s = await this.status(combined);
          if (s.backendState !== 'Running' || s.ipv4 === null) {
            throw new NotRunningYet(
              s.ipv4 === null && s.backendState === 'Running' ? 'Running (no IPv4 yet)' : s.backendState,
            );
          }
          return s;
        },
        {
          retries: Number.POSITIVE_INFINITY,
          factor: 2,
          minTimeout: this.#minBackoffMs,
          maxTimeout: this.#maxBackoffMs,
          randomize: false,
          maxRetryTime: this.#readyTimeoutMs,
          signal: combined,
          shouldRetry: ({ error }) => !(isTailscaleStatusError(error) && error.kind === 'malformed'),
          onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
            lastError = error;
            if (isTailscaleStatusError(error) && error.kind === 'malformed') return;
            const fields = { provider: 'tailscale', attempt: attemptNumber, retryInMs: retryDelay };
            if (error instanceof NotRunningYet) {
              const hint = HINTS[error.backendState] ?? 'waiting for Running';
              this.#log.info(
                { ...fields, backendState: error.backendState },
                `waiting for tailscale: BackendState is ${error.backendState} (${hint}); retrying in ${retryDelay}ms`,
              );
            } else {
              this.#log.warn(
                { ...fields, err: (error as Error).message },
                `waiting for tailscale: ${(error as Error).message}; retrying in ${retryDelay}ms`,
              );
            }
          },
        },
      );
      this.#log.info(
        {
          provider: 'tailscale',
          ip: status.ipv4,
          peers: status.peers.length,
          waitedMs: Date.now() - started,
        },
        `tailscale is Running: this node is ${status.ipv4}`,
      );
      return this.#state;
    } catch (err) {
      throw this.#notReady(err, lastError, signal, started);
    } finally {
      clearTimeout(timer);
    }
  }

  #notReady(
    err: unknown,
    lastError: unknown,
    signal: AbortSignal | undefined,
    started: number,
  ): NetworkNotReadyError {
    const last = this.#lastBackendState;
    const seen = last === null ? 'no status was read' : `last BackendState ${last}`;
    const cause = lastError ?? err;
    if (isTailscaleStatusError(err) && err.kind === 'malformed') {
      const e = new NetworkNotReadyError(
        'tailscale',
        'invalid-status',
        `tailscale not ready: ${err.message}`,
        last,
        err,
      );
      this.#log.error({ provider: 'tailscale', reason: e.reason }, e.message);
      return e;
    }
    if (signal?.aborted === true) {
      const e = new NetworkNotReadyError(
        'tailscale',
        'aborted',
        `tailscale not ready: aborted after ${Date.now() - started}ms (${seen})`,
        last,
        signal.reason,
      );
      this.#log.warn({ provider: 'tailscale', reason: e.reason }, e.message);
      return e;
    }
    const why =
      lastError instanceof NotRunningYet
        ? `BackendState stayed ${lastError.backendState}${HINTS[lastError.backendState] ? ` (${HINTS[lastError.backendState]})` : ''}`
        : lastError instanceof Error
          ? lastError.message
          : seen;
    const e = new NetworkNotReadyError(
      'tailscale',
      'deadline',
      `tailscale not ready within ${this.#readyTimeoutMs}ms: ${why}`,
      last,
      cause,
    );
    this.#log.error({ provider: 'tailscale', reason: e.reason, lastState: last }, e.message);
    return e;
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`tailscale network: ${name} must be a positive number of ms, got ${value}`);
  }
  return value;
}
