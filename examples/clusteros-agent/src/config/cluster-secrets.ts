/**
 * What the agent derives from the cluster auth key, with HKDF-SHA256 (RFC 5869) and one
 * distinct `info` label per use, so no derived value says anything about another:
 *
 * - `fingerprint`: 16 bytes, hex. The only one that ever leaves the node: gossip carries it so
 *   nodes can tell clusters apart (two clusters with different keys have different
 *   fingerprints). HKDF is one-way: knowing the fingerprint gives neither the key nor the other
 *   derived keys.
 * - `keyringKey`: 32 bytes, the memberlist keyring key (AES-256-GCM of all gossip traffic).
 * - `raftKey`: 32 bytes, the key authenticating Raft transport connections.
 *
 * Neither key is ever sent, logged or written anywhere: both are {@link Secret}s.
 */
import { hkdfSync } from 'node:crypto';
import { Secret } from './secret.js';

/** HKDF salt: fixed, versioned, so a future scheme can change it. */
export const HKDF_SALT = 'clusteros/cluster-secrets/v1';
/** HKDF `info` labels, one per derived value. */
export const HKDF_LABELS = {
  fingerprint: 'clusteros cluster fingerprint v1',
  keyring: 'clusteros memberlist keyring key v1',
  raft: 'clusteros raft cluster key v1',
} as const;

/** What {@link deriveClusterSecrets} returns. */
export interface ClusterSecrets {
  /** 32 hex characters (16 bytes): gossiped so nodes can tell clusters apart. Not secret. */
  readonly fingerprint: string;
  /** 32 bytes for the memberlist keyring (`secretKey` of `@clusteros/membership`). Never sent. */
  readonly keyringKey: Secret<Uint8Array>;
  /** 32 bytes authenticating the Raft transport. Never sent. */
  readonly raftKey: Secret<Uint8Array>;
}

function derive(key: string, label: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', Buffer.from(key, 'utf8'), HKDF_SALT, label, length));
}

/**
 * Derives the cluster fingerprint and keys from the auth key (`config.cluster.auth_key`).
 * Deterministic: every node with the same key derives the same values. Each call returns fresh
 * arrays, so a caller that zeroes its copy does not affect another's.
 */
export function deriveClusterSecrets(authKey: Secret | string): ClusterSecrets {
  const key = typeof authKey === 'string' ? authKey : authKey.reveal();
  if (key.length === 0) throw new TypeError('deriveClusterSecrets needs a non-empty auth key');
  return {
    fingerprint: Buffer.from(derive(key, HKDF_LABELS.fingerprint, 16)).toString('hex'),
    keyringKey: new Secret(derive(key, HKDF_LABELS.keyring, 32)),
    raftKey: new Secret(derive(key, HKDF_LABELS.raft, 32)),
  };
}
