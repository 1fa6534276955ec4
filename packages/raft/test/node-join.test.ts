// Growing a running cluster: members started with `start: 'join'` and empty storage write no
// configuration of their own, never campaign, answer the leader through the address hint they
// were given (the stream transport knows no one else yet), catch up from the leader's snapshot
// as learners, and vote once promoted. Deterministic simulation over many seeds, over the real
// stream transport (authenticated TCP framing) on the simulated network.
import { latency, runSeeds, Simulation } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvQuery, KvQueryResult, KvResult } from '../src/kv/commands.js';
import { KvStateMachine, kv } from '../src/kv/kv-state-machine.js';
import { RaftNode } from '../src/node.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { seededNonces } from '../src/transport/auth.js';
import { StreamTransport } from '../src/transport/stream-transport.js';

type KvNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

const KEY = new TextEncoder().encode('join test cluster key, 32 bytes!');
const PORT = 7000;
const address = (id: string): string => `${id}:${PORT}`;
const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

async function rejection(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    return (error as Error).message;
  }
  return 'resolved';
}

async function world(seed: number) {
  const sim = new Simulation({ seed, link: { latency: latency.uniform(1, 4) } });
  for (const id of ['n1', 'n2', 'n3']) sim.addNode(id);
  await sim.startAll();
  const nodes = new Map<string, { raft: KvNode; machine: KvStateMachine }>();
  const start = async (id: string, mode: 'bootstrap' | 'join', peers: Record<string, string>) => {
    const simNode = sim.node(id);
    const transport = await StreamTransport.create({
      id,
      listen: { host: id, port: PORT },
      network: simNode.network,
      clusterKey: KEY,
      clock: simNode.clock,
      random: simNode.random.fork('transport'),
      nonceSource: seededNonces(simNode.random.fork('nonces')),
    });
    const machine = new KvStateMachine();
    const raft: KvNode = await RaftNode.create({
      id,
      peers,
      start: mode,
      storage: new MemoryStorage(),
      transport,
      stateMachine: machine,
      clock: simNode.clock,
      random: simNode.random.fork('raft'),
      electionTimeoutMs: 300,
      heartbeatMs: 50,
      // Small enough that the joiners' catch-up goes through a snapshot of real data.
      snapshotEvery: 20,
      snapshotRetain: 5,
      stampCommand: kv.stamp,
    });
    nodes.set(id, { raft, machine });
    return raft;
  };
  return { sim, nodes, start };
}

async function scenario(seed: number): Promise<void> {
  const { sim, nodes, start } = await world(seed);
  /** Runs simulated time until `promise` settles (bounded), then returns its value. */
  const settle = async <T>(promise: Promise<T>, what: string): Promise<T> => {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => {});
    await sim.waitFor(() => done, 10_000, what);
    return watched;
  };
  const n1 = await start('n1', 'bootstrap', { n1: address('n1') });
  await sim.waitFor(() => n1.role === 'leader', 5_000, 'the single voter leads');
  for (let i = 0; i < 50; i++) await settle(n1.propose(kv.put(`before/${i}`, `v${i}`)), `write ${i}`);

  const n2 = await start('n2', 'join', { n1: address('n1') });
  const n3 = await start('n3', 'join', { n1: address('n1') });
  // Unadded joiners stay quiet: no configuration, no campaign, whatever time passes.
  await sim.advance(3_000);
  for (const joiner of [n2, n3]) {
    const status = joiner.status();
    assert.equal(status.members, [], `seed ${seed}: ${joiner.id} has no configuration before it is added`);
    assert.is(status.term, 0, `seed ${seed}: ${joiner.id} never campaigned`);
  }
  const termBefore = n1.status().term;

  for (const joiner of [n2, n3]) {
    await settle(n1.addLearner(joiner.id, address(joiner.id)), `add ${joiner.id}`);
    await sim.waitFor(
      () => joiner.status().appliedIndex >= n1.status().commitIndex,
      5_000,
      `${joiner.id} catches up as a learner`,
    );
    const conf = await settle(n1.promote(joiner.id), `promote ${joiner.id}`);
    assert.ok(conf.voters.includes(joiner.id), `seed ${seed}: ${joiner.id} is a voter`);
  }
  assert.is(n1.status().term, termBefore, `seed ${seed}: growing the cluster caused no election`);
  await settle(n1.propose(kv.put('after', 'three voters')), 'the last write');
  await sim.waitFor(
    () => [...nodes.values()].every(({ raft }) => raft.status().appliedIndex >= n1.status().commitIndex),
    5_000,
    'every member applies the last write',
  );
  for (const [id, { machine }] of nodes) {
    assert.is(
      text(machine.get('before/49')?.value),
      'v49',
      `seed ${seed}: ${id} has the data written before it joined`,
    );
    assert.is(text(machine.get('after')?.value), 'three voters', `seed ${seed}: ${id} has the last write`);
  }
  for (const { raft } of nodes.values()) {
    assert.equal(
      raft.status().members.map((m) => [m.id, m.voter, m.address]),
      [
        ['n1', true, address('n1')],
        ['n2', true, address('n2')],
        ['n3', true, address('n3')],
      ],
      `seed ${seed}: ${raft.id} sees the same three voters with their addresses`,
    );
  }

  // With three voters the cluster survives the loss of the member that bootstrapped it.
  await n1.stop();
  await sim.waitFor(() => [n2, n3].some((n) => n.role === 'leader'), 5_000, 'a new leader among the joiners');
  const leader = [n2, n3].find((n) => n.role === 'leader') as KvNode;
  await settle(leader.propose(kv.put('after-n1', 'still writable')), 'a write without n1');
  for (const { raft } of nodes.values()) if (raft !== n1) await raft.stop();
}

test('join: empty members added as learners catch up, get promoted and keep the cluster alive', async () => {
  await runSeeds({ seeds: 10, file: import.meta.url, scenario });
});

test('join: options are checked per start mode', async () => {
  const sim = new Simulation({ seed: 1 });
  sim.addNode('n1');
  await sim.startAll();
  const node = sim.node('n1');
  const transport = await StreamTransport.create({
    id: 'n1',
    listen: { host: 'n1', port: PORT },
    network: node.network,
    clusterKey: KEY,
    clock: node.clock,
    random: node.random.fork('transport'),
  });
  const base = {
    id: 'n1',
    storage: new MemoryStorage(),
    transport,
    stateMachine: new KvStateMachine(),
    clock: node.clock,
    random: node.random,
  };
  // Bootstrapping needs this member among the voters; joining does not.
  assert.match(
    await rejection(() => RaftNode.create({ ...base, peers: { n2: address('n2') } })),
    /must include this member/,
  );
  assert.match(
    await rejection(() => RaftNode.create({ ...base, peers: {}, start: 'later' as unknown as 'join' })),
    /start must be 'bootstrap' or 'join'/,
  );
  const joiner = await RaftNode.create({ ...base, peers: { n2: address('n2') }, start: 'join' });
  assert.equal(joiner.status().members, [], 'a joiner starts without a configuration');
  await joiner.stop();
});

test.run();
