// Free TCP port pairs for labs on this host (slurmctld and slurmd listen on 0.0.0.0).
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** A port `p` such that `p` and `p + 1` are free now. */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30_000 + 2 * randomInt(10_000);
    if ((await portFree(base)) && (await portFree(base + 1))) return base;
  }
  throw new Error('no two free consecutive ports');
}
