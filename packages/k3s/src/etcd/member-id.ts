/**
 * etcd member ids are uint64. The gateway sends and takes them as decimal strings; etcdctl and etcd's
 * logs print them in hex. Above 2^53 a JS number cannot hold them (a rounded id is a different
 * member, or "member not found"), so every conversion here goes through BigInt and never a number.
 */

/** The largest uint64. */
const UINT64_MAX = (1n << 64n) - 1n;

/** Canonical decimal: no sign, no leading zeros, at most 20 digits (2^64 − 1 has 20). */
const DECIMAL = /^(?:0|[1-9][0-9]{0,19})$/;

/** 1 to 16 hex digits, either case. */
const HEX = /^[0-9a-fA-F]{1,16}$/;

/**
 * Why a member id was rejected:
 * - `'syntax'`: not a canonical decimal (or hex) number;
 * - `'range'`: above 2^64 − 1, or 0 (etcd never gives a member id 0: raft uses 0 for "no member").
 */
export type EtcdMemberIdErrorReason = 'syntax' | 'range';

/** A string is not an etcd member id. */
export class EtcdMemberIdError extends Error {
  /** Always `'EtcdMemberIdError'`. */
  override readonly name = 'EtcdMemberIdError' as const;
  /** What was wrong. */
  readonly reason: EtcdMemberIdErrorReason;

  /** Creates the error; the message quotes (at most 40 characters of) the input. */
  constructor(reason: EtcdMemberIdErrorReason, input: string, expected: string) {
    const shown = JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
    super(
      `not an etcd member id: ${shown} (${reason === 'range' ? 'out of range' : `expected ${expected}`})`,
    );
    this.reason = reason;
  }
}

/** True when `error` is an {@link EtcdMemberIdError} (from any copy of this package). */
export function isEtcdMemberIdError(error: unknown): error is EtcdMemberIdError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'EtcdMemberIdError' &&
    typeof (error as { reason?: unknown }).reason === 'string'
  );
}

/**
 * The uint64 written in canonical decimal as `text`, or undefined. Used for every uint64 field of
 * the gateway's JSON (ids, raft term and index), where 0 is a legal value.
 */
export function parseUint64Decimal(text: string): bigint | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = BigInt(text);
  return value <= UINT64_MAX ? value : undefined;
}

/** True when `id` is a member id as the gateway writes it: canonical decimal, 1 … 2^64 − 1. */
export function isMemberId(id: string): boolean {
  const value = parseUint64Decimal(id);
  return value !== undefined && value !== 0n;
}

/** The member id `id` (decimal) as a bigint; throws {@link EtcdMemberIdError}. */
function memberIdValue(id: string): bigint {
  if (!DECIMAL.test(id)) throw new EtcdMemberIdError('syntax', id, 'a decimal uint64 without leading zeros');
  const value = BigInt(id);
  if (value === 0n || value > UINT64_MAX) throw new EtcdMemberIdError('range', id, '');
  return value;
}

/**
 * The decimal member id `id` in lowercase hex without leading zeros, exactly as `etcdctl member
 * list` prints it (`355746e3283d0da` has 15 digits: etcdctl does not pad). Throws
 * {@link EtcdMemberIdError} unless `id` is a canonical decimal in 1 … 2^64 − 1.
 */
export function memberIdToHex(id: string): string {
  return memberIdValue(id).toString(16);
}

/**
 * The hex member id `hex` (as etcdctl and etcd's logs print it; 1–16 digits, either case, leading
 * zeros allowed) as the decimal string the gateway takes. Throws {@link EtcdMemberIdError} for
 * anything else, including 0.
 */
export function memberIdFromHex(hex: string): string {
  if (!HEX.test(hex)) throw new EtcdMemberIdError('syntax', hex, '1 to 16 hex digits');
  const value = BigInt(`0x${hex}`);
  if (value === 0n) throw new EtcdMemberIdError('range', hex, '');
  return value.toString(10);
}

/** Checks a member id a caller passed in; returns it unchanged or throws {@link EtcdMemberIdError}. */
export function checkMemberId(id: string): string {
  memberIdValue(id);
  return id;
}
