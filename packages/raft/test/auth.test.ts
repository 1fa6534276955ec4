import { createHmac, hkdfSync } from 'node:crypto';
import { inspect } from 'node:util';
import { type ByteStream, latency, SeededRandom, Simulation } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../src/core/types.js';
import type { Logger } from '../src/logger.js';
import {
  AuthError,
  ClusterAuthKey,
  cryptoNonces,
  HandshakeInitiator,
  HandshakeResponder,
  isAuthError,
  NONCE_BYTES,
  type NonceSource,
  seededNonces,
} from '../src/transport/auth.js';
import { encodeMessage } from '../src/transport/codec.js';
import { encodeFrame } from '../src/transport/framing.js';
import { StreamTransport } from '../src/transport/stream-transport.js';

const KEY = new TextEncoder().encode('correct horse battery staple 42!');
const OTHER_KEY = new TextEncoder().encode('incorrect donkey battery staple!');
const key = ClusterAuthKey.derive(KEY);
const otherKey = ClusterAuthKey.derive(OTHER_KEY);

/** A nonce source that remembers what it handed out. */
function recording(seed: number): { source: NonceSource; drawn: Uint8Array[] } {
  const inner = seededNonces(new SeededRandom(seed));
  const drawn: Uint8Array[] = [];
  return {
    drawn,
    source: (n) => {
      const nonce = inner(n);
      drawn.push(nonce);
      return nonce;
    },
  };
}

/** Runs `fn`, expecting an AuthError with `reason`; returns it. */
function authFails(fn: () => unknown, reason: AuthError['reason']): AuthError {
  try {
    fn();
  } catch (error) {
    assert.ok(isAuthError(error), `expected AuthError, got ${String(error)}`);
    assert.instance(error, AuthError);
    assert.is((error as AuthError).reason, reason);
    return error as AuthError;
  }
  return assert.unreachable(`expected an AuthError (${reason})`) as never;
}

/** The RESPONSE message layout: magic "CRA", version 2, type 3, then the 32-byte proof. */
function responseWith(proof: Uint8Array): Uint8Array {
  return Uint8Array.from([0x43, 0x52, 0x41, 0x02, 3, ...proof]);
}

/** What a responder step says, without its session (which holds key objects). */
function outcome(step: ReturnType<HandshakeResponder['receive']>): { kind: string; peer?: string } {
  return step.kind === 'authenticated' ? { kind: step.kind, peer: step.peer } : { kind: step.kind };
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const ROLE_I = 0x49;
const ROLE_R = 0x52;

/** One full handshake; returns every message exchanged. */
function session(options: {
  initiatorKey?: ClusterAuthKey;
  responderKey?: ClusterAuthKey;
  initiatorId?: string;
  responderId?: string;
  expectedPeer?: string;
  seed?: number;
}) {
  const i = recording(options.seed ?? 1);
  const r = recording((options.seed ?? 1) + 1000);
  const initiator = new HandshakeInitiator({
    key: options.initiatorKey ?? key,
    localId: options.initiatorId ?? 'a',
    expectedPeer: options.expectedPeer ?? options.responderId ?? 'b',
    nonces: i.source,
  });
  const responder = new HandshakeResponder({
    key: options.responderKey ?? key,
    localId: options.responderId ?? 'b',
    nonces: r.source,
  });
  return { initiator, responder, initiatorNonces: i.drawn, responderNonces: r.drawn };
}

// ---------------------------------------------------------------------------------------------
// The handshake as a state machine

test('mutual success: each side learns the other id', () => {
  const { initiator, responder } = session({});
  const hello = initiator.hello();
  const challenge = responder.receive(hello);
  assert.is(challenge.kind, 'challenge');
  if (challenge.kind !== 'challenge') return;
  const done = initiator.receive(challenge.reply);
  assert.is(done.peer, 'b');
  const accepted = responder.receive(done.reply);
  assert.equal(outcome(accepted), { kind: 'authenticated', peer: 'a' });
});

test('fresh nonces make every session different', () => {
  const replies = new Set<string>();
  for (let seed = 1; seed <= 5; seed++) {
    const { initiator, responder } = session({ seed });
    const c = responder.receive(initiator.hello());
    if (c.kind !== 'challenge') throw new Error('expected a challenge');
    replies.add(Buffer.from(c.reply).toString('hex'));
    replies.add(Buffer.from(initiator.receive(c.reply).reply).toString('hex'));
  }
  assert.is(replies.size, 10);
});

test('wrong key: the initiator rejects a responder without the key', () => {
  const { initiator, responder } = session({ responderKey: otherKey });
  const c = responder.receive(initiator.hello());
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  authFails(() => initiator.receive(c.reply), 'badProof');
});

test('wrong key: the responder rejects an initiator without the key', () => {
  // An impostor initiator that skips checking the responder and answers with its own key.
  const { initiator, responder, initiatorNonces, responderNonces } = session({ initiatorKey: otherKey });
  const c = responder.receive(initiator.hello());
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  const [nonceI] = initiatorNonces;
  const [nonceR] = responderNonces;
  if (nonceI === undefined || nonceR === undefined) throw new Error('nonces not recorded');
  const forged = otherKey.prove(ROLE_I, utf8('a'), utf8('b'), nonceI, nonceR);
  authFails(() => responder.receive(responseWith(forged)), 'badProof');
  // Sanity: the same construction with the right key is accepted, so the rejection is the key's.
  const honest = session({ seed: 9 });
  const c2 = honest.responder.receive(honest.initiator.hello());
  if (c2.kind !== 'challenge') throw new Error('expected a challenge');
  const [ni, nr] = [honest.initiatorNonces[0], honest.responderNonces[0]];
  if (ni === undefined || nr === undefined) throw new Error('nonces not recorded');
  const right = key.prove(ROLE_I, utf8('a'), utf8('b'), ni, nr);
  assert.equal(outcome(honest.responder.receive(responseWith(right))), { kind: 'authenticated', peer: 'a' });
});

test('replay: a recorded response does not open another session', () => {
  const first = session({ seed: 1 });
  const hello = first.initiator.hello();
  const c = first.responder.receive(hello);
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  const response = first.initiator.receive(c.reply).reply;
  first.responder.receive(response);
  // The eavesdropper replays the whole initiator side to a new responder (new nonce).
  const later = new HandshakeResponder({ key, localId: 'b', nonces: seededNonces(new SeededRandom(77)) });
  assert.is(later.receive(hello).kind, 'challenge');
  authFails(() => later.receive(response), 'badProof');
});

test('replay: a recorded challenge does not fool a new initiator', () => {
  const first = session({ seed: 1 });
  const c = first.responder.receive(first.initiator.hello());
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  const fresh = new HandshakeInitiator({
    key,
    localId: 'a',
    expectedPeer: 'b',
    nonces: seededNonces(new SeededRandom(555)),
  });
  fresh.hello();
  authFails(() => fresh.receive(c.reply), 'badProof');
});

test('reflection: the responder proof sent back as the response fails', () => {
  const { initiator, responder, initiatorNonces, responderNonces } = session({});
  const c = responder.receive(initiator.hello());
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  // CHALLENGE layout: magic(4) type(1) nonce(32) proof(32) idLen(2) id.
  const proofR = c.reply.slice(5 + NONCE_BYTES, 5 + NONCE_BYTES + 32);
  // It is a genuine proof over this very transcript, only for the other role...
  const [nonceI, nonceR] = [initiatorNonces[0], responderNonces[0]];
  if (nonceI === undefined || nonceR === undefined) throw new Error('nonces not recorded');
  assert.equal(proofR, key.prove(ROLE_R, utf8('a'), utf8('b'), nonceI, nonceR));
  // ...so echoing it back fails.
  authFails(() => responder.receive(responseWith(proofR)), 'badProof');
});

test('reflection: a member cannot be made to authenticate to itself through a relay', () => {
  // b dials "x"; the attacker relays b's hello to b's own listener, and b's challenge back.
  const dialler = new HandshakeInitiator({ key, localId: 'b', expectedPeer: 'x' });
  const listener = new HandshakeResponder({ key, localId: 'b' });
  authFails(() => listener.receive(dialler.hello()), 'selfConnect');
  // Claiming to be x instead gets a challenge whose proof binds x; relayed to b's dialler it fails.
  const relayed = new HandshakeResponder({ key, localId: 'b' });
  const asX = new HandshakeInitiator({ key: otherKey, localId: 'x', expectedPeer: 'b' });
  const c = relayed.receive(asX.hello());
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  const victim = new HandshakeInitiator({ key, localId: 'b', expectedPeer: 'x' });
  victim.hello();
  authFails(() => victim.receive(c.reply), 'selfConnect');
  const unpinned = new HandshakeInitiator({ key, localId: 'b' });
  unpinned.hello();
  authFails(() => unpinned.receive(c.reply), 'selfConnect');
  const third = new HandshakeInitiator({ key, localId: 'c' });
  third.hello();
  authFails(() => third.receive(c.reply), 'badProof'); // the proof binds x and x's nonce
});

test('the dialled member must answer: peerMismatch', () => {
  const { initiator, responder } = session({ expectedPeer: 'c' });
  const c = responder.receive(initiator.hello());
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  authFails(() => initiator.receive(c.reply), 'peerMismatch');
});

test('malformed and out-of-order messages', () => {
  const responder = new HandshakeResponder({ key, localId: 'b' });
  authFails(() => responder.receive(Uint8Array.of(1, 2, 3)), 'malformed');
  authFails(() => responder.receive(new HandshakeInitiator({ key, localId: 'a' }).hello()), 'unexpected'); // failed for good
  const r2 = new HandshakeResponder({ key, localId: 'b' });
  const hello = new HandshakeInitiator({ key, localId: 'a' }).hello();
  authFails(() => r2.receive(hello.subarray(0, hello.byteLength - 1)), 'malformed');
  const r3 = new HandshakeResponder({ key, localId: 'b' });
  authFails(() => r3.receive(Uint8Array.from([...hello, 0])), 'malformed');
  const r4 = new HandshakeResponder({ key, localId: 'b' });
  authFails(() => r4.receive(responseWith(new Uint8Array(32))), 'unexpected');
  const bad = Uint8Array.from(hello);
  bad[3] = 1; // the previous protocol version (no frame MACs): refused, not misread
  authFails(() => new HandshakeResponder({ key, localId: 'b' }).receive(bad), 'malformed');
  bad[3] = 3; // a future one
  authFails(() => new HandshakeResponder({ key, localId: 'b' }).receive(bad), 'malformed');
  const badId = Uint8Array.from([...hello.subarray(0, 5 + NONCE_BYTES), 0, 1, 0xff]);
  authFails(() => new HandshakeResponder({ key, localId: 'b' }).receive(badId), 'malformed');
  const initiator = new HandshakeInitiator({ key, localId: 'a' });
  authFails(() => initiator.receive(hello), 'unexpected'); // before hello()
  const i2 = new HandshakeInitiator({ key, localId: 'a' });
  i2.hello();
  authFails(() => i2.hello(), 'unexpected');
  assert.throws(() => new HandshakeInitiator({ key, localId: 'x'.repeat(257) }), RangeError);
  assert.throws(() => new HandshakeResponder({ key, localId: '' }), RangeError);
  assert.throws(
    () => new HandshakeInitiator({ key, localId: 'a', nonces: () => new Uint8Array(3) }),
    RangeError,
  );
});

test('version skew: a protocol v1 peer fails the handshake in either role', () => {
  // v1 carried no frame MACs; mixing versions must fail at the handshake, not misparse frames.
  const asV1 = (message: Uint8Array): Uint8Array => {
    const copy = Uint8Array.from(message);
    assert.is(copy[3], 2, 'the current version is 2');
    copy[3] = 1;
    return copy;
  };
  const { initiator, responder } = session({});
  const hello = initiator.hello();
  authFails(() => new HandshakeResponder({ key, localId: 'b' }).receive(asV1(hello)), 'malformed');
  const c = responder.receive(hello);
  if (c.kind !== 'challenge') throw new Error('expected a challenge');
  authFails(() => initiator.receive(asV1(c.reply)), 'malformed');
  // Relabelling the version in transit does not help either: the version is bound into the proofs.
  const s2 = session({ seed: 3 });
  const c2 = s2.responder.receive(s2.initiator.hello());
  if (c2.kind !== 'challenge') throw new Error('expected a challenge');
  const r2 = s2.initiator.receive(c2.reply).reply;
  const [ni, nr] = [s2.initiatorNonces[0], s2.responderNonces[0]];
  if (ni === undefined || nr === undefined) throw new Error('nonces not recorded');
  const v1Label = utf8('clusteros/raft/auth/v1\0');
  const v1Proof = createHmac('sha256', Buffer.from(derived(KEY)))
    .update(v1Label)
    .update(Uint8Array.of(ROLE_I, 0, 1, 0x61, 0, 1, 0x62))
    .update(ni)
    .update(nr)
    .digest();
  assert.not.equal(new Uint8Array(v1Proof), r2.slice(5), 'a v1 proof differs from the v2 proof');
  authFails(() => s2.responder.receive(responseWith(new Uint8Array(v1Proof))), 'badProof');
});

test('nonce sources: seeded ones replay, crypto ones do not repeat', () => {
  const a = seededNonces(new SeededRandom(3))(NONCE_BYTES);
  const b = seededNonces(new SeededRandom(3))(NONCE_BYTES);
  assert.equal(a, b);
  assert.is(seededNonces(new SeededRandom(3))(7).byteLength, 7);
  const c = cryptoNonces(NONCE_BYTES);
  const d = cryptoNonces(NONCE_BYTES);
  assert.is(c.byteLength, NONCE_BYTES);
  assert.not.equal(c, d);
});

// ---------------------------------------------------------------------------------------------
// Secrets stay secret

/** Every spelling of `bytes` a careless log line might contain. */
function spellings(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  return [
    b.toString('hex'),
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('latin1'),
    [...bytes].join(','),
    b.subarray(0, 12).toString('hex'), // a prefix is a leak too
  ];
}

function derived(raw: Uint8Array): Uint8Array {
  return new Uint8Array(
    hkdfSync('sha256', raw, utf8('clusteros/raft/transport'), utf8('peer-auth hmac-sha256 v1'), 32),
  );
}

function assertNoSecret(text: string, where: string): void {
  for (const raw of [KEY, OTHER_KEY]) {
    for (const secret of [raw, derived(raw)]) {
      for (const s of spellings(secret)) assert.not.ok(text.includes(s), `${where} leaks key material`);
    }
  }
}

test('the key object shows no key material', () => {
  for (const k of [key, otherKey]) {
    assertNoSecret(inspect(k, { showHidden: true, depth: 10 }), 'inspect');
    assertNoSecret(JSON.stringify(k), 'JSON');
    assertNoSecret(String(k), 'String');
  }
  try {
    ClusterAuthKey.derive(KEY.subarray(0, 15));
    assert.unreachable('short key accepted');
  } catch (error) {
    assert.instance(error, RangeError);
    assertNoSecret(String((error as Error).message), 'short-key error');
    assert.not.ok((error as Error).message.includes('correct horse'));
  }
});

test('no log line or error carries the key, through a whole hostile scenario', async () => {
  const lines: string[] = [];
  const recorder = (name: string): Logger => {
    const record =
      (level: string) =>
      (fields: Record<string, unknown>, message: string): void => {
        lines.push(`${name} ${level} ${message} ${inspect(fields, { depth: 10 })} ${JSON.stringify(fields)}`);
      };
    return { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
  };
  const sim = new Simulation({ seed: 5, link: { latency: latency.uniform(1, 3) } });
  for (const name of ['a', 'b', 'evil']) sim.addNode(name);
  await sim.startAll();
  const make = (name: string, clusterKey: Uint8Array) => {
    const node = sim.node(name);
    return StreamTransport.create({
      id: name,
      listen: { host: name, port: 7000 },
      network: node.network,
      clusterKey,
      clock: node.clock,
      random: node.random.fork('t'),
      nonceSource: seededNonces(node.random.fork('n')),
      logger: recorder(name),
      handshakeTimeoutMs: 500,
    });
  };
  const a = await make('a', KEY);
  const b = await make('b', KEY);
  const evil = await make('evil', OTHER_KEY);
  a.setPeer('b', 'b:7000');
  evil.setPeer('b', 'b:7000');
  evil.setPeer('a', 'a:7000');
  const atB: Message[] = [];
  b.onMessage((m) => {
    atB.push(m);
    if (m.term === 13) throw new Error('handler failure with no secrets');
  });
  const vote = (from: string, term: number): Message => ({
    type: 'vote',
    from,
    to: 'b',
    term,
    preVote: false,
    lastIndex: 0,
    lastTerm: 0,
    transfer: false,
  });
  evil.send(vote('evil', 1));
  evil.send(vote('a', 2)); // spoofing, too
  a.send(vote('a', 13));
  a.send(vote('evil', 14)); // spoofed
  // A raw connection writing a message frame with no handshake.
  let raw: ByteStream | undefined;
  void sim
    .node('evil')
    .network.connectStream({ host: 'b', port: 7000 })
    .then((s) => {
      raw = s;
      s.write(encodeFrame(encodeMessage(vote('a', 3))));
    });
  await sim.advance(3000);
  assert.ok(raw !== undefined);
  assert.equal(
    atB.map((m) => m.term),
    [13],
  );
  const stats = b.stats();
  assert.ok((stats.dropped.auth ?? 0) >= 2, 'both impostors counted');
  assert.is(stats.dropped.spoofed, 1);
  assert.is(stats.dropped.handlerError, 1);
  for (const t of [a, b, evil]) assertNoSecret(JSON.stringify(t.stats()), 'stats');
  await Promise.all([a.close(), b.close(), evil.close()]);
  assert.ok(
    lines.some((l) => l.includes('failed authentication')),
    'auth failures are logged',
  );
  for (const line of lines) assertNoSecret(line, `log line ${JSON.stringify(line.slice(0, 80))}`);
  // And the errors the state machines throw.
  const errors: string[] = [];
  for (const [ik, rk] of [
    [otherKey, key],
    [key, otherKey],
  ] as const) {
    const s = session({ initiatorKey: ik, responderKey: rk });
    const c = s.responder.receive(s.initiator.hello());
    if (c.kind !== 'challenge') continue;
    try {
      s.initiator.receive(c.reply);
    } catch (error) {
      errors.push(String(error), inspect(error));
    }
  }
  assert.is(errors.length, 4);
  for (const e of errors) assertNoSecret(e, 'error');
});

test.run();
