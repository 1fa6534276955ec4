import {
  type Address,
  type ByteStream,
  latency,
  type Network,
  NodeNetwork,
  SeededRandom,
  Simulation,
  SystemClock,
  systemRandom,
} from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message, SnapshotRequest } from '../src/core/types.js';
import type { Logger } from '../src/logger.js';
import { ClusterAuthKey, HandshakeInitiator, seededNonces } from '../src/transport/auth.js';
import { encodeMessage, encodeSnapshotChunk, splitSnapshot } from '../src/transport/codec.js';
import { FRAME_MAC_BYTES, type FrameSealer } from '../src/transport/frame-mac.js';
import { encodeFrame, FrameDecoder } from '../src/transport/framing.js';
import { StreamTransport, type StreamTransportOptions } from '../src/transport/stream-transport.js';
import { append, dropped, vote } from './support/transport-messages.js';

const KEY = new TextEncoder().encode('correct horse battery staple 42!');
const OTHER_KEY = new TextEncoder().encode('incorrect donkey battery staple!');
const PORT = 7000;

// ---------------------------------------------------------------------------------------------
// Helpers

function snapshotOf(from: string, to: string, data: Uint8Array, index = 100): SnapshotRequest {
  return {
    type: 'snapshot',
    from,
    to,
    term: 2,
    snapshot: {
      meta: {
        index,
        term: 2,
        conf: {
          voters: ['a', 'b', 'c'],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
        addresses: { a: 'a:7000', b: 'b:7000' },
      },
      data,
    },
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const random = new SeededRandom(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const x = random.nextUint32();
    out[i] = x & 0xff;
    if (i + 1 < n) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

function inbox(t: StreamTransport): Message[] {
  const got: Message[] = [];
  t.onMessage((m) => got.push(m));
  return got;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** A simulated cluster with one StreamTransport per node, every node a peer of every other. */
async function simWorld(
  seed: number,
  names: readonly string[],
  options: Partial<StreamTransportOptions> = {},
) {
  const sim = new Simulation({ seed, link: { latency: latency.uniform(1, 4) } });
  for (const name of names) sim.addNode(name);
  await sim.startAll();
  const transports = new Map<string, StreamTransport>();
  const start = async (
    name: string,
    extra: Partial<StreamTransportOptions> = {},
  ): Promise<StreamTransport> => {
    const node = sim.node(name);
    const t = await StreamTransport.create({
      id: name,
      listen: { host: name, port: PORT },
      network: node.network,
      clusterKey: KEY,
      clock: node.clock,
      random: node.random.fork('transport'),
      nonceSource: seededNonces(node.random.fork('nonces')),
      ...options,
      ...extra,
    });
    for (const other of names) if (other !== name) t.setPeer(other, `${other}:${PORT}`);
    transports.set(name, t);
    return t;
  };
  for (const name of names) await start(name);
  const get = (name: string): StreamTransport => {
    const t = transports.get(name);
    if (t === undefined) throw new Error(`no transport ${name}`);
    return t;
  };
  return { sim, start, get };
}

/** Runs a simulation until `predicate` holds. */
type Drive = (predicate: () => boolean) => Promise<unknown>;

function driver(sim: Simulation): Drive {
  return (predicate) => sim.runUntil(predicate, 10_000);
}

/**
 * A hand-driven client: connects, optionally runs the handshake with `key` (claiming `id`), and
 * then writes whatever frames a test wants. Stands in for a peer that does not run our code.
 * Once the handshake is done, `frame` seals each frame with the session key (a member with the
 * key is being tested, not the MACs; see frame-mac.test.ts for those).
 */
async function rawPeer(network: Network, to: Address, drive?: Drive) {
  let connected: ByteStream | undefined;
  const connecting = network.connectStream(to).then((s) => {
    connected = s;
    return s;
  });
  // On the simulator nothing moves unless the clock does.
  if (drive !== undefined) await drive(() => connected !== undefined);
  const stream: ByteStream = await connecting;
  const state = { closed: false, authenticated: false, failed: false };
  stream.on('close', () => {
    state.closed = true;
  });
  // A FIN instead of a reset (the kernel's choice when our bytes were still unread) means the same.
  stream.on('end', () => {
    state.closed = true;
    stream.end();
  });
  const decoder = new FrameDecoder({ maxFrameBytes: 4096 });
  let onFrame: ((payload: Uint8Array) => void) | undefined;
  let sealer: FrameSealer | undefined;
  stream.on('data', (chunk) =>
    decoder.push(chunk, (payload) => {
      onFrame?.(payload);
      return true;
    }),
  );
  return {
    stream,
    state,
    write(bytes: Uint8Array): void {
      stream.write(bytes);
    },
    frame(payload: Uint8Array): void {
      if (sealer === undefined) stream.write(encodeFrame(payload, 64 * 1024 * 1024));
      else stream.write(sealer.seal(encodeFrame(payload, 64 * 1024 * 1024, FRAME_MAC_BYTES)));
    },
    /** Starts the handshake; `state.authenticated` turns true once our response is on its way. */
    handshake(id: string, expectedPeer: string, key: Uint8Array): void {
      const initiator = new HandshakeInitiator({
        key: ClusterAuthKey.derive(key),
        localId: id,
        expectedPeer,
      });
      onFrame = (payload) => {
        try {
          const { reply, session } = initiator.receive(payload);
          stream.write(encodeFrame(reply));
          sealer = session.sealer;
          state.authenticated = true;
        } catch {
          state.failed = true;
        }
      };
      stream.write(encodeFrame(initiator.hello()));
    },
  };
}

/** Bounded polling for real-time tests: resolves when `predicate` holds, throws after `limitMs`. */
async function waitFor(predicate: () => boolean, what: string, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// Simulated network

test('sim: many messages arrive in order, both ways', async () => {
  const { sim, get } = await simWorld(1, ['a', 'b']);
  const a = get('a');
  const b = get('b');
  const atA = inbox(a);
  const atB = inbox(b);
  const sentAB: Message[] = [];
  const sentBA: Message[] = [];
  for (let i = 0; i < 2000; i++) {
    const m = append('a', 'b', i);
    sentAB.push(m);
    a.send(m);
    if (i % 4 === 0) {
      const r = vote('b', 'a', i);
      sentBA.push(r);
      b.send(r);
    }
  }
  await sim.waitFor(() => atB.length === sentAB.length && atA.length === sentBA.length, 10_000, 'delivery');
  assert.equal(atB, sentAB);
  assert.equal(atA, sentBA);
  assert.is(a.stats().sent, 2000);
  assert.is(b.stats().received, 2000);
  assert.is(a.stats().received, 500);
  assert.ok(a.stats().connections >= 2); // one outbound, one inbound
  assert.is(dropped(a, 'auth') + dropped(b, 'auth'), 0);
  await a.close();
  await b.close();
});

test('sim: a member with the wrong key cannot deliver anything', async () => {
  const { sim, start, get } = await simWorld(2, ['a', 'b', 'evil']);
  await get('evil').close();
  const evil = await start('evil', { clusterKey: OTHER_KEY });
  const b = get('b');
  const atB = inbox(b);
  for (let round = 0; round < 5; round++) {
    evil.send(vote('evil', 'b', 99));
    evil.send(append('evil', 'b', round));
    await sim.advance(500);
  }
  assert.equal(atB, []);
  assert.ok(dropped(b, 'auth') >= 1, 'the responder counts the failed handshakes');
  assert.ok(dropped(evil, 'auth') >= 1, 'the impostor rejects our proof too');
  assert.ok(dropped(evil, 'unreachable') >= 1);
  assert.is(b.stats().received, 0);
  // The real members still talk.
  get('a').send(vote('a', 'b'));
  await sim.waitFor(() => atB.length === 1, 1000, 'a real member delivering');
});

test('sim: raw connections without the key deliver nothing', async () => {
  const { sim, get } = await simWorld(3, ['a', 'b', 'x'], { handshakeTimeoutMs: 1000 });
  const b = get('b');
  const atB = inbox(b);
  const network = sim.node('x').network;
  const target = { host: 'b', port: PORT };
  const attempts: (() => Promise<unknown>)[] = [
    // Garbage.
    async () => (await rawPeer(network, target, driver(sim))).write(randomBytes(5000, 7)),
    // A well-formed message frame, no handshake at all.
    async () => (await rawPeer(network, target, driver(sim))).frame(encodeMessage(vote('a', 'b'))),
    // A huge length prefix.
    async () =>
      (await rawPeer(network, target, driver(sim))).write(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 1, 2, 3)),
    // Silence: the handshake times out.
    async () => rawPeer(network, target, driver(sim)),
    // A handshake with the wrong key, then messages pipelined behind it.
    async () => {
      const p = await rawPeer(network, target, driver(sim));
      p.handshake('a', 'b', OTHER_KEY);
      p.frame(encodeMessage(vote('a', 'b')));
      p.frame(encodeMessage(append('a', 'b', 1)));
    },
  ];
  let expected = 0;
  for (const attempt of attempts) {
    await attempt();
    expected++;
    await sim.waitFor(() => dropped(b, 'auth') === expected, 3000, `auth failure #${expected}`);
  }
  await sim.advance(2000);
  assert.equal(atB, []);
  assert.is(b.stats().received, 0);
  assert.is(dropped(b, 'auth'), attempts.length);
});

test('sim: spoofed, misaddressed and undecodable messages are dropped; the connection survives', async () => {
  const { sim, get } = await simWorld(4, ['a', 'b', 'c']);
  const a = get('a');
  const b = get('b');
  const atB = inbox(b);
  // A real member claiming to be someone else.
  a.send(vote('c', 'b'));
  await sim.advance(100);
  assert.is(dropped(b, 'spoofed'), 1);
  // A hand-driven member with the key: misaddressed, garbage, then a good message.
  const p = await rawPeer(sim.node('c').network, { host: 'b', port: PORT }, driver(sim));
  p.handshake('c', 'b', KEY);
  await sim.waitFor(() => p.state.authenticated, 1000, 'handshake');
  p.frame(encodeMessage(vote('c', 'zz')));
  p.frame(randomBytes(100, 3));
  p.frame(encodeMessage(vote('a', 'b'))); // spoofed again, on another connection
  p.frame(encodeMessage(vote('c', 'b', 7)));
  await sim.waitFor(() => atB.length === 1, 1000, 'the good message');
  assert.equal(atB, [vote('c', 'b', 7)]);
  assert.is(dropped(b, 'misaddressed'), 1);
  assert.is(dropped(b, 'decode'), 1);
  assert.is(dropped(b, 'spoofed'), 2);
  assert.not.ok(p.state.closed);
});

test('sim: a peer answering with another id fails the handshake', async () => {
  const { sim, get } = await simWorld(5, ['a', 'b']);
  const a = get('a');
  const atB = inbox(get('b'));
  a.setPeer('x', `b:${PORT}`); // stale address: b now lives where x used to
  a.send(vote('a', 'x'));
  await sim.advance(500);
  assert.equal(atB, []);
  assert.ok(dropped(a, 'auth') >= 1);
});

test('sim: reconnects after the peer crashes and restarts', async () => {
  const { sim, start, get } = await simWorld(6, ['a', 'b']);
  const a = get('a');
  const atB1 = inbox(get('b'));
  a.send(vote('a', 'b', 1));
  await sim.waitFor(() => atB1.length === 1, 1000, 'first delivery');
  sim.node('b').crash();
  // Raft keeps sending; the transport keeps failing and backing off meanwhile.
  let n = 1;
  const ticker = sim.node('a').clock.setInterval(() => a.send(vote('a', 'b', ++n)), 20);
  await sim.advance(5000); // beyond the connect timeout of the first attempt to the dead host
  assert.ok(dropped(a, 'unreachable') > 0);
  await sim.node('b').start();
  const b2 = await start('b');
  const atB2 = inbox(b2);
  await sim.waitFor(() => atB2.length >= 5, 10_000, 'delivery to the restarted peer');
  sim.node('a').clock.clearInterval(ticker);
  // In order, without gaps, from whichever message the new connection started with.
  const terms = atB2.map((m) => m.term);
  for (let i = 1; i < terms.length; i++) assert.is(terms[i], (terms[i - 1] as number) + 1);
  assert.equal(atB1.length, 1, 'the dead incarnation got nothing more');
});

test('sim: reconnect backoff is capped, exponential and jittered on the injected clock', async () => {
  const { sim, get } = await simWorld(7, ['a', 'ghost'], { reconnectBackoff: { minMs: 50, maxMs: 2000 } });
  await get('ghost').close(); // the host is up, but nothing listens: connections are refused
  const a = get('a');
  const ticker = sim.node('a').clock.setInterval(() => a.send(vote('a', 'ghost')), 10);
  const refusedAt: number[] = [];
  let last = sim.network.stats().streams.refused;
  const until = sim.clock.now() + 20_000;
  while (sim.clock.now() < until) {
    await sim.clock.runUntil(() => sim.network.stats().streams.refused > last, until - sim.clock.now());
    const now = sim.network.stats().streams.refused;
    if (now > last) refusedAt.push(sim.clock.now());
    last = now;
  }
  sim.node('a').clock.clearInterval(ticker);
  const gaps = refusedAt.slice(1).map((t, i) => t - (refusedAt[i] as number));
  // Ceilings 50, 100, ..., 1600, then 2000; each delay is drawn in [ceiling/2, ceiling).
  assert.ok(gaps.length >= 10 && gaps.length <= 40, `attempts: ${gaps.length}`);
  for (const gap of gaps) assert.ok(gap <= 2000 + 50, `gap ${gap} exceeds the cap`);
  const late = gaps.slice(-5);
  for (const gap of late) assert.ok(gap >= 1000 - 1, `late gap ${gap} below half the cap`);
  assert.ok(new Set(late.map((g) => Math.round(g))).size > 1, 'jitter varies the delays');
});

test('sim: a full queue drops the newest message and counts it', async () => {
  const { sim, get } = await simWorld(8, ['a', 'b'], { maxQueueBytes: 4096, connectTimeoutMs: 1000 });
  const a = get('a');
  const atB = inbox(get('b'));
  sim.partition([['a'], ['b']]); // the connection attempt is black-holed until it times out
  const total = 500;
  for (let i = 0; i < total; i++) a.send(append('a', 'b', i));
  const full = dropped(a, 'queueFull');
  assert.ok(full > 0 && full < total, `queueFull ${full}`);
  await sim.advance(1500);
  // Every message ended exactly one way.
  assert.is(a.stats().sent + full + dropped(a, 'unreachable'), total);
  assert.equal(atB, []);
  sim.heal();
  await sim.advance(3000); // past the backoff
  a.send(vote('a', 'b', 5));
  await sim.waitFor(() => atB.length === 1, 5000, 'delivery after healing');
});

test('sim: a 5 MiB snapshot arrives intact, in chunks', async () => {
  // Lazy connections: the write recorder below must see the connection's first write.
  const { sim, get } = await simWorld(9, ['a', 'b'], { keepConnected: false });
  const a = get('a');
  const atB = inbox(get('b'));
  // Record the frame sizes a writes.
  const writes: number[] = [];
  const network = sim.node('a').network;
  const original = network.connectStream.bind(network);
  network.connectStream = async (to, options) => {
    const stream = await original(to, options);
    const write = stream.write.bind(stream);
    stream.write = (chunk: Uint8Array) => {
      writes.push(chunk.byteLength);
      return write(chunk);
    };
    return stream;
  };
  const data = randomBytes(5 * 1024 * 1024 + 123, 11);
  const snap = snapshotOf('a', 'b', data);
  a.send(vote('a', 'b'));
  a.send(snap);
  a.send(vote('a', 'b', 3));
  await sim.waitFor(() => atB.length === 3, 20_000, 'the snapshot');
  const got = atB[1];
  assert.ok(got?.type === 'snapshot');
  if (got?.type !== 'snapshot') return;
  assert.ok(sameBytes(got.snapshot.data, data), 'snapshot data intact');
  assert.equal(got.snapshot.meta, snap.snapshot.meta);
  assert.is(got.term, snap.term);
  assert.equal(atB[2], vote('a', 'b', 3), 'order kept around the snapshot');
  const big = writes.filter((n) => n > 1024 * 1024 - 1);
  assert.is(big.length, 5, `chunk frames: ${writes.join(',')}`);
  assert.ok(Math.max(...writes) < 1024 * 1024 + 1024);
  assert.is(get('b').stats().received, 3);
});

test('sim: a snapshot larger than the queue limit is framed lazily and still sent', async () => {
  const { sim, get } = await simWorld(16, ['a', 'b'], {
    maxQueueBytes: 512 * 1024,
    snapshotChunkBytes: 256 * 1024,
  });
  const a = get('a');
  const atB = inbox(get('b'));
  const data = randomBytes(3 * 1024 * 1024, 13);
  a.send(snapshotOf('a', 'b', data));
  a.send(vote('a', 'b', 4));
  await sim.waitFor(() => atB.length === 2, 20_000, 'the snapshot and the vote');
  const got = atB[0];
  assert.ok(got?.type === 'snapshot' && sameBytes(got.snapshot.data, data));
  assert.is(dropped(a, 'queueFull'), 0);
});

test('sim: a snapshot cut by a broken connection is discarded', async () => {
  const { sim, get } = await simWorld(10, ['a', 'b'], { snapshotChunkBytes: 256 * 1024 });
  const a = get('a');
  const b = get('b');
  const atB = inbox(b);
  a.send(vote('a', 'b'));
  await sim.waitFor(() => atB.length === 1, 1000, 'connection');
  const data = randomBytes(5 * 1024 * 1024, 12);
  const before = sim.network.stats().streams.bytes;
  a.send(snapshotOf('a', 'b', data));
  await sim.waitFor(
    () => sim.network.stats().streams.bytes - before > 1024 * 1024,
    5000,
    'part of the snapshot',
  );
  sim.partition([['a'], ['b']]);
  await sim.advance(1000);
  assert.is(atB.length, 1, 'no snapshot delivered');
  assert.is(dropped(b, 'snapshotIncomplete'), 1);
  sim.heal();
  await sim.advance(3000);
  a.send(snapshotOf('a', 'b', data, 101));
  await sim.waitFor(() => atB.length === 2, 20_000, 'the resent snapshot');
  const got = atB[1];
  assert.ok(
    got?.type === 'snapshot' && got.snapshot.meta.index === 101 && sameBytes(got.snapshot.data, data),
  );
});

test('sim: delivery reports: snapshots sent or lost, peers unreachable', async () => {
  const { sim, get } = await simWorld(21, ['a', 'b'], { snapshotChunkBytes: 256 * 1024 });
  const a = get('a');
  const atB = inbox(get('b'));
  const snapshots: string[] = [];
  const unreachable: string[] = [];
  a.onSnapshotStatus((peer, ok) => snapshots.push(`${peer}:${ok}`));
  a.onUnreachable((peer) => unreachable.push(peer));
  const data = randomBytes(1024 * 1024, 21);
  a.send(snapshotOf('a', 'b', data));
  await sim.waitFor(() => atB.length === 1, 20_000, 'the snapshot');
  assert.equal(snapshots, ['b:true'], 'a snapshot written whole is reported as sent');
  assert.equal(unreachable, []);

  // A snapshot queued for a peer that cannot be reached is reported lost, the peer unreachable.
  sim.node('b').crash();
  await sim.waitFor(() => unreachable.includes('b'), 5_000, 'the reset of the old connection');
  a.send(snapshotOf('a', 'b', randomBytes(64 * 1024, 22), 101));
  await sim.waitFor(() => snapshots.length === 2, 20_000, 'the loss report');
  assert.equal(snapshots, ['b:true', 'b:false']);
  assert.ok(unreachable.includes('b'), 'the failed connection is reported');
});

test('sim: snapshot chunk abuse by an authenticated peer', async () => {
  // The raw peer speaks as c: c's own transport must not hold (and keep reclaiming) a
  // connection to b, which would close the raw peer's as a leftover.
  const { sim, get } = await simWorld(11, ['b', 'c'], { maxSnapshotBytes: 1000, keepConnected: false });
  const b = get('b');
  const atB = inbox(b);
  const snap = snapshotOf('c', 'b', randomBytes(900, 1));
  const chunks = splitSnapshot(snap, 300).map((c) => encodeSnapshotChunk(c));
  const p = await rawPeer(sim.node('c').network, { host: 'b', port: PORT }, driver(sim));
  p.handshake('c', 'b', KEY);
  await sim.waitFor(() => p.state.authenticated, 1000, 'handshake');
  // Out of order: the second chunk without the first.
  p.frame(chunks[1] as Uint8Array);
  // A gap: first, then third.
  p.frame(chunks[0] as Uint8Array);
  p.frame(chunks[2] as Uint8Array);
  // Too large: refused once, its other chunks ignored silently.
  const huge = splitSnapshot(snapshotOf('c', 'b', randomBytes(3000, 2)), 1000).map((c) =>
    encodeSnapshotChunk(c),
  );
  for (const c of huge) p.frame(c);
  // Finally a good one.
  for (const c of chunks) p.frame(c);
  await sim.waitFor(() => atB.length === 1, 1000, 'the good snapshot');
  assert.is(dropped(b, 'snapshotInvalid'), 2);
  assert.is(dropped(b, 'tooLarge'), 1);
  // Half a snapshot, then the connection dies.
  p.frame(chunks[0] as Uint8Array);
  p.frame(chunks[1] as Uint8Array);
  await sim.advance(50);
  p.stream.destroy();
  await sim.advance(50);
  assert.is(dropped(b, 'snapshotIncomplete'), 1);
  assert.is(atB.length, 1);
});

test('sim: handler exceptions do not kill the connection', async () => {
  const { sim, get } = await simWorld(12, ['a', 'b']);
  const a = get('a');
  const b = get('b');
  const got: number[] = [];
  b.onMessage((m) => {
    got.push(m.term);
    if (m.term === 1) throw new Error('boom');
  });
  for (let i = 1; i <= 3; i++) a.send(vote('a', 'b', i));
  await sim.waitFor(() => got.length === 3, 1000, 'all three');
  assert.equal(got, [1, 2, 3]);
  assert.is(dropped(b, 'handlerError'), 1);
  assert.is(b.stats().received, 3);
  assert.is(b.stats().connections, 1);
});

test('sim: an oversized frame after authentication closes that connection', async () => {
  const { sim, get } = await simWorld(13, ['b', 'c'], {
    maxFrameBytes: 64 * 1024,
    snapshotChunkBytes: 32 * 1024,
  });
  const b = get('b');
  const p = await rawPeer(sim.node('c').network, { host: 'b', port: PORT }, driver(sim));
  p.handshake('c', 'b', KEY);
  await sim.waitFor(() => p.state.authenticated, 1000, 'handshake');
  p.write(Uint8Array.of(0x00, 0x01, 0x00, 0x01)); // 64 KiB + 1
  await sim.waitFor(() => p.state.closed, 1000, 'the connection closing');
  assert.is(dropped(b, 'tooLarge'), 1);
  // Sending side: a message bigger than a frame is dropped, not sent.
  const c = get('c');
  c.send(append('c', 'b', 1));
  c.send({
    type: 'append',
    from: 'c',
    to: 'b',
    term: 1,
    prevIndex: 0,
    prevTerm: 0,
    entries: [{ index: 1, term: 1, kind: 'normal', data: new Uint8Array(70_000) }],
    commit: 0,
  });
  assert.is(dropped(c, 'tooLarge'), 1);
});

test('sim: setPeer, removePeer and bad addresses', async () => {
  const { sim, get } = await simWorld(14, ['a', 'b']);
  const a = get('a');
  const atB = inbox(get('b'));
  a.setPeer('q', 'not an address');
  a.send(vote('a', 'q'));
  a.send(vote('a', 'nobody'));
  assert.is(dropped(a, 'noAddress'), 2);
  a.send(vote('a', 'b'));
  await sim.waitFor(() => atB.length === 1, 1000, 'delivery');
  a.removePeer('b');
  a.send(vote('a', 'b', 2));
  assert.is(dropped(a, 'noAddress'), 3);
  a.setPeer('b', `b:${PORT}`);
  a.send(vote('a', 'b', 3));
  await sim.waitFor(() => atB.length === 2, 1000, 'delivery after re-adding');
  assert.is(atB[1]?.term, 3);
});

test('sim: every member connects to every peer before anything is sent (keepConnected)', async () => {
  const { sim, get } = await simWorld(16, ['a', 'b', 'c']);
  const attempts = sim.network.stats().streams.opened;
  await sim.advance(200);
  // Each of the three opened one connection to each of the two others, and authenticated it.
  for (const name of ['a', 'b', 'c']) assert.is(get(name).stats().connections, 4, name);
  assert.is(sim.network.stats().streams.opened - attempts, 6);
  // Sending now needs no new connection: the message leaves at once on the open one.
  const atC = inbox(get('c'));
  const before = sim.network.stats().streams.opened;
  get('b').send(vote('b', 'c'));
  await sim.waitFor(() => atC.length === 1, 100, 'delivery');
  assert.is(sim.network.stats().streams.opened, before);
  for (const name of ['a', 'b', 'c']) await get(name).close();
  for (const name of ['a', 'b', 'c']) assert.is(sim.node(name).clock.pending, 0, `${name}: no timer left`);
});

test('sim: keepConnected reconnects to a restarted peer without any traffic', async () => {
  const { sim, start, get } = await simWorld(17, ['a', 'b']);
  const a = get('a');
  await sim.advance(200);
  assert.is(a.stats().connections, 2);
  sim.node('b').crash();
  // Nothing is sent; a keeps trying on its backoff while b is down (bounded: at most one
  // attempt per 25 ms at first, then one per 1-2 s).
  await sim.advance(10_000);
  await sim.node('b').start();
  const b2 = await start('b');
  await sim.waitFor(() => b2.stats().connections === 2, 5_000, 'both connections to the restarted b');
  assert.is(a.stats().connections, 4, 'a reconnected and accepted b2');
  const atB2 = inbox(b2);
  a.send(vote('a', 'b', 7));
  await sim.waitFor(() => atB2.length === 1, 100, 'delivery on the standing connection');
  assert.is(atB2[0]?.term, 7);
});

/** A logger that keeps the messages of its warnings. */
function warningLog(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const ignore = (): void => {};
  return {
    logger: { debug: ignore, info: ignore, warn: (_, message) => warnings.push(message), error: ignore },
    warnings,
  };
}

const DUPLICATE_WARNING = /keep replacing each other: two processes may be running with the same member id/;

test('sim: two processes with one member id are reported; a restart is not', async () => {
  const { logger, warnings } = warningLog();
  const { sim, start, get } = await simWorld(19, ['a', 'b', 'b2'], { logger });
  const a = get('a');
  await sim.advance(200);
  // A restart that leaves nothing behind: b crashes and comes back once.
  sim.node('b').crash();
  await sim.node('b').start();
  await start('b');
  await sim.advance(5_000);
  assert.equal(
    warnings.filter((w) => DUPLICATE_WARNING.test(w)),
    [],
  );

  // A second process on host b2 configured with b's id, as a copied config would be.
  a.removePeer('b2');
  await get('b2').close();
  const rogue = await StreamTransport.create({
    id: 'b',
    listen: { host: 'b2', port: PORT + 1 },
    network: sim.node('b2').network,
    clusterKey: KEY,
    clock: sim.node('b2').clock,
    random: sim.node('b2').random.fork('rogue'),
    nonceSource: seededNonces(sim.node('b2').random.fork('rogue-nonces')),
  });
  rogue.setPeer('a', `a:${PORT}`);
  await sim.waitFor(
    () => warnings.some((w) => DUPLICATE_WARNING.test(w)),
    60_000,
    'the duplicate-id warning',
  );
  // Once per minute at most, however long the fight goes on.
  const at = sim.clock.now();
  await sim.advance(30_000);
  assert.is(
    warnings.filter((w) => DUPLICATE_WARNING.test(w)).length,
    1,
    `warned once in ${sim.clock.now() - at} ms`,
  );
  await rogue.close();
});

test('sim: keepConnected false connects only when there is something to send', async () => {
  const { sim, get } = await simWorld(18, ['a', 'b'], { keepConnected: false });
  await sim.advance(1_000);
  assert.is(sim.network.stats().streams.opened, 0);
  const atB = inbox(get('b'));
  get('a').send(vote('a', 'b'));
  await sim.waitFor(() => atB.length === 1, 1000, 'delivery');
  assert.is(sim.network.stats().streams.opened, 1, 'only a to b; b has sent nothing');
  // Broken with nothing queued: no reconnect until the next send.
  sim.node('b').crash();
  await sim.node('b').start();
  const opened = sim.network.stats().streams.opened;
  await sim.advance(5_000);
  assert.is(sim.network.stats().streams.opened, opened);
});

test('sim: close is idempotent and leaves no timers', async () => {
  // Lazy connections, so that each send below sets up exactly the state it names.
  const { sim, get } = await simWorld(15, ['a', 'b', 'c', 'ghost'], {
    handshakeTimeoutMs: 10_000,
    keepConnected: false,
  });
  const baseline = sim.clock.pending;
  await get('ghost').close();
  const a = get('a');
  const b = get('b');
  inbox(b);
  a.send(vote('a', 'b'));
  await sim.advance(100);
  a.send(vote('a', 'ghost')); // refused: a reconnect timer is pending
  sim.partition([['a', 'b', 'ghost'], ['c']]);
  a.send(vote('a', 'c')); // black-holed: a connection attempt is pending
  const silent = await rawPeer(sim.node('ghost').network, { host: 'b', port: PORT }, driver(sim)); // pending handshake on b
  await sim.advance(30);
  assert.ok(sim.node('a').clock.pending > 0);
  assert.ok(sim.node('b').clock.pending > 0);
  const first = a.close();
  const second = a.close();
  assert.is(first, second);
  await first;
  await b.close();
  await b.close();
  assert.is(sim.node('a').clock.pending, 0);
  assert.is(sim.node('b').clock.pending, 0);
  a.send(vote('a', 'b'));
  assert.is(dropped(a, 'closed'), 1);
  for (const name of ['c', 'ghost']) await get(name).close();
  silent.stream.destroy();
  await sim.advance(11_000);
  assert.is(sim.clock.pending, baseline);
  assert.is(dropped(b, 'auth'), 0, 'closing is not an authentication failure');
});

test('sim: the same seed replays the same run', async () => {
  async function run(seed: number): Promise<string> {
    const { sim, get } = await simWorld(seed, ['a', 'b', 'c']);
    inbox(get('b'));
    inbox(get('c'));
    for (let i = 0; i < 50; i++) {
      get('a').send(append('a', 'b', i));
      get('a').send(vote('a', 'c', i));
    }
    sim.node('c').crash();
    await sim.advance(2000);
    return sim.digest();
  }
  assert.is(await run(21), await run(21));
  assert.is.not(await run(21), await run(22));
});

// ---------------------------------------------------------------------------------------------
// Real loopback

async function realTransport(
  id: string,
  extra: Partial<StreamTransportOptions> = {},
): Promise<StreamTransport> {
  return StreamTransport.create({
    id,
    listen: { host: '127.0.0.1', port: 0 },
    network: new NodeNetwork(),
    clusterKey: KEY,
    clock: new SystemClock(),
    random: systemRandom(),
    ...extra,
  });
}

function addressOf(t: StreamTransport): string {
  return `${t.local.host}:${t.local.port}`;
}

/** Wraps a network so that its outgoing streams report how their writers treat backpressure. */
function watchBackpressure(network: Network) {
  const watch = { refused: 0, drains: 0, writesWhileBlocked: 0 };
  const original = network.connectStream.bind(network);
  network.connectStream = async (to, options) => {
    const stream = await original(to, options);
    let blocked = false;
    // Registered before the transport's own listener, so it sees the drain first.
    stream.on('drain', () => {
      blocked = false;
      watch.drains++;
    });
    const write = stream.write.bind(stream);
    stream.write = (chunk: Uint8Array) => {
      if (blocked) watch.writesWhileBlocked++;
      const ok = write(chunk);
      if (!ok) {
        blocked = true;
        watch.refused++;
      }
      return ok;
    };
    return stream;
  };
  return watch;
}

test('loopback: many messages and a 5 MiB snapshot arrive in order', async () => {
  const network = new NodeNetwork();
  const watch = watchBackpressure(network);
  const a = await realTransport('a', { network });
  const b = await realTransport('b');
  try {
    a.setPeer('b', addressOf(b));
    b.setPeer('a', addressOf(a));
    const atB = inbox(b);
    const data = randomBytes(5 * 1024 * 1024, 5);
    const sent: Message[] = [];
    for (let i = 0; i < 3000; i++) {
      const m = i === 1500 ? snapshotOf('a', 'b', data) : append('a', 'b', i);
      sent.push(m);
      a.send(m);
    }
    await waitFor(() => atB.length === sent.length, 'all messages');
    const snap = atB[1500];
    assert.ok(snap?.type === 'snapshot' && sameBytes(snap.snapshot.data, data));
    assert.equal(
      atB.filter((m) => m.type !== 'snapshot'),
      sent.filter((m) => m.type !== 'snapshot'),
    );
    assert.is(a.stats().sent, 3000);
    assert.is(dropped(a, 'queueFull'), 0);
    assert.ok(watch.refused > 0, 'the socket pushed back at least once');
    assert.ok(watch.drains > 0);
    assert.is(watch.writesWhileBlocked, 0, 'nothing written between a refused write and its drain');
  } finally {
    await a.close();
    await b.close();
  }
});

test('loopback: a wrong key or a raw connection delivers nothing', async () => {
  const b = await realTransport('b', { handshakeTimeoutMs: 300 });
  const evil = await realTransport('evil', { clusterKey: OTHER_KEY });
  try {
    const atB = inbox(b);
    evil.setPeer('b', addressOf(b));
    evil.send(vote('evil', 'b', 9));
    evil.send(append('evil', 'b', 1));
    await waitFor(() => dropped(b, 'auth') >= 1 && dropped(evil, 'auth') >= 1, 'the impostor refused');
    const network = new NodeNetwork();
    const garbage = await rawPeer(network, b.local);
    garbage.frame(encodeMessage(vote('a', 'b')));
    await waitFor(() => dropped(b, 'auth') >= 2 && garbage.state.closed, 'garbage refused');
    const silent = await rawPeer(network, b.local);
    await waitFor(() => dropped(b, 'auth') >= 3 && silent.state.closed, 'silent connection timed out');
    const forged = await rawPeer(network, b.local);
    forged.handshake('a', 'b', OTHER_KEY);
    forged.frame(encodeMessage(vote('a', 'b')));
    await waitFor(() => dropped(b, 'auth') >= 4 && forged.state.closed, 'forged handshake refused');
    assert.equal(atB, []);
    assert.is(b.stats().received, 0);
  } finally {
    await evil.close();
    await b.close();
  }
});

test('loopback: reconnects after the peer restarts on the same port', async () => {
  const a = await realTransport('a', { reconnectBackoff: { minMs: 10, maxMs: 100 } });
  let b = await realTransport('b');
  const port = b.local.port;
  try {
    a.setPeer('b', addressOf(b));
    const atB = inbox(b);
    a.send(vote('a', 'b', 1));
    await waitFor(() => atB.length === 1, 'first delivery');
    await b.close();
    b = await realTransport('b', { listen: { host: '127.0.0.1', port } });
    const atB2 = inbox(b);
    let n = 1;
    const clock = new SystemClock();
    const ticker = clock.setInterval(() => a.send(vote('a', 'b', ++n)), 10);
    try {
      await waitFor(() => atB2.length >= 3, 'delivery to the restarted peer');
    } finally {
      clock.clearInterval(ticker);
    }
    assert.is(atB.length, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
