// The parts of k3s's data dir the adapter touches (etcd initialized or not, wiping server/db and
// only that, the empty config file) and the log lines that mean "this etcd member was removed".
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  defaultConfigFile,
  etcdDataDir,
  etcdInitialized,
  isK3sConfigError,
  isRemovedMemberLine,
  K3S_REMOVED_MEMBER_MESSAGES,
  serverDbDir,
  wipeServerDb,
  writeEmptyConfigFile,
} from '../src/process/index.js';

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'k3s-data-dir-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('paths: server/db, server/db/etcd, the default config file', () => {
  assert.is(serverDbDir('/var/lib/rancher/k3s'), '/var/lib/rancher/k3s/server/db');
  assert.is(etcdDataDir('/var/lib/rancher/k3s'), '/var/lib/rancher/k3s/server/db/etcd');
  assert.is(defaultConfigFile('/var/lib/k3s/'), '/var/lib/k3s/clusteros-k3s.yaml');
});

test('etcdInitialized: only when server/db/etcd/member/wal is a directory', async () => {
  await withDir(async (dir) => {
    assert.is(await etcdInitialized(dir), false);
    assert.is(await etcdInitialized(join(dir, 'missing')), false);
    await mkdir(join(dir, 'server', 'db', 'etcd', 'member'), { recursive: true });
    assert.is(await etcdInitialized(dir), false);
    await writeFile(join(dir, 'server', 'db', 'etcd', 'member', 'wal'), '');
    assert.is(await etcdInitialized(dir), false);
    await rm(join(dir, 'server', 'db', 'etcd', 'member', 'wal'));
    await mkdir(join(dir, 'server', 'db', 'etcd', 'member', 'wal'));
    assert.is(await etcdInitialized(dir), true);
  });
});

test('wipeServerDb removes server/db only, and is idempotent', async () => {
  await withDir(async (dir) => {
    await mkdir(join(dir, 'server', 'db', 'etcd', 'member', 'wal'), { recursive: true });
    await writeFile(join(dir, 'server', 'db', 'etcd', 'name'), 'node-a-1a2b3c4d');
    await mkdir(join(dir, 'server', 'tls'), { recursive: true });
    await writeFile(join(dir, 'server', 'token'), 'K10…');
    await mkdir(join(dir, 'agent'));
    await wipeServerDb(dir);
    assert.equal((await readdir(join(dir, 'server'))).sort(), ['tls', 'token']);
    assert.equal((await readdir(dir)).sort(), ['agent', 'server']);
    assert.is(await etcdInitialized(dir), false);
    await wipeServerDb(dir);
    await wipeServerDb(join(dir, 'never-existed'));
  });
});

test('wipeServerDb refuses a relative data dir and /', async () => {
  for (const bad of ['', 'var/lib/k3s', './k3s', '/', '//', '/..', '/tmp/../']) {
    try {
      await wipeServerDb(bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (error) {
      assert.ok(isK3sConfigError(error), `${JSON.stringify(bad)}: ${String(error)}`);
      assert.is(error.field, 'dataDir');
    }
  }
});

test('writeEmptyConfigFile: an empty YAML document, mode 0600, parent created 0700, replaced atomically', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'own', 'config.yaml');
    await writeEmptyConfigFile(path);
    assert.is((await stat(path)).mode & 0o777, 0o600);
    assert.is((await stat(join(dir, 'own'))).mode & 0o777, 0o700);
    const text = await readFile(path, 'utf8');
    // Only comments: YAML-wise an empty document, so k3s takes every setting from its flags.
    assert.ok(
      text.split('\n').every((line) => line === '' || line.startsWith('#')),
      text,
    );
    await writeFile(path, 'cluster-init: true\n');
    await writeEmptyConfigFile(path);
    assert.not.match(await readFile(path, 'utf8'), /cluster-init/);
    assert.equal(await readdir(join(dir, 'own')), ['config.yaml']);
  });
});

test('removed-member lines: etcd 3.4, k3s and the tombstone variant; nothing else', () => {
  assert.ok(K3S_REMOVED_MEMBER_MESSAGES.length >= 2);
  for (const line of [
    '2026-12-01 04:30:23.186230 E | etcdserver: the member has been permanently removed from the cluster',
    '2026-12-01 04:30:23.186372 I | etcdserver: the data-dir used by this member must be removed.',
    'time="2026-12-01T04:47:33.322Z" level=error msg="the member has been permanently removed from the cluster"',
    'time="2026-12-01T04:47:33Z" level=fatal msg="data-dir used by this member must be removed: back up and delete /x"',
    'time="2026-12-01T04:47:33Z" level=info msg="This node has been removed from the cluster - please restart k3s to rejoin the cluster"',
    '{"level":"warn","msg":"The member has been permanently removed from the cluster"}',
  ])
    assert.ok(isRemovedMemberLine(line), line);
  for (const line of [
    'time="2026-12-01T04:47:33Z" level=info msg="k3s is up and running"',
    '2026-12-01 04:30:23 I | etcdserver/membership: removed member 94a757331ce35715 from cluster 112aa875f31da5b9',
    'time="…" level=info msg="Removing learner member"',
    '',
  ])
    assert.not.ok(isRemovedMemberLine(line), line);
});

test.run();
