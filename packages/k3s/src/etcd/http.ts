/**
 * One HTTP(S) exchange with an etcd gateway, bounded in time and size. `node:http`/`node:https` serve
 * both schemes because Node 20's `fetch` cannot present a client certificate (k3s's etcd requires
 * one). Each call uses its own connection (no agent): nothing is left open between calls, and a
 * certificate change is picked up by the next call.
 */
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { GatewayCall, GatewayReply } from './decode.js';
import { cleanServerText, EtcdGatewayError } from './errors.js';
import type { EtcdClientTls } from './types.js';

/** The largest answer accepted: 4 MiB. A member list of a few members is a few hundred bytes. */
export const ETCD_GATEWAY_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Where and how to send one request. */
export interface GatewayTarget {
  /** The gateway's base URL (`http:` or `https:`, checked by the caller). */
  readonly base: URL;
  /** Client TLS material for `https:`. */
  readonly tls?: EtcdClientTls | undefined;
  /** Bound on the whole exchange. */
  readonly timeoutMs: number;
}

function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Node error codes that come from parsing a malformed HTTP answer (llhttp). */
function isParseError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('HPE_');
}

/** Node's error as one short line (OpenSSL's messages span lines and name source files). */
function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error instanceof Error ? error.message : String(error)).trim();
  return cleanServerText(
    typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message,
  );
}

/**
 * Sends `method path` with the JSON text `body` and resolves with the status and the whole body, of
 * any status. Rejects with an {@link EtcdGatewayError} (`'unreachable'`, `'timeout'` or
 * `'bad-response'`), or with `signal.reason` when `signal` aborts.
 */
export function sendGatewayRequest(
  target: GatewayTarget,
  call: GatewayCall,
  method: 'GET' | 'POST',
  path: string,
  body: string | undefined,
  signal?: AbortSignal,
): Promise<GatewayReply> {
  return new Promise<GatewayReply>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const { base } = target;
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    const options: RequestOptions = {
      method,
      // URL keeps the brackets of an IPv6 host; the socket layer wants the bare address.
      hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: base.port === '' ? (base.protocol === 'https:' ? 443 : 80) : Number(base.port),
      path: `${base.pathname.replace(/\/+$/, '')}${path}`,
      agent: false,
      headers: {
        accept: 'application/json',
        ...(payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
      },
    };
    const tls = target.tls;
    let request: ClientRequest;
    let settled = false;
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const fail = (error: EtcdGatewayError): void => {
      finish(() => reject(error));
      request.destroy();
    };
    const onAbort = (): void => {
      finish(() => reject(signal?.reason));
      request.destroy();
    };
    const onResponse = (response: IncomingMessage): void => {
      const status = response.statusCode ?? 0;
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > ETCD_GATEWAY_MAX_RESPONSE_BYTES) {
        fail(tooLarge(call, status));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > ETCD_GATEWAY_MAX_RESPONSE_BYTES) fail(tooLarge(call, status));
        else chunks.push(chunk);
      });
      response.on('end', () => finish(() => resolve({ status, body: Buffer.concat(chunks) })));
      response.on('error', (error) => fail(transportError(call, error)));
      response.on('close', () => {
        if (!response.complete)
          fail(new EtcdGatewayError('unreachable', 'the connection closed mid-answer', call));
      });
    };
    try {
      request =
        base.protocol === 'https:'
          ? httpsRequest(
              tls === undefined
                ? options
                : { ...options, ca: pem(tls.ca), cert: pem(tls.cert), key: pem(tls.key) },
              onResponse,
            )
          : httpRequest(options, onResponse);
    } catch (error) {
      reject(
        new EtcdGatewayError('invalid-argument', `cannot send: ${describe(error)}`, {
          ...call,
          cause: error,
        }),
      );
      return;
    }
    const timer = setTimeout(
      () => fail(new EtcdGatewayError('timeout', `no complete answer within ${target.timeoutMs} ms`, call)),
      target.timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => fail(transportError(call, error)));
    request.end(payload);
  });
}

function tooLarge(call: GatewayCall, status: number): EtcdGatewayError {
  return new EtcdGatewayError(
    'bad-response',
    `the answer is larger than ${ETCD_GATEWAY_MAX_RESPONSE_BYTES} bytes`,
    {
      ...call,
      status,
    },
  );
}

/** A socket, TLS or HTTP parsing error as a gateway error; the Node error is kept as the cause. */
function transportError(call: GatewayCall, error: unknown): EtcdGatewayError {
  if (isParseError(error)) {
    return new EtcdGatewayError('bad-response', `not an HTTP answer (${describe(error)})`, {
      ...call,
      cause: error,
    });
  }
  return new EtcdGatewayError('unreachable', `cannot reach etcd (${describe(error)})`, {
    ...call,
    cause: error,
  });
}
