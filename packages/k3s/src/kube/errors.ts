/**
 * The one error every {@link KubeApi} call throws, and the mapping into it from what
 * `@kubernetes/client-node` 1.4.0 throws: an `ApiException` (`.code` = HTTP status, `.body` = the
 * `Status` document as text), a node-fetch `FetchError` (`.code` = `ECONNREFUSED`, ...) or an
 * `AbortError`.
 */
import { ApiException } from '@kubernetes/client-node';

/**
 * Why a Kubernetes API call failed:
 * - `'unreachable'`: no answer at all (connection refused or reset, host unreachable, TLS failure);
 * - `'timeout'`: no complete answer within the call's time limit;
 * - `'aborted'`: the caller's `AbortSignal` fired;
 * - `'kubeconfig'`: the kubeconfig file is missing, unreadable or unusable (nothing was sent);
 * - `'unauthorized'` (401) / `'forbidden'` (403): the credentials were refused;
 * - `'not-found'` (404): the object does not exist (calls that expect that return `undefined` instead);
 * - `'conflict'` (409, 410): the object already exists or changed under the caller;
 * - `'disruption-budget'` (429 with cause `DisruptionBudget`): an eviction would violate a PodDisruptionBudget; retry later;
 * - `'too-many-requests'` (other 429): the API server is rate limiting; retry later;
 * - `'server-error'` (5xx): e.g. an eviction of a pod selected by several PodDisruptionBudgets (500); do not retry blindly;
 * - `'bad-response'`: any other status, or an answer that is not the expected shape.
 */
export type KubeApiErrorReason =
  | 'unreachable'
  | 'timeout'
  | 'aborted'
  | 'kubeconfig'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'disruption-budget'
  | 'too-many-requests'
  | 'server-error'
  | 'bad-response';

/** A Kubernetes API call failed; `reason` says how. The message never contains credentials. */
export class KubeApiError extends Error {
  /** Always `'KubeApiError'`, even after bundling renames the class. */
  override readonly name = 'KubeApiError';
  /** What kind of failure. */
  readonly reason: KubeApiErrorReason;
  /** The HTTP status when the server answered, else `undefined`. */
  readonly status: number | undefined;
  /** `reason` of the server's `Status` document (`'NotFound'`, `'TooManyRequests'`, ...), when there was one. */
  readonly statusReason: string | undefined;
  /** `details.causes[].reason` of the server's `Status` document (e.g. `['DisruptionBudget']`). */
  readonly causes: readonly string[];

  /** Creates the error; `options.cause` keeps the underlying client error. */
  constructor(
    reason: KubeApiErrorReason,
    message: string,
    details: { status?: number; statusReason?: string; causes?: readonly string[] } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.reason = reason;
    this.status = details.status;
    this.statusReason = details.statusReason;
    this.causes = details.causes ?? [];
  }
}

/** True when `error` is a {@link KubeApiError} (from any copy of this package, CJS or ESM). */
export function isKubeApiError(error: unknown): error is KubeApiError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'KubeApiError' &&
    typeof (error as { reason?: unknown }).reason === 'string'
  );
}

/** The parts of a Kubernetes `Status` body that the mapping uses. */
interface StatusSummary {
  readonly message: string | undefined;
  readonly reason: string | undefined;
  readonly causes: string[];
}

/** Reads a `Status` body (text or object, possibly garbage) without trusting its shape. */
function readStatus(body: unknown): StatusSummary {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { message: undefined, reason: undefined, causes: [] };
    }
  }
  if (typeof value !== 'object' || value === null)
    return { message: undefined, reason: undefined, causes: [] };
  const status = value as { message?: unknown; reason?: unknown; details?: unknown };
  const causes: string[] = [];
  const details = status.details as { causes?: unknown } | null | undefined;
  if (typeof details === 'object' && details !== null && Array.isArray(details.causes)) {
    for (const cause of details.causes as unknown[]) {
      const r = (cause as { reason?: unknown } | null)?.reason;
      if (typeof r === 'string') causes.push(r);
    }
  }
  return {
    // Bounded: a hostile or broken server must not blow up log lines.
    message: typeof status.message === 'string' ? status.message.slice(0, 500) : undefined,
    reason: typeof status.reason === 'string' ? status.reason : undefined,
    causes,
  };
}

/** The reason for an HTTP error status. */
function reasonForStatus(code: number, status: StatusSummary): KubeApiErrorReason {
  if (code === 401) return 'unauthorized';
  if (code === 403) return 'forbidden';
  if (code === 404) return 'not-found';
  if (code === 409 || code === 410) return 'conflict';
  if (code === 429) {
    const budget =
      status.causes.includes('DisruptionBudget') || /disruption budget/i.test(status.message ?? '');
    return budget ? 'disruption-budget' : 'too-many-requests';
  }
  if (code >= 500 && code <= 599) return 'server-error';
  return 'bad-response';
}

/** System error codes of a request that timed out rather than being refused. */
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** What {@link toKubeApiError} needs to know besides the thrown value. */
export interface KubeCallContext {
  /** The operation, for the message: `'list pods'`, `'evict default/web-1'`. */
  readonly what: string;
  /** The API server URL (never credentials), for messages about reaching it. */
  readonly server: string;
  /** True when the caller's signal fired (wins over every other classification). */
  readonly callerAborted: boolean;
  /** The caller's abort reason: a `TimeoutError` (from `AbortSignal.timeout`) reads as `'timeout'`. */
  readonly callerReason?: unknown;
  /** True when the call's own time limit fired. */
  readonly timedOut: boolean;
  /** The call's time limit, for the message. */
  readonly timeoutMs: number;
}

/**
 * Maps anything thrown by a client-node call to a {@link KubeApiError}. The underlying error is
 * kept as `cause` except for `ApiException`, whose message embeds response headers.
 */
export function toKubeApiError(error: unknown, context: KubeCallContext): KubeApiError {
  if (isKubeApiError(error)) return error;
  const { what } = context;
  if (context.callerAborted) {
    if ((context.callerReason as { name?: unknown } | undefined)?.name === 'TimeoutError')
      return new KubeApiError('timeout', `${what}: the caller's time limit passed`, {}, { cause: error });
    return new KubeApiError('aborted', `${what}: aborted`, {}, { cause: error });
  }
  if (context.timedOut)
    return new KubeApiError(
      'timeout',
      `${what}: no answer from ${context.server} within ${context.timeoutMs} ms`,
      {},
      { cause: error },
    );
  if (error instanceof ApiException) {
    const code = typeof error.code === 'number' ? error.code : 0;
    const status = readStatus(error.body);
    const reason = reasonForStatus(code, status);
    const detail = [status.reason, status.message].filter((s) => s !== undefined).join(': ');
    return new KubeApiError(reason, `${what}: HTTP ${code}${detail === '' ? '' : ` ${detail}`}`, {
      status: code,
      ...(status.reason === undefined ? {} : { statusReason: status.reason }),
      causes: status.causes,
    });
  }
  const e = error as { name?: unknown; type?: unknown; code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (e?.name === 'AbortError') return new KubeApiError('aborted', `${what}: aborted`, {}, { cause: error });
  if (code !== undefined && TIMEOUT_CODES.has(code))
    return new KubeApiError(
      'timeout',
      `${what}: ${context.server} timed out (${code})`,
      {},
      { cause: error },
    );
  if (e?.name === 'FetchError' && e.type === 'system')
    return new KubeApiError(
      'unreachable',
      `${what}: cannot reach ${context.server}${code === undefined ? '' : ` (${code})`}`,
      {},
      { cause: error },
    );
  if (e?.name === 'FetchError' || error instanceof SyntaxError)
    return new KubeApiError(
      'bad-response',
      `${what}: unreadable answer from ${context.server}`,
      {},
      { cause: error },
    );
  const message = typeof e?.message === 'string' ? e.message.slice(0, 300) : String(error);
  return new KubeApiError('bad-response', `${what}: ${message}`, {}, { cause: error });
}
