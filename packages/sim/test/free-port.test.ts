// freePort: a bindable port, never the same one twice in one process.
import { createServer } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../src/index.js';

test('200 ports in a row are all different, and each can be bound', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 200; i++) ports.push(await freePort());
  assert.is(new Set(ports).size, 200);
  for (const port of ports.slice(0, 20)) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((resolve) => server.close(resolve));
  }
});

test('concurrent calls never return the same port', async () => {
  const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  assert.is(new Set(ports).size, 50);
});

test('a host this machine does not have is an error, not a hang', async () => {
  try {
    await freePort('192.0.2.1');
    assert.unreachable('bound a TEST-NET-1 address');
  } catch (error) {
    assert.match((error as NodeJS.ErrnoException).code ?? '', /EADDRNOTAVAIL/);
  }
});

test.run();
