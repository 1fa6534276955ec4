import { invariant } from '../errors.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The part of the log not yet known durable: entries (and possibly a snapshot received from the
 * leader) that the core has accepted but the driver has not yet confirmed persisted through
 * `advance`. Readers look here before the storage, because a pending write may replace a suffix
 * of what the storage still holds.
 */
export class Unstable {
  /** A snapshot from the leader that the driver has not persisted yet. */
  snapshot: Snapshot | undefined;
  /** Entries not yet persisted; `entries[i]` has index `offset + i`. */
  entries: Entry[] = [];
  /** Index of `entries[0]` (or where the next entry would go). */
  offset: number;

  /** Creates an empty tail starting at `offset` (the storage's last index + 1). */
  constructor(offset: number) {
    this.offset = offset;
  }

  /** Index of the last unstable entry or snapshot, or `undefined` when there is none. */
  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  /** The term at `index` if it is held here. */
  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot !== undefined && this.snapshot.meta.index === index
        ? this.snapshot.meta.term
        : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /**
   * Appends `entries` (consecutive indexes), replacing whatever was at or after their first
   * index. The caller has checked that nothing committed is replaced.
   */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const end = this.offset + this.entries.length;
    if (first.index === end) {
      this.entries.push(...entries);
    } else if (first.index <= this.offset) {
      // The new entries replace everything here, and possibly stored entries too: the next
      // save overwrites the storage from `first.index` on.
      this.offset = first.index;
      this.entries = [...entries];
    } else {
      invariant(first.index < end, `unstable: gap between ${end - 1} and ${first.index}`);
      this.entries = this.entries.slice(0, first.index - this.offset).concat(entries);
    }
  }

  /**
   * The driver persisted entries up to `index` (whose term was `term` when handed out). Entries
   * replaced meanwhile (the term differs) stay, to be persisted again.
   */
  stableTo(index: number, term: number): void {
    if (index < this.offset) return;
    if (this.maybeTerm(index) !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  /** The driver persisted the snapshot at `index`. */
  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === index) this.snapshot = undefined;
  }

  /** Replaces everything with `snapshot`; the log continues after it. */
  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.entries = [];
    this.offset = snapshot.meta.index + 1;
  }

  /** Unstable entries in `[lo, hi)`; the caller keeps the range inside what is held here. */
  slice(lo: number, hi: number): Entry[] {
    invariant(
      lo >= this.offset && hi <= this.offset + this.entries.length,
      `unstable: bad slice [${lo}, ${hi})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
