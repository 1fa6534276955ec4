/**
 * The runtime when k3s cannot start at all: a missing binary or arguments k3s could never take
 * end in `error` with the reason (no retry loop, no log flood) until the runtime is acquired
 * again; the token never reaches the error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeClusterRecord, K3S_STORE_KEYS, K3sNodeRuntime } from '../src/index.js';
import { pollUntil } from './support/etcd-cluster.js';
import { MemoryStore } from './support/k3s-lab.js';

const TOKEN = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';

async function storeWithCluster(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.put(K3S_STORE_KEYS.token, new TextEncoder().encode(TOKEN));
  await store.put(
    K3S_STORE_KEYS.cluster,
    encodeClusterRecord({
      token: 1,
      seq: 0,
      primary: 'node-a',
      servers: [{ node: 'node-a', address: '100.64.0.1' }],
      initialized: true,
    }),
  );
  return store;
}

test('a missing k3s binary: error with the reason, no retry loop, until acquired again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-k3s-runtime-'));
  const warnings: string[] = [];
  const runtime = new K3sNodeRuntime({
    nodeId: 'node-b',
    nodeIp: '100.64.0.2',
    dataDir: join(dir, 'k3s'),
    binary: join(dir, 'no-such-k3s'),
    store: await storeWithCluster(),
    followEveryMs: 10,
    logger: { info: () => {}, warn: (_fields, message) => warnings.push(message) },
  });
  try {
    runtime.acquire('agent');
    await pollUntil('the runtime gives up', 5_000, () =>
      runtime.status().state === 'error' ? true : undefined,
    );
    assert.match(runtime.status().lastError ?? '', /could not start/);
    assert.is(runtime.status().desired?.mode, 'agent');
    const seen = warnings.length;
    // Fifty follow intervals later: still one warning, still error.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.is(warnings.length, seen, 'no retry loop');
    assert.is(runtime.status().state, 'error');
    assert.not.ok(JSON.stringify(runtime.status()).includes(TOKEN));
  } finally {
    await runtime.release('agent');
    await rm(dir, { recursive: true, force: true });
  }
});

test('arguments k3s could never take (an IPv6 node address) end in error naming the problem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-k3s-runtime-'));
  const runtime = new K3sNodeRuntime({
    nodeId: 'node-b',
    nodeIp: 'fd7a:115c:a1e0::2',
    dataDir: join(dir, 'k3s'),
    binary: process.execPath,
    store: await storeWithCluster(),
    followEveryMs: 10,
  });
  try {
    runtime.acquire('agent');
    await pollUntil('the runtime gives up', 5_000, () =>
      runtime.status().state === 'error' ? true : undefined,
    );
    assert.match(runtime.status().lastError ?? '', /IPv4|node-ip|nodeIp/i);
    assert.is(runtime.pid, undefined, 'nothing was started');
  } finally {
    await runtime.release('agent');
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
