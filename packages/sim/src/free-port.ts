/**
 * Picking a free TCP port for a test or benchmark server on a real host.
 *
 * Ports are drawn at random from below the kernel's ephemeral range (where it picks the local
 * port of every outgoing connection), bound once to check that nothing listens there, and
 * released. A port inside that range can be taken by any process's connect() between the pick
 * and the server's bind: cluster members that connect to their peers before binding their own
 * remaining ports collided that way (EADDRINUSE). Every port handed out by this process is
 * remembered and never handed out again. Where the range cannot be read, or leaves no room
 * below it, the kernel picks (port 0).
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** Upper bound on picks per call, so that a host out of ports fails instead of spinning. */
const MAX_PICKS = 1_000;

/** The lowest port drawn: well above the well-known and registered ports most services use. */
const LOWEST = 10_000;

/** Ports drawn from when below the ephemeral range fits fewer than this many. */
const MIN_SPAN = 1_000;

/** The first port of the kernel's ephemeral range (Linux), or undefined where it cannot be read. */
function ephemeralStart(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isSafeInteger(low) && low > 0 && low <= 65_535 ? low : undefined;
  } catch {
    return undefined;
  }
}

const below = ephemeralStart();
/** The drawing range [LOWEST, below), or undefined to let the kernel pick. */
const DRAW = below !== undefined && below - LOWEST >= MIN_SPAN ? { from: LOWEST, to: below } : undefined;

/** Binds `port` (0: the kernel's pick) on `host` and releases it; resolves with the port, or 0 when it is taken. */
function tryPort(host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (port !== 0 && (error.code === 'EADDRINUSE' || error.code === 'EACCES')) resolve(0);
      else reject(error);
    });
    server.listen(port, host, () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(chosen));
    });
  });
}

/**
 * A TCP port on `host` that nothing listens on right now and that this process has not handed
 * out before, from below the kernel's ephemeral range where there is one (so no outgoing
 * connection takes it meanwhile). It is free when this resolves, not reserved: another process
 * may still bind it.
 *
 * @param host - the address to bind (default `127.0.0.1`).
 * @throws Error if the host cannot bind (e.g. `host` is not a local address), or after
 *   1,000 picks that were all taken or handed out before.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let pick = 0; pick < MAX_PICKS; pick++) {
    const candidate = DRAW === undefined ? 0 : randomInt(DRAW.from, DRAW.to);
    if (candidate !== 0 && handedOut.has(candidate)) continue;
    const port = await tryPort(host, candidate);
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free TCP port on ${host} that was not handed out before (${MAX_PICKS} picks)`);
}
