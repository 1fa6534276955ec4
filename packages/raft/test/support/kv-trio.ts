// Three RaftNodes with KvStateMachines on MemoryStorage in one deterministic simulation, over
// lossless links of 1–5 ms, started and with a leader every member knows: the set-up of the
// directed node tests (transfer, failover), which then cut links or crash members themselves.
import { type Clock, latency, Simulation } from '@clusteros/sim';
import type { Message } from '../../src/core/types.js';
import type { KvQuery, KvQueryResult, KvResult } from '../../src/kv/commands.js';
import { KvStateMachine } from '../../src/kv/kv-state-machine.js';
import { RaftNode } from '../../src/node.js';
import type { RaftNodeOptions } from '../../src/node-options.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import type { RaftStorage } from '../../src/storage/storage.js';
import { SimRaftBus } from '../../src/transport/sim-bus.js';
import type { RaftTransport } from '../../src/transport/transport.js';
import type { KvMembers, KvNode } from './kv-cluster.js';

export type { KvNode };

/** Node options a test may set on top of the trio's (election 300 ms, heartbeat 50 ms, requests 3 s). */
export type TrioNodeOptions = Partial<
  Pick<
    RaftNodeOptions<KvResult, KvQuery, KvQueryResult>,
    | 'requestTimeoutMs'
    | 'stampCommand'
    | 'retryForwardedProposals'
    | 'initialElectionTickAdvance'
    | 'commitNoticeDelayMs'
  >
>;

export interface KvTrio extends KvMembers {
  /** The member that led when the trio was ready. */
  readonly leader: KvNode;
  /** The member that leads now, if any. */
  leaderNow(): KvNode | undefined;
}

export interface KvTrioOptions {
  readonly seed: number;
  readonly node?: TrioNodeOptions;
  /** Wraps each member's transport (to watch or cut what it receives). */
  readonly transport?: (id: string, transport: RaftTransport) => RaftTransport;
  /** Wraps each member's storage (to slow its writes down). */
  readonly storage?: (id: string, storage: MemoryStorage, clock: Clock) => RaftStorage;
}

export async function startKvTrio(options: KvTrioOptions): Promise<KvTrio> {
  const sim = new Simulation({ seed: options.seed });
  const bus = new SimRaftBus({
    clock: sim.clock,
    random: sim.random.fork('bus'),
    network: sim.network,
    link: { latency: latency.uniform(1, 5) },
  });
  const ids = ['n1', 'n2', 'n3'];
  const peers = Object.fromEntries(ids.map((id) => [id, `${id}:7000`]));
  const nodes = new Map<string, KvNode>();
  const machines = new Map<string, KvStateMachine>();
  const wrap = options.transport ?? ((_id: string, transport: RaftTransport) => transport);
  const wrapStorage = options.storage ?? ((_id: string, storage: MemoryStorage) => storage);
  for (const id of ids) {
    sim.addNode(id, {
      boot: async (simNode) => {
        const machine = new KvStateMachine();
        machines.set(id, machine);
        nodes.set(
          id,
          await RaftNode.create({
            id,
            peers,
            storage: wrapStorage(id, new MemoryStorage(), simNode.clock),
            transport: wrap(id, bus.reconnect(id)),
            stateMachine: machine,
            clock: simNode.clock,
            random: simNode.random,
            electionTimeoutMs: 300,
            heartbeatMs: 50,
            requestTimeoutMs: 3_000,
            ...options.node,
          }),
        );
      },
    });
  }
  await sim.startAll();
  const leaderNow = () => [...nodes.values()].find((n) => n.role === 'leader');
  await sim.waitFor(() => leaderNow() !== undefined, 5_000, 'a leader');
  const leader = leaderNow() as KvNode;
  // Every member knows the leader before the test starts (its first append has arrived).
  await sim.waitFor(() => [...nodes.values()].every((n) => n.leader === leader.id), 5_000, 'leader known');
  return {
    sim,
    bus,
    ids,
    nodes,
    machines,
    leader,
    leaderNow,
    crash(id) {
      sim.node(id).crash();
      bus.disconnect(id);
      nodes.delete(id);
      machines.delete(id);
    },
  };
}

/** Settles `promise` as a value or the error, so a test can wait on the clock meanwhile. */
export function outcome<T>(promise: Promise<T>): { value?: T; error?: Error; settled: boolean } {
  const box: { value?: T; error?: Error; settled: boolean } = { settled: false };
  promise.then(
    (value) => {
      box.value = value;
      box.settled = true;
    },
    (error: unknown) => {
      box.error = error as Error;
      box.settled = true;
    },
  );
  return box;
}

/**
 * `storage` whose `save` goes through `wrap` (given the real save): to slow saves down or watch
 * what each one persists. Everything else reaches the storage unchanged.
 */
export function wrapSaves(
  storage: MemoryStorage,
  wrap: (save: MemoryStorage['save']) => MemoryStorage['save'],
): RaftStorage {
  const save = wrap((update) => storage.save(update));
  return new Proxy(storage, {
    get(target, property) {
      if (property === 'save') return save;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** `storage` whose saves resolve `delayMs()` ms late on `clock` (an fsync that takes that long). */
export function slowSaves(storage: MemoryStorage, clock: Clock, delayMs: () => number): RaftStorage {
  return wrapSaves(storage, (save) => async (update) => {
    const saved = save(update);
    const delay = delayMs();
    if (delay > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, delay));
    return saved;
  });
}

/**
 * `transport` with `onReceive` called for every message it delivers, before the member sees it;
 * a message for which `onReceive` returns `false` is not passed on (lost on the way, or kept by
 * the caller and handed to the member later through `deliver`).
 */
export function observeInbound(
  transport: RaftTransport,
  onReceive: (message: Message, deliver: (message: Message) => void) => unknown,
): RaftTransport {
  return new Proxy(transport, {
    get(target, property) {
      if (property === 'onMessage') {
        return (handler: (message: Message) => void) =>
          target.onMessage((message) => {
            if (onReceive(message, handler) !== false) handler(message);
          });
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
