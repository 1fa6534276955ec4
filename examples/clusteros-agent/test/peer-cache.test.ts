// The gossip peer cache a restarted node rejoins through: round trip, and every kind of bad file
// ignored rather than trusted or fatal.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadPeerCache, MAX_CACHED_PEERS, PEER_CACHE_FILE, savePeerCache } from '../src/agent/peer-cache.js';

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'peer-cache-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('peer cache: saved addresses load back sorted; no temp file is left behind', async () => {
  await withDir(async (dir) => {
    assert.equal(await loadPeerCache(dir), [], 'no file yet');
    await savePeerCache(dir, ['127.0.0.1:7948', '[::1]:7950', '100.64.0.2:7946']);
    assert.equal(await loadPeerCache(dir), ['100.64.0.2:7946', '127.0.0.1:7948', '[::1]:7950']);
    assert.equal(await readdir(dir), [PEER_CACHE_FILE]);
  });
});

test('peer cache: at most MAX_CACHED_PEERS addresses are kept', async () => {
  await withDir(async (dir) => {
    const many = Array.from(
      { length: MAX_CACHED_PEERS + 10 },
      (_, i) => `10.0.${Math.floor(i / 200)}.${i % 200}:7946`,
    );
    await savePeerCache(dir, many);
    assert.is((await loadPeerCache(dir)).length, MAX_CACHED_PEERS);
  });
});

test('peer cache: malformed files and entries are ignored', async () => {
  await withDir(async (dir) => {
    const path = join(dir, PEER_CACHE_FILE);
    for (const text of ['not json', '{"a":1}', '"127.0.0.1:1"', 'null', '', 'x'.repeat(70_000)]) {
      await writeFile(path, text);
      assert.equal(await loadPeerCache(dir), [], JSON.stringify(text.slice(0, 20)));
    }
    await writeFile(
      path,
      JSON.stringify(['127.0.0.1:7946', 42, 'no-port', '127.0.0.1:0', '127.0.0.1:99999', null]),
    );
    assert.equal(await loadPeerCache(dir), ['127.0.0.1:7946']);
  });
});

test.run();
