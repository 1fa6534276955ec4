import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isConnectError, isStreamResetError } from '../src/errors.js';
import type { ByteStream } from '../src/network.js';
import { NodeDatagramSocket, NodeNetwork } from '../src/node-network.js';
import { type NetworkFixture, networkContract } from './contracts/network-contract.js';

// Loopback only: these tests never dial or bind anything but 127.0.0.1 (and ::1 when present).
const LOOPBACK = '127.0.0.1';

/** Polls `until` on the real event loop, for at most `limitMs` of real time. */
async function drive(until: () => boolean, limitMs: number): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  let turns = 0;
  while (!until()) {
    if (performance.now() > deadline) return false;
    // A few immediate turns catch fast I/O; after that, back off to 1 ms so we do not spin.
    await new Promise<void>((resolve) => (turns++ < 20 ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
  return true;
}

networkContract('NodeNetwork on loopback', async (): Promise<NetworkFixture> => {
  const network = new NodeNetwork();
  return { network, peer: network, host: LOOPBACK, peerHost: LOOPBACK, drive, close: async () => {} };
});

test('an abort while connecting rejects with reason aborted', async () => {
  const net = new NodeNetwork();
  const server = await net.listenStream({ host: LOOPBACK, port: 0 }, (stream) => stream.destroy());
  const controller = new AbortController();
  const attempt = net.connectStream(server.local, { signal: controller.signal });
  controller.abort(new Error('shutting down'));
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isConnectError(error) && error.reason === 'aborted', String(error));
  await server.close();
});

test('destroy resets the peer with ECONNRESET as the cause', async () => {
  const net = new NodeNetwork();
  let serverEnd: ByteStream | undefined;
  let serverError: Error | undefined;
  let serverClosed = false;
  const server = await net.listenStream({ host: LOOPBACK, port: 0 }, (stream) => {
    serverEnd = stream;
    stream.on('close', (error) => {
      serverClosed = true;
      serverError = error;
    });
  });
  const client = await net.connectStream(server.local);
  assert.ok(await drive(() => serverEnd !== undefined, 5000));
  client.destroy();
  assert.ok(await drive(() => serverClosed, 5000), 'peer close');
  assert.ok(isStreamResetError(serverError), String(serverError));
  assert.is((serverError?.cause as { code?: string } | undefined)?.code, 'ECONNRESET');
  await server.close();
});

test('write reports backpressure and drain follows', async () => {
  const net = new NodeNetwork();
  let received = 0;
  const server = await net.listenStream({ host: LOOPBACK, port: 0 }, (stream) => {
    stream.on('data', (chunk) => {
      received += chunk.byteLength;
    });
  });
  const client = await net.connectStream(server.local);
  let drained = false;
  client.on('drain', () => {
    drained = true;
  });
  const big = new Uint8Array(4 * 1024 * 1024);
  assert.is(client.write(big), false, 'a 4 MiB write exceeds the high-water mark');
  assert.ok(await drive(() => drained && received === big.byteLength, 10_000), 'drain and delivery');
  client.destroy();
  await server.close();
});

test('datagrams to a port nobody holds are lost quietly', async () => {
  const net = new NodeNetwork();
  const a = await net.bindDatagram({ host: LOOPBACK, port: 0 });
  const gone = await net.bindDatagram({ host: LOOPBACK, port: 0 });
  const port = gone.local.port;
  await gone.close();
  const c = await net.bindDatagram({ host: LOOPBACK, port: 0 });
  let markers = 0;
  c.onMessage(() => {
    markers++;
  });
  for (let i = 0; i < 10; i++) a.send({ host: LOOPBACK, port }, new Uint8Array(8));
  a.send(c.local, new Uint8Array(1));
  assert.ok(await drive(() => markers === 1, 5000));
  assert.instance(a, NodeDatagramSocket);
  await a.close();
  await c.close();
});

test('IPv6 loopback works when the machine has it', async () => {
  const net = new NodeNetwork();
  let a: Awaited<ReturnType<NodeNetwork['bindDatagram']>>;
  try {
    a = await net.bindDatagram({ host: '::1', port: 0 });
  } catch {
    return; // no IPv6 loopback in this environment
  }
  let got = 0;
  a.onMessage((_data, from) => {
    assert.is(from.host, '::1');
    got++;
  });
  a.send(a.local, new Uint8Array(3));
  assert.ok(await drive(() => got === 1, 5000));
  // The IPv6 limit is larger than IPv4's but still enforced.
  assert.throws(() => a.send(a.local, new Uint8Array(65_528)), RangeError);
  await a.close();
});

test('nothing keeps the process alive after everything is closed', async () => {
  const source = fileURLToPath(new URL('../src/node-network.ts', import.meta.url));
  const script = `
    const { NodeNetwork } = await import(${JSON.stringify(source)});
    const net = new NodeNetwork();
    const u = await net.bindDatagram({ host: '127.0.0.1', port: 0 });
    u.send(u.local, new Uint8Array(4));
    let accepted;
    const s = await net.listenStream({ host: '127.0.0.1', port: 0 }, (x) => { accepted = x; });
    const c = await net.connectStream(s.local);
    c.write(new Uint8Array([1, 2, 3]));
    await new Promise((r) => { const t = setInterval(() => { if (accepted) { clearInterval(t); r(); } }, 1); });
    c.end(); accepted.end();
    await new Promise((r) => c.on('close', r));
    await u.close();
    await s.close();
    console.log('done');
  `;
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 20_000 },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)),
    );
  });
  assert.is(output.trim(), 'done');
});

test.run();
