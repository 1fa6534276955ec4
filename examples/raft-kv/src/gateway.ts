import {
  isKvSessionPoolExhaustedError,
  isNotLeaderError,
  isProposalDroppedError,
  isRaftStoppedError,
  isRaftTimeoutError,
  type KvCommand,
  type KvCompare,
  type KvDelete,
  type KvKeyValue,
  type KvPut,
  type KvQuery,
  type KvQueryResult,
  type KvRange,
  type KvResult,
  type KvTxnOp,
  type KvTxnOpResult,
} from '@clusteros/raft';

/** What the gateway needs from the Raft member behind it. */
export interface GatewayBackend {
  /** Replicates a KV command and returns its result. */
  propose(command: KvCommand): Promise<KvResult>;
  /** A linearizable read. */
  read(query: KvQuery): Promise<KvQueryResult>;
  /** This member's current Raft term, for the header of every response (asked per request). */
  term(): number;
  /** Facts for `/v3/maintenance/status` and the revision of responses that carry none. */
  status(): {
    readonly id: string;
    readonly term: number;
    readonly leader: string | null;
    readonly commitIndex: number;
    readonly appliedIndex: number;
    readonly revision: number;
  };
  /** Hands leadership to the member named `to`. */
  transferLeadership(to: string): Promise<void>;
  /** Member name → etcd-style uint64 id (decimal string). */
  memberId(name: string): string;
  /** etcd-style id → member name, if known. */
  memberName(id: string): string | undefined;
  /** The cluster's id (decimal string). */
  readonly clusterId: string;
  /** This member's name. */
  readonly id: string;
}

/** Largest request body accepted, as etcd's default `--max-request-bytes` (1.5 MiB) plus JSON/base64 overhead. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024 + 64 * 1024;

/** A request error answered in the gateway's error shape. */
class GatewayError extends Error {
  override readonly name = 'GatewayError' as const;
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function bad(message: string): GatewayError {
  return new GatewayError(400, 3, message);
}

function field(body: Json, name: string): unknown {
  return Object.hasOwn(body, name) ? body[name] : undefined;
}

function bytes(body: Json, name: string, required: boolean): Uint8Array | undefined {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') {
    if (required) throw bad(`${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value))
    throw bad(`${name} must be base64`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

function int(body: Json, name: string): number {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') return 0;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^-?\d{1,16}$/.test(text)) throw bad(`${name} must be an integer`);
  const number = Number(text);
  if (!Number.isSafeInteger(number)) throw bad(`${name} is out of range`);
  return number;
}

function bool(body: Json, name: string): boolean {
  const value = field(body, name);
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw bad(`${name} must be a boolean`);
  return value;
}

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(`${what} must be an object`);
  return value as Json;
}

function list(body: Json, name: string, max: number): unknown[] {
  const value = field(body, name);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > max) throw bad(`${name} must be an array of at most ${max}`);
  return value;
}

const b64 = (data: Uint8Array): string =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

/** grpc-gateway leaves out zero values; so do we, so that clients see etcd's shapes. */
function kvJson(item: KvKeyValue): Json {
  const out: Json = {
    key: b64(item.key),
    create_revision: String(item.createRevision),
    mod_revision: String(item.modRevision),
    version: String(item.version),
  };
  if (item.value.byteLength > 0) out.value = b64(item.value);
  if (item.lease !== 0) out.lease = String(item.lease);
  return out;
}

function rangeEnd(body: Json): { rangeEnd?: Uint8Array } {
  const end = bytes(body, 'range_end', false);
  return end === undefined ? {} : { rangeEnd: end };
}

function putOp(body: Json): KvPut {
  const lease = int(body, 'lease');
  return {
    type: 'put',
    key: bytes(body, 'key', true) as Uint8Array,
    value: bytes(body, 'value', false) ?? new Uint8Array(0),
    ...(lease === 0 ? {} : { lease }),
    ...(bool(body, 'prev_kv') ? { prevKv: true } : {}),
  };
}

function deleteOp(body: Json): KvDelete {
  return {
    type: 'delete',
    key: bytes(body, 'key', true) as Uint8Array,
    ...rangeEnd(body),
    ...(bool(body, 'prev_kv') ? { prevKv: true } : {}),
  };
}

function rangeOp(body: Json): KvRange {
  const limit = int(body, 'limit');
  const revision = int(body, 'revision');
  if (limit < 0 || revision < 0) throw bad('limit and revision must not be negative');
  return {
    type: 'range',
    key: bytes(body, 'key', true) as Uint8Array,
    ...rangeEnd(body),
    ...(limit > 0 ? { limit } : {}),
    ...(revision > 0 ? { revision } : {}),
    ...(bool(body, 'keys_only') ? { keysOnly: true } : {}),
    ...(bool(body, 'count_only') ? { countOnly: true } : {}),
  };
}

const COMPARE_OPS: Record<string, KvCompare['op']> = { EQUAL: '=', NOT_EQUAL: '!=', LESS: '<', GREATER: '>' };
const COMPARE_TARGETS: Record<string, [KvCompare['target'], string]> = {
  VERSION: ['version', 'version'],
  CREATE: ['createRevision', 'create_revision'],
  MOD: ['modRevision', 'mod_revision'],
  VALUE: ['value', 'value'],
  LEASE: ['lease', 'lease'],
};

function compare(raw: unknown): KvCompare {
  const body = object(raw, 'compare');
  const op = COMPARE_OPS[String(field(body, 'result') ?? 'EQUAL')];
  const target = COMPARE_TARGETS[String(field(body, 'target') ?? 'VERSION')];
  if (op === undefined) throw bad('compare.result must be EQUAL, NOT_EQUAL, LESS or GREATER');
  if (target === undefined) throw bad('compare.target must be VERSION, CREATE, MOD, VALUE or LEASE');
  const key = bytes(body, 'key', true) as Uint8Array;
  const [name, jsonField] = target;
  if (name === 'value') {
    return {
      key,
      ...rangeEnd(body),
      target: 'value',
      op,
      value: bytes(body, jsonField, false) ?? new Uint8Array(0),
    };
  }
  return { key, ...rangeEnd(body), target: name, op, value: int(body, jsonField) };
}

function requestOp(raw: unknown): KvTxnOp {
  const body = object(raw, 'request op');
  const put = field(body, 'request_put');
  if (put !== undefined) return putOp(object(put, 'request_put'));
  const range = field(body, 'request_range');
  if (range !== undefined) return rangeOp(object(range, 'request_range'));
  const del = field(body, 'request_delete_range');
  if (del !== undefined) return deleteOp(object(del, 'request_delete_range'));
  throw bad('request op must be request_put, request_range or request_delete_range');
}

/** The gateway's request handling, shared by {@link createGateway} and the node:http adapter. */
export function createGatewayHandler(backend: GatewayBackend): GatewayHandler {
  const header = (revision?: number): Json => ({
    cluster_id: backend.clusterId,
    member_id: backend.memberId(backend.id),
    revision: String(revision ?? backend.status().revision),
    raft_term: String(backend.term()),
  });

  const rangeJson = (result: KvTxnOpResult & { type: 'range' }): Json => {
    const out: Json = { header: header(result.revision) };
    if (result.kvs.length > 0) out.kvs = result.kvs.map(kvJson);
    if (result.more) out.more = true;
    if (result.count > 0) out.count = String(result.count);
    return out;
  };

  const opJson = (result: KvTxnOpResult): Json => {
    if (result.type === 'range') return rangeJson(result);
    if (result.type === 'put') {
      const out: Json = { header: header(result.revision) };
      if (result.prevKv !== undefined) out.prev_kv = kvJson(result.prevKv);
      return out;
    }
    const out: Json = { header: header(result.revision) };
    if (result.deleted > 0) out.deleted = String(result.deleted);
    if (result.prevKvs !== undefined && result.prevKvs.length > 0) out.prev_kvs = result.prevKvs.map(kvJson);
    return out;
  };

  const unwrap = <T extends KvResult | KvQueryResult>(result: T): Exclude<T, { type: 'error' }> => {
    if (result.type === 'error') {
      const { name, message } = result.error as { name?: string; message?: string };
      if (name === 'KvCompactedError')
        throw new GatewayError(400, 11, 'etcdserver: mvcc: required revision has been compacted');
      if (name === 'KvFutureRevisionError')
        throw new GatewayError(400, 11, 'etcdserver: mvcc: required revision is a future revision');
      if (name === 'KvLeaseNotFoundError')
        throw new GatewayError(404, 5, 'etcdserver: requested lease not found');
      throw new GatewayError(400, 3, `etcdserver: ${message ?? name ?? 'request failed'}`);
    }
    return result as Exclude<T, { type: 'error' }>;
  };

  const routes: Record<string, (body: Json) => Promise<Json>> = {
    '/v3/kv/put': async (body) => opJson(unwrap(await backend.propose(putOp(body))) as KvTxnOpResult),
    '/v3/kv/deleterange': async (body) =>
      opJson(unwrap(await backend.propose(deleteOp(body))) as KvTxnOpResult),
    '/v3/kv/range': async (body) =>
      rangeJson(unwrap(await backend.read(rangeOp(body))) as KvTxnOpResult & { type: 'range' }),
    '/v3/kv/txn': async (body) => {
      const txn = {
        compare: list(body, 'compare', 128).map(compare),
        success: list(body, 'success', 128).map(requestOp),
        failure: list(body, 'failure', 128).map(requestOp),
      };
      const result = unwrap(await backend.propose({ type: 'txn', ...txn }));
      if (result.type !== 'txn') throw new GatewayError(500, 13, 'unexpected result');
      const out: Json = { header: header(result.revision) };
      if (result.succeeded) out.succeeded = true;
      const keyOf = {
        put: 'response_put',
        delete: 'response_delete_range',
        range: 'response_range',
      } as const;
      if (result.responses.length > 0)
        out.responses = result.responses.map((r) => ({ [keyOf[r.type]]: opJson(r) }));
      return out;
    },
    '/v3/maintenance/status': async () => {
      const s = backend.status();
      return {
        header: header(s.revision),
        version: '3.4.0',
        dbSize: '0',
        ...(s.leader === null ? {} : { leader: backend.memberId(s.leader) }),
        raftIndex: String(s.commitIndex),
        raftTerm: String(s.term),
        raftAppliedIndex: String(s.appliedIndex),
      };
    },
    '/v3/maintenance/transfer-leadership': async (body) => {
      const target = field(body, 'targetID');
      const name =
        typeof target === 'string' || typeof target === 'number'
          ? backend.memberName(String(target))
          : undefined;
      if (name === undefined) throw new GatewayError(404, 5, 'etcdserver: member not found');
      await backend.transferLeadership(name);
      return { header: header() };
    },
  };

  return async (pathname, method, readText) => {
    const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
    try {
      if (route === undefined) throw new GatewayError(404, 5, 'Not Found');
      if (method !== 'POST') throw new GatewayError(405, 12, 'Method Not Allowed');
      const text = await readText();
      if (text.length > MAX_BODY_BYTES) throw new GatewayError(413, 8, 'etcdserver: request is too large');
      let parsed: unknown = {};
      if (text.trim() !== '') {
        try {
          parsed = JSON.parse(text);
        } catch {
          throw bad('request body is not JSON');
        }
      }
      return { status: 200, body: JSON.stringify(await route(object(parsed, 'request body'))) };
    } catch (error) {
      const failure = toGatewayError(error, backend);
      return {
        status: failure.status,
        body: JSON.stringify({ error: failure.message, code: failure.code, message: failure.message }),
      };
    }
  };
}

/** The gateway's answer: an HTTP status and a JSON body (`content-type: application/json`). */
export interface GatewayAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * The gateway without the fetch API: `pathname` and `method` of the request, and a function that
 * reads its body as text (called only for a known route and POST). What {@link createGateway}
 * answers, as a status and JSON text, without building `Request`/`Response` objects.
 */
export type GatewayHandler = (
  pathname: string,
  method: string,
  readText: () => string | Promise<string>,
) => Promise<GatewayAnswer>;

/**
 * The subset of etcd's v3 JSON gateway that clients use most, as a fetch-style handler:
 * `POST /v3/kv/put`, `/v3/kv/range`, `/v3/kv/deleterange`, `/v3/kv/txn`,
 * `/v3/maintenance/status`, `/v3/maintenance/transfer-leadership`. Keys and values are base64,
 * 64-bit integers are strings, zero values are omitted — as etcd 3.4 answers.
 */
export function createGateway(backend: GatewayBackend): (request: Request) => Promise<Response> {
  const handle = createGatewayHandler(backend);
  return async (request) => {
    const answer = await handle(new URL(request.url).pathname, request.method, () => request.text());
    return new Response(answer.body, {
      status: answer.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}

function toGatewayError(error: unknown, backend: GatewayBackend): GatewayError {
  if (error instanceof GatewayError) return error;
  if (isNotLeaderError(error)) {
    const hint =
      error.leaderHint === null
        ? 'no leader is known'
        : `the leader is ${error.leaderHint} (member ${backend.memberId(error.leaderHint)})`;
    return new GatewayError(
      error.leaderHint === null ? 503 : 412,
      error.leaderHint === null ? 14 : 9,
      `etcdserver: not leader; ${hint}`,
    );
  }
  if (isRaftTimeoutError(error)) return new GatewayError(503, 14, 'etcdserver: request timed out');
  // etcd answers an overloaded member the same way (ErrTooManyRequests, gRPC ResourceExhausted).
  if (isKvSessionPoolExhaustedError(error)) return new GatewayError(429, 8, 'etcdserver: too many requests');
  if (isProposalDroppedError(error)) return new GatewayError(503, 14, `etcdserver: ${error.message}`);
  if (isRaftStoppedError(error)) return new GatewayError(503, 14, 'etcdserver: server stopped');
  if (error instanceof RangeError || (error as { name?: string })?.name === 'KvDecodeError') {
    return bad((error as Error).message);
  }
  return new GatewayError(500, 13, 'etcdserver: internal error');
}
