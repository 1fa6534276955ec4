import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Serves a fetch-style handler on `node:http`: reads the body up to `maxBodyBytes` (answering
 * 413 beyond it without reading further), builds a `Request`, writes the `Response` back.
 */
export function nodeHandler(
  handle: (request: Request) => Promise<Response>,
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
      const request = new Request(`http://raft-kv${req.url ?? '/'}`, {
        method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
      });
      handle(request)
        .then(async (response) => {
          const body = Buffer.from(await response.arrayBuffer());
          res.writeHead(response.status, {
            'content-type': 'application/json',
            'content-length': body.byteLength,
          });
          res.end(body);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'internal error', code: 13, message: 'internal error' }));
        });
    });
    req.on('error', () => {
      rejected = true;
    });
  };
}
