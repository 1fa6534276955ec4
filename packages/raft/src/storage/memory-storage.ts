import { EMPTY_SNAPSHOT, type Entry, type HardState, type Snapshot } from '../core/types.js';
import { InvariantError, invariant, LogCompactedError, LogUnavailableError } from '../errors.js';
import type { LogReader, RaftStorage, StorageStats, StorageUpdate } from './storage.js';

/** The hard state of a server that has never voted or seen a term. */
const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });

/** Everything a {@link MemoryLog} holds; also how a persistent storage rebuilds one after replay. */
export interface MemoryLogState {
  /** The latest snapshot ({@link EMPTY_SNAPSHOT} when there is none). */
  readonly snapshot: Snapshot;
  /** The persisted hard state. */
  readonly hardState: HardState;
  /** The live entries, contiguous from `firstIndex`. */
  readonly entries: readonly Entry[];
  /** Index of the first live entry; at most `snapshot.meta.index + 1` (entries may be retained below it). */
  readonly firstIndex: number;
  /** Term of the entry at `firstIndex - 1` (the snapshot's term when they coincide, 0 at index 0). */
  readonly prevTerm: number;
}

/** Where a {@link MemoryLog} stands: what a segment header or a compaction record describes. */
export interface MemoryLogPosition {
  /** Index of the latest snapshot. */
  readonly snapshotIndex: number;
  /** Term of the latest snapshot. */
  readonly snapshotTerm: number;
  /** First live index. */
  readonly firstIndex: number;
  /** Term at `firstIndex - 1`. */
  readonly prevTerm: number;
  /** Last index. */
  readonly lastIndex: number;
}

/** What {@link MemoryLog.createSnapshot} did to the log. */
export interface CompactionResult {
  /** The log's first index afterwards. */
  readonly firstIndex: number;
  /** Term at `firstIndex - 1`. */
  readonly prevTerm: number;
}

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function checkHardState(hs: HardState): void {
  invariant(
    typeof hs === 'object' &&
      hs !== null &&
      isUint(hs.term) &&
      isUint(hs.commit) &&
      (hs.vote === null || typeof hs.vote === 'string'),
    `malformed hard state ${JSON.stringify(hs)}`,
  );
}

function checkSnapshot(snapshot: Snapshot): void {
  invariant(
    typeof snapshot === 'object' &&
      snapshot !== null &&
      isUint(snapshot.meta?.index) &&
      isUint(snapshot.meta.term) &&
      snapshot.data instanceof Uint8Array &&
      typeof snapshot.meta.conf === 'object' &&
      snapshot.meta.conf !== null,
    'malformed snapshot',
  );
}

/**
 * Checks that `entries` are well formed, contiguous from their first index, with terms that
 * never decrease (starting at `prevTerm` or above): the shape of every Raft log.
 */
function checkEntries(entries: readonly Entry[], prevTerm: number): void {
  let term = prevTerm;
  const first = entries[0]?.index ?? 0;
  entries.forEach((e, i) => {
    invariant(
      typeof e === 'object' && e !== null && isUint(e.index) && isUint(e.term),
      `entry ${i} has a malformed index or term`,
    );
    invariant(
      e.kind === 'normal' || e.kind === 'config',
      `entry ${e.index} has unknown kind ${String(e.kind)}`,
    );
    invariant(e.data instanceof Uint8Array, `entry ${e.index} data is not a Uint8Array`);
    invariant(e.index === first + i, `entries are not contiguous: ${e.index} follows ${first + i - 1}`);
    invariant(e.term >= term, `entry ${e.index} has term ${e.term}, below the term ${term} before it`);
    term = e.term;
  });
}

/**
 * The in-memory Raft log both storages are built on: a snapshot, the hard state, and the live
 * entries from `firstIndex` (which may lie below the snapshot's index + 1 when a tail is
 * retained for slow followers) with the term of the entry just before them.
 *
 * Mutations are synchronous and validate everything before changing anything: a call that
 * breaks an invariant throws {@link InvariantError} and leaves the log as it was. Arrays handed
 * out are copies; entries and snapshots are immutable by contract and are shared.
 */
export class MemoryLog {
  #snapshot: Snapshot;
  #hardState: HardState;
  /** `#entries[k]` has index `#first + k`. */
  #entries: Entry[];
  #first: number;
  #prevTerm: number;

  /** Creates a log from a complete state; throws {@link InvariantError} if it is inconsistent. */
  constructor(state: MemoryLogState) {
    checkSnapshot(state.snapshot);
    checkHardState(state.hardState);
    const { snapshot, firstIndex, prevTerm } = state;
    const snapIndex = snapshot.meta.index;
    invariant(isUint(firstIndex) && firstIndex >= 1, `bad first index ${firstIndex}`);
    invariant(isUint(prevTerm), `bad previous term ${prevTerm}`);
    invariant(
      firstIndex <= snapIndex + 1,
      `first index ${firstIndex} is beyond the snapshot at ${snapIndex}`,
    );
    invariant(firstIndex > 1 || prevTerm === 0, 'the term before index 1 must be 0');
    checkEntries(state.entries, prevTerm);
    invariant(
      state.entries.length === 0 || state.entries[0]?.index === firstIndex,
      `entries start at ${state.entries[0]?.index}, not at the first index ${firstIndex}`,
    );
    this.#snapshot = snapshot;
    this.#hardState = state.hardState;
    this.#entries = [...state.entries];
    this.#first = firstIndex;
    this.#prevTerm = prevTerm;
    invariant(
      this.lastIndex() >= snapIndex,
      `the log ends at ${this.lastIndex()}, before the snapshot at ${snapIndex}`,
    );
    invariant(
      this.term(snapIndex) === snapshot.meta.term,
      `the log has term ${this.term(snapIndex)} at the snapshot's index ${snapIndex}, the snapshot ${snapshot.meta.term}`,
    );
  }

  /** The persisted hard state and the configuration as of the snapshot. */
  initialState(): ReturnType<LogReader['initialState']> {
    return { hardState: this.#hardState, conf: this.#snapshot.meta.conf };
  }

  /** The hard state. */
  hardState(): HardState {
    return this.#hardState;
  }

  /** Index of the first live entry. */
  firstIndex(): number {
    return this.#first;
  }

  /** Index of the last entry (`firstIndex() - 1` when the log is empty). */
  lastIndex(): number {
    return this.#first + this.#entries.length - 1;
  }

  /** Term at `index`, from `firstIndex() - 1` to `lastIndex()`. */
  term(index: number): number {
    invariant(Number.isSafeInteger(index), `term of non-integer index ${index}`);
    if (index < this.#first - 1) throw new LogCompactedError(index, this.#first);
    if (index > this.lastIndex()) throw new LogUnavailableError(index, this.lastIndex());
    if (index === this.#first - 1) return this.#prevTerm;
    const entry = this.#entries[index - this.#first];
    invariant(entry !== undefined, `entry ${index} missing`);
    return entry.term;
  }

  /** Entries in `[lo, hi)`, at least one, stopping before `maxBytes` of data would be exceeded. */
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    invariant(
      Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo <= hi,
      `bad entry range [${lo}, ${hi})`,
    );
    if (lo < this.#first) throw new LogCompactedError(lo, this.#first);
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(hi - 1, this.lastIndex());
    const start = lo - this.#first;
    const end = hi - this.#first;
    if (maxBytes === undefined) return this.#entries.slice(start, end);
    const out: Entry[] = [];
    let bytes = 0;
    for (let k = start; k < end; k++) {
      const entry = this.#entries[k];
      invariant(entry !== undefined, `entry ${this.#first + k} missing`);
      bytes += entry.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** The latest snapshot. */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Snapshot and log bounds in one object. */
  position(): MemoryLogPosition {
    return {
      snapshotIndex: this.#snapshot.meta.index,
      snapshotTerm: this.#snapshot.meta.term,
      firstIndex: this.#first,
      prevTerm: this.#prevTerm,
      lastIndex: this.lastIndex(),
    };
  }

  /**
   * Applies a {@link StorageUpdate}: checks the hard state and the entries (contiguous with the
   * log: starting after the snapshot and at most at `lastIndex() + 1`, terms never decreasing),
   * then replaces any stored entries from `entries[0].index` on and records the hard state.
   */
  save(update: StorageUpdate): void {
    const { hardState, entries } = update;
    if (hardState !== undefined) checkHardState(hardState);
    const first = entries[0];
    if (first !== undefined) {
      invariant(isUint(first.index), `entry index ${String(first.index)} is malformed`);
      const snapIndex = this.#snapshot.meta.index;
      invariant(
        first.index > snapIndex,
        `entries from ${first.index} would overwrite the snapshot at ${snapIndex}`,
      );
      invariant(
        first.index <= this.lastIndex() + 1,
        `entries from ${first.index} leave a gap after the last index ${this.lastIndex()}`,
      );
      checkEntries(entries, this.term(first.index - 1));
    }
    if (first !== undefined) {
      this.#entries.length = first.index - this.#first;
      for (const e of entries) this.#entries.push(e);
    }
    if (hardState !== undefined) this.#hardState = hardState;
  }

  /**
   * Installs a leader's snapshot, which must be newer than the current one. Entries after it are
   * kept only if the log has the snapshot's last entry (same index and term); otherwise the log
   * is emptied. The commit index is raised to the snapshot's index (a snapshot only holds
   * committed entries), so the stored state never has a commit index below its snapshot.
   * Returns whether entries were kept.
   */
  installSnapshot(snapshot: Snapshot): boolean {
    checkSnapshot(snapshot);
    const { index, term } = snapshot.meta;
    const current = this.#snapshot.meta.index;
    invariant(index > current, `snapshot at ${index} is not newer than the current one at ${current}`);
    const keep = index <= this.lastIndex() && this.term(index) === term;
    if (keep) this.#entries.splice(0, index + 1 - this.#first);
    else this.#entries = [];
    this.#first = index + 1;
    this.#prevTerm = term;
    this.#adopt(snapshot);
    return keep;
  }

  /**
   * Records a snapshot of applied state, newer than the current one and within the log (its
   * term must match the log's), and compacts the log to start at
   * `max(firstIndex(), index - retainEntries + 1)`: the snapshot covers every entry dropped.
   */
  createSnapshot(snapshot: Snapshot, retainEntries: number): CompactionResult {
    checkSnapshot(snapshot);
    invariant(isUint(retainEntries), `retainEntries must be a non-negative integer, got ${retainEntries}`);
    const { index, term } = snapshot.meta;
    const current = this.#snapshot.meta.index;
    invariant(index > current, `snapshot at ${index} is not newer than the current one at ${current}`);
    invariant(index <= this.lastIndex(), `snapshot at ${index} is beyond the last index ${this.lastIndex()}`);
    invariant(
      this.term(index) === term,
      `snapshot term ${term} differs from the log's ${this.term(index)} at ${index}`,
    );
    const first = Math.max(this.#first, index - retainEntries + 1);
    const prevTerm = this.term(first - 1);
    this.#entries.splice(0, first - this.#first);
    this.#first = first;
    this.#prevTerm = prevTerm;
    this.#adopt(snapshot);
    return { firstIndex: first, prevTerm };
  }

  #adopt(snapshot: Snapshot): void {
    this.#snapshot = snapshot;
    const index = snapshot.meta.index;
    if (this.#hardState.commit < index) this.#hardState = { ...this.#hardState, commit: index };
  }
}

/** Options of {@link MemoryStorage}: an initial state, for tests and bootstrapping. */
export interface MemoryStorageOptions {
  /** Starting snapshot; default none. */
  readonly snapshot?: Snapshot;
  /** Starting hard state; default term 0, no vote, commit 0. */
  readonly hardState?: HardState;
  /** Starting entries, contiguous from `snapshot.meta.index + 1`. */
  readonly entries?: readonly Entry[];
}

/**
 * The reference {@link RaftStorage}: everything in memory, nothing survives the process. Used
 * by tests and simulations, and as the model persistent storages are checked against.
 *
 * Every update takes effect when it is called (a rejected call changes nothing), so `save`
 * resolves at once; `syncs` stays 0 and `bytesWritten` counts entry data.
 * Breaking the log's invariants (a gap, overwriting the snapshot, an older snapshot) throws
 * `InvariantError`, as a rejected promise for the async methods.
 */
export class MemoryStorage implements RaftStorage {
  readonly #log: MemoryLog;
  #saves = 0;
  #entriesAppended = 0;
  #bytesWritten = 0;
  #snapshotsSaved = 0;

  /** Creates a storage holding `options`' state (empty by default). */
  constructor(options: MemoryStorageOptions = {}) {
    const snapshot = options.snapshot ?? EMPTY_SNAPSHOT;
    const entries = options.entries ?? [];
    const expected = (snapshot.meta?.index ?? 0) + 1;
    if (entries.length > 0 && entries[0]?.index !== expected) {
      throw new InvariantError(`initial entries must start at ${expected}, got ${entries[0]?.index}`);
    }
    this.#log = new MemoryLog({
      snapshot,
      hardState: options.hardState ?? EMPTY_HARD_STATE,
      entries,
      firstIndex: expected,
      prevTerm: snapshot.meta?.term ?? 0,
    });
  }

  /** Nothing to load. */
  async open(): Promise<void> {}

  initialState(): ReturnType<LogReader['initialState']> {
    return this.#log.initialState();
  }

  firstIndex(): number {
    return this.#log.firstIndex();
  }

  lastIndex(): number {
    return this.#log.lastIndex();
  }

  term(index: number): number {
    return this.#log.term(index);
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.#log.entries(lo, hi, maxBytes);
  }

  snapshot(): Snapshot {
    return this.#log.snapshot();
  }

  async save(update: StorageUpdate): Promise<void> {
    this.#log.save(update);
    if (update.entries.length === 0 && update.hardState === undefined) return;
    this.#saves++;
    this.#entriesAppended += update.entries.length;
    for (const e of update.entries) this.#bytesWritten += e.data.byteLength;
  }

  async installSnapshot(snapshot: Snapshot): Promise<void> {
    this.#log.installSnapshot(snapshot);
    this.#snapshotsSaved++;
  }

  async createSnapshot(snapshot: Snapshot, retainEntries: number): Promise<void> {
    this.#log.createSnapshot(snapshot, retainEntries);
    this.#snapshotsSaved++;
  }

  stats(): StorageStats {
    return {
      saves: this.#saves,
      syncs: 0,
      entriesAppended: this.#entriesAppended,
      bytesWritten: this.#bytesWritten,
      snapshotsSaved: this.#snapshotsSaved,
    };
  }

  /** Nothing to release. */
  async close(): Promise<void> {}
}
