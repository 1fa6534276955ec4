/**
 * The controller state as it travels through the store: who packed it, under which fencing
 * token, when, and why, followed by the state archive (`packState`). Read back as untrusted: the
 * header is checked here, the archive by `verifyState`/`unpackState`.
 *
 * ```text
 * 8  magic   "CLOSHIP1"
 * 4  length  u32 big-endian, bytes of the JSON header (at most 4,096)
 * n  header  UTF-8 JSON {node, token, at, reason, sha256}
 * …  archive the state archive
 * ```
 */
import { verifyState } from '../state/pack.js';
import { SlurmRoleError } from './errors.js';

const MAGIC = 'CLOSHIP1';
const MAX_HEADER_BYTES = 4096;

/** Why the state was shipped. */
export type ShippedStateReason = 'periodic' | 'handoff';

/** Who shipped a state copy and when. */
export interface ShippedStateHeader {
  /** The controller node that packed it. */
  readonly node: string;
  /** Its fencing token then. */
  readonly token: number;
  /** When (its wall clock, ms). */
  readonly at: number;
  /** A periodic copy for crash recovery, or the final state of a handoff. */
  readonly reason: ShippedStateReason;
  /** The archive's SHA-256 (lower-case hex). */
  readonly sha256: string;
}

/** A decoded state copy. */
export interface ShippedState {
  /** Its header. */
  readonly header: ShippedStateHeader;
  /** The state archive. */
  readonly archive: Uint8Array;
}

/** Encodes a state copy; the archive's checksum goes into the header. */
export function encodeShippedState(
  header: Omit<ShippedStateHeader, 'sha256'>,
  archive: Uint8Array,
): Uint8Array {
  const { sha256 } = verifyState(archive);
  const json = new TextEncoder().encode(JSON.stringify({ ...header, sha256 }));
  const out = new Uint8Array(8 + 4 + json.byteLength + archive.byteLength);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.byteLength);
  out.set(json, 12);
  out.set(archive, 12 + json.byteLength);
  return out;
}

/**
 * Decodes a state copy and verifies its archive completely.
 * @throws {@link SlurmRoleError} `'state'` saying what is wrong.
 */
export function decodeShippedState(bytes: Uint8Array): ShippedState {
  const bad = (why: string): never => {
    throw new SlurmRoleError('state', `the shipped controller state is unusable: ${why}`);
  };
  if (bytes.byteLength < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) bad('wrong magic');
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8);
  if (length > MAX_HEADER_BYTES || 12 + length > bytes.byteLength) bad('header length out of range');
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + length)));
  } catch {
    bad('header is not JSON');
  }
  if (typeof raw !== 'object' || raw === null) bad('header is not an object');
  const { node, token, at, reason, sha256 } = raw;
  if (typeof node !== 'string' || node.length === 0 || node.length > 253) bad('header node');
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 0) bad('header token');
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) bad('header time');
  if (reason !== 'periodic' && reason !== 'handoff') bad('header reason');
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) bad('header checksum');
  const archive = bytes.slice(12 + length);
  let summary: { sha256: string } = { sha256: '' };
  try {
    summary = verifyState(archive);
  } catch (error) {
    bad((error as Error).message);
  }
  if (summary.sha256 !== sha256) bad('the archive does not match the checksum in its header');
  return {
    header: {
      node: node as string,
      token: token as number,
      at: at as number,
      reason: reason as ShippedStateReason,
      sha256: sha256 as string,
    },
    archive,
  };
}
