// Messages and counters shared by the transport tests (stream-transport, frame-mac).
import type { Message } from '../../src/core/types.js';
import type { StreamTransport } from '../../src/transport/stream-transport.js';

/** A vote request from `from` to `to` at `term`. */
export function vote(from: string, to: string, term = 1): Message {
  return { type: 'vote', from, to, term, preVote: false, lastIndex: 0, lastTerm: 0, transfer: false };
}

/** An append of one entry after index `n`, whose data encodes `n` (so order can be checked). */
export function append(from: string, to: string, n: number): Message {
  return {
    type: 'append',
    from,
    to,
    term: 1,
    prevIndex: n,
    prevTerm: 1,
    entries: [{ index: n + 1, term: 1, kind: 'normal', data: Uint8Array.of(n & 0xff, (n >> 8) & 0xff) }],
    commit: n,
  };
}

/** How many messages `t` dropped for `reason`. */
export function dropped(t: StreamTransport, reason: string): number {
  return t.stats().dropped[reason] ?? 0;
}
