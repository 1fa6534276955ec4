// The requests both systems receive, encoded once up front so that building JSON costs the load
// generator nothing during a measurement: puts of 256-byte values over 1000 keys, and
// linearizable ranges (no `serializable` field) of the same keys.
import { randomBytes } from 'node:crypto';

export const KEY_COUNT = 1000;
export const VALUE_BYTES = 256;

export interface Workload {
  readonly keys: readonly Buffer[];
  readonly values: readonly Buffer[];
  /** `/v3/kv/put` bodies, one per key. */
  readonly putBodies: readonly Buffer[];
  /** `/v3/kv/range` bodies, one per key. */
  readonly rangeBodies: readonly Buffer[];
}

export function makeWorkload(): Workload {
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  for (let i = 0; i < KEY_COUNT; i++) {
    keys.push(Buffer.from(`bench/key-${String(i).padStart(4, '0')}`));
    // Random bytes: neither system compresses, but this rules out any accidental benefit.
    values.push(randomBytes(VALUE_BYTES));
  }
  const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  return {
    keys,
    values,
    putBodies: keys.map((key, i) =>
      encode({ key: key.toString('base64'), value: values[i]?.toString('base64') ?? '' }),
    ),
    rangeBodies: keys.map((key) => encode({ key: key.toString('base64') })),
  };
}
