// freePort: a bindable port, never the same one twice in one process.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
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

test('ports come from below the kernel ephemeral range, where no outgoing connection takes them', async () => {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  for (let i = 0; i < 100; i++) {
    const port = await freePort();
    assert.ok(port >= 10_000 && port < low, `${port} is not in [10000, ${low})`);
  }
});

test('a port something else listens on is never handed out', async () => {
  // 400 listeners on ports this process never handed out, about 2 % of the range: a picker that
  // did not check would return one of them among 1,000 picks all but surely.
  const servers: Server[] = [];
  const occupied = new Set<number>();
  for (let port = 10_000; occupied.size < 400 && port < 20_000; port += 7) {
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    servers.push(server);
    occupied.add(port);
  }
  try {
    assert.is(occupied.size, 400);
    for (let i = 0; i < 1_000; i++) {
      const port = await freePort();
      assert.not.ok(occupied.has(port), `handed out ${port}, which is in use`);
    }
  } finally {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  }
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
