// Loads memberlist's own byte vectors (copied from the shared notes into fixtures/) and the
// small conversions the tests need.
import { readFileSync } from 'node:fs';

/** One vector produced by memberlist 0.2.2's own encoders. */
export interface Vector {
  readonly name: string;
  readonly note?: string;
  readonly input?: unknown;
  readonly hex: string;
  readonly plain_hex?: string;
  readonly key_b64?: string;
  readonly check: string;
}

/** The fixture file's shape. */
export interface VectorFile {
  readonly source: string;
  readonly vectors: readonly Vector[];
  readonly timing_table: readonly {
    readonly n: number;
    readonly suspicion_min_lan_s: number;
    readonly suspicion_max_lan_s: number;
    readonly suspicion_min_local_s: number;
    readonly retransmit_limit_lan: number;
    readonly retransmit_limit_local: number;
    readonly pushpull_interval_lan_s: number;
  }[];
  readonly remaining_suspicion_time: readonly {
    readonly n: number;
    readonly k: number;
    readonly min_s: number;
    readonly max_s: number;
    readonly timeout_s: number;
  }[];
}

export const fixtures: VectorFile = JSON.parse(
  readFileSync(new URL('../fixtures/memberlist-vectors.json', import.meta.url), 'utf8'),
);

export function vector(name: string): Vector {
  const found = fixtures.vectors.find((v) => v.name === name);
  if (found === undefined) throw new Error(`no vector named ${name}`);
  return found;
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Base64 as the vectors write Go `[]byte` (null for Go nil). */
export function fromB64(value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null;
  const buf = Buffer.from(String(value), 'base64');
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

export const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The 9000-byte LCG input of `compress-lcg-9000`: x0 = 1, x = (1103515245x + 12345) mod 2^31, byte = (x >> 16) & 0xff. */
export function lcgInput(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 1n;
  for (let i = 0; i < length; i++) {
    x = (1103515245n * x + 12345n) % 2147483648n;
    out[i] = Number((x >> 16n) & 0xffn);
  }
  return out;
}

/** A nonce source that hands out the given bytes once (to reproduce a Go vector's random nonce). */
export function fixedNonce(nonce: Uint8Array): (size: number) => Uint8Array {
  return (size) => {
    if (size !== nonce.length) throw new Error(`nonce of ${size} bytes asked, have ${nonce.length}`);
    return nonce.slice();
  };
}
