import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayHandler } from './gateway.js';

/** A request target that is already a plain absolute path: URL parsing would not change it. */
const PLAIN_PATH = /^\/[A-Za-z0-9/_-]*$/;

/** The path of a request target as `new URL` resolves it, or undefined when it does not parse. */
function pathnameOf(target: string): string | undefined {
  if (PLAIN_PATH.test(target)) return target;
  try {
    return new URL(`http://raft-kv${target}`).pathname;
  } catch {
    return undefined;
  }
}

/** The request body as text, as the fetch API's `Request.text()` decodes it (UTF-8, a leading BOM dropped). */
function bodyText(chunks: readonly Buffer[]): string {
  const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (bytes.byteLength === 0) return '';
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return decoder.decode(bytes.subarray(start));
}

const decoder = new TextDecoder();

const INTERNAL_ERROR = JSON.stringify({ error: 'internal error', code: 13, message: 'internal error' });

/**
 * Serves the gateway on `node:http`: reads the body up to `maxBodyBytes` (answering 413 beyond
 * it without reading further), hands the path, method and body to `handle`, writes the answer
 * back. No fetch-API `Request`/`Response` objects are built: they cost more CPU than the rest of
 * a small request.
 */
export function nodeHandler(
  handle: GatewayHandler,
  maxBodyBytes: number,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let rejected = false;
    req.on('data', (chunk: Buffer) => {
      if (rejected) return;
      size += chunk.byteLength;
      if (size > maxBodyBytes) {
        rejected = true;
        res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
        res.end(
          JSON.stringify({
            error: 'etcdserver: request is too large',
            code: 8,
            message: 'etcdserver: request is too large',
          }),
        );
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (rejected) return;
      const method = req.method ?? 'GET';
      const pathname = pathnameOf(req.url ?? '/');
      // A target that is not a URL path names no route.
      handle(pathname ?? '', method, () => bodyText(chunks))
        .then((answer) => {
          const body = Buffer.from(answer.body);
          res.writeHead(answer.status, {
            'content-type': 'application/json',
            'content-length': body.byteLength,
          });
          res.end(body);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(INTERNAL_ERROR);
        });
    });
    req.on('error', () => {
      rejected = true;
    });
  };
}
