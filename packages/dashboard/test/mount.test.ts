// The README promises the router mounts in plain node:http, in a Hono app and in Express. Each
// way is tried for real on 127.0.0.1: JSON endpoints answer with the providers' data, 404s stay
// JSON, and the SSE stream delivers a published event through the host server.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDashboard, type Dashboard, type DashboardSources, NodesResponse } from '../src/index.js';

const sources: DashboardSources = {
  identity: {
    identity: () => ({ id: 'n1', name: 'node-1', cluster: 'lab', region: 'eu', datacenter: 'r1' }),
  },
  membership: {
    nodes: () => [
      {
        id: 'n1',
        name: 'node-1',
        roles: ['slurm-worker'],
        status: 'alive',
        addresses: { tailscale_ip: null, wireguard_ip: null, gossip: '127.0.0.1:7946' },
        capabilities: null,
        tags: {},
        last_seen: null,
        joined_at: null,
      },
    ],
  },
};

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server, dashboard: Dashboard): Promise<void> {
  dashboard.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The same checks for every host. */
async function exercise(base: string, dashboard: Dashboard): Promise<void> {
  const nodes = await fetch(`${base}/api/v1/nodes`);
  assert.is(nodes.status, 200);
  const parsed = NodesResponse.safeParse(await nodes.json());
  assert.ok(parsed.success);
  assert.equal(Array.isArray(parsed.data.nodes) ? parsed.data.nodes.map((n) => n.id) : parsed.data.nodes, [
    'n1',
  ]);

  const missing = await fetch(`${base}/api/v1/nope`);
  assert.is(missing.status, 404);
  assert.is(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  try {
    const stream = await fetch(`${base}/api/v1/events`, { signal: controller.signal });
    assert.is(stream.headers.get('content-type')?.split(';')[0], 'text/event-stream');
    const reader = stream.body?.getReader();
    assert.ok(reader !== undefined);
    dashboard.events.publish({ kind: 'membership', type: 'join', node: 'n2', role: null, detail: {} });
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes('\n\n')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
    assert.match(text, /event: cluster/);
    assert.match(text, /"type":"join"/);
    await reader.cancel();
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

test('plain node:http with getRequestListener', async () => {
  const dashboard = createDashboard(sources);
  const server = createServer(getRequestListener(dashboard.fetch));
  const base = await listen(server);
  try {
    await exercise(base, dashboard);
  } finally {
    await close(server, dashboard);
  }
});

test('a Hono app mounts the dashboard handler', async () => {
  const dashboard = createDashboard(sources);
  const app = new Hono();
  app.get('/own', (c) => c.text('the host app'));
  // mount (not route): the dashboard's own 404/405 JSON answers apply to the paths it gets.
  app.mount('/', dashboard.fetch);
  const server = createServer(getRequestListener(app.fetch));
  const base = await listen(server);
  try {
    assert.is(await (await fetch(`${base}/own`)).text(), 'the host app');
    await exercise(base, dashboard);
  } finally {
    await close(server, dashboard);
  }
});

test('Express uses the request listener as middleware', async () => {
  const dashboard = createDashboard(sources);
  const app = express();
  app.get('/own', (_req, res) => {
    res.send('the host app');
  });
  app.use(getRequestListener(dashboard.fetch));
  const server = createServer(app);
  const base = await listen(server);
  try {
    assert.is(await (await fetch(`${base}/own`)).text(), 'the host app');
    await exercise(base, dashboard);
  } finally {
    await close(server, dashboard);
  }
});

test.run();
