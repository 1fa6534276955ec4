/**
 * Node tags in Serf's metadata format (MEMBERLIST-WIRE.md §13), so Serf-aware tools and
 * ClusterOS read the same thing: `0xFF` followed by a msgpack map of string keys to string
 * values. Metadata that does not start with `0xFF` is Serf's legacy form, read as
 * `{ role: <the bytes as text> }`.
 */
import { DecodeError, PayloadTooLargeError } from '../errors.js';
import { MsgpackReader, MsgpackWriter } from '../wire/msgpack.js';
import { META_MAX_SIZE } from './config.js';

/** The first byte of tag-encoded metadata (Serf's `tagMagicByte`). */
export const TAG_MAGIC_BYTE = 0xff;

/**
 * Encodes `tags` as node metadata, keys sorted so the bytes are stable. Throws
 * {@link PayloadTooLargeError} above memberlist's 512-byte metadata limit.
 */
export function encodeTags(tags: Readonly<Record<string, string>>): Uint8Array {
  const keys = Object.keys(tags).sort();
  const writer = new MsgpackWriter(64);
  writer.byte(TAG_MAGIC_BYTE);
  writer.mapHeader(keys.length);
  for (const key of keys) {
    writer.string(key);
    writer.string(String(tags[key]));
  }
  const meta = writer.finish();
  if (meta.length > META_MAX_SIZE) throw new PayloadTooLargeError('encoded tags', meta.length, META_MAX_SIZE);
  return meta;
}

/**
 * Decodes node metadata into tags. Throws {@link DecodeError} for metadata that starts with
 * the magic byte but is not exactly a map of strings (the input comes from the network).
 *
 * Two deliberate differences from Serf's reader, both on input Serf never writes: empty
 * metadata is no tags (Serf reads `{ role: '' }`), and bytes after the map are an error (Serf
 * ignores them).
 */
export function decodeTags(meta: Uint8Array): Record<string, string> {
  const tags: Record<string, string> = Object.create(null);
  if (meta.length === 0) return tags;
  if (meta[0] !== TAG_MAGIC_BYTE) {
    tags.role = new TextDecoder('utf-8', { fatal: false }).decode(meta);
    return tags;
  }
  const reader = new MsgpackReader(meta, 1, META_MAX_SIZE);
  const count = reader.mapHeader('tags');
  for (let i = 0; i < count; i++) {
    const key = reader.string('tag key');
    tags[key] = reader.string('tag value');
  }
  if (reader.remaining > 0) throw new DecodeError('type', `${reader.remaining} bytes after the tag map`);
  return tags;
}
