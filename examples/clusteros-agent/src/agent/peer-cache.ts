/**
 * The gossip addresses of the cluster's other members, kept in the data dir so a restarted node
 * can find the cluster again even when its configured seeds are down or are itself (the first
 * node of a demo or a small cluster lists only itself). Serf keeps a similar snapshot for the
 * same reason. The file is a cache: a missing, unreadable or malformed one is ignored.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseHostPort } from '../config/schema.js';

/** The cache file's name in the data dir. */
export const PEER_CACHE_FILE = 'gossip-peers.json';
/** Most addresses kept (the join tries them all at once). */
export const MAX_CACHED_PEERS = 64;

/** Reads the cached `host:port` addresses; [] when there are none or the file is unusable. */
export async function loadPeerCache(dataDir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(dataDir, PEER_CACHE_FILE), 'utf8');
  } catch {
    return [];
  }
  if (text.length > 64 * 1024) return [];
  try {
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value)) return [];
    return value
      .filter((entry): entry is string => typeof entry === 'string' && parseHostPort(entry) !== undefined)
      .slice(0, MAX_CACHED_PEERS);
  } catch {
    return [];
  }
}

/** Writes the addresses atomically (temp file, then rename), at most {@link MAX_CACHED_PEERS}. */
export async function savePeerCache(dataDir: string, peers: readonly string[]): Promise<void> {
  const path = join(dataDir, PEER_CACHE_FILE);
  const temp = `${path}.tmp`;
  await writeFile(temp, `${JSON.stringify([...peers].sort().slice(0, MAX_CACHED_PEERS))}\n`, { mode: 0o600 });
  await rename(temp, path);
}
