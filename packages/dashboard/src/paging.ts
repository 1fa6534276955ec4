/**
 * `?limit&cursor` paging. The cursor is opaque to clients (base64url of the offset), so the
 * representation can change without breaking them; a bad value is a 400 naming the parameter.
 */

/** A query parameter that cannot be used; the router answers 400 naming it. */
export class ParameterError extends Error {
  /** The class's name. */
  static override readonly name = 'ParameterError' as const;
  /** Always `'ParameterError'`. */
  override readonly name = 'ParameterError' as const;
  /** The offending parameter. */
  readonly parameter: string;
  /** Creates the error. */
  constructor(parameter: string, message: string) {
    super(message);
    this.parameter = parameter;
  }
}

/** Page sizes of `?limit`. */
export interface PageLimits {
  /** When `limit` is absent. */
  readonly default: number;
  /** The largest accepted. */
  readonly max: number;
}

/** Default and largest page size. */
export const PAGE_LIMITS: PageLimits = Object.freeze({ default: 100, max: 1000 });

/** Parses `limit` (1..1000, default 100). */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return PAGE_LIMITS.default;
  if (!/^\d{1,7}$/.test(raw))
    throw new ParameterError('limit', `limit must be an integer from 1 to ${PAGE_LIMITS.max}`);
  const limit = Number(raw);
  if (limit < 1 || limit > PAGE_LIMITS.max)
    throw new ParameterError('limit', `limit must be an integer from 1 to ${PAGE_LIMITS.max}`);
  return limit;
}

/** Parses `cursor` (absent: the first page). */
export function parseCursor(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  if (raw.length > 32 || !/^[A-Za-z0-9_-]+$/.test(raw))
    throw new ParameterError('cursor', 'cursor is not one this server issued');
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  const match = /^o:(\d{1,9})$/.exec(text);
  if (match === null) throw new ParameterError('cursor', 'cursor is not one this server issued');
  return Number(match[1]);
}

/** The cursor of the page after `[offset, offset + limit)` of `total`, or null on the last page. */
export function pageCursor(offset: number, limit: number, total: number): string | null {
  const next = offset + limit;
  return next < total ? Buffer.from(`o:${next}`, 'utf8').toString('base64url') : null;
}
