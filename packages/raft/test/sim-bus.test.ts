import { type LinkConfig, latency, SeededRandom, SimClock, SimNetwork, Trace } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HeartbeatRequest, Message } from '../src/core/types.js';
import { SimRaftBus } from '../src/transport/sim-bus.js';
import type { RaftTransport } from '../src/transport/transport.js';

function heartbeat(from: string, to: string, n: number): HeartbeatRequest {
  return { type: 'heartbeat', from, to, term: 1, commit: n, context: '' };
}

function world(seed: number, link: LinkConfig = {}, withNetwork = false) {
  const clock = new SimClock();
  const random = new SeededRandom(seed);
  const network = withNetwork ? new SimNetwork({ clock, random: random.fork('network') }) : undefined;
  if (network !== undefined) for (const name of ['a', 'b', 'c']) network.host(name);
  const bus = new SimRaftBus({
    clock,
    random: random.fork('bus'),
    link,
    ...(network === undefined ? {} : { network }),
  });
  return { clock, bus, network };
}

/** Collects what `t` receives as `commit` numbers (the sequence number of our heartbeats). */
function received(t: RaftTransport): number[] {
  const got: number[] = [];
  t.onMessage((m) => got.push(m.type === 'heartbeat' ? m.commit : -1));
  return got;
}

function inversions(xs: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) < (xs[i - 1] as number)) n++;
  return n;
}

const N = 10_000;

test('no faults: everything arrives, in order, after the latency', async () => {
  const { clock, bus } = world(1, { latency: latency.uniform(1, 20) });
  const a = bus.transport('a');
  const atB = received(bus.transport('b'));
  for (let i = 0; i < 1000; i++) a.send(heartbeat('a', 'b', i));
  await clock.advance(0.5);
  assert.equal(atB, [], 'nothing before the minimum latency');
  await clock.advance(100);
  assert.equal(
    atB,
    Array.from({ length: 1000 }, (_, i) => i),
    'jittery latency does not reorder a pair',
  );
  const stats = bus.stats();
  assert.is(stats.sent, 1000);
  assert.is(stats.delivered, 1000);
  assert.is(stats.inFlight, 0);
  assert.is(a.stats().sent, 1000);
});

test('fixed latency delivers exactly then', async () => {
  const { clock, bus } = world(2, { latency: latency.fixed(10) });
  const atB: number[] = [];
  bus.transport('b').onMessage(() => atB.push(clock.now()));
  bus.transport('a').send(heartbeat('a', 'b', 0));
  await clock.advance(50);
  assert.equal(atB, [10]);
});

test('loss: about the configured share is dropped, and counted', async () => {
  const { clock, bus } = world(3, { loss: 0.3 });
  const a = bus.transport('a');
  const atB = received(bus.transport('b'));
  for (let i = 0; i < N; i++) a.send(heartbeat('a', 'b', i));
  await clock.advance(100);
  const stats = bus.stats();
  assert.ok(Math.abs(stats.dropped.loss - 0.3 * N) < 0.03 * N, `lost ${stats.dropped.loss}`);
  assert.is(atB.length + stats.dropped.loss, N);
  assert.is(inversions(atB), 0);
  assert.is(a.stats().dropped.loss, stats.dropped.loss);
});

test('duplication: about the configured share arrives twice', async () => {
  const { clock, bus } = world(4, { duplicate: 0.2 });
  const a = bus.transport('a');
  const atB = received(bus.transport('b'));
  for (let i = 0; i < N; i++) a.send(heartbeat('a', 'b', i));
  await clock.advance(100);
  const stats = bus.stats();
  assert.ok(Math.abs(stats.duplicated - 0.2 * N) < 0.03 * N, `duplicated ${stats.duplicated}`);
  assert.is(atB.length, N + stats.duplicated);
  assert.is(new Set(atB).size, N);
  assert.is(stats.delivered, atB.length);
});

test('reordering: held-back messages are overtaken', async () => {
  const { clock, bus } = world(5, { latency: latency.fixed(1), reorder: 0.1, reorderDelayMs: 50 });
  const a = bus.transport('a');
  const atB = received(bus.transport('b'));
  for (let i = 0; i < N; i++) {
    a.send(heartbeat('a', 'b', i));
    if (i % 10 === 0) await clock.advance(1); // spread the sends over time
  }
  await clock.advance(200);
  const stats = bus.stats();
  assert.ok(Math.abs(stats.reordered - 0.1 * N) < 0.03 * N, `reordered ${stats.reordered}`);
  assert.is(atB.length, N);
  assert.ok(inversions(atB) > 0.03 * N, `inversions ${inversions(atB)}`);
  assert.equal(
    [...atB].sort((x, y) => x - y),
    Array.from({ length: N }, (_, i) => i),
  );
});

test('per-link overrides', async () => {
  const { clock, bus } = world(6);
  bus.setLink('a', 'b', { loss: 1 });
  const a = bus.transport('a');
  const atB = received(bus.transport('b'));
  const atC = received(bus.transport('c'));
  for (let i = 0; i < 100; i++) {
    a.send(heartbeat('a', 'b', i));
    a.send(heartbeat('a', 'c', i));
  }
  await clock.advance(10);
  assert.is(atB.length, 0);
  assert.is(atC.length, 100);
  bus.resetLink('a', 'b');
  a.send(heartbeat('a', 'b', 1));
  await clock.advance(10);
  assert.equal(atB, [1]);
  assert.throws(() => bus.setLink('a', 'b', { loss: 2 }), RangeError);
});

test('partitions and crashes of the SimNetwork apply, at send and at delivery', async () => {
  const { clock, bus, network } = world(7, { latency: latency.fixed(5) }, true);
  if (network === undefined) throw new Error('no network');
  const a = bus.transport('a');
  const b = bus.transport('b');
  const atA = received(a);
  const atB = received(b);
  const atC = received(bus.transport('c'));
  network.partition([['a'], ['b', 'c']]);
  a.send(heartbeat('a', 'b', 1));
  b.send(heartbeat('b', 'c', 2));
  await clock.advance(10);
  assert.equal(atB, []);
  assert.equal(atC, [2]);
  assert.is(bus.stats().dropped.partition, 1);
  network.heal();
  // In flight when the partition starts: dropped on arrival.
  a.send(heartbeat('a', 'b', 3));
  await clock.advance(2);
  network.partition([['a'], ['b', 'c']]);
  await clock.advance(10);
  assert.equal(atB, []);
  assert.is(bus.stats().dropped.partition, 2);
  network.heal();
  // One-way cut.
  network.cut('a', 'b');
  a.send(heartbeat('a', 'b', 4));
  b.send(heartbeat('b', 'a', 5));
  await clock.advance(10);
  assert.equal(atB, []);
  assert.equal(atA, [5]);
  assert.is(a.stats().received, 1);
  network.uncut('a', 'b');
  // A crashed host receives nothing, even what was in flight.
  a.send(heartbeat('a', 'b', 6));
  network.crash('b');
  a.send(heartbeat('a', 'b', 7));
  await clock.advance(10);
  assert.equal(atB, []);
  assert.is(bus.stats().dropped.down, 2);
  network.restart('b');
  a.send(heartbeat('a', 'b', 8));
  await clock.advance(10);
  assert.equal(atB, [8]);
});

test('closed endpoints receive nothing; reconnect gives a fresh one', async () => {
  const { clock, bus } = world(8, { latency: latency.fixed(5) });
  const a = bus.transport('a');
  const b1 = bus.transport('b');
  assert.is(bus.transport('b'), b1, 'the open endpoint is reused');
  const atB1 = received(b1);
  a.send(heartbeat('a', 'b', 1));
  await clock.advance(2);
  await b1.close(); // the node crashed; its driver closes the endpoint
  await b1.close();
  await clock.advance(10);
  assert.equal(atB1, []);
  assert.is(bus.stats().dropped.closed, 1);
  a.send(heartbeat('a', 'b', 2));
  assert.is(bus.stats().dropped.noEndpoint, 1);
  b1.send(heartbeat('b', 'a', 3));
  assert.is(bus.stats().dropped.closed, 2);
  const b2 = bus.reconnect('b');
  assert.is.not(b2, b1);
  const atB2 = received(b2);
  a.send(heartbeat('a', 'b', 4));
  await clock.advance(10);
  assert.equal(atB2, [4]);
  assert.equal(atB1, []);
  bus.disconnect('b');
  a.send(heartbeat('a', 'b', 5));
  await clock.advance(10);
  assert.equal(atB2, [4]);
  const b3 = bus.transport('b');
  assert.is.not(b3, b2);
});

test('every message goes through the codec', async () => {
  const { clock, bus } = world(9);
  const a = bus.transport('a');
  const got: Message[] = [];
  bus.transport('b').onMessage((m) => got.push(m));
  const data = Uint8Array.of(1, 2, 3);
  const sent: Message = {
    type: 'append',
    from: 'a',
    to: 'b',
    term: 2,
    prevIndex: 1,
    prevTerm: 1,
    entries: [{ index: 2, term: 2, kind: 'normal', data }],
    commit: 1,
  };
  a.send(sent);
  data[0] = 99; // the sender reusing its buffer does not reach the receiver
  await clock.advance(10);
  assert.is(got.length, 1);
  assert.is.not(got[0], sent);
  assert.equal(got[0], {
    ...sent,
    entries: [{ index: 2, term: 2, kind: 'normal', data: Uint8Array.of(1, 2, 3) }],
  });
  // What does not encode is dropped and counted, as the stream transport does.
  a.send({ ...heartbeat('a', 'b', 1), context: 'x'.repeat(2000) });
  a.send({ ...heartbeat('a', 'b', 1), term: -1 });
  assert.is(bus.stats().dropped.encode, 2);
  // A sender cannot speak for another node.
  a.send(heartbeat('c', 'b', 1));
  assert.is(bus.stats().dropped.spoofed, 1);
  // No handler: dropped and counted.
  bus.transport('c');
  a.send(heartbeat('a', 'c', 1));
  await clock.advance(10);
  assert.is(bus.stats().dropped.noHandler, 1);
});

test('handler exceptions surface from the clock', async () => {
  const { clock, bus } = world(10);
  bus.transport('b').onMessage(() => {
    throw new Error('invariant broken');
  });
  bus.transport('a').send(heartbeat('a', 'b', 1));
  let caught: unknown;
  try {
    await clock.advance(10);
  } catch (error) {
    caught = error;
  }
  assert.instance(caught, Error);
});

test('the same seed gives the same run; another seed another', async () => {
  async function run(seed: number): Promise<string> {
    const clock = new SimClock();
    const trace = new Trace();
    const bus = new SimRaftBus({
      clock,
      random: new SeededRandom(seed),
      trace,
      link: { latency: latency.uniform(1, 10), loss: 0.1, duplicate: 0.05, reorder: 0.1 },
    });
    const names = ['a', 'b', 'c'];
    const log: string[] = [];
    for (const name of names) {
      bus.transport(name).onMessage((m) => log.push(`${clock.now().toFixed(3)} ${m.from}>${m.to} ${m.term}`));
    }
    for (let i = 0; i < 300; i++) {
      for (const from of names)
        for (const to of names) if (from !== to) bus.transport(from).send(heartbeat(from, to, i));
      await clock.advance(3);
    }
    await clock.advance(100);
    return `${log.join('\n')}|${trace.digest()}|${JSON.stringify(bus.stats())}`;
  }
  const first = await run(42);
  assert.is(await run(42), first);
  assert.is.not(await run(43), first);
});

test.run();
