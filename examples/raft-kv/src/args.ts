import { parseAddress } from '@clusteros/sim';

/** Thrown for bad command-line arguments; the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  /** Always `'UsageError'`. */
  override readonly name = 'UsageError' as const;
}

/** The parsed command line of `raft-kv`. */
export interface RaftKvArgs {
  readonly id: string;
  readonly listenClient: { readonly host: string; readonly port: number };
  readonly listenPeer: { readonly host: string; readonly port: number };
  readonly peers: Readonly<Record<string, string>>;
  readonly dataDir: string;
  readonly clusterKeyFile: string;
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
  /** Applied entries between two snapshots (etcd's `--snapshot-count`). */
  readonly snapshotCount: number;
  /** Start the election timer almost expired (etcd's `--initial-election-tick-advance`). */
  readonly initialElectionTickAdvance: boolean;
  /** Run `warmUpRaft` before serving, so the first election or transfer this member wins does not run cold code. */
  readonly warmUp: boolean;
}

/** Applied entries between snapshots when `--snapshot-count` is not given: etcd 3.4's default. */
export const SNAPSHOT_COUNT = 100_000;

/** The usage text printed for `--help` and after a usage error. */
export const USAGE = `usage: raft-kv --id NAME --listen-client HOST:PORT --listen-peer HOST:PORT
               --peers NAME=HOST:PORT,... --data-dir DIR --cluster-key-file FILE
               [--heartbeat-ms 100] [--election-timeout-ms 1000] [--snapshot-count 100000]
               [--initial-election-tick-advance true|false] [--warm-up true|false]

Runs one Raft member with a KV state machine and serves etcd's v3 JSON API (put, range,
deleterange, txn, maintenance/status, maintenance/transfer-leadership) on --listen-client.
--peers lists the peer addresses of all initial voters, this member included. The cluster key
is read from a file (at least 16 bytes) and never taken on the command line. A snapshot of
the state is written (and the log compacted) every --snapshot-count applied entries, etcd 3.4's
default included. As in etcd, a starting member campaigns after one heartbeat to one election
timeout rather than after a whole timeout first (--initial-election-tick-advance, default true).
Before it serves, a member runs a throw-away in-memory cluster for a moment so that its leader
code is compiled before it first leads (--warm-up, default true).`;

const FLAGS = new Set([
  '--id',
  '--listen-client',
  '--listen-peer',
  '--peers',
  '--data-dir',
  '--cluster-key-file',
  '--heartbeat-ms',
  '--election-timeout-ms',
  '--snapshot-count',
  '--initial-election-tick-advance',
  '--warm-up',
]);

function address(flag: string, value: string): { host: string; port: number } {
  try {
    return parseAddress(value);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

function boolean(flag: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`${flag} must be true or false`);
}

function positive(flag: string, value: string): number {
  if (!/^\d{1,7}$/.test(value) || Number(value) === 0)
    throw new UsageError(`${flag} must be a positive integer`);
  return Number(value);
}

/** Parses argv (without `node` and the script). Throws {@link UsageError}. */
export function parseArgs(argv: readonly string[]): RaftKvArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!FLAGS.has(flag)) throw new UsageError(`unknown argument ${JSON.stringify(arg.slice(0, 100))}`);
    let value: string | undefined;
    if (eq > 0 && arg.startsWith('--')) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} given twice`);
    values.set(flag, value);
  }
  const need = (flag: string): string => {
    const value = values.get(flag);
    if (value === undefined) throw new UsageError(`${flag} is required`);
    return value;
  };
  const id = need('--id');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
    throw new UsageError('--id must be 1-64 characters of A-Z a-z 0-9 . _ -');
  const peers: Record<string, string> = {};
  for (const item of need('--peers').split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw new UsageError(`--peers: expected NAME=HOST:PORT, got ${JSON.stringify(item.slice(0, 100))}`);
    const name = item.slice(0, eq);
    const where = item.slice(eq + 1);
    address('--peers', where);
    if (name in peers) throw new UsageError(`--peers: ${name} listed twice`);
    peers[name] = where;
  }
  if (!(id in peers)) throw new UsageError(`--peers must include this member (${id})`);
  const heartbeatMs = positive('--heartbeat-ms', values.get('--heartbeat-ms') ?? '100');
  const electionTimeoutMs = positive('--election-timeout-ms', values.get('--election-timeout-ms') ?? '1000');
  const snapshotCount = positive(
    '--snapshot-count',
    values.get('--snapshot-count') ?? String(SNAPSHOT_COUNT),
  );
  return {
    id,
    listenClient: address('--listen-client', need('--listen-client')),
    listenPeer: address('--listen-peer', need('--listen-peer')),
    peers,
    dataDir: need('--data-dir'),
    clusterKeyFile: need('--cluster-key-file'),
    heartbeatMs,
    electionTimeoutMs,
    snapshotCount,
    initialElectionTickAdvance: boolean(
      '--initial-election-tick-advance',
      values.get('--initial-election-tick-advance') ?? 'true',
    ),
    warmUp: boolean('--warm-up', values.get('--warm-up') ?? 'true'),
  };
}
