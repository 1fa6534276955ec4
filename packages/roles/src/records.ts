/**
 * The two records roles keep in the Raft KV, their keys and their encoding.
 *
 * - `<prefix>leases/<role>`: who holds a singleton role. The key is attached to the holder's KV
 *   lease, so it disappears when the lease expires; its `modRevision` is the holder's fencing
 *   token (every acquisition and every handoff writes the key, renewals never do).
 * - `<prefix>handoffs/<role>`: the latest handoff of the role and how far it got. Every change is
 *   a compare-and-swap on the record's `modRevision`, so two nodes can never both move it on.
 *
 * Values are msgpack maps validated field by field: whatever the store holds is treated as
 * untrusted (another version may have written it).
 */
import { decode, encode } from '@msgpack/msgpack';
import { RecordDecodeError } from './errors.js';
import { MAX_HANDOFF_STATE_BYTES } from './role.js';

/** The default key prefix of everything roles write: the agent's namespace. */
export const DEFAULT_KEY_PREFIX = '/clusteros/';

/** The key of a singleton role's lease record. */
export function leaseKey(prefix: string, role: string): string {
  return `${prefix}leases/${role}`;
}

/** The key of a singleton role's handoff record. */
export function handoffKey(prefix: string, role: string): string {
  return `${prefix}handoffs/${role}`;
}

/** What the lease key's value says. */
export interface LeaseRecord {
  /** The holder's node id. */
  readonly holder: string;
  /**
   * The holder's session: a random id per manager start. A node that restarts sees a record with
   * its own id but an old session and knows it is not holding the role any more.
   */
  readonly session: string;
  /** The handoff that gave this holder the role, if any. */
  readonly handoffId?: string;
}

/**
 * A handoff's progress: `intent` (written by the coordinator), `ready` (the target has warmed up),
 * `prepared` (the holder has quiesced), `moved` (the lease is the target's), then `completed`;
 * or `aborted` before `moved`. `completed` and `aborted` are final.
 */
export type HandoffPhase = 'intent' | 'ready' | 'prepared' | 'moved' | 'completed' | 'aborted';

/** The handoff record. */
export interface HandoffRecord {
  /** Unique id of this handoff. */
  readonly id: string;
  /** The role. */
  readonly role: string;
  /** The holder when the handoff began. */
  readonly from: string;
  /** Its session. */
  readonly fromSession: string;
  /** The fencing token of that holder (the lease key's `modRevision`). */
  readonly fromToken: number;
  /** The target node. */
  readonly to: string;
  /** Where it got to. */
  readonly phase: HandoffPhase;
  /** Store time (leader-proposed ms) after which an unfinished handoff may be aborted by anyone. */
  readonly deadline: number;
  /** The old holder's handoff state (set in `prepared`). */
  readonly state?: Uint8Array;
  /** The target's session that moved the lease (set in `moved`). */
  readonly toSession?: string;
  /** Why it was aborted. */
  readonly reason?: string;
}

const PHASES: readonly HandoffPhase[] = ['intent', 'ready', 'prepared', 'moved', 'completed', 'aborted'];
const MAX_ID = 256;

/** Whether a handoff in `phase` may still be aborted (the lease has not moved). */
export function isAbortablePhase(phase: HandoffPhase): boolean {
  return phase === 'intent' || phase === 'ready' || phase === 'prepared';
}

/** Whether a handoff in `phase` still needs work. */
export function isActivePhase(phase: HandoffPhase): boolean {
  return phase === 'intent' || phase === 'ready' || phase === 'prepared' || phase === 'moved';
}

/** Names a decoded value for an error message without calling anything on it. */
function describe(value: unknown): string {
  if (value === null || typeof value !== 'object')
    return typeof value === 'string' ? value.slice(0, 64) : String(value);
  if (value instanceof Uint8Array) return 'bytes';
  return Array.isArray(value) ? 'an array' : 'a map';
}

function asMap(bytes: Uint8Array, key: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    throw new RecordDecodeError(key, 'not msgpack', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw new RecordDecodeError(key, 'not a map');
  return value as Record<string, unknown>;
}

function text(map: Record<string, unknown>, field: string, key: string): string {
  const value = map[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID)
    throw new RecordDecodeError(key, `${field} must be a non-empty string of at most ${MAX_ID} characters`);
  return value;
}

function optionalText(map: Record<string, unknown>, field: string, key: string): string | undefined {
  return map[field] === undefined ? undefined : text(map, field, key);
}

function count(map: Record<string, unknown>, field: string, key: string): number {
  const value = map[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new RecordDecodeError(key, `${field} must be a non-negative integer`);
  return value;
}

/** Encodes a lease record. */
export function encodeLease(record: LeaseRecord): Uint8Array {
  return encode({
    v: 1,
    holder: record.holder,
    session: record.session,
    ...(record.handoffId !== undefined ? { handoffId: record.handoffId } : {}),
  });
}

/** Decodes a lease record; throws {@link RecordDecodeError}. */
export function decodeLease(bytes: Uint8Array, key: string): LeaseRecord {
  const map = asMap(bytes, key);
  if (map.v !== 1) throw new RecordDecodeError(key, `unknown version ${describe(map.v)}`);
  const handoffId = optionalText(map, 'handoffId', key);
  return {
    holder: text(map, 'holder', key),
    session: text(map, 'session', key),
    ...(handoffId !== undefined ? { handoffId } : {}),
  };
}

/** Encodes a handoff record. */
export function encodeHandoff(record: HandoffRecord): Uint8Array {
  return encode({ v: 1, ...record });
}

/** Decodes a handoff record; throws {@link RecordDecodeError}. */
export function decodeHandoff(bytes: Uint8Array, key: string): HandoffRecord {
  const map = asMap(bytes, key);
  if (map.v !== 1) throw new RecordDecodeError(key, `unknown version ${describe(map.v)}`);
  const phase = map.phase;
  if (typeof phase !== 'string' || !PHASES.includes(phase as HandoffPhase))
    throw new RecordDecodeError(key, `unknown phase ${describe(phase)}`);
  const state = map.state;
  if (state !== undefined && (!(state instanceof Uint8Array) || state.byteLength > MAX_HANDOFF_STATE_BYTES))
    throw new RecordDecodeError(key, `state must be at most ${MAX_HANDOFF_STATE_BYTES} bytes`);
  const toSession = optionalText(map, 'toSession', key);
  const reason = map.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1024))
    throw new RecordDecodeError(key, 'reason must be a string of at most 1024 characters');
  return {
    id: text(map, 'id', key),
    role: text(map, 'role', key),
    from: text(map, 'from', key),
    fromSession: text(map, 'fromSession', key),
    fromToken: count(map, 'fromToken', key),
    to: text(map, 'to', key),
    phase: phase as HandoffPhase,
    deadline: count(map, 'deadline', key),
    ...(state !== undefined ? { state: state as Uint8Array } : {}),
    ...(toSession !== undefined ? { toSession } : {}),
    ...(reason !== undefined ? { reason } : {}),
  };
}
