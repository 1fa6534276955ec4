// A whole Raft cluster of RaftNodes with FileStorage on simulated disks, the SimRaftBus with
// seeded faults, KvStateMachines, and clients that record a history for the linearizability
// checker. Used by the simulation tests; every choice comes from the seed.
import { latency, type SimNode, Simulation } from '@clusteros/sim';
import { isNotLeaderError } from '../../src/errors.js';
import type { KvQuery, KvQueryResult, KvRangeResult, KvResult, KvTxnResult } from '../../src/kv/commands.js';
import { KvStateMachine, kv } from '../../src/kv/kv-state-machine.js';
import { RaftNode } from '../../src/node.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { SimRaftBus } from '../../src/transport/sim-bus.js';
import type { KvOperation } from './linearizability.js';

/** A Raft member running the KV state machine. */
export type KvNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

/** KV members in one simulation: what the directed trio and the randomised cluster share. */
export interface KvMembers {
  readonly sim: Simulation;
  readonly bus: SimRaftBus;
  readonly ids: readonly string[];
  /** Running members by id (a crashed one is absent). */
  readonly nodes: Map<string, KvNode>;
  /** The state machines of running members, by id. */
  readonly machines: Map<string, KvStateMachine>;
  /** Crashes member `id` (its sockets and timers go) and forgets it. */
  crash(id: string): void;
}

/** One simulated cluster under one seed. */
export interface KvCluster extends KvMembers {
  /** Term → leader, as observed by any node; a second leader in a term is recorded in `violations`. */
  readonly leaders: Map<number, string>;
  readonly violations: string[];
  readonly history: KvOperation[];
  restart(id: string): Promise<void>;
}

const decoder = new TextDecoder();

export async function startKvCluster(seed: number, size: number): Promise<KvCluster> {
  const sim = new Simulation({ seed, traceKeep: 50 });
  const faults = sim.random.fork('faults');
  const bus = new SimRaftBus({
    clock: sim.clock,
    random: sim.random.fork('bus'),
    network: sim.network,
    link: {
      latency: latency.uniform(1, 5 + faults.int(0, 20)),
      loss: faults.next() * 0.1,
      duplicate: faults.next() * 0.05,
      reorder: faults.next() * 0.1,
    },
  });
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const peers = Object.fromEntries(ids.map((id) => [id, `${id}:7000`]));
  const nodes = new Map<string, KvNode>();
  const machines = new Map<string, KvStateMachine>();
  const leaders = new Map<number, string>();
  const violations: string[] = [];
  const slowSync = faults.chance(0.5) ? faults.int(1, 8) : 0;

  const boot = async (simNode: SimNode): Promise<void> => {
    const id = simNode.name;
    const machine = new KvStateMachine();
    const node = await RaftNode.create({
      id,
      peers,
      storage: new FileStorage({ disk: simNode.disk, segmentBytes: 16 * 1024 }),
      transport: bus.reconnect(id),
      stateMachine: machine,
      clock: simNode.clock,
      random: simNode.random.fork(`raft#${simNode.incarnation}`),
      electionTimeoutMs: 300,
      heartbeatMs: 50,
      snapshotEvery: 40,
      snapshotRetain: 5,
      requestTimeoutMs: 2_000,
      stampCommand: kv.stamp,
      timeCommand: { intervalMs: 1_000, make: kv.tick },
      // Two seeds in three resend forwarded proposals after a leader change (every client write
      // carries a session, which that option requires); the others run without.
      retryForwardedProposals: seed % 3 !== 0,
    });
    node.on('error', (error) => violations.push(`${id} stopped: ${error.message}`));
    node.on('leader', (leader, term) => {
      if (leader === null) return;
      const known = leaders.get(term);
      if (known !== undefined && known !== leader)
        violations.push(`two leaders in term ${term}: ${known} and ${leader}`);
      leaders.set(term, leader);
    });
    nodes.set(id, node);
    machines.set(id, machine);
  };
  for (const id of ids) {
    sim.addNode(id, {
      boot,
      driftPpm: faults.int(-200, 201),
      ...(slowSync > 0 ? { diskLatencyMs: (op) => (op === 'sync' || op === 'syncDir' ? slowSync : 0) } : {}),
    });
  }
  // Booting reads the (possibly slow) simulated disk, so the clock must run while it happens.
  let booted = false;
  void sim.startAll().then(() => {
    booted = true;
  });
  await sim.waitFor(() => booted, 10_000, 'every node boots');

  return {
    sim,
    bus,
    ids,
    nodes,
    machines,
    leaders,
    violations,
    history: [],
    crash(id) {
      sim.node(id).crash();
      bus.disconnect(id);
      nodes.delete(id);
      machines.delete(id);
    },
    async restart(id) {
      await sim.node(id).start();
    },
  };
}

/**
 * A client that runs `count` operations one after another against random running nodes and
 * records each with its call and return time. Errors that prove the command was never proposed
 * (NotLeaderError thrown before proposing) are left out of the history; every other failure is
 * recorded as an operation that may or may not have taken effect.
 */
export async function runClient(cluster: KvCluster, client: number, until: () => boolean): Promise<void> {
  const { sim } = cluster;
  const random = sim.random.fork(`client:${client}`);
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimeout(resolve, ms));
  // A member that crashes never answers (its timers died with it), so the client gives up on
  // its own clock, as a real client would.
  const bounded = <T>(promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = sim.clock.setTimeout(() => reject(new Error('client timeout')), 3_000);
      promise.then(
        (value) => {
          sim.clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          sim.clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  let seq = 0;
  let n = 0;
  while (!until()) {
    await sleep(random.int(1, 40));
    const running = [...cluster.nodes.keys()];
    if (running.length === 0) continue;
    const node = cluster.nodes.get(random.pick(running));
    if (node === undefined) continue;
    const key = `k${random.int(0, 3)}`;
    const value = `c${client}-${n++}`;
    const roll = random.next();
    const call = sim.clock.now();
    const session = { client: `c${client}`, seq: ++seq };
    try {
      if (roll < 0.4) {
        const result = (await bounded(
          node.read({ type: 'range', key: new TextEncoder().encode(key) }),
        )) as KvRangeResult;
        const found = result.kvs[0];
        cluster.history.push({
          client,
          call,
          return: sim.clock.now(),
          input: { op: 'get', key },
          output: { value: found === undefined ? null : decoder.decode(found.value) },
        });
      } else if (roll < 0.75) {
        await bounded(node.propose(kv.put(key, value, session)));
        cluster.history.push({
          client,
          call,
          return: sim.clock.now(),
          input: { op: 'put', key, value },
          output: {},
        });
      } else {
        const expected = random.chance(0.3) ? null : `c${random.int(0, 3)}-${random.int(0, Math.max(1, n))}`;
        const compare =
          expected === null ? kv.compare(key, 'version', '=', 0) : kv.compareValue(key, '=', expected);
        const result = (await bounded(
          node.propose(kv.txn({ compare: [compare], success: [kv.op.put(key, value)] }, session)),
        )) as KvTxnResult;
        cluster.history.push({
          client,
          call,
          return: sim.clock.now(),
          input: { op: 'cas', key, value, expected },
          output: { ok: result.succeeded },
        });
      }
    } catch (error) {
      if (isNotLeaderError(error) && sim.clock.now() === call) continue;
      const input =
        roll < 0.4
          ? ({ op: 'get', key } as const)
          : roll < 0.75
            ? ({ op: 'put', key, value } as const)
            : null;
      // A failed read changed nothing: leave it out. A write of unknown outcome stays in as
      // "may have happened"; a cas of unknown outcome is recorded as a put of its value, which
      // over-approximates it soundly (it either put that value or changed nothing).
      if (input === null) {
        cluster.history.push({
          client,
          call,
          return: undefined,
          input: { op: 'put', key, value },
          output: {},
        });
      } else if (input.op === 'put') {
        cluster.history.push({ client, call, return: undefined, input, output: {} });
      }
    }
  }
}
