// A throw-away cluster run inside the process when a member starts, so that V8 has compiled
// and optimised the leader's and the follower's code by the time the real member needs it.
//
// Why: V8 compiles a function when it first runs and optimises it only after it has run many
// times. A member that has only ever followed runs the leader's code (appending for others,
// counting acknowledgements, answering its own proposals) for the first time when it wins an
// election or receives a leadership transfer, so its first moments as leader are its slowest,
// exactly when clients are waiting on it. Measured on raft-kv (3 processes, 16 writers, a cluster
// moving its leader for the first time): see the package README's Performance section.
//
// Everything here runs on a simulation (virtual clock, network and disk): it opens no socket and
// no file and leaves no timer behind. It yields to the event loop after every simulated event,
// so the process stays responsive while it runs, but its compiling and garbage slow whatever the
// process serves meanwhile (measured in raft-kv: stalls of up to 50 ms), so run it before serving.
import { latency, type SimNode, Simulation } from '@clusteros/sim';
import type { NodeId } from './core/types.js';
import { encodeKvCommand, type KvQuery, type KvQueryResult, type KvResult } from './kv/commands.js';
import { KvStateMachine, kv } from './kv/kv-state-machine.js';
import { KvSessionPool } from './kv/session-pool.js';
import { RaftNode } from './node.js';
import { FileStorage } from './storage/file-storage.js';
import { StreamTransport } from './transport/stream-transport.js';

/** Options of {@link warmUpRaft}; the defaults are what raft-kv uses. */
export interface RaftWarmUpOptions {
  /**
   * Rounds of writes. Each round but the last ends in a leadership transfer to the next member,
   * so with 3 or more rounds every member of the throw-away cluster leads once. @defaultValue 3
   */
  readonly rounds?: number;
  /** Writers at once, spread over the three members (so followers forward too). @defaultValue 16 */
  readonly writers?: number;
  /** Writes each writer makes in each round; every 8th is followed by a linearizable read. @defaultValue 24 */
  readonly writesPerRound?: number;
  /** Bytes of each written value. @defaultValue 256 */
  readonly valueBytes?: number;
  /** Seed of the simulation (the run is the same for the same seed). @defaultValue 1 */
  readonly seed?: number;
  /**
   * Aborting it stops the run between two simulated events: the throw-away cluster is stopped
   * and the promise rejects with the signal's reason (to shut a process down while it warms up).
   */
  readonly signal?: AbortSignal;
}

/** What a {@link warmUpRaft} run did. */
export interface RaftWarmUpReport {
  /** Writes that were applied and answered. */
  readonly writes: number;
  /** Writes that failed (while leadership moved); they are not retried. */
  readonly failedWrites: number;
  /** Linearizable reads answered. */
  readonly reads: number;
  /** Leadership transfers that completed. */
  readonly transfers: number;
  /** The members that led, in order (`w1`, `w2`, `w3`). */
  readonly leaders: readonly NodeId[];
  /** Simulated time the run took, ms. */
  readonly simulatedMs: number;
  /** Wall-clock time the run took, ms. */
  readonly elapsedMs: number;
}

const MEMBERS = ['w1', 'w2', 'w3'] as const;
const PORT = 7000;
/** Keys each writer rotates over: overwrites, like a real workload's, rather than an ever-growing map. */
const KEYS_PER_WRITER = 8;
const READ_EVERY = 8;
/** Simulated time a phase may take before the warm-up gives up: far above what it needs (< 2 s). */
const PHASE_LIMIT_MS = 120_000;

const DEFAULTS = { rounds: 3, writers: 16, writesPerRound: 24, valueBytes: 256, seed: 1 } as const;

function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`warm-up ${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

type WarmNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

/**
 * Runs a throw-away three-member cluster in this process — the production stack (`RaftNode`,
 * `StreamTransport` with its handshake, frame MACs and codec, `FileStorage`'s write-ahead log,
 * `KvStateMachine` with client sessions) over a simulated clock, network and disk — through
 * rounds of concurrent writes, reads and leadership transfers, then stops it.
 *
 * Call it once when a member starts (raft-kv awaits it before opening its ports), so
 * that V8 has compiled and optimised the leader's code before the member first leads:
 * otherwise the first election or transfer it wins runs that code cold, and clients see a
 * longer gap. It opens no socket or file, shares nothing with the real member, leaves no timer
 * behind and yields to the event loop after every simulated event; with the defaults it takes a
 * few hundred milliseconds of CPU. It changes no state outside itself, so skipping or aborting
 * it only costs speed.
 *
 * @throws {RangeError} for an option out of range.
 * @throws {Error} if the throw-away cluster did not finish (a bug; the message says where).
 * @throws the signal's reason when `signal` aborts the run.
 */
export async function warmUpRaft(options: RaftWarmUpOptions = {}): Promise<RaftWarmUpReport> {
  const rounds = positiveInteger('rounds', options.rounds ?? DEFAULTS.rounds, 64);
  const writers = positiveInteger('writers', options.writers ?? DEFAULTS.writers, 1_024);
  const perRound = positiveInteger(
    'writesPerRound',
    options.writesPerRound ?? DEFAULTS.writesPerRound,
    10_000,
  );
  const valueBytes = positiveInteger('valueBytes', options.valueBytes ?? DEFAULTS.valueBytes, 1 << 20);
  const seed = options.seed ?? DEFAULTS.seed;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`warm-up seed must be an integer, got ${seed}`);

  const signal = options.signal;
  const aborted = (): boolean => signal?.aborted === true;
  // What the run rejects with when the signal stops it: the signal's own reason, as fetch() does.
  const abortReason = (): unknown => signal?.reason ?? new Error('raft warm-up aborted');
  if (aborted()) throw abortReason();
  const startedAt = performance.now();
  const sim = new Simulation({ seed, link: { latency: latency.uniform(0.2, 1) } });
  const clusterKey = new Uint8Array(32).map((_, i) => i + 1);
  const peers = Object.fromEntries(MEMBERS.map((id) => [id, `${id}:${PORT}`]));
  const nodes = new Map<NodeId, WarmNode>();
  const boot = async (simNode: SimNode): Promise<void> => {
    const transport = await StreamTransport.create({
      id: simNode.name,
      listen: { host: simNode.name, port: PORT },
      network: simNode.network,
      clusterKey,
      clock: simNode.clock,
      random: simNode.random.fork('transport'),
    });
    const node = await RaftNode.create({
      id: simNode.name,
      peers,
      storage: new FileStorage({ disk: simNode.disk }),
      transport,
      stateMachine: new KvStateMachine(),
      clock: simNode.clock,
      random: simNode.random,
      electionTimeoutMs: 500,
      heartbeatMs: 50,
      stampCommand: kv.stamp,
      retryForwardedProposals: true,
      timeCommand: { intervalMs: 1_000, make: kv.tick },
    });
    nodes.set(simNode.name, node);
  };
  for (const id of MEMBERS) sim.addNode(id, { boot });

  // Runs the simulation until `work` settles (or, when `abortable`, the signal fires).
  const run = async <T>(what: string, work: Promise<T>, abortable = true): Promise<T> => {
    let settled = false;
    const watched = work.finally(() => {
      settled = true;
    });
    // The run's own rejection is reported by the await below, not as an unhandled one.
    watched.catch(() => {});
    const finished = await sim.runUntil(() => settled || (abortable && aborted()), PHASE_LIMIT_MS);
    if (abortable && aborted() && !settled) throw abortReason();
    if (!finished) {
      throw new Error(`raft warm-up: ${what} did not finish within ${PHASE_LIMIT_MS} ms of simulated time`);
    }
    return watched;
  };
  const leaderNow = (): NodeId | undefined => [...nodes.values()].find((n) => n.role === 'leader')?.id;

  try {
    await run('start', sim.startAll());
    const elected = await sim.runUntil(() => leaderNow() !== undefined || aborted(), PHASE_LIMIT_MS);
    if (aborted()) throw abortReason();
    if (!elected) throw new Error('raft warm-up: no leader was elected');
    const leaders: NodeId[] = [leaderNow() as NodeId];
    const sessions = new Map(MEMBERS.map((id) => [id, new KvSessionPool({ prefix: `warm-up/${id}` })]));
    const value = new Uint8Array(valueBytes).fill(0x61);
    const keys = Array.from({ length: writers * KEYS_PER_WRITER }, (_, i) =>
      new TextEncoder().encode(`warm-up/${Math.floor(i / KEYS_PER_WRITER)}/${i % KEYS_PER_WRITER}`),
    );
    const counts = { writes: 0, failedWrites: 0, reads: 0, transfers: 0 };

    const writer = async (w: number): Promise<void> => {
      const id = MEMBERS[w % MEMBERS.length] as NodeId;
      const node = nodes.get(id) as WarmNode;
      const pool = sessions.get(id as (typeof MEMBERS)[number]) as KvSessionPool;
      for (let i = 0; i < perRound; i++) {
        const key = keys[w * KEYS_PER_WRITER + (i % KEYS_PER_WRITER)] as Uint8Array;
        try {
          await pool.withSession((client, seq) =>
            node.propose(encodeKvCommand({ now: 0, client, seq, command: { type: 'put', key, value } })),
          );
          counts.writes++;
        } catch {
          counts.failedWrites++;
        }
        if (i % READ_EVERY === READ_EVERY - 1) {
          try {
            await node.read({ type: 'range', key });
            counts.reads++;
          } catch {
            // A read during a transfer may fail; the next one is tried anyway.
          }
        }
      }
    };
    const transferToNext = async (): Promise<void> => {
      const from = leaderNow();
      if (from === undefined) return;
      const to = MEMBERS[(MEMBERS.indexOf(from as (typeof MEMBERS)[number]) + 1) % MEMBERS.length] as NodeId;
      try {
        await (nodes.get(from) as WarmNode).transferLeadership(to);
        counts.transfers++;
        leaders.push(to);
      } catch {
        // Not counted; the next round writes to whoever leads.
      }
    };

    for (let round = 0; round < rounds; round++) {
      const writes = Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
      // The transfer runs while the round's writes do, as a leader change under load would.
      const transfer = round < rounds - 1 ? transferToNext() : Promise.resolve();
      await run(`round ${round + 1}`, Promise.all([writes, transfer]));
    }
    return {
      ...counts,
      leaders,
      simulatedMs: sim.clock.now(),
      elapsedMs: performance.now() - startedAt,
    };
  } finally {
    // Stopping is not abortable: it is what an abort asks for.
    await run('stop', Promise.all([...nodes.values()].map((node) => node.stop())), false);
  }
}
