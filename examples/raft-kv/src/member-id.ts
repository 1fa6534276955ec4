import { createHash } from 'node:crypto';

/**
 * etcd identifies members by uint64 ids and clients compare them as strings. raft-kv derives a
 * stable id from the member name (first 8 bytes of SHA-256, as an unsigned decimal), so every
 * member computes the same id for a name without coordination.
 */
export function memberIdOf(name: string): string {
  const digest = createHash('sha256').update(`raft-kv member ${name}`).digest();
  return digest.readBigUInt64BE(0).toString(10);
}

/** The cluster id the same way, from the sorted initial member names. */
export function clusterIdOf(names: readonly string[]): string {
  const digest = createHash('sha256')
    .update(`raft-kv cluster ${[...names].sort().join(',')}`)
    .digest();
  return digest.readBigUInt64BE(0).toString(10);
}
