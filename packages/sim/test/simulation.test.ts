import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isSimTimeoutError } from '../src/errors.js';
import { latency } from '../src/link.js';
import { runSeeds } from '../src/seeds.js';
import { type SimNode, Simulation } from '../src/simulation.js';

const PORT = 9000;
const bytes = (text: string) => new TextEncoder().encode(text);

/** A gossiping toy: every node forwards each new rumour to two random peers. */
async function rumourScenario(seed: number): Promise<{ digest: string; informed: number; at: number }> {
  const sim = new Simulation({
    seed,
    link: { latency: latency.exponential(1, 10), loss: 0.1, duplicate: 0.05 },
  });
  const names = Array.from({ length: 12 }, (_, i) => `h${i}`);
  const heard = new Set<string>();
  const boot = async (node: SimNode) => {
    const socket = await node.network.bindDatagram({ host: node.name, port: PORT });
    const spread = () => {
      for (let i = 0; i < 2; i++) {
        const peer = node.random.pick(names.filter((n) => n !== node.name));
        socket.send({ host: peer, port: PORT }, bytes('rumour'));
      }
    };
    socket.onMessage(() => {
      if (!heard.has(node.name)) {
        heard.add(node.name);
        spread();
      }
    });
    // Retransmit now and then, as gossip protocols do, so loss cannot stall the spread.
    node.clock.setInterval(() => {
      if (heard.has(node.name)) spread();
    }, 200);
    if (node.name === 'h0') {
      heard.add('h0');
      spread();
    }
  };
  for (const name of names) sim.addNode(name, { boot, driftPpm: sim.random.int(-200, 201) });
  await sim.startAll();
  await sim.waitFor(() => heard.size === names.length, 60_000, 'the rumour reaches every node');
  return { digest: sim.digest(), informed: heard.size, at: sim.clock.now() };
}

test('the same seed gives the same trace; another seed gives another', async () => {
  const a = await rumourScenario(5);
  const b = await rumourScenario(5);
  const c = await rumourScenario(6);
  assert.is(a.digest, b.digest);
  assert.is(a.at, b.at);
  assert.is.not(a.digest, c.digest);
});

test('the rumour scenario converges for 50 seeds (seed runner over a real scenario)', async () => {
  await runSeeds({
    seeds: 50,
    file: import.meta.url,
    scenario: async (seed) => {
      const result = await rumourScenario(seed);
      assert.is(result.informed, 12);
    },
  });
});

test('a crash stops the node: timers, sockets and unsynced writes die; a restart boots again', async () => {
  const sim = new Simulation({ seed: 1 });
  const ticks: string[] = [];
  const received: string[] = [];
  const node = sim.addNode('a', {
    boot: async (self) => {
      await self.disk.mkdir('data');
      const before = await self.disk.stat('data/log');
      ticks.push(`boot#${self.incarnation} log=${before?.size ?? 'none'}`);
      await self.disk.appendFile('data/log', bytes('synced'));
      await self.disk.sync('data/log');
      await self.disk.syncDir('data');
      await self.disk.appendFile('data/log', bytes('-unsynced'));
      const socket = await self.network.bindDatagram({ host: 'a', port: PORT });
      socket.onMessage((data) => received.push(new TextDecoder().decode(data)));
      self.clock.setInterval(() => ticks.push(`tick@${sim.clock.now()}`), 100);
    },
  });
  const peer = sim.addNode('b');
  await sim.startAll();
  const sender = await peer.network.bindDatagram({ host: 'b', port: PORT });
  await sim.advance(250);
  assert.equal(ticks, ['boot#1 log=none', 'tick@100', 'tick@200']);

  node.crash({ tornTail: false });
  assert.not.ok(node.up);
  sender.send({ host: 'a', port: PORT }, bytes('lost'));
  await sim.advance(1_000);
  assert.equal(ticks.length, 3, 'no timer of a crashed node fires');
  assert.equal(received, []);

  await node.start();
  assert.is(node.incarnation, 2);
  assert.is(ticks[3], 'boot#2 log=6', 'only the synced bytes survived the crash');
  sender.send({ host: 'a', port: PORT }, bytes('after restart'));
  await sim.advance(50);
  assert.equal(received, ['after restart']);
});

test('waitFor names what did not happen and shows the last trace lines', async () => {
  const sim = new Simulation({ seed: 3 });
  await sim.startAll();
  const error = await sim.waitFor(() => false, 500, 'the impossible').catch((e) => e);
  assert.ok(isSimTimeoutError(error));
  assert.match(error.message, 'the impossible did not happen within 500 simulated ms');
  assert.is(sim.clock.now(), 500);
});

test('node names are unique and lookups of unknown nodes fail clearly', () => {
  const sim = new Simulation({ seed: 1 });
  sim.addNode('x');
  assert.throws(() => sim.addNode('x'), /already exists/);
  assert.throws(() => sim.node('y'), /no node y/);
  assert.equal(
    sim.nodes().map((n) => n.name),
    ['x'],
  );
});

test('partitions at the simulation level cut datagrams between groups only', async () => {
  const sim = new Simulation({ seed: 2 });
  const got = new Map<string, number>();
  const boot = async (node: SimNode) => {
    const socket = await node.network.bindDatagram({ host: node.name, port: PORT });
    socket.onMessage((_d, from) =>
      got.set(`${from.host}>${node.name}`, (got.get(`${from.host}>${node.name}`) ?? 0) + 1),
    );
    node.clock.setInterval(() => {
      for (const peer of ['a', 'b', 'c'])
        if (peer !== node.name) socket.send({ host: peer, port: PORT }, bytes('x'));
    }, 10);
  };
  for (const name of ['a', 'b', 'c']) sim.addNode(name, { boot });
  await sim.startAll();
  sim.partition([['a', 'b'], ['c']]);
  await sim.advance(100);
  assert.ok((got.get('a>b') ?? 0) > 5);
  assert.is(got.get('a>c'), undefined);
  assert.is(got.get('c>b'), undefined);
  sim.heal();
  await sim.advance(100);
  assert.ok((got.get('a>c') ?? 0) > 5);
  assert.ok((got.get('c>b') ?? 0) > 5);
});

test.run();
