// The old holder's forwarder after a handoff: a client that connects to the old controller
// address before the new controller serves is held, not closed, and reaches the new controller
// once it listens; its bytes flow both ways; the forwarder gives up on a held connection after
// its bound, closes itself after its lifetime, and refuses to start on a port in use. Until its
// gate says the new holder serves, it does not dial at all (so two forwarders pointing at each
// other, left by consecutive handoffs, cannot send a client round in a loop).
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { freePort } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitUntil } from '../src/daemons/wait.js';
import { ControllerForwarder } from '../src/roles/forwarder.js';
import { reply } from './support/sockets.js';

/** An echo server that prefixes replies, standing in for the new slurmctld. */
async function echoServer(port: number): Promise<Server> {
  const server = createServer((socket) => socket.on('data', (data) => socket.write(`new:${data}`)));
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

test('a connection made before the new controller listens is held and then forwarded', async () => {
  const [from, to] = [await freePort(), await freePort()];
  const forwarder = await ControllerForwarder.listen({
    host: '127.0.0.1',
    port: from,
    target: { host: '127.0.0.1', port: to },
  });
  let target: Server | undefined;
  try {
    const client = connect({ host: '127.0.0.1', port: from });
    await once(client, 'connect');
    client.write('ping');
    const answer = reply(client, 5_000);
    // The new controller comes up only after the request was sent.
    await new Promise((resolve) => setTimeout(resolve, 300));
    target = await echoServer(to);
    assert.is(await answer, 'new:ping');
    assert.is(forwarder.forwarded, 1);
    client.destroy();
  } finally {
    await forwarder.close();
    await new Promise((resolve) => (target === undefined ? resolve(undefined) : target.close(resolve)));
  }
});

test('a held connection is closed after its bound; the forwarder closes after its lifetime', async () => {
  const [from, to] = [await freePort(), await freePort()];
  const forwarder = await ControllerForwarder.listen({
    host: '127.0.0.1',
    port: from,
    target: { host: '127.0.0.1', port: to },
    connectWaitMs: 300,
    lifetimeMs: 1_000,
  });
  try {
    const client = connect({ host: '127.0.0.1', port: from });
    await once(client, 'connect');
    const started = Date.now();
    await once(client, 'close');
    const held = Date.now() - started;
    assert.ok(held >= 250 && held < 3_000, `held for ${held} ms`);
    assert.is(forwarder.forwarded, 0);
    // After its lifetime nothing listens any more.
    const refused = await new Promise<boolean>((resolve) => {
      const deadline = Date.now() + 5_000;
      const attempt = (): void => {
        const probe = connect({ host: '127.0.0.1', port: from });
        probe.once('error', () => resolve(true));
        probe.once('connect', () => {
          probe.destroy();
          if (Date.now() > deadline) resolve(false);
          else setTimeout(attempt, 100);
        });
      };
      attempt();
    });
    assert.ok(refused, 'the forwarder closed itself');
  } finally {
    await forwarder.close();
  }
});

test('until ready() answers true a held connection is not dialled; then it is forwarded', async () => {
  const [from, to] = [await freePort(), await freePort()];
  // Something already listens at the target (another node's forwarder, in the loop this prevents).
  let dialled = 0;
  const target = createServer((socket) => {
    dialled++;
    socket.on('data', (data) => socket.write(`new:${data}`));
  });
  target.listen(to, '127.0.0.1');
  await once(target, 'listening');
  let ready = false;
  let asked = 0;
  const forwarder = await ControllerForwarder.listen({
    host: '127.0.0.1',
    port: from,
    target: { host: '127.0.0.1', port: to },
    ready: () => {
      asked++;
      return ready;
    },
  });
  try {
    const client = connect({ host: '127.0.0.1', port: from });
    await once(client, 'connect');
    client.write('ping');
    const answer = reply(client, 5_000);
    await waitUntil(
      'the gate is asked again while the connection waits',
      5_000,
      async () => (asked >= 4 ? true : undefined),
      20,
    );
    assert.is(dialled, 0, 'nothing dialled while the gate is closed');
    assert.is(forwarder.forwarded, 0);
    ready = true;
    assert.is(await answer, 'new:ping');
    assert.is(dialled, 1);
    // Open once, open for good: a later connection does not ask again.
    const askedWhenOpen = asked;
    const second = connect({ host: '127.0.0.1', port: from });
    await once(second, 'connect');
    second.write('pong');
    assert.is(await reply(second, 5_000), 'new:pong');
    assert.is(asked, askedWhenOpen);
    client.destroy();
    second.destroy();
  } finally {
    await forwarder.close();
    await new Promise((resolve) => target.close(resolve));
  }
});

test('with portBusyUntil it takes the port as soon as the owner closes its listener', async () => {
  const [from, to] = [await freePort(), await freePort()];
  // Stands in for slurmctld after SIGTERM: it closes its listener at once, exits later.
  const owner = await echoServer(from);
  let exited: () => void = () => {};
  const ownerExited = new Promise<void>((resolve) => {
    exited = resolve;
  });
  const listening = ControllerForwarder.listen({
    host: '127.0.0.1',
    port: from,
    target: { host: '127.0.0.1', port: to },
    portBusyUntil: ownerExited,
  });
  await new Promise((resolve) => owner.close(resolve));
  // The owner has not "exited" yet, and the forwarder already listens.
  const forwarder = await listening;
  try {
    const client = connect({ host: '127.0.0.1', port: from });
    await once(client, 'connect');
    client.destroy();
  } finally {
    exited();
    await forwarder.close();
  }
});

test('with portBusyUntil settled and the port still taken, it rejects', async () => {
  const port = await freePort();
  const busy = await echoServer(port);
  let settle: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    settle = resolve;
  });
  try {
    const attempt = ControllerForwarder.listen({
      host: '127.0.0.1',
      port,
      target: { host: '127.0.0.1', port: 1 },
      portBusyUntil: stopped,
    }).then(
      () => 'listening',
      (error: NodeJS.ErrnoException) => error.code,
    );
    settle();
    assert.is(await attempt, 'EADDRINUSE');
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});

test('it does not start on a port in use (slurmctld still running there)', async () => {
  const port = await freePort();
  const busy = await echoServer(port);
  try {
    await ControllerForwarder.listen({
      host: '127.0.0.1',
      port,
      target: { host: '127.0.0.1', port: 1 },
    }).then(
      () => assert.unreachable('port in use'),
      (error: NodeJS.ErrnoException) => assert.is(error.code, 'EADDRINUSE'),
    );
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});

test.run();
