/**
 * The one error the etcd gateway client throws for a failed call: the gateway's refusal mapped to a
 * reason a caller can act on, or a transport failure, or an answer that did not decode.
 */

/**
 * Why an etcd gateway call failed:
 * - `'unhealthy-cluster'`: etcd cannot take the call now (gRPC Unavailable, HTTP 503). Seen for
 *   membership changes within ~5 s of the cluster starting and while any voting member is down
 *   (`etcdserver: unhealthy cluster`, etcd's strict reconfiguration check), and for "no leader" or a
 *   proposal that timed out. Retry later; the server's words are in {@link EtcdGatewayError.serverMessage};
 * - `'learner-not-in-sync'`: a learner cannot be promoted before it has started and caught up with the
 *   leader (HTTP 412, gRPC FailedPrecondition); retry after it has started;
 * - `'not-leader'`: the call must go to the leader's gateway (leadership transfer; HTTP 412);
 * - `'member-not-found'`: no member has that id (HTTP 404, gRPC NotFound);
 * - `'invalid-argument'`: etcd rejected the arguments (e.g. `given member URLs are invalid`, HTTP 400),
 *   or this client did before sending (a malformed member id, a bad endpoint);
 * - `'unreachable'`: no answer could be had: connection refused or reset, no route, or a failed TLS
 *   handshake (wrong CA, or etcd rejected the client certificate); `cause` keeps Node's error;
 * - `'timeout'`: no complete answer within the request's time bound;
 * - `'bad-response'`: an answer that is not what an etcd gateway sends (not JSON, wrong shape,
 *   oversized, a plain `404 Not Found` for an unknown path);
 * - `'refused'`: any other refusal by etcd (e.g. `Peer URLs already exists`, `too many learner members
 *   in cluster`, `bad leader transferee`, authentication); see `status`, `grpcCode` and `serverMessage`.
 */
export type EtcdGatewayErrorReason =
  | 'unhealthy-cluster'
  | 'learner-not-in-sync'
  | 'member-not-found'
  | 'invalid-argument'
  | 'not-leader'
  | 'unreachable'
  | 'timeout'
  | 'bad-response'
  | 'refused';

/** Where a gateway error happened and what etcd said; every field optional. */
export interface EtcdGatewayErrorContext {
  /** The call, e.g. `'POST /v3/cluster/member/add'`. */
  readonly operation?: string;
  /** The gateway's base URL. */
  readonly endpoint?: string;
  /** The HTTP status etcd answered with. */
  readonly status?: number;
  /** The gRPC status code in etcd's error body. */
  readonly grpcCode?: number;
  /** etcd's own message (cleaned of control characters and cut to 200 characters). */
  readonly serverMessage?: string;
  /** The underlying error (a Node socket or TLS error, a JSON syntax error). */
  readonly cause?: unknown;
}

/** An etcd gateway call failed; `reason` says how, the message says where and what etcd answered. */
export class EtcdGatewayError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'EtcdGatewayError' as const;
  /** Always `'EtcdGatewayError'`, even after bundling renames the class. */
  override readonly name = 'EtcdGatewayError' as const;
  /** What kind of failure. */
  readonly reason: EtcdGatewayErrorReason;
  /** What was wrong, without the call and endpoint the message adds. */
  readonly detail: string;
  // The optional fields are declared, not initialised: unset ones stay absent (no own `undefined`).
  /** The call, e.g. `'POST /v3/cluster/member/remove'`, when known. */
  declare readonly operation?: string;
  /** The gateway's base URL, when known. */
  declare readonly endpoint?: string;
  /** The HTTP status of etcd's answer, when there was one. */
  declare readonly status?: number;
  /** The gRPC status code from etcd's error body, when there was one. */
  declare readonly grpcCode?: number;
  /** etcd's own error message, when there was one (cleaned and cut to 200 characters). */
  declare readonly serverMessage?: string;

  /** Creates the error; the message is `etcd gateway <operation> at <endpoint>: <detail>`. */
  constructor(reason: EtcdGatewayErrorReason, detail: string, context: EtcdGatewayErrorContext = {}) {
    const where = `${context.operation === undefined ? '' : ` ${context.operation}`}${
      context.endpoint === undefined ? '' : ` at ${context.endpoint}`
    }`;
    super(
      `etcd gateway${where}: ${detail}`,
      context.cause === undefined ? undefined : { cause: context.cause },
    );
    this.reason = reason;
    this.detail = detail;
    if (context.operation !== undefined) this.operation = context.operation;
    if (context.endpoint !== undefined) this.endpoint = context.endpoint;
    if (context.status !== undefined) this.status = context.status;
    if (context.grpcCode !== undefined) this.grpcCode = context.grpcCode;
    if (context.serverMessage !== undefined) this.serverMessage = cleanServerText(context.serverMessage);
  }
}

/** True when `error` is an {@link EtcdGatewayError} (from any copy of this package, CJS or ESM). */
export function isEtcdGatewayError(error: unknown): error is EtcdGatewayError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === EtcdGatewayError.name &&
    typeof (error as { reason?: unknown }).reason === 'string' &&
    typeof (error as { detail?: unknown }).detail === 'string'
  );
}

/** Text from etcd is untrusted: no control characters (a forged log line), at most 200 characters. */
export function cleanServerText(text: string): string {
  const flat = text.replace(/[\p{Cc}\u2028\u2029]/gu, ' ');
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
