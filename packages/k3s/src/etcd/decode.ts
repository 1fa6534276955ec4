/**
 * Decoding the gateway's answers. Every byte is untrusted: the body must be UTF-8 JSON of the shape
 * etcd sends, checked by hand field by field; fields etcd leaves out because they hold their default
 * (proto3 JSON omits `isLearner: false`, an unstarted member's `name`, a `0` leader) get that default.
 * Anything else ends in an {@link EtcdGatewayError}, never a `TypeError` or a silently wrong value.
 */
import { reasonForGrpcError } from './error-mapping.js';
import { EtcdGatewayError } from './errors.js';
import { isMemberId, memberIdToHex, parseUint64Decimal } from './member-id.js';
import type { EtcdMember, EtcdStatus } from './types.js';

/** Which call an answer belongs to, for error messages. */
export interface GatewayCall {
  /** The call, e.g. `'POST /v3/cluster/member/list'`. */
  readonly operation: string;
  /** The gateway's base URL. */
  readonly endpoint: string;
}

/** An answer as it came off the wire. */
export interface GatewayReply {
  /** HTTP status. */
  readonly status: number;
  /** The whole body. */
  readonly body: Uint8Array;
}

type JsonObject = { readonly [key: string]: unknown };

/** The most members a list may hold; etcd clusters have a handful, k3s recommends at most 7 servers. */
const MAX_MEMBERS = 1000;
/** The most URLs one member may list. */
const MAX_URLS = 64;
/** The longest name or URL accepted. */
const MAX_TEXT = 4096;

function badResponse(call: GatewayCall, detail: string, status?: number, cause?: unknown): EtcdGatewayError {
  return new EtcdGatewayError('bad-response', detail, {
    ...call,
    ...(status === undefined ? {} : { status }),
    ...(cause === undefined ? {} : { cause }),
  });
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `object[key]` only when it is the object's own property (never something from its prototype). */
function own(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** The body as JSON, or undefined when it is not UTF-8 JSON. */
function parseJson(body: Uint8Array): { value: unknown } | { error: unknown } {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { error };
  }
}

/**
 * The JSON object of a successful (2xx) answer. A non-2xx answer with etcd's error body throws the
 * mapped {@link EtcdGatewayError}; anything else throws one with reason `'bad-response'`.
 */
export function decodeReply(call: GatewayCall, reply: GatewayReply): JsonObject {
  const parsed = parseJson(reply.body);
  const ok = reply.status >= 200 && reply.status < 300;
  if ('error' in parsed) {
    throw badResponse(
      call,
      ok ? 'the answer is not UTF-8 JSON' : `HTTP ${reply.status} without an etcd error body`,
      reply.status,
      parsed.error,
    );
  }
  if (!ok) throw errorFromBody(call, reply.status, parsed.value);
  if (!isObject(parsed.value)) throw badResponse(call, 'the answer is not a JSON object', reply.status);
  return parsed.value;
}

/** The error etcd's error body `{"error","message","code"}` stands for. */
function errorFromBody(call: GatewayCall, status: number, body: unknown): EtcdGatewayError {
  const code = isObject(body) ? own(body, 'code') : undefined;
  const messageField = isObject(body) ? (own(body, 'message') ?? own(body, 'error')) : undefined;
  if (typeof code !== 'number' || !Number.isInteger(code) || code <= 0 || code > 16) {
    return badResponse(call, `HTTP ${status} without an etcd error body`, status);
  }
  const message = typeof messageField === 'string' ? messageField : '';
  const reason = reasonForGrpcError(code, message);
  return new EtcdGatewayError(
    reason,
    `${message === '' ? 'refused' : message} (HTTP ${status}, grpc ${code})`,
    {
      ...call,
      status,
      grpcCode: code,
      serverMessage: message,
    },
  );
}

function text(call: GatewayCall, value: unknown, where: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw badResponse(call, `${where} is not a string`);
  if (value.length > MAX_TEXT) throw badResponse(call, `${where} is longer than ${MAX_TEXT} characters`);
  return value;
}

function flag(call: GatewayCall, value: unknown, where: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw badResponse(call, `${where} is not a boolean`);
  return value;
}

function uint64(call: GatewayCall, value: unknown, where: string): string {
  if (value === undefined) return '0';
  // A JSON number here would already have lost precision in JSON.parse: refuse it rather than guess.
  if (typeof value !== 'string' || parseUint64Decimal(value) === undefined) {
    throw badResponse(call, `${where} is not a uint64 decimal string`);
  }
  return value;
}

function memberId(call: GatewayCall, value: unknown, where: string): string {
  if (typeof value !== 'string' || !isMemberId(value)) {
    throw badResponse(call, `${where} is not a member id (a non-zero uint64 decimal string)`);
  }
  return value;
}

function urls(call: GatewayCall, value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badResponse(call, `${where} is not an array`);
  if (value.length > MAX_URLS) throw badResponse(call, `${where} has more than ${MAX_URLS} entries`);
  return value.map((url, i) => text(call, url, `${where}[${i}]`, ''));
}

/** One member object of a list or add answer. */
function member(call: GatewayCall, value: unknown, where: string): EtcdMember {
  if (!isObject(value)) throw badResponse(call, `${where} is not an object`);
  const id = memberId(call, own(value, 'ID'), `${where}.ID`);
  return {
    id,
    hexId: memberIdToHex(id),
    name: text(call, own(value, 'name'), `${where}.name`, ''),
    peerUrls: urls(call, own(value, 'peerURLs'), `${where}.peerURLs`),
    clientUrls: urls(call, own(value, 'clientURLs'), `${where}.clientURLs`),
    isLearner: flag(call, own(value, 'isLearner'), `${where}.isLearner`),
  };
}

/** The `members` of a list, promote or remove answer (ids unique). */
export function decodeMembers(call: GatewayCall, body: JsonObject): EtcdMember[] {
  const list = own(body, 'members');
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw badResponse(call, 'members is not an array');
  if (list.length > MAX_MEMBERS) throw badResponse(call, `more than ${MAX_MEMBERS} members`);
  const members = list.map((entry, i) => member(call, entry, `members[${i}]`));
  if (new Set(members.map((m) => m.id)).size !== members.length) {
    throw badResponse(call, 'members lists an id twice');
  }
  return members;
}

/** The `member` of a member/add answer. */
export function decodeAddedMember(call: GatewayCall, body: JsonObject): EtcdMember {
  const added = own(body, 'member');
  if (added === undefined) throw badResponse(call, 'the answer has no member');
  return member(call, added, 'member');
}

/** A maintenance/status answer. */
export function decodeStatus(call: GatewayCall, body: JsonObject): EtcdStatus {
  const header = own(body, 'header');
  if (!isObject(header)) throw badResponse(call, 'header is missing or not an object');
  const dbSizeText = uint64(call, own(body, 'dbSize'), 'dbSize');
  const dbSize = Number(dbSizeText);
  if (!Number.isSafeInteger(dbSize)) throw badResponse(call, 'dbSize is too large');
  return {
    memberId: memberId(call, own(header, 'member_id'), 'header.member_id'),
    leaderId: uint64(call, own(body, 'leader'), 'leader'),
    raftTerm: uint64(call, own(body, 'raftTerm'), 'raftTerm'),
    raftIndex: uint64(call, own(body, 'raftIndex'), 'raftIndex'),
    version: text(call, own(body, 'version'), 'version', ''),
    dbSize,
    isLearner: flag(call, own(body, 'isLearner'), 'isLearner'),
  };
}

/**
 * A `GET /health` answer: `{"health":"true"}` (HTTP 200) is true, `{"health":"false"}` (HTTP 503 on
 * etcd 3.4, with a `reason` on 3.5) is false; anything else is a `'bad-response'`.
 */
export function decodeHealth(call: GatewayCall, reply: GatewayReply): boolean {
  const parsed = parseJson(reply.body);
  if ('value' in parsed && isObject(parsed.value)) {
    const health = own(parsed.value, 'health');
    if (health === 'true' && reply.status === 200) return true;
    if (health === 'false' && (reply.status === 200 || reply.status === 503)) return false;
  }
  throw badResponse(call, `HTTP ${reply.status} is not a health answer`, reply.status);
}
