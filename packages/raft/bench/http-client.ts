// The one HTTP client both systems are driven with: node:http over keep-alive connections.
// node:http was chosen over the global (undici) fetch because it costs the load generator less
// CPU per request on this 2-core machine (measured: see the method section of the report), and
// the load generator shares those cores with the servers under test.
import { Agent, request } from 'node:http';

/** Where a member serves etcd's JSON gateway. Always loopback. */
export interface Endpoint {
  readonly host: '127.0.0.1';
  readonly port: number;
}

export type Failure = 'timeout' | 'network' | 'status';

export interface Reply {
  /** HTTP status, or 0 when there was no response (timeout, refused, reset). */
  readonly status: number;
  readonly body: string;
  /** Why the request failed, if it did; a 2xx answer is a success. */
  readonly failure: Failure | undefined;
}

export class HttpClient {
  readonly #agent: Agent;

  constructor() {
    // One socket per in-flight request (closed-loop workers never have two in flight each), kept
    // open between requests; LIFO reuse keeps the same few sockets hot.
    this.#agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, scheduling: 'lifo' });
  }

  /** POSTs `body` (JSON bytes); never rejects, a failure is reported in the reply. */
  post(endpoint: Endpoint, path: string, body: Buffer, timeoutMs: number): Promise<Reply> {
    return this.send('POST', endpoint, path, body, timeoutMs);
  }

  /** Sends one request; never rejects, a failure is reported in the reply. */
  send(
    method: 'GET' | 'POST',
    endpoint: Endpoint,
    path: string,
    body: Buffer | undefined,
    timeoutMs: number,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      let settled = false;
      const finish = (reply: Reply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(reply);
      };
      const req = request(
        {
          agent: this.#agent,
          host: endpoint.host,
          port: endpoint.port,
          path,
          method,
          headers:
            body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': body.byteLength },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const ok = status >= 200 && status < 300;
            finish({ status, body: Buffer.concat(chunks).toString(), failure: ok ? undefined : 'status' });
          });
          res.on('error', () => finish({ status: 0, body: '', failure: 'network' }));
        },
      );
      // A deadline for the whole exchange (connect, send, answer), not a socket idle timeout.
      const timer = setTimeout(() => {
        finish({ status: 0, body: '', failure: 'timeout' });
        req.destroy();
      }, timeoutMs);
      req.on('error', () => finish({ status: 0, body: '', failure: 'network' }));
      req.end(body);
    });
  }

  /** Closes every pooled connection. */
  close(): void {
    this.#agent.destroy();
  }
}

/** POSTs a JSON value and parses the JSON answer; throws on any failure (for control requests). */
export async function postJson(
  client: HttpClient,
  endpoint: Endpoint,
  path: string,
  value: unknown,
  timeoutMs = 2_000,
): Promise<Record<string, unknown>> {
  const reply = await client.post(endpoint, path, Buffer.from(JSON.stringify(value)), timeoutMs);
  if (reply.failure !== undefined) {
    throw new Error(
      `POST ${endpoint.port}${path}: ${reply.failure} ${reply.status} ${reply.body.slice(0, 200)}`,
    );
  }
  const parsed: unknown = JSON.parse(reply.body);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`POST ${endpoint.port}${path}: answer is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}
