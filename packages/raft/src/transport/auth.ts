/**
 * Peer authentication with the cluster key: a mutual challenge–response handshake over
 * HMAC-SHA256, run by the stream transport on every new connection before anything else.
 *
 * ```
 * initiator I                                   responder R
 *   HELLO     magic, 1, nonceI, idI        →
 *             ←  CHALLENGE  magic, 2, nonceR, proofR, idR
 *   RESPONSE  magic, 3, proofI             →
 * proofR = HMAC(k, transcript('R', idI, idR, nonceI, nonceR))
 * proofI = HMAC(k, transcript('I', idI, idR, nonceI, nonceR))
 * then, on both sides, one session key per direction:
 * kIR = HKDF-SHA256(k, salt = nonceI ‖ nonceR, info = "clusteros/raft/session I->R v1" ‖ ids)
 * kRI = HKDF-SHA256(k, salt = nonceI ‖ nonceR, info = "clusteros/raft/session R->I v1" ‖ ids)
 * ```
 *
 * Every frame after the handshake carries a MAC under its direction's session key and an
 * implicit sequence number (`frame-mac.ts`), so the authentication covers the whole connection,
 * not only its start.
 *
 * Why this shape:
 * - Each proof covers both fresh nonces, so a recorded proof is worthless on any other
 *   connection (no replay); it covers both ids, so it cannot be presented as coming from or to
 *   another member; and it covers the role, so a responder's proof can never serve as an
 *   initiator's (no reflection: R cannot be tricked into answering its own challenge).
 * - The responder proves first, so an initiator never sends cluster traffic to an impostor,
 *   and learns it talks to the member it dialled (`expectedPeer`).
 * - `k` is derived from the cluster key with HKDF under a fixed label, so the raw key is used
 *   for nothing else and is not kept; proofs are compared with `timingSafeEqual`.
 * - Messages have fixed layouts with a magic and version, and are at most
 *   {@link HANDSHAKE_MAX_FRAME_BYTES}, so an unauthenticated peer can make us buffer very little.
 *   Version 2 added the frame MACs: a version 1 peer fails the handshake (`malformed`) instead of
 *   misreading frames, and the version is also bound into the proofs' transcript label.
 * - Session keys are fresh per connection (both nonces are the salt) and per direction (the
 *   label), and bind both ids; they live in `KeyObject`s and are never logged.
 *
 * The classes here are pure state machines (bytes in, bytes out); the transport does the I/O.
 */
import {
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { Random } from '@clusteros/sim';
import type { NodeId } from '../core/types.js';
import { FrameOpener, FrameSealer, type FrameSession } from './frame-mac.js';

/** Bytes of each side's nonce. */
export const NONCE_BYTES = 32;
/** Bytes of an HMAC-SHA256 proof. */
export const PROOF_BYTES = 32;
/** Shortest cluster key accepted (128 bits). */
export const MIN_CLUSTER_KEY_BYTES = 16;
/** Longest node id a handshake carries (UTF-8 bytes). */
export const MAX_HANDSHAKE_ID_BYTES = 256;
/** Largest handshake message; the transport accepts no bigger frame before authentication. */
export const HANDSHAKE_MAX_FRAME_BYTES = 512;

/** Version of the handshake and of the frames after it: 2 since frames carry MACs. */
const PROTOCOL_VERSION = 2;
/** "CRA" (ClusterOS Raft Auth) and the protocol version. */
const MAGIC = Uint8Array.of(0x43, 0x52, 0x41, PROTOCOL_VERSION);
const HELLO = 1;
const CHALLENGE = 2;
const RESPONSE = 3;
const HKDF_SALT = new TextEncoder().encode('clusteros/raft/transport');
const HKDF_INFO = new TextEncoder().encode('peer-auth hmac-sha256 v1');
const TRANSCRIPT_LABEL = new TextEncoder().encode(`clusteros/raft/auth/v${PROTOCOL_VERSION}\0`);
const SESSION_INFO_I2R = new TextEncoder().encode('clusteros/raft/session I->R v1');
const SESSION_INFO_R2I = new TextEncoder().encode('clusteros/raft/session R->I v1');
/** Bytes of each session key (the HMAC-SHA256 output size). */
const SESSION_KEY_BYTES = 32;
const ROLE_INITIATOR = 0x49; // 'I'
const ROLE_RESPONDER = 0x52; // 'R'

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Where nonces come from. Production uses {@link cryptoNonces}; a simulation injects
 * {@link seededNonces} so that a seed replays byte for byte.
 */
export type NonceSource = (bytes: number) => Uint8Array;

/** Nonces from the operating system's CSPRNG (`node:crypto` `randomBytes`): the default. */
export const cryptoNonces: NonceSource = (bytes) => new Uint8Array(randomBytes(bytes));

/**
 * Nonces drawn from a seeded {@link Random}: deterministic, hence predictable. For simulations
 * only, where nothing is secret and replaying a seed must reproduce every byte.
 */
export function seededNonces(random: Random): NonceSource {
  return (bytes) => {
    const out = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 4) {
      const x = random.nextUint32();
      for (let k = 0; k < 4 && i + k < bytes; k++) out[i + k] = (x >>> (8 * k)) & 0xff;
    }
    return out;
  };
}

/** Why a handshake failed (the machine-readable part of an {@link AuthError}). */
export type AuthFailure =
  /** Not a handshake message of this protocol version, or a field out of bounds. */
  | 'malformed'
  /** A message that is valid but not expected at this point of the handshake. */
  | 'unexpected'
  /** The peer's proof is wrong: it does not hold the cluster key (or replays or reflects). */
  | 'badProof'
  /** The responder is not the member the initiator dialled. */
  | 'peerMismatch'
  /** The peer claims our own id. */
  | 'selfConnect'
  /** The handshake did not finish in time, or the connection broke during it. */
  | 'incomplete';

/** A handshake failed. Its message names the reason, never key material or proofs. */
export class AuthError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'AuthError' as const;
  /** Always `'AuthError'`. */
  override readonly name = 'AuthError' as const;
  /** What went wrong. */
  readonly reason: AuthFailure;
  /** Creates the error with `reason` and a description free of secrets. */
  constructor(reason: AuthFailure, detail: string) {
    super(`peer authentication failed: ${reason}: ${detail}`);
    this.reason = reason;
  }
}

/** True when `error` is an {@link AuthError}. */
export const isAuthError = (error: unknown): error is AuthError =>
  typeof error === 'object' && error !== null && (error as { name?: unknown }).name === AuthError.name;

/**
 * The HMAC key derived from the cluster key. Holds only the derived key, inside a `KeyObject`
 * (whose inspection and serialisation show no bytes); the raw cluster key is not kept.
 */
export class ClusterAuthKey {
  readonly #key: KeyObject;

  private constructor(key: KeyObject) {
    this.#key = key;
  }

  /**
   * Derives the authentication key from `clusterKey` (HKDF-SHA256 with a fixed salt and label).
   * Throws RangeError when the key is shorter than {@link MIN_CLUSTER_KEY_BYTES}; the message
   * states only the length.
   */
  static derive(clusterKey: Uint8Array): ClusterAuthKey {
    if (!(clusterKey instanceof Uint8Array) || clusterKey.byteLength < MIN_CLUSTER_KEY_BYTES) {
      const length = clusterKey instanceof Uint8Array ? clusterKey.byteLength : 0;
      throw new RangeError(`clusterKey must be at least ${MIN_CLUSTER_KEY_BYTES} bytes, got ${length}`);
    }
    const derived = new Uint8Array(hkdfSync('sha256', clusterKey, HKDF_SALT, HKDF_INFO, 32));
    const key = createSecretKey(derived);
    derived.fill(0); // the KeyObject holds its own copy
    return new ClusterAuthKey(key);
  }

  /**
   * Computes the proof of `role` over a handshake transcript.
   * @internal
   */
  prove(
    role: number,
    initiator: Uint8Array,
    responder: Uint8Array,
    nonceI: Uint8Array,
    nonceR: Uint8Array,
  ): Uint8Array {
    const hmac = createHmac('sha256', this.#key);
    hmac.update(TRANSCRIPT_LABEL);
    hmac.update(Uint8Array.of(role));
    // Length-prefixed ids: the concatenation cannot be read two ways.
    hmac.update(u16(initiator.byteLength));
    hmac.update(initiator);
    hmac.update(u16(responder.byteLength));
    hmac.update(responder);
    hmac.update(nonceI);
    hmac.update(nonceR);
    return new Uint8Array(hmac.digest());
  }

  /**
   * Derives the two session keys of one connection from the authentication key, both ids and both
   * nonces: HKDF-SHA256 with salt `nonceI ‖ nonceR` and info `"clusteros/raft/session I->R v1"`
   * (or `R->I`) followed by the length-prefixed ids. Each key is a `KeyObject`; the derived bytes
   * are wiped.
   * @internal
   */
  sessionKeys(
    initiator: Uint8Array,
    responder: Uint8Array,
    nonceI: Uint8Array,
    nonceR: Uint8Array,
  ): SessionKeys {
    const salt = new Uint8Array(nonceI.byteLength + nonceR.byteLength);
    salt.set(nonceI, 0);
    salt.set(nonceR, nonceI.byteLength);
    const ids = [u16(initiator.byteLength), initiator, u16(responder.byteLength), responder];
    const derive = (label: Uint8Array): KeyObject => {
      const info = concat([label, ...ids]);
      const bytes = new Uint8Array(hkdfSync('sha256', this.#key, salt, info, SESSION_KEY_BYTES));
      const key = createSecretKey(bytes);
      bytes.fill(0); // the KeyObject holds its own copy
      return key;
    };
    return { initiatorToResponder: derive(SESSION_INFO_I2R), responderToInitiator: derive(SESSION_INFO_R2I) };
  }

  /** Never reveals anything: what `JSON.stringify` shows. */
  toJSON(): string {
    return '[ClusterAuthKey]';
  }

  /** Never reveals anything: what string conversion shows. */
  toString(): string {
    return '[ClusterAuthKey]';
  }
}

/**
 * The session keys of one connection, one per direction (see {@link ClusterAuthKey.sessionKeys}).
 * @internal
 */
export interface SessionKeys {
  /** Authenticates the frames the initiator (the dialling side) sends. */
  readonly initiatorToResponder: KeyObject;
  /** Authenticates the frames the responder (the accepting side) sends. */
  readonly responderToInitiator: KeyObject;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >>> 8, n & 0xff);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  const out = new Uint8Array(length);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

function encodeId(id: NodeId, what: string): Uint8Array {
  const bytes = utf8.encode(id);
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_HANDSHAKE_ID_BYTES) {
    throw new RangeError(`${what} must be 1..${MAX_HANDSHAKE_ID_BYTES} UTF-8 bytes`);
  }
  return bytes;
}

function checkNonce(nonce: Uint8Array): Uint8Array {
  if (!(nonce instanceof Uint8Array) || nonce.byteLength !== NONCE_BYTES) {
    throw new RangeError(`the nonce source must return ${NONCE_BYTES} bytes`);
  }
  return nonce;
}

function build(type: number, ...fields: Uint8Array[]): Uint8Array {
  let length = MAGIC.byteLength + 1;
  for (const f of fields) length += f.byteLength;
  const out = new Uint8Array(length);
  out.set(MAGIC, 0);
  out[MAGIC.byteLength] = type;
  let pos = MAGIC.byteLength + 1;
  for (const f of fields) {
    out.set(f, pos);
    pos += f.byteLength;
  }
  return out;
}

/** A strict reader over one handshake message. */
class Reader {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Checks the magic and returns the message type. */
  header(): number {
    if (this.#bytes.byteLength < MAGIC.byteLength + 1)
      throw new AuthError('malformed', 'short handshake message');
    for (let i = 0; i < MAGIC.byteLength; i++) {
      if (this.#bytes[i] !== MAGIC[i])
        throw new AuthError('malformed', `not a handshake message of protocol v${PROTOCOL_VERSION}`);
    }
    this.#pos = MAGIC.byteLength + 1;
    return this.#bytes[MAGIC.byteLength] as number;
  }

  take(n: number): Uint8Array {
    if (this.#pos + n > this.#bytes.byteLength)
      throw new AuthError('malformed', 'truncated handshake message');
    // Copied: the frame may be a view of a buffer the stream reuses.
    const out = this.#bytes.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  id(): { readonly id: NodeId; readonly bytes: Uint8Array } {
    const length = this.take(2);
    const n = ((length[0] as number) << 8) | (length[1] as number);
    if (n === 0 || n > MAX_HANDSHAKE_ID_BYTES)
      throw new AuthError('malformed', 'node id length out of range');
    const bytes = this.take(n);
    let id: string;
    try {
      id = strictUtf8.decode(bytes);
    } catch {
      throw new AuthError('malformed', 'node id is not UTF-8');
    }
    return { id, bytes };
  }

  end(): void {
    if (this.#pos !== this.#bytes.byteLength)
      throw new AuthError('malformed', 'trailing bytes in handshake message');
  }
}

function sameProof(expected: Uint8Array, got: Uint8Array): boolean {
  return expected.byteLength === got.byteLength && timingSafeEqual(expected, got);
}

/** Options of {@link HandshakeInitiator} and {@link HandshakeResponder}. */
export interface HandshakeOptions {
  /** The derived cluster key. */
  readonly key: ClusterAuthKey;
  /** Our node id. */
  readonly localId: NodeId;
  /** Where our nonce comes from. @defaultValue {@link cryptoNonces} */
  readonly nonces?: NonceSource;
}

/** Options of {@link HandshakeInitiator}. */
export interface InitiatorOptions extends HandshakeOptions {
  /** The member we dialled: a responder with another id fails with `peerMismatch`. */
  readonly expectedPeer?: NodeId;
}

/** The dialling side of the handshake: {@link HandshakeInitiator.hello}, then one {@link HandshakeInitiator.receive}. */
export class HandshakeInitiator {
  readonly #key: ClusterAuthKey;
  readonly #id: Uint8Array;
  readonly #localId: NodeId;
  readonly #expected: NodeId | undefined;
  readonly #nonce: Uint8Array;
  #state: 'new' | 'waiting' | 'done' | 'failed' = 'new';

  /** Prepares a handshake; draws the nonce now. Throws RangeError for an unusable local id. */
  constructor(options: InitiatorOptions) {
    this.#key = options.key;
    this.#localId = options.localId;
    this.#id = encodeId(options.localId, 'localId');
    this.#expected = options.expectedPeer;
    this.#nonce = checkNonce((options.nonces ?? cryptoNonces)(NONCE_BYTES));
  }

  /** The first message to send (HELLO). */
  hello(): Uint8Array {
    if (this.#state !== 'new') throw new AuthError('unexpected', 'hello already sent');
    this.#state = 'waiting';
    return build(HELLO, this.#nonce, u16(this.#id.byteLength), this.#id);
  }

  /**
   * Handles the responder's CHALLENGE: checks its proof and returns the RESPONSE to send, the
   * authenticated peer id and the connection's {@link FrameSession} (every frame after the
   * RESPONSE is sealed and opened with it). Throws {@link AuthError} on any failure; the
   * connection must then close.
   */
  receive(payload: Uint8Array): InitiatorResult {
    if (this.#state !== 'waiting') {
      this.#state = 'failed';
      throw new AuthError('unexpected', 'no handshake message expected now');
    }
    this.#state = 'failed';
    const r = new Reader(payload);
    if (r.header() !== CHALLENGE) throw new AuthError('unexpected', 'expected a challenge');
    const nonceR = r.take(NONCE_BYTES);
    const proofR = r.take(PROOF_BYTES);
    const peer = r.id();
    r.end();
    if (peer.id === this.#localId) throw new AuthError('selfConnect', 'the responder claims our own id');
    if (this.#expected !== undefined && peer.id !== this.#expected) {
      throw new AuthError(
        'peerMismatch',
        `dialled ${JSON.stringify(this.#expected)}, reached ${JSON.stringify(peer.id)}`,
      );
    }
    const expected = this.#key.prove(ROLE_RESPONDER, this.#id, peer.bytes, this.#nonce, nonceR);
    if (!sameProof(expected, proofR))
      throw new AuthError('badProof', 'the responder does not hold the cluster key');
    const proofI = this.#key.prove(ROLE_INITIATOR, this.#id, peer.bytes, this.#nonce, nonceR);
    const keys = this.#key.sessionKeys(this.#id, peer.bytes, this.#nonce, nonceR);
    this.#state = 'done';
    return {
      reply: build(RESPONSE, proofI),
      peer: peer.id,
      session: {
        sealer: new FrameSealer(keys.initiatorToResponder),
        opener: new FrameOpener(keys.responderToInitiator),
      },
    };
  }
}

/** What {@link HandshakeInitiator.receive} produced. */
export interface InitiatorResult {
  /** The RESPONSE to send (unsealed, as the last handshake frame). */
  readonly reply: Uint8Array;
  /** The authenticated responder. */
  readonly peer: NodeId;
  /** Seals the frames we send after the RESPONSE, opens the ones the responder sends. */
  readonly session: FrameSession;
}

/** What {@link HandshakeResponder.receive} produced. */
export type ResponderStep =
  /** HELLO accepted: send `reply` (the CHALLENGE) and wait for the RESPONSE. */
  | { readonly kind: 'challenge'; readonly reply: Uint8Array }
  /**
   * RESPONSE verified: the peer is `peer`; every later frame in either direction is sealed and
   * opened with `session`.
   */
  | { readonly kind: 'authenticated'; readonly peer: NodeId; readonly session: FrameSession };

/** The accepting side of the handshake: two {@link HandshakeResponder.receive} calls. */
export class HandshakeResponder {
  readonly #key: ClusterAuthKey;
  readonly #id: Uint8Array;
  readonly #localId: NodeId;
  readonly #nonces: NonceSource;
  #state: 'hello' | 'response' | 'done' | 'failed' = 'hello';
  #peer: { readonly id: NodeId; readonly bytes: Uint8Array } | undefined;
  #nonceI: Uint8Array | undefined;
  #nonceR: Uint8Array | undefined;

  /** Prepares to answer one connection. Throws RangeError for an unusable local id. */
  constructor(options: HandshakeOptions) {
    this.#key = options.key;
    this.#localId = options.localId;
    this.#id = encodeId(options.localId, 'localId');
    this.#nonces = options.nonces ?? cryptoNonces;
  }

  /**
   * Handles the next handshake message. Throws {@link AuthError} on any failure; after a failure
   * every call throws, and the connection must close without reading anything else.
   */
  receive(payload: Uint8Array): ResponderStep {
    const state = this.#state;
    this.#state = 'failed';
    const r = new Reader(payload);
    if (state === 'hello') {
      if (r.header() !== HELLO) throw new AuthError('unexpected', 'expected a hello');
      const nonceI = r.take(NONCE_BYTES);
      const peer = r.id();
      r.end();
      if (peer.id === this.#localId) throw new AuthError('selfConnect', 'the initiator claims our own id');
      // Drawn only for a well-formed hello: garbage costs the sender nothing of our entropy.
      const nonceR = checkNonce(this.#nonces(NONCE_BYTES));
      const proofR = this.#key.prove(ROLE_RESPONDER, peer.bytes, this.#id, nonceI, nonceR);
      this.#peer = peer;
      this.#nonceI = nonceI;
      this.#nonceR = nonceR;
      this.#state = 'response';
      return {
        kind: 'challenge',
        reply: build(CHALLENGE, nonceR, proofR, u16(this.#id.byteLength), this.#id),
      };
    }
    const peer = this.#peer;
    const nonceI = this.#nonceI;
    const nonceR = this.#nonceR;
    if (state !== 'response' || peer === undefined || nonceI === undefined || nonceR === undefined) {
      throw new AuthError('unexpected', 'no handshake message expected now');
    }
    if (r.header() !== RESPONSE) throw new AuthError('unexpected', 'expected a response');
    const proofI = r.take(PROOF_BYTES);
    r.end();
    const expected = this.#key.prove(ROLE_INITIATOR, peer.bytes, this.#id, nonceI, nonceR);
    if (!sameProof(expected, proofI))
      throw new AuthError('badProof', `${JSON.stringify(peer.id)} does not hold the cluster key`);
    const keys = this.#key.sessionKeys(peer.bytes, this.#id, nonceI, nonceR);
    this.#state = 'done';
    return {
      kind: 'authenticated',
      peer: peer.id,
      session: {
        sealer: new FrameSealer(keys.responderToInitiator),
        opener: new FrameOpener(keys.initiatorToResponder),
      },
    };
  }
}
