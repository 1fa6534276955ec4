// One simulated node (a single-member Raft with its KvStateMachine) running a RoleManager with
// the roles a test builds on the node's clock. Everything runs on the simulation's SimClock:
// tests move time with `run`/`waitFor`, never with real sleeps. Every manager event is recorded
// with the simulated time it was emitted at.
import {
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvStateMachine,
  kv,
  MemoryStorage,
  RaftNode,
  SimRaftBus,
} from '@clusteros/raft';
import { type Clock, Simulation } from '@clusteros/sim';
import {
  type LeaseTiming,
  type NodeRef,
  type RestartPolicy,
  type Role,
  RoleManager,
  type RoleManagerEvents,
  type RoleTimeouts,
} from '../../src/index.js';
import { Journal } from './scripted-role.js';

export type KvNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

export const MANAGER_EVENTS = [
  'started',
  'stopped',
  'failed',
  'leader-acquired',
  'leader-lost',
  'handoff-started',
  'handoff-prepared',
  'handoff-accepted',
  'handoff-completed',
  'handoff-aborted',
] as const satisfies readonly (keyof RoleManagerEvents)[];

export type ManagerEventName = (typeof MANAGER_EVENTS)[number];

export interface RecordedEvent<E extends ManagerEventName = ManagerEventName> {
  readonly name: E;
  readonly at: number;
  readonly info: RoleManagerEvents[E][0];
}

export interface ManagerNodeOptions {
  readonly seed?: number;
  /** Builds the node's roles on its clock, writing to its journal. */
  readonly roles: (env: { readonly clock: Clock; readonly journal: Journal }) => Role[];
  /** Extra fields of this node's NodeRef (capabilities, tags, priority). */
  readonly self?: Partial<Omit<NodeRef, 'id' | 'name'>>;
  readonly lease?: Partial<LeaseTiming>;
  readonly restart?: Partial<RestartPolicy>;
  readonly timeouts?: Partial<RoleTimeouts>;
  /** Start the manager at once. @defaultValue true */
  readonly start?: boolean;
}

export interface ManagerNode {
  readonly sim: Simulation;
  readonly clock: Clock;
  readonly raft: KvNode;
  readonly machine: KvStateMachine;
  readonly manager: RoleManager;
  readonly journal: Journal;
  readonly events: RecordedEvent[];
  /** Recorded events of one kind. */
  eventsOf<E extends ManagerEventName>(name: E): RecordedEvent<E>[];
  /** Runs `ms` of simulated time. */
  run(ms: number): Promise<void>;
  /** Runs until `predicate` holds; throws (naming `what`) if it does not within `limitMs`. */
  waitFor(predicate: () => boolean, limitMs: number, what: string): Promise<void>;
}

export const NODE_ID = 'n1';

export async function startManagerNode(options: ManagerNodeOptions): Promise<ManagerNode> {
  const sim = new Simulation({ seed: options.seed ?? 1, traceKeep: 50 });
  const bus = new SimRaftBus({
    clock: sim.clock,
    random: sim.random.fork('bus'),
    network: sim.network,
    link: { latency: () => 1 },
  });
  const simNode = sim.addNode(NODE_ID);
  await simNode.start();
  const clock = simNode.clock;
  const machine = new KvStateMachine();
  const raft: KvNode = await RaftNode.create({
    id: NODE_ID,
    peers: { [NODE_ID]: `${NODE_ID}:7000` },
    storage: new MemoryStorage(),
    transport: bus.reconnect(NODE_ID),
    stateMachine: machine,
    clock,
    random: simNode.random.fork('raft'),
    electionTimeoutMs: 300,
    heartbeatMs: 50,
    requestTimeoutMs: 2_000,
    stampCommand: kv.stamp,
    timeCommand: { intervalMs: 100, make: kv.tick },
  });
  const journal = new Journal();
  const self: NodeRef = { id: NODE_ID, name: NODE_ID, ...options.self };
  const manager = new RoleManager({
    roles: options.roles({ clock, journal }),
    cluster: { self: () => self, members: () => [self] },
    store: { log: raft, view: machine, raft },
    clock,
    random: simNode.random.fork('roles'),
    lease: { ttlMs: 3000, maxClockSkewMs: 200, safetyMarginMs: 100, ...options.lease },
    ...(options.restart !== undefined ? { restart: options.restart } : {}),
    ...(options.timeouts !== undefined ? { timeouts: options.timeouts } : {}),
  });
  const events: RecordedEvent[] = [];
  for (const name of MANAGER_EVENTS)
    manager.on(name, (info: RoleManagerEvents[typeof name][0]) => {
      events.push({ name, at: sim.clock.now(), info } as RecordedEvent);
    });
  if (options.start ?? true) manager.start();
  return {
    sim,
    clock,
    raft,
    machine,
    manager,
    journal,
    events,
    eventsOf<E extends ManagerEventName>(name: E): RecordedEvent<E>[] {
      return events.filter((e): e is RecordedEvent<E> => e.name === name);
    },
    async run(ms) {
      await sim.advance(ms);
    },
    async waitFor(predicate, limitMs, what) {
      await sim.waitFor(predicate, limitMs, what);
    },
  };
}
