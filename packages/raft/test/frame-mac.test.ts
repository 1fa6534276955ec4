// Per-frame MACs after the handshake: session-key derivation, the sealer and opener, and a
// man-in-the-middle on the simulated network that tampers with an authenticated connection.
import { createHmac, hkdfSync } from 'node:crypto';
import { inspect } from 'node:util';
import { type Address, type ByteStream, latency, SeededRandom, Simulation } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../src/core/types.js';
import type { Logger } from '../src/logger.js';
import {
  ClusterAuthKey,
  HandshakeInitiator,
  HandshakeResponder,
  NONCE_BYTES,
  seededNonces,
} from '../src/transport/auth.js';
import { encodeMessage } from '../src/transport/codec.js';
import { FRAME_MAC_BYTES, FrameOpener, FrameSealer } from '../src/transport/frame-mac.js';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from '../src/transport/framing.js';
import { StreamTransport, type StreamTransportOptions } from '../src/transport/stream-transport.js';
import { append, dropped, vote } from './support/transport-messages.js';

const KEY = new TextEncoder().encode('correct horse battery staple 42!');
const OTHER_KEY = new TextEncoder().encode('incorrect donkey battery staple!');
const key = ClusterAuthKey.derive(KEY);
const PORT = 7000;
const BIG = 64 * 1024 * 1024;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function nonce(seed: number): Uint8Array {
  return seededNonces(new SeededRandom(seed))(NONCE_BYTES);
}

/** The authentication key as auth.ts derives it, recomputed independently. */
function authKeyBytes(raw: Uint8Array): Uint8Array {
  return new Uint8Array(
    hkdfSync('sha256', raw, utf8('clusteros/raft/transport'), utf8('peer-auth hmac-sha256 v1'), 32),
  );
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** A payload sealed as a frame: header, payload, tag. */
function sealed(sealer: FrameSealer, payload: Uint8Array): Uint8Array {
  return sealer.seal(encodeFrame(payload, BIG, FRAME_MAC_BYTES));
}

/** The payload of a frame (what a receiver's frame decoder hands out). */
function body(frame: Uint8Array): Uint8Array {
  return frame.subarray(FRAME_HEADER_BYTES);
}

/** One full handshake between the state machines; returns both sides' sessions. */
function handshake(seed: number, responderKey = key) {
  const initiator = new HandshakeInitiator({
    key,
    localId: 'a',
    expectedPeer: 'b',
    nonces: seededNonces(new SeededRandom(seed)),
  });
  const responder = new HandshakeResponder({
    key: responderKey,
    localId: 'b',
    nonces: seededNonces(new SeededRandom(seed + 1000)),
  });
  const challenge = responder.receive(initiator.hello());
  if (challenge.kind !== 'challenge') throw new Error('expected a challenge');
  const done = initiator.receive(challenge.reply);
  const accepted = responder.receive(done.reply);
  if (accepted.kind !== 'authenticated') throw new Error('expected authentication');
  return { initiator: done.session, responder: accepted.session };
}

// ---------------------------------------------------------------------------------------------
// Session keys

test('session keys: per direction, per nonce pair, per id pair, per cluster key', () => {
  const [a, b] = [utf8('a'), utf8('b')];
  const [nI, nR] = [nonce(1), nonce(2)];
  const k = key.sessionKeys(a, b, nI, nR);
  assert.not.ok(k.initiatorToResponder.equals(k.responderToInitiator), 'directions differ');
  const again = key.sessionKeys(a, b, nI, nR);
  assert.ok(again.initiatorToResponder.equals(k.initiatorToResponder), 'deterministic');
  assert.ok(again.responderToInitiator.equals(k.responderToInitiator));
  const variants = [
    key.sessionKeys(a, b, nonce(3), nR), // another initiator nonce
    key.sessionKeys(a, b, nI, nonce(3)), // another responder nonce
    key.sessionKeys(a, b, nR, nI), // the nonces swapped
    key.sessionKeys(b, a, nI, nR), // the roles swapped
    key.sessionKeys(a, utf8('c'), nI, nR), // another peer
    ClusterAuthKey.derive(OTHER_KEY).sessionKeys(a, b, nI, nR), // another cluster
  ];
  const all = [k, ...variants].flatMap((s) => [s.initiatorToResponder, s.responderToInitiator]);
  const distinct = new Set(all.map((x) => hex(x.export())));
  assert.is(distinct.size, all.length, 'every key differs from every other');
  for (const x of all) {
    assert.is(x.type, 'secret');
    assert.is(x.symmetricKeySize, 32);
  }
});

test('session keys: HKDF-SHA256(k, nonceI ‖ nonceR, label ‖ ids), pinned', () => {
  const [nI, nR] = [nonce(5), nonce(6)];
  const k = key.sessionKeys(utf8('a'), utf8('bb'), nI, nR);
  const salt = Uint8Array.from([...nI, ...nR]);
  const ids = [...u16(1), ...utf8('a'), ...u16(2), ...utf8('bb')];
  const expect = (label: string): string =>
    hex(
      new Uint8Array(
        hkdfSync('sha256', authKeyBytes(KEY), salt, Uint8Array.from([...utf8(label), ...ids]), 32),
      ),
    );
  assert.is(hex(k.initiatorToResponder.export()), expect('clusteros/raft/session I->R v1'));
  assert.is(hex(k.responderToInitiator.export()), expect('clusteros/raft/session R->I v1'));
  // And a frame's tag: HMAC-SHA256(key, u64 BE sequence ‖ payload), first 16 bytes.
  const sealer = new FrameSealer(k.initiatorToResponder);
  const payload = utf8('hello raft');
  sealed(sealer, utf8('first'));
  const frame = sealed(sealer, payload); // sequence 1
  const tag = createHmac('sha256', k.initiatorToResponder)
    .update(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1))
    .update(payload)
    .digest()
    .subarray(0, 16);
  assert.is(hex(frame.subarray(frame.byteLength - FRAME_MAC_BYTES)), hex(tag));
  assert.is(new DataView(frame.buffer).getUint32(0), payload.byteLength + FRAME_MAC_BYTES);
});

test('session keys: both sides of a handshake agree, and each session is new', () => {
  const s = handshake(1);
  const frames = [utf8('one'), utf8('two'), new Uint8Array(0), new Uint8Array(5000).fill(7)];
  for (const payload of frames) {
    const opened = s.responder.opener.open(body(sealed(s.initiator.sealer, payload)));
    assert.ok(opened !== undefined && hex(opened) === hex(payload));
  }
  const back = s.initiator.opener.open(body(sealed(s.responder.sealer, utf8('back'))));
  assert.ok(back !== undefined && hex(back) === hex(utf8('back')));
  // Another handshake (other nonces): its frames do not open this one's, even at the same sequence.
  const other = handshake(2);
  const victim = handshake(3);
  const foreign = body(sealed(other.initiator.sealer, utf8('x')));
  assert.is(victim.responder.opener.open(foreign), undefined, 'spliced from another connection');
  const own = body(sealed(victim.initiator.sealer, utf8('x')));
  assert.is(
    handshake(3).responder.opener.open(own) !== undefined,
    true,
    'the same frame in its own session opens',
  );
});

test('reflection: a frame sent back to its sender, or its own direction, fails', () => {
  const s = handshake(4);
  const frame = body(sealed(s.initiator.sealer, utf8('vote')));
  assert.is(s.initiator.opener.open(frame), undefined, 'reflected to the initiator');
  const t = handshake(4);
  const reply = body(sealed(t.responder.sealer, utf8('vote')));
  assert.is(t.responder.opener.open(reply), undefined, 'reflected to the responder');
});

// ---------------------------------------------------------------------------------------------
// Sealer and opener

test('opener: every bit flip, replay, reordering, deletion and truncation fails', () => {
  const keys = key.sessionKeys(utf8('a'), utf8('b'), nonce(7), nonce(8));
  const make = () => ({
    sealer: new FrameSealer(keys.initiatorToResponder),
    opener: new FrameOpener(keys.initiatorToResponder),
  });
  const payloads = [utf8('m0'), utf8('m1-longer'), utf8('m2')];
  const stream = (() => {
    const { sealer } = make();
    return payloads.map((p) => body(sealed(sealer, p)).slice());
  })();
  const [f0, f1, f2] = stream as [Uint8Array, Uint8Array, Uint8Array];
  // In order: all open, sequence counts.
  const ok = make().opener;
  for (const [i, f] of stream.entries()) {
    assert.is(ok.sequence, i);
    assert.ok(ok.open(f) !== undefined);
  }
  assert.is(ok.sequence, 3);
  // Every single bit of the second frame (payload and tag).
  for (let bit = 0; bit < f1.byteLength * 8; bit++) {
    const o = make().opener;
    assert.ok(o.open(f0) !== undefined);
    const flipped = f1.slice();
    flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
    assert.is(o.open(flipped), undefined, `bit ${bit}`);
    assert.ok(o.failed);
    assert.is(o.open(f1), undefined, 'nothing opens after a failure, not even the genuine frame');
  }
  const cases: [string, Uint8Array[]][] = [
    ['replay of the previous frame', [f0, f0]],
    ['replay of an older frame', [f0, f1, f0]],
    ['reordering', [f0, f2, f1]],
    ['reordering from the start', [f1, f0]],
    ['deletion', [f0, f2]],
    ['truncated tag', [f0, f1.subarray(0, f1.byteLength - 1)]],
    ['tag only', [f0, f1.subarray(f1.byteLength - FRAME_MAC_BYTES)]],
    ['shorter than a tag', [f0, new Uint8Array(FRAME_MAC_BYTES - 1)]],
    ['empty', [new Uint8Array(0)]],
    ['no tag at all', [f0, encodeMessage(vote('a', 'b', 9))]],
    ['a tag borrowed from another frame', [f0, Uint8Array.from([...utf8('m1-longeR'), ...f1.subarray(-16)])]],
  ];
  for (const [what, frames] of cases) {
    const o = make().opener;
    const results = frames.map((f) => o.open(f) !== undefined);
    // The genuine prefix opens; the first bad frame fails, and so does everything after it.
    const firstBad = results.indexOf(false);
    assert.ok(firstBad >= 0, `${what}: caught`);
    assert.ok(results.slice(0, firstBad).every(Boolean), `${what}: the genuine prefix opens`);
    assert.ok(
      results.slice(firstBad).every((r) => !r),
      `${what}: nothing opens after the failure`,
    );
    assert.ok(
      frames.slice(0, firstBad).every((f, i) => f === stream[i]),
      `${what}: failed at the first bad frame`,
    );
  }
  // Sealing: the reserved bytes must be there.
  assert.throws(() => make().sealer.seal(encodeFrame(utf8('x'))), RangeError);
  assert.is(
    JSON.stringify({ s: make().sealer, o: make().opener }),
    '{"s":"[FrameSealer]","o":"[FrameOpener]"}',
  );
  assert.not.ok(
    inspect(make().sealer, { showHidden: true, depth: 5 }).includes(hex(keys.initiatorToResponder.export())),
  );
});

// ---------------------------------------------------------------------------------------------
// A man in the middle on the simulated network

/**
 * What the man in the middle does with a frame after the handshake while armed: the payloads to
 * forward in its place (possibly none, possibly others), and whether it is done tampering.
 * `earlier` holds the frames of this connection seen before, in order.
 */
type Tamper = (
  payload: Uint8Array,
  earlier: readonly Uint8Array[],
) => { readonly forward: readonly Uint8Array[]; readonly done: boolean };

interface Relay {
  /** Connections accepted: each one is a fresh handshake relayed to the target. */
  accepted: number;
  /** Connections the target (the receiver) closed. */
  closedByTarget: number;
  /** Armed for the next frames after a handshake, on whichever connection. */
  tamper: Tamper | undefined;
  /** Post-handshake frames of each connection, in order. */
  readonly connections: Uint8Array[][];
  /** Cuts the current connection (both sides see a reset). */
  cut(): void;
}

/**
 * A relay on host `at` that accepts connections and forwards them to `target`, reading the frames
 * the dialler sends so that it can tamper with them. The first two frames of a connection are the
 * dialler's HELLO and RESPONSE, relayed untouched; the responder's side is relayed byte for byte.
 */
async function relay(sim: Simulation, at: string, port: number, target: Address): Promise<Relay> {
  const network = sim.node(at).network;
  type Conn = { down: ByteStream; up: ByteStream | undefined; cut: boolean };
  let current: Conn | undefined;
  const r: Relay = {
    accepted: 0,
    closedByTarget: 0,
    tamper: undefined,
    connections: [],
    cut() {
      if (current === undefined) return;
      current.cut = true;
      current.down.destroy();
      current.up?.destroy();
    },
  };
  await network.listenStream({ host: at, port }, (down) => {
    r.accepted++;
    const frames: Uint8Array[] = [];
    r.connections.push(frames);
    const conn: Conn = { down, up: undefined, cut: false };
    current = conn;
    const pending: Uint8Array[] = [];
    const forward = (payload: Uint8Array): void => {
      const bytes = encodeFrame(payload, BIG);
      if (conn.up === undefined) pending.push(bytes);
      else conn.up.write(bytes);
    };
    const decoder = new FrameDecoder({ maxFrameBytes: BIG });
    let index = 0;
    down.on('data', (chunk) =>
      decoder.push(chunk, (view) => {
        const payload = view.slice();
        if (index++ < 2) {
          forward(payload);
          return true;
        }
        const tamper = r.tamper;
        if (tamper === undefined) {
          forward(payload);
        } else {
          const step = tamper(payload, frames);
          if (step.done) r.tamper = undefined;
          for (const p of step.forward) forward(p);
        }
        frames.push(payload);
        return true;
      }),
    );
    down.on('close', () => {
      conn.cut = true;
      conn.up?.destroy();
    });
    network.connectStream(target).then(
      (up) => {
        if (down.closed) {
          up.destroy();
          return;
        }
        conn.up = up;
        for (const bytes of pending) up.write(bytes);
        up.on('data', (chunk) => down.write(chunk));
        up.on('end', () => down.end());
        up.on('close', () => {
          if (!conn.cut) r.closedByTarget++;
          conn.cut = true;
          down.destroy();
        });
      },
      () => down.destroy(),
    );
  });
  return r;
}

/** Log lines, for checking what a MAC failure logs. */
function recorder(lines: string[]): Logger {
  const record =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push(`${level} ${message} ${inspect(fields, { depth: 10 })}`);
    };
  return { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

/**
 * a and b, with a's connection to b going through a relay on m (and, with `both`, b's connection
 * to a through another relay on m).
 */
async function mitmWorld(seed: number, options: Partial<StreamTransportOptions> = {}, both = false) {
  const sim = new Simulation({ seed, link: { latency: latency.uniform(1, 4) } });
  for (const name of ['a', 'b', 'm']) sim.addNode(name);
  await sim.startAll();
  const logs: string[] = [];
  const make = (name: string) => {
    const node = sim.node(name);
    return StreamTransport.create({
      id: name,
      listen: { host: name, port: PORT },
      network: node.network,
      clusterKey: KEY,
      clock: node.clock,
      random: node.random.fork('transport'),
      nonceSource: seededNonces(node.random.fork('nonces')),
      logger: recorder(logs),
      reconnectBackoff: { minMs: 20, maxMs: 200 },
      ...options,
    });
  };
  const a = await make('a');
  const b = await make('b');
  const ab = await relay(sim, 'm', PORT, { host: 'b', port: PORT });
  const ba = both ? await relay(sim, 'm', PORT + 1, { host: 'a', port: PORT }) : undefined;
  a.setPeer('b', `m:${PORT}`);
  b.setPeer('a', both ? `m:${PORT + 1}` : `a:${PORT}`);
  const atA: Message[] = [];
  const atB: Message[] = [];
  a.onMessage((m) => atA.push(m));
  b.onMessage((m) => atB.push(m));
  return { sim, a, b, ab, ba, atA, atB, logs };
}

/** The `n` of each delivered append (votes as -term). */
function numbers(messages: readonly Message[]): number[] {
  return messages.map((m) => (m.type === 'append' ? m.prevIndex : -m.term));
}

/**
 * The scenario every attack runs: 20 messages through the honest relay, then the relay is armed
 * and 10 more are sent (the first of them meets the tamper), then 10 more after the receiver
 * closed the connection, which reconnect and arrive. `check` gets the messages delivered after
 * arming, numbered from 0 (the 20th message of the scenario is 20).
 */
async function attack(
  seed: number,
  arm: () => Tamper,
  check: (delivered: number[]) => void,
  world?: Awaited<ReturnType<typeof mitmWorld>>,
) {
  const w = world ?? (await mitmWorld(seed));
  const { sim, a, b, ab, atB } = w;
  const base = atB.length === 0 ? 0 : Math.max(...numbers(atB)) + 1;
  const start = atB.length;
  const macs = dropped(b, 'mac');
  const closed = ab.closedByTarget;
  let n = base;
  for (; n < base + 20; n++) a.send(append('a', 'b', n));
  await sim.waitFor(() => atB.length >= start + 20, 5000, 'the first messages');
  const accepted = ab.accepted;
  const connections = b.stats().connections;
  ab.tamper = arm();
  for (; n < base + 30; n++) a.send(append('a', 'b', n));
  await sim.waitFor(
    () => dropped(b, 'mac') === macs + 1 && ab.closedByTarget === closed + 1,
    5000,
    'the MAC failure',
  );
  await sim.advance(100);
  check(numbers(atB.slice(start + 20)).map((x) => x - base));
  assert.is(dropped(b, 'mac'), macs + 1, 'counted once');
  assert.is(dropped(b, 'decode') + dropped(b, 'spoofed') + dropped(b, 'misaddressed'), 0, 'nothing decoded');
  assert.is(dropped(b, 'auth'), 0, 'the handshake was genuine');
  assert.ok(
    w.logs.some((l) => l.startsWith('warn frame failed authentication; closing connection')),
    'a warning is logged',
  );
  // Every delivered message is one a sent, each once, in order.
  const all = numbers(atB);
  for (let i = 1; i < all.length; i++)
    assert.ok((all[i] as number) > (all[i - 1] as number), `order: ${all}`);
  // After the close, a reconnects (a fresh handshake) and traffic flows again.
  for (; n < base + 40; n++) {
    a.send(append('a', 'b', n));
    await sim.advance(10);
  }
  await sim.waitFor(() => numbers(atB).includes(base + 39), 5000, 'traffic after the reconnect');
  assert.is(ab.accepted, accepted + 1, 'one new connection: a fresh handshake');
  assert.is(b.stats().connections, connections + 1);
  assert.is(dropped(b, 'mac'), macs + 1);
  const after = numbers(atB).filter((x) => x >= base + 30);
  assert.ok(after.length >= 5, `delivered after reconnecting: ${after}`);
  return w;
}

/** Delivered after arming: exactly messages 20 .. firstLost - 1, then nothing. */
const deliveredUpTo =
  (firstLost: number) =>
  (during: number[]): void =>
    assert.equal(
      during,
      Array.from({ length: firstLost - 20 }, (_, i) => 20 + i),
    );

test('mitm: a flipped bit in a frame is caught', async () => {
  for (const [seed, where] of [
    [31, 0],
    [32, -1],
    [33, -FRAME_MAC_BYTES - 1],
  ] as const) {
    await attack(
      seed,
      () => (payload) => {
        const bad = payload.slice();
        const i = where < 0 ? bad.byteLength + where : where;
        bad[i] = (bad[i] as number) ^ 0x10; // in the payload's first byte, the tag, the payload's last byte
        return { forward: [bad], done: true };
      },
      deliveredUpTo(20),
    );
  }
});

test('mitm: a replayed frame is caught (previous frame, older frame, from an old connection)', async () => {
  await attack(
    34,
    () => (payload) => ({ forward: [payload, payload], done: true }),
    deliveredUpTo(21), // the genuine one arrives once, its copy closes the connection
  );
  await attack(
    35,
    () => (payload, earlier) => ({ forward: [payload, earlier[3] as Uint8Array], done: true }),
    deliveredUpTo(21),
  );
  // A frame of an earlier connection, replayed at the same position (sequence 20) of a new one.
  const w = await mitmWorld(36);
  for (let i = 0; i < 25; i++) w.a.send(append('a', 'b', i));
  await w.sim.waitFor(() => w.atB.length === 25, 5000, 'the first connection');
  w.ab.cut();
  await w.sim.advance(100);
  const old = w.ab.connections[0]?.[20];
  assert.ok(old !== undefined);
  await attack(36, () => () => ({ forward: [old as Uint8Array], done: true }), deliveredUpTo(20), w);
  assert.is(w.ab.accepted, 3);
});

test('mitm: reordered frames are caught', async () => {
  let held: Uint8Array | undefined;
  await attack(
    37,
    () => (payload) => {
      if (held === undefined) {
        held = payload;
        return { forward: [], done: false };
      }
      return { forward: [payload, held], done: true };
    },
    deliveredUpTo(20),
  );
});

test('mitm: a deleted or cut frame is caught', async () => {
  let skipped = false;
  await attack(
    38,
    () => (payload) => {
      if (!skipped) {
        skipped = true;
        return { forward: [], done: false }; // #20 vanishes
      }
      return { forward: [payload], done: true }; // #21 arrives where #20 should
    },
    deliveredUpTo(20),
  );
  await attack(
    39,
    () => (payload) => ({ forward: [payload.subarray(0, payload.byteLength - 4)], done: true }),
    deliveredUpTo(20),
  );
});

test('mitm: an injected well-formed Raft message without a valid MAC is caught', async () => {
  const forged = encodeMessage(vote('a', 'b', 666));
  const variants: ((genuine: Uint8Array) => Uint8Array)[] = [
    () => forged, // no MAC at all
    () => Uint8Array.from([...forged, ...new Uint8Array(FRAME_MAC_BYTES)]), // a zero MAC
    (genuine) => Uint8Array.from([...forged, ...genuine.subarray(-FRAME_MAC_BYTES)]), // the MAC of the frame it replaces
  ];
  for (const [i, variant] of variants.entries()) {
    await attack(
      40 + i,
      () => (payload) => ({ forward: [variant(payload), payload], done: true }),
      (during) => {
        assert.equal(during, [], 'nothing from the injected frame, nothing after it');
      },
    );
  }
  // Also a frame spliced in from the other direction's connection (valid MAC, wrong session),
  // at the very sequence number the receiver expects next.
  const w = await mitmWorld(45, {}, true);
  for (let t = 1; t <= 40; t++) w.b.send(vote('b', 'a', t));
  await w.sim.waitFor(() => w.atA.length === 40, 5000, 'traffic b → a');
  const splice = w.ba?.connections[0]?.[20];
  assert.ok(splice !== undefined);
  await attack(45, () => () => ({ forward: [splice as Uint8Array], done: true }), deliveredUpTo(20), w);
  assert.is(dropped(w.a, 'mac'), 0);
});

test('mitm: an honest relay changes nothing: thousands of messages and a snapshot, in order', async () => {
  const { sim, a, b, ab, atB } = await mitmWorld(50, { snapshotChunkBytes: 64 * 1024 });
  const sent: Message[] = [];
  const data = new Uint8Array(300 * 1024).map((_, i) => (i * 31) & 0xff);
  for (let i = 0; i < 5000; i++) {
    const m: Message =
      i === 2500
        ? {
            type: 'snapshot',
            from: 'a',
            to: 'b',
            term: 1,
            snapshot: {
              meta: {
                index: 10,
                term: 1,
                conf: {
                  voters: ['a', 'b'],
                  learners: [],
                  votersOutgoing: [],
                  learnersNext: [],
                  autoLeave: false,
                },
                addresses: {},
              },
              data,
            },
          }
        : append('a', 'b', i);
    sent.push(m);
    a.send(m);
  }
  await sim.waitFor(() => atB.length === sent.length, 30_000, 'every message');
  assert.equal(atB, sent);
  assert.is(ab.accepted, 1);
  assert.is(dropped(b, 'mac'), 0);
  assert.is(b.stats().received, 5000);
  assert.is(ab.connections[0]?.length, 5000 + 4, 'one frame per message, five for the snapshot');
});

test('frame limits count the MAC', async () => {
  const max = 2048;
  const { sim, a, b, atB } = await mitmWorld(51, { maxFrameBytes: max, snapshotChunkBytes: 1024 });
  // Find the largest append whose encoding plus the MAC fits the frame exactly.
  const sized = (bytes: number): Message => ({
    type: 'append',
    from: 'a',
    to: 'b',
    term: 1,
    prevIndex: 1,
    prevTerm: 1,
    entries: [{ index: 2, term: 1, kind: 'normal', data: new Uint8Array(bytes) }],
    commit: 1,
  });
  let size = 0;
  while (encodeMessage(sized(size + 1)).byteLength + FRAME_MAC_BYTES <= max) size++;
  assert.is(encodeMessage(sized(size)).byteLength + FRAME_MAC_BYTES, max, 'an exact fit exists');
  a.send(sized(size));
  a.send(sized(size + 1));
  assert.is(dropped(a, 'tooLarge'), 1, 'one byte over is refused by the sender');
  await sim.waitFor(() => atB.length === 1, 5000, 'the exact fit');
  assert.is(dropped(b, 'tooLarge') + dropped(b, 'mac'), 0);
});

test('an old (v1) peer fails the handshake cleanly instead of misreading frames', async () => {
  const { sim, b, atB } = await mitmWorld(52, { handshakeTimeoutMs: 1000 });
  let stream: ByteStream | undefined;
  const connecting = sim
    .node('m')
    .network.connectStream({ host: 'b', port: PORT })
    .then((s) => {
      stream = s;
      return s;
    });
  await sim.waitFor(() => stream !== undefined, 1000, 'the connection');
  stream = await connecting;
  let closed = false;
  stream.on('close', () => {
    closed = true;
  });
  // A v1 hello (the same layout, version byte 1), then a v1 (unauthenticated) message frame.
  const hello = new HandshakeInitiator({
    key,
    localId: 'a',
    nonces: seededNonces(new SeededRandom(9)),
  }).hello();
  hello[3] = 1;
  stream.write(encodeFrame(hello));
  stream.write(encodeFrame(encodeMessage(vote('a', 'b', 5))));
  await sim.waitFor(() => closed, 2000, 'the close');
  assert.is(dropped(b, 'auth'), 1);
  assert.equal(atB, []);
});

test('a MAC failure logs no key material', async () => {
  const w = await attack(
    53,
    () => (payload) => {
      const bad = payload.slice();
      bad[bad.byteLength - 1] = (bad[bad.byteLength - 1] as number) ^ 1;
      return { forward: [bad], done: true };
    },
    deliveredUpTo(20),
  );
  const secrets = [KEY, authKeyBytes(KEY)].flatMap((s) => {
    const b = Buffer.from(s);
    return [b.toString('hex'), b.toString('base64'), b.subarray(0, 12).toString('hex'), [...s].join(',')];
  });
  for (const line of w.logs) for (const s of secrets) assert.not.ok(line.includes(s), 'no key material');
  const warning = w.logs.find((l) => l.startsWith('warn frame failed authentication'));
  assert.ok(warning?.includes("peer: 'a'") && warning.includes('sequence: 20'), warning);
});

test.run();
