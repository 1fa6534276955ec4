import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isConnectError, isStreamResetError } from '../src/errors.js';
import { type LinkConfig, latency, swarmLink } from '../src/link.js';
import type { Address, ByteStream, DatagramSocket, Network } from '../src/network.js';
import { SeededRandom } from '../src/random.js';
import { SimClock } from '../src/sim-clock.js';
import { SimNetwork } from '../src/sim-network.js';
import { Trace } from '../src/trace.js';
import { type NetworkFixture, networkContract } from './contracts/network-contract.js';

function world(seed = 1, link: LinkConfig = {}) {
  const clock = new SimClock();
  const trace = new Trace();
  const net = new SimNetwork({ clock, random: new SeededRandom(seed), trace, link });
  return { clock, trace, net };
}

networkContract('SimNetwork (jittery link)', async (): Promise<NetworkFixture> => {
  const { clock, net } = world(7, { latency: latency.uniform(0.5, 8) });
  return {
    network: net.host('a'),
    peer: net.host('b'),
    host: 'a',
    peerHost: 'b',
    drive: (until, limitMs) => clock.runUntil(until, limitMs),
    close: async () => {},
  };
});

networkContract('SimNetwork (fixed latency)', async (): Promise<NetworkFixture> => {
  const { clock, net } = world(8);
  return {
    network: net.host('n1'),
    peer: net.host('n2'),
    host: 'n1',
    peerHost: 'n2',
    drive: (until, limitMs) => clock.runUntil(until, limitMs),
    close: async () => {},
  };
});

async function bind(network: Network, host: string, port = 0): Promise<DatagramSocket> {
  return network.bindDatagram({ host, port });
}

/** Binds a socket that counts what it receives, remembering the first byte of each datagram. */
async function sink(network: Network, host: string, port = 0) {
  const socket = await bind(network, host, port);
  const got: number[] = [];
  const buffers: Uint8Array[] = [];
  socket.onMessage((data) => {
    got.push(data[0] ?? -1);
    buffers.push(data);
  });
  return { socket, got, buffers };
}

function numbered(i: number): Uint8Array {
  return new Uint8Array([i & 0xff, (i >> 8) & 0xff]);
}

function collect(stream: ByteStream) {
  const state = { data: 0, ended: false, closed: false, error: undefined as Error | undefined };
  stream.on('data', (chunk) => {
    state.data += chunk.byteLength;
  });
  stream.on('end', () => {
    state.ended = true;
  });
  stream.on('close', (error) => {
    state.closed = true;
    state.error = error;
  });
  return state;
}

/** Connects a.host → b.host and returns both ends, driving the clock. */
async function openStream(clock: SimClock, a: Network, b: Network, bHost: string) {
  let accepted: ByteStream | undefined;
  const server = await b.listenStream({ host: bHost, port: 7000 }, (stream) => {
    accepted = stream;
  });
  let client: ByteStream | undefined;
  void a.connectStream(server.local).then((stream) => {
    client = stream;
  });
  assert.ok(await clock.runUntil(() => client !== undefined && accepted !== undefined, 1000));
  if (client === undefined || accepted === undefined) throw new Error('unreachable');
  return { client, accepted, server };
}

test('loss drops about the configured share of 10,000 datagrams', async () => {
  const { clock, net } = world(11, { loss: 0.1 });
  const a = await bind(net.host('a'), 'a');
  const b = await sink(net.host('b'), 'b');
  for (let i = 0; i < 10_000; i++) a.send(b.socket.local, numbered(i));
  await clock.advance(100);
  const stats = net.stats();
  // Binomial(10000, 0.1): sd = 30, so ±150 is 5 sd.
  assert.ok(Math.abs(stats.datagrams.dropped.loss - 1000) < 150, `lost ${stats.datagrams.dropped.loss}`);
  assert.is(b.got.length, 10_000 - stats.datagrams.dropped.loss);
  assert.is(stats.datagrams.sent, 10_000);
  assert.is(stats.datagrams.delivered, b.got.length);
});

test('duplication delivers extra copies, each its own buffer', async () => {
  const { clock, net } = world(12, { duplicate: 0.1 });
  const a = await bind(net.host('a'), 'a');
  const b = await sink(net.host('b'), 'b');
  const payload = new Uint8Array([42]);
  for (let i = 0; i < 5000; i++) a.send(b.socket.local, payload);
  payload[0] = 0; // the network copied at send time
  await clock.advance(100);
  const dups = net.stats().datagrams.duplicated;
  assert.ok(Math.abs(dups - 500) < 110, `duplicated ${dups}`);
  assert.is(b.got.length, 5000 + dups);
  assert.ok(b.got.every((x) => x === 42));
  assert.is(new Set(b.buffers).size, b.buffers.length, 'no view shared between deliveries');
  for (const buffer of b.buffers) buffer.fill(7); // writing one copy must not touch another
  assert.ok(b.buffers.every((x) => x.byteLength === 1 && x[0] === 7));
  b.buffers[0]?.fill(9);
  assert.ok(b.buffers.slice(1).every((x) => x[0] === 7));
});

test('reordering happens with reorder > 0 and never with fixed latency and reorder = 0', async () => {
  for (const reorder of [0, 0.2]) {
    const { clock, net } = world(13, { latency: latency.fixed(2), reorder, reorderDelayMs: 10 });
    const a = await bind(net.host('a'), 'a');
    const b = await bind(net.host('b'), 'b');
    const order: number[] = [];
    b.onMessage((data) => order.push((data[0] ?? 0) | ((data[1] ?? 0) << 8)));
    for (let i = 0; i < 500; i++) {
      a.send(b.local, numbered(i));
      if (i % 5 === 0) await clock.advance(0.5);
    }
    await clock.advance(100);
    assert.is(order.length, 500);
    const inversions = order.filter((x, i) => i > 0 && x < (order[i - 1] ?? 0)).length;
    if (reorder === 0) assert.is(inversions, 0, 'fixed latency keeps order');
    else assert.ok(inversions > 10, `only ${inversions} inversions`);
  }
});

test('partition drops both ways (at send and in flight), heal restores', async () => {
  const { clock, net } = world(14, { latency: latency.fixed(5) });
  const a = await sink(net.host('a'), 'a');
  const b = await sink(net.host('b'), 'b');
  const c = await sink(net.host('c'), 'c');
  a.socket.send(b.socket.local, numbered(1)); // in flight when the partition starts
  await clock.advance(1);
  net.partition([['a'], ['b']]);
  assert.is(net.canReach('a', 'b'), false);
  assert.is(net.canReach('b', 'a'), false);
  assert.is(net.canReach('a', 'c'), false, 'c is in the group of unlisted hosts');
  assert.is(net.canReach('b', 'c'), false);
  assert.is(net.canReach('a', 'a'), true);
  a.socket.send(b.socket.local, numbered(2));
  b.socket.send(a.socket.local, numbered(3));
  a.socket.send(c.socket.local, numbered(4));
  await clock.advance(20);
  assert.equal([a.got, b.got, c.got], [[], [], []]);
  assert.is(net.stats().datagrams.dropped.partition, 4);
  net.heal();
  assert.ok(net.canReach('a', 'b') && net.canReach('c', 'a'));
  a.socket.send(b.socket.local, numbered(5));
  b.socket.send(a.socket.local, numbered(6));
  await clock.advance(20);
  assert.equal([a.got, b.got], [[6], [5]]);
});

test('hosts created after a partition join the unlisted group; a host in two groups throws', async () => {
  const { net } = world(15);
  net.host('a');
  net.partition([['a'], ['b']]);
  net.host('b');
  net.host('z');
  assert.is(net.canReach('a', 'b'), false);
  assert.is(net.canReach('b', 'z'), false);
  assert.is(net.canReach('z', 'z'), true);
  assert.throws(() => net.partition([['a'], ['a', 'b']]), RangeError);
});

test('a one-way cut drops only its direction', async () => {
  const { clock, net } = world(16);
  const a = await sink(net.host('a'), 'a');
  const b = await sink(net.host('b'), 'b');
  net.cut('a', 'b');
  assert.is(net.canReach('a', 'b'), false);
  assert.is(net.canReach('b', 'a'), true);
  a.socket.send(b.socket.local, numbered(1));
  b.socket.send(a.socket.local, numbered(2));
  await clock.advance(10);
  assert.equal([a.got, b.got], [[2], []]);
  net.uncut('a', 'b');
  a.socket.send(b.socket.local, numbered(3));
  await clock.advance(10);
  assert.equal(b.got, [3]);
});

test('setLink overrides one direction only', async () => {
  const { clock, net } = world(17);
  const a = await sink(net.host('a'), 'a');
  const b = await sink(net.host('b'), 'b');
  net.setLink('a', 'b', { loss: 1 });
  for (let i = 0; i < 10; i++) {
    a.socket.send(b.socket.local, numbered(i));
    b.socket.send(a.socket.local, numbered(i));
  }
  await clock.advance(10);
  assert.is(b.got.length, 0);
  assert.is(a.got.length, 10);
  net.resetLink('a', 'b');
  a.socket.send(b.socket.local, numbered(1));
  await clock.advance(10);
  assert.is(b.got.length, 1);
});

test('crash drops in-flight datagrams, silences the host and resets peer streams', async () => {
  const { clock, net } = world(18, { latency: latency.fixed(5) });
  const a = net.host('a');
  const b = net.host('b');
  const { client, accepted } = await openStream(clock, a, b, 'b');
  const clientState = collect(client);
  const serverState = collect(accepted);
  const sa = await sink(a, 'a');
  const sb = await sink(b, 'b', 9000);
  sa.socket.send(sb.socket.local, numbered(1));
  client.write(new Uint8Array(10)); // in flight to the crashing host
  await clock.advance(1);
  net.crash('b');
  assert.is(net.isUp('b'), false);
  assert.is(net.canReach('a', 'b'), false);
  // The crashed host's old socket is dead: sending from it is silently dropped, not thrown.
  sb.socket.send(sa.socket.local, numbered(2));
  // Restart before the datagram lands and re-bind the same port: the datagram is still lost.
  net.restart('b');
  const again = await sink(b, 'b', 9000);
  await clock.advance(50);
  assert.equal([sa.got, sb.got, again.got], [[], [], []]);
  assert.is(serverState.closed, false, 'the crashed side emits nothing');
  assert.is(serverState.data, 0);
  assert.ok(clientState.closed);
  assert.ok(isStreamResetError(clientState.error), String(clientState.error));
  const stats = net.stats();
  assert.is(stats.datagrams.dropped.hostDown, 2);
  assert.is(stats.streams.reset, 1);
});

test('restart lets a host re-bind; a down host cannot bind; crashing twice is a no-op', async () => {
  const { clock, net } = world(19);
  const b = net.host('b');
  await b.bindDatagram({ host: 'b', port: 7946 });
  await b.listenStream({ host: 'b', port: 7946 }, () => {});
  net.crash('b');
  net.crash('b');
  const error = await b.bindDatagram({ host: 'b', port: 7946 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, Error);
  net.restart('b');
  const socket = await b.bindDatagram({ host: 'b', port: 7946 });
  const server = await b.listenStream({ host: 'b', port: 7946 }, () => {});
  assert.is(socket.local.port, 7946);
  assert.is(server.local.port, 7946);
  const a = await bind(net.host('a'), 'a');
  let got = 0;
  socket.onMessage(() => {
    got++;
  });
  a.send(socket.local, numbered(1));
  await clock.advance(5);
  assert.is(got, 1);
  assert.throws(() => net.crash('nobody'), RangeError);
});

test('a partition breaks open streams on both ends', async () => {
  const { clock, net } = world(20, { latency: latency.fixed(3) });
  const a = net.host('a');
  const b = net.host('b');
  const { client, accepted } = await openStream(clock, a, b, 'b');
  const clientState = collect(client);
  const serverState = collect(accepted);
  client.write(new Uint8Array(100));
  await clock.advance(1);
  net.partition([['a'], ['b']]);
  await clock.advance(20);
  assert.ok(isStreamResetError(clientState.error), String(clientState.error));
  assert.ok(isStreamResetError(serverState.error), String(serverState.error));
  assert.is(serverState.data, 0, 'bytes in flight are lost with the connection');
  assert.is(client.write(new Uint8Array(1)), false);
});

test('a one-way cut breaks streams between the two hosts', async () => {
  const { clock, net } = world(21);
  const { client, accepted } = await openStream(clock, net.host('a'), net.host('b'), 'b');
  const c = collect(client);
  const s = collect(accepted);
  net.cut('b', 'a');
  await clock.advance(10);
  assert.ok(isStreamResetError(c.error) && isStreamResetError(s.error));
});

test('connect timing: one round trip to open or refuse; black holes time out on the clock', async () => {
  const { clock, net } = world(22, { latency: latency.fixed(5) });
  const a = net.host('a');
  const b = net.host('b');
  await b.listenStream({ host: 'b', port: 80 }, () => {});
  const outcome = async (to: Address, timeoutMs?: number) => {
    const start = clock.now();
    let result: string | undefined;
    const attempt = a.connectStream(to, timeoutMs === undefined ? {} : { timeoutMs });
    attempt.then(
      (stream) => {
        result = 'open';
        stream.destroy();
      },
      (error: unknown) => {
        result = isConnectError(error) ? error.reason : String(error);
      },
    );
    await clock.runUntil(() => result !== undefined, 60_000);
    return [result, clock.now() - start];
  };
  assert.equal(await outcome({ host: 'b', port: 80 }), ['open', 10]);
  assert.equal(await outcome({ host: 'b', port: 81 }), ['refused', 10]);
  assert.equal(await outcome({ host: 'nowhere', port: 80 }, 3000), ['timeout', 3000]);
  net.partition([['a'], ['b']]);
  assert.equal(await outcome({ host: 'b', port: 80 }), ['timeout', 10_000]);
  net.heal();
  net.cut('b', 'a'); // the SYN gets through, the SYN-ACK does not
  assert.equal(await outcome({ host: 'b', port: 80 }, 500), ['timeout', 500]);
  net.heal();
  net.crash('b');
  assert.equal(await outcome({ host: 'b', port: 80 }, 500), ['timeout', 500]);
  const stats = net.stats();
  assert.is(stats.streams.opened, 1);
  assert.is(stats.streams.refused, 1);
  assert.is(stats.streams.timedOut, 4);
});

test('an abort during the attempt rejects at once and resets the half-open server end', async () => {
  const { clock, net } = world(23, { latency: latency.fixed(5) });
  let serverEnd: ByteStream | undefined;
  let serverError: Error | undefined;
  await net.host('b').listenStream({ host: 'b', port: 80 }, (stream) => {
    serverEnd = stream;
    stream.on('close', (error) => {
      serverError = error;
    });
  });
  const controller = new AbortController();
  let reason: string | undefined;
  net
    .host('a')
    .connectStream({ host: 'b', port: 80 }, { signal: controller.signal })
    .catch((error: unknown) => {
      reason = isConnectError(error) ? error.reason : String(error);
    });
  await clock.advance(6); // SYN arrived: the server accepted
  assert.ok(serverEnd !== undefined);
  controller.abort();
  await clock.advance(0);
  assert.is(reason, 'aborted');
  await clock.advance(30);
  assert.ok(isStreamResetError(serverError), String(serverError));
});

test('stream events never fire synchronously inside write, end or destroy', async () => {
  const { clock, net } = world(24);
  const { client, accepted } = await openStream(clock, net.host('a'), net.host('b'), 'b');
  let events = 0;
  for (const stream of [client, accepted]) {
    stream.on('data', () => events++);
    stream.on('end', () => events++);
    stream.on('close', () => events++);
  }
  client.write(new Uint8Array(5));
  client.end();
  accepted.destroy();
  assert.is(events, 0);
  await clock.advance(10);
  assert.ok(events > 0);
});

test('stats count bytes, unknown hosts and missing listeners', async () => {
  const { clock, net } = world(25);
  const a = await bind(net.host('a'), 'a');
  const b = await sink(net.host('b'), 'b');
  a.send(b.socket.local, new Uint8Array(12));
  a.send({ host: 'ghost', port: 1 }, new Uint8Array(3));
  a.send({ host: 'b', port: 1 }, new Uint8Array(4));
  await clock.advance(10);
  const { client, accepted } = await openStream(clock, net.host('a'), net.host('b'), 'b');
  const got = collect(accepted);
  client.write(new Uint8Array(33));
  await clock.advance(10);
  assert.is(got.data, 33);
  const stats = net.stats();
  assert.equal(stats.datagrams, {
    sent: 3,
    delivered: 1,
    duplicated: 0,
    dropped: { loss: 0, partition: 0, hostDown: 0, noListener: 1, unknownHost: 1 },
  });
  assert.equal(stats.bytes, { sent: 19, delivered: 12 });
  assert.is(stats.streams.bytes, 33);
  assert.is(stats.streams.opened, 1);
  // A snapshot, not a live view.
  a.send(b.socket.local, new Uint8Array(1));
  assert.is(stats.datagrams.sent, 3);
});

test('misuse throws: oversized datagram, bad port, closed socket', async () => {
  const net = new SimNetwork({ clock: new SimClock(), random: new SeededRandom(1), maxDatagramBytes: 100 });
  const a = await bind(net.host('a'), 'a');
  assert.throws(() => a.send({ host: 'a', port: 1 }, new Uint8Array(101)), RangeError);
  a.send({ host: 'a', port: 1 }, new Uint8Array(100));
  assert.throws(() => a.send({ host: 'a', port: 0 }, new Uint8Array(1)), RangeError);
  assert.throws(() => a.send({ host: 'a', port: 70_000 }, new Uint8Array(1)), RangeError);
  await a.close();
  assert.throws(() => a.send({ host: 'a', port: 1 }, new Uint8Array(1)));
  const wrongHost = await net
    .host('a')
    .bindDatagram({ host: 'b', port: 1 })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.instance(wrongHost, Error);
});

/** A small gossip-like scenario over a swarm-drawn link: every fault and timing comes from `seed`. */
async function scenario(seed: number): Promise<string> {
  const random = new SeededRandom(seed);
  const clock = new SimClock();
  const trace = new Trace();
  const net = new SimNetwork({
    clock,
    random: random.fork('net'),
    trace,
    link: swarmLink(random.fork('link')),
  });
  const names = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const sockets = await Promise.all(names.map((n) => net.host(n).bindDatagram({ host: n, port: 7946 })));
  const pick = random.fork('pick');
  sockets.forEach((socket, i) => {
    socket.onMessage((data, from) => {
      if ((data[0] ?? 0) < 3) socket.send(from, new Uint8Array([(data[0] ?? 0) + 1, i]));
    });
  });
  for (let round = 0; round < 20; round++) {
    for (const socket of sockets) {
      const to = pick.pick(names);
      socket.send({ host: to, port: 7946 }, new Uint8Array([0]));
    }
    if (round === 8) net.partition([['n0', 'n1'], ['n2']]);
    if (round === 12) net.heal();
    await clock.advance(pick.int(1, 20));
  }
  const { client } = await openStream(clock, net.host('n0'), net.host('n3'), 'n3');
  client.write(new Uint8Array(64));
  client.end();
  await clock.advance(200);
  return trace.digest();
}

test('determinism: the same seed gives the same trace, another seed another', async () => {
  const first = await scenario(99);
  const second = await scenario(99);
  const other = await scenario(100);
  assert.is(first, second);
  assert.is.not(first, other);
});

test('latency models and swarmLink stay in their ranges', () => {
  const random = new SeededRandom(5);
  for (let i = 0; i < 2000; i++) {
    const u = latency.uniform(2, 4)(random);
    assert.ok(u >= 2 && u < 4);
    assert.ok(latency.exponential(3, 10)(random) >= 3);
    assert.ok(latency.normal(5, 10, 1)(random) >= 1);
    const link = swarmLink(random);
    assert.ok((link.loss ?? 0) >= 0 && (link.loss ?? 0) <= 0.2);
    assert.ok((link.duplicate ?? 0) >= 0 && (link.duplicate ?? 0) <= 0.05);
    assert.ok((link.reorder ?? 0) >= 0 && (link.reorder ?? 0) <= 0.2);
    const d = link.latency?.(random) ?? -1;
    assert.ok(d >= 0.5 && d <= 50, `latency ${d}`);
  }
  let sum = 0;
  for (let i = 0; i < 20_000; i++) sum += latency.normal(50, 5)(random);
  assert.ok(Math.abs(sum / 20_000 - 50) < 0.5, 'normal mean');
  assert.throws(() => latency.fixed(-1), RangeError);
  assert.throws(() => latency.uniform(5, 1), RangeError);
  assert.throws(() => new SimNetwork({ clock: new SimClock(), random, link: { loss: 2 } }), RangeError);
});

test('throughput: 200,000 datagrams without a trace stay fast', async () => {
  const clock = new SimClock();
  const net = new SimNetwork({
    clock,
    random: new SeededRandom(3),
    link: { latency: latency.uniform(1, 10) },
  });
  const sockets = await Promise.all(
    Array.from({ length: 100 }, (_, i) => net.host(`h${i}`).bindDatagram({ host: `h${i}`, port: 7946 })),
  );
  let received = 0;
  for (const socket of sockets) {
    socket.onMessage(() => {
      received++;
    });
  }
  const payload = new Uint8Array(64);
  const started = performance.now();
  for (let round = 0; round < 2000; round++) {
    for (let i = 0; i < sockets.length; i++) {
      sockets[i]?.send({ host: `h${(i + round) % 100}`, port: 7946 }, payload);
    }
    clock.advanceSync(1);
  }
  clock.advanceSync(20);
  const elapsed = performance.now() - started;
  assert.is(received, 200_000);
  assert.ok(elapsed < 10_000, `took ${elapsed.toFixed(0)} ms`);
});

test.run();
