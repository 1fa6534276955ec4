/**
 * Picking a free TCP port for a test or benchmark server on a real host.
 *
 * Binding port 0 lets the kernel choose, but the port is released again before the real server
 * binds it, and the kernel may hand the same port out twice in quick succession: two members of
 * one test cluster then collide (EADDRINUSE). So every port handed out by this process is
 * remembered and never handed out again.
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** Upper bound on kernel picks per call, so that a host out of ports fails instead of spinning. */
const MAX_PICKS = 1_000;

/**
 * A TCP port on `host` that nothing listens on right now and that this process has not handed
 * out before. It is free when this resolves, not reserved: another process may still take it.
 *
 * @param host - the address to bind (default `127.0.0.1`).
 * @throws Error if the host cannot bind (e.g. `host` is not a local address), or after
 *   1,000 kernel picks that were all handed out before.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let pick = 0; pick < MAX_PICKS; pick++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, host, () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(chosen));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on ${host} that was not handed out before (${MAX_PICKS} picks)`);
}
