// Physical limits of this machine, measured in the same run as the systems, so that the
// systems' numbers can be read against them: a write cannot commit faster than one fsync on the
// leader plus one on a follower, a round trip cannot beat loopback TCP, and no system can go
// faster than the load generator can drive a server that does nothing at all.
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '@clusteros/sim';
import { removeFolder, spawnChild, stopChild, tempFolder } from './children.js';
import { loopback, sleep } from './cluster.js';
import type { HttpClient } from './http-client.js';
import { type LoadResult, runLoad } from './load.js';
import { type LatencySummary, summarize } from './stats.js';

const FSYNC_ITERATIONS = 200;
const FSYNC_LIMIT_MS = 20_000;
const PING_ITERATIONS = 2_000;
const PING_LIMIT_MS = 5_000;
const PING_BYTES = 32;

/**
 * Appends 4 KiB and fdatasyncs, `FSYNC_ITERATIONS` times, in a folder next to the systems' data
 * (same filesystem). Appending (not overwriting) matches a WAL: the file size changes each time,
 * so fdatasync has to write metadata too, as the systems' log appends do.
 */
export async function fsyncProbe(): Promise<LatencySummary> {
  const dir = await tempFolder('bench-fsync-');
  try {
    const fd = openSync(join(dir, 'probe'), 'w');
    const block = randomBytes(4096);
    const samples: number[] = [];
    const deadline = performance.now() + FSYNC_LIMIT_MS;
    try {
      for (let i = 0; i < FSYNC_ITERATIONS && performance.now() < deadline; i++) {
        const started = performance.now();
        writeSync(fd, block, 0, block.byteLength, i * block.byteLength);
        fdatasyncSync(fd);
        samples.push(performance.now() - started);
      }
    } finally {
      closeSync(fd);
    }
    return summarize(samples);
  } finally {
    await removeFolder(dir);
  }
}

/**
 * The probe server: a TCP echo and an HTTP server answering every request with a small fixed
 * JSON body, in its own Node process (a real second process, as each cluster member is).
 */
const PROBE_SERVER = `
const [tcpPort, httpPort] = process.argv.slice(1).map(Number);
const echo = require('node:net').createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => {});
});
echo.listen(tcpPort, '127.0.0.1');
const answer = Buffer.from('{"header":{"cluster_id":"1","member_id":"1","revision":"1","raft_term":"1"}}');
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
    res.end(answer);
  });
});
server.keepAliveTimeout = 30000;
server.listen(httpPort, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** Small-message ping-pong over one loopback TCP connection (Nagle off on both ends). */
async function pingPong(port: number): Promise<LatencySummary> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((done, fail) => {
    socket.once('connect', done);
    socket.once('error', fail);
  });
  const message = randomBytes(PING_BYTES);
  const samples: number[] = [];
  let received = 0;
  let answered: () => void = () => undefined;
  socket.on('data', (data: Buffer) => {
    received += data.byteLength;
    if (received >= PING_BYTES) {
      received -= PING_BYTES;
      answered();
    }
  });
  try {
    const deadline = performance.now() + PING_LIMIT_MS;
    for (let i = 0; i < PING_ITERATIONS && performance.now() < deadline; i++) {
      const started = performance.now();
      await new Promise<void>((done, fail) => {
        // Bounded like every wait here: a lost echo fails the probe instead of hanging it.
        const timer = setTimeout(() => fail(new Error('TCP echo did not answer within 1 s')), 1_000);
        answered = () => {
          clearTimeout(timer);
          done();
        };
        socket.write(message);
      });
      samples.push(performance.now() - started);
    }
  } finally {
    socket.destroy();
  }
  return summarize(samples);
}

export interface NetworkProbes {
  readonly tcp: LatencySummary;
  /** The load generator against a no-op HTTP server, at concurrency 1 and 64. */
  readonly httpFloor: { readonly c1: LoadResult; readonly c64: LoadResult };
}

export async function networkProbes(
  client: HttpClient,
  phase: { warmupMs: number; durationMs: number },
): Promise<NetworkProbes> {
  const dir = await tempFolder('bench-probe-');
  const tcpPort = await freePort();
  const httpPort = await freePort();
  const child = spawnChild(
    'probe server',
    process.execPath,
    ['-e', PROBE_SERVER, String(tcpPort), String(httpPort)],
    join(dir, 'probe.log'),
  );
  try {
    const endpoint = loopback(httpPort);
    const deadline = performance.now() + 10_000;
    for (;;) {
      const reply = await client.post(endpoint, '/ready', Buffer.from('{}'), 500);
      if (reply.failure === undefined) break;
      if (!child.isRunning() || performance.now() > deadline) throw new Error('probe server did not start');
      await sleep(20);
    }
    const tcp = await pingPong(tcpPort);
    const load = (concurrency: number): Promise<LoadResult> =>
      runLoad(client, {
        endpoint,
        path: '/v3/kv/put',
        bodies: [Buffer.from(JSON.stringify({ key: 'a2V5', value: randomBytes(256).toString('base64') }))],
        concurrency,
        warmupMs: phase.warmupMs,
        durationMs: phase.durationMs,
        timeoutMs: 5_000,
        serverPids: [child.pid],
        targetPid: child.pid,
      });
    const c1 = await load(1);
    const c64 = await load(64);
    return { tcp, httpFloor: { c1, c64 } };
  } finally {
    await stopChild(child);
    await removeFolder(dir);
  }
}
