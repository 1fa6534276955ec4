import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entry, HardState, Snapshot } from '../../src/core/types.js';
import { isInvariantError, isLogCompactedError, isLogUnavailableError } from '../../src/errors.js';
import type { LogReader, RaftStorage } from '../../src/storage/storage.js';

/** A fresh, opened, empty storage; how to reopen it (as after a restart) and to dispose of it. */
export interface StorageFixture {
  /** The storage under test, already opened. */
  readonly storage: RaftStorage;
  /**
   * Closes the storage and opens a new instance over the same files. A storage that keeps
   * nothing (MemoryStorage) returns the same object.
   */
  readonly reopen: () => Promise<RaftStorage>;
  /** Removes what the fixture created. */
  readonly cleanup: () => Promise<void>;
}

interface Context {
  fixture: StorageFixture | undefined;
}

const text = new TextEncoder();

/** An entry with `data` as UTF-8 (default `e<index>t<term>`). */
export function entry(
  index: number,
  term: number,
  data?: string | Uint8Array,
  kind: Entry['kind'] = 'normal',
): Entry {
  const bytes = data instanceof Uint8Array ? data : text.encode(data ?? `e${index}t${term}`);
  return { index, term, kind, data: bytes };
}

/** Entries `from..to` inclusive, all in `term`. */
export function range(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

/** A snapshot at `index`/`term` with a small configuration and `data`. */
export function snapshotAt(index: number, term: number, data = `state@${index}`): Snapshot {
  return {
    meta: {
      index,
      term,
      conf: {
        voters: ['n1', 'n2', 'n3'],
        learners: ['n4'],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
      addresses: { n1: '10.0.0.1:7000', n2: '10.0.0.2:7000' },
    },
    data: text.encode(data),
  };
}

/** Awaits `promise` and returns what it rejected with; fails the test if it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.unreachable('expected a rejection');
  return undefined;
}

/** Calls `fn` and returns what it threw; fails the test if it returned. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.unreachable('expected an exception');
  return undefined;
}

/** Everything a reader can observe about a storage, as plain data. */
export interface Observed {
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly prevTerm: number;
  readonly entries: Entry[];
  readonly hardState: HardState;
  readonly snapshot: { index: number; term: number; conf: unknown; addresses: unknown; data: number[] };
}

/** What `storage` shows to readers, for comparing two storages or one before and after a reopen. */
export function observe(storage: LogReader): Observed {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  const snap = storage.snapshot();
  return {
    firstIndex: first,
    lastIndex: last,
    prevTerm: storage.term(first - 1),
    entries: storage.entries(first, last + 1).map((e) => ({ ...e, data: new Uint8Array(e.data) })),
    hardState: { ...storage.initialState().hardState },
    snapshot: {
      index: snap.meta.index,
      term: snap.meta.term,
      conf: JSON.parse(JSON.stringify(snap.meta.conf)),
      addresses: { ...snap.meta.addresses },
      data: [...snap.data],
    },
  };
}

/**
 * The behaviour every {@link RaftStorage} shares, as a uvu suite over a fresh storage per test;
 * the caller runs it. Where a test reopens, a persistent storage must show exactly the same
 * state afterwards.
 */
export function storageContract(name: string, make: () => Promise<StorageFixture>): Test<Context> {
  const s = suite<Context>(`${name} (RaftStorage contract)`, { fixture: undefined });

  s.before.each(async (ctx) => {
    ctx.fixture = await make();
  });
  s.after.each(async (ctx) => {
    await ctx.fixture?.cleanup();
    ctx.fixture = undefined;
  });

  const fixture = (ctx: Context): StorageFixture => {
    if (ctx.fixture === undefined) throw new Error('no fixture');
    return ctx.fixture;
  };

  /** Reopens and checks that the new instance shows what the old one did; returns it. */
  const reopenSame = async (ctx: Context, before: RaftStorage): Promise<RaftStorage> => {
    const expected = observe(before);
    const after = await fixture(ctx).reopen();
    assert.equal(observe(after), expected);
    return after;
  };

  s('a fresh storage is empty', async (ctx) => {
    const st = fixture(ctx).storage;
    assert.is(st.firstIndex(), 1);
    assert.is(st.lastIndex(), 0);
    assert.is(st.term(0), 0);
    assert.equal(st.entries(1, 1), []);
    assert.is(st.snapshot().meta.index, 0);
    assert.equal(st.initialState().hardState, { term: 0, vote: null, commit: 0 });
    assert.equal(st.initialState().conf.voters, []);
    await reopenSame(ctx, st);
  });

  s('appends, reads entries and terms', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 3, 1) });
    await st.save({ entries: [entry(4, 2, 'four', 'config'), entry(5, 2, new Uint8Array([0, 255, 7]))] });
    assert.is(st.firstIndex(), 1);
    assert.is(st.lastIndex(), 5);
    assert.equal(
      st.entries(1, 6).map((e) => e.term),
      [1, 1, 1, 2, 2],
    );
    assert.is(st.term(3), 1);
    assert.is(st.term(5), 2);
    const [fourth, fifth] = st.entries(4, 6);
    assert.is(fourth?.kind, 'config');
    assert.equal(fourth?.data, text.encode('four'));
    assert.equal(fifth?.data, new Uint8Array([0, 255, 7]));
    assert.equal(st.entries(2, 4), [entry(2, 1), entry(3, 1)]);
    assert.equal(st.entries(3, 3), []);
    const reopened = await reopenSame(ctx, st);
    assert.is(reopened.entries(4, 5)[0]?.kind, 'config');
  });

  s('entries hands out copies of its array', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 3, 1) });
    const got = st.entries(1, 4);
    got.pop();
    got.push(entry(99, 9));
    assert.is(st.entries(1, 4).length, 3);
    assert.is(st.lastIndex(), 3);
  });

  s('a conflicting suffix is replaced', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 6, 1) });
    await st.save({ entries: [entry(4, 2, 'new4'), entry(5, 2, 'new5')] });
    assert.is(st.lastIndex(), 5);
    assert.equal(st.entries(1, 6), [...range(1, 3, 1), entry(4, 2, 'new4'), entry(5, 2, 'new5')]);
    // Replacing from the very first index, with a longer suffix.
    await st.save({ entries: [entry(1, 3, 'x1'), entry(2, 3, 'x2'), entry(3, 3, 'x3')] });
    assert.is(st.lastIndex(), 3);
    assert.equal(
      st.entries(1, 4).map((e) => e.term),
      [3, 3, 3],
    );
    // Appending right after the last index keeps everything.
    await st.save({ entries: range(4, 5, 3) });
    assert.is(st.lastIndex(), 5);
    const reopened = await reopenSame(ctx, st);
    // A suffix replaced after a reopen too.
    await reopened.save({ entries: [entry(5, 4, 'again')] });
    assert.is(reopened.term(5), 4);
    await reopenSame(ctx, reopened);
  });

  s('saves that break the log are rejected and change nothing', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 3, 2) });
    const before = observe(st);
    // A gap after the last index.
    assert.ok(isInvariantError(await rejection(st.save({ entries: [entry(5, 2)] }))));
    // Not contiguous.
    assert.ok(isInvariantError(await rejection(st.save({ entries: [entry(4, 2), entry(6, 2)] }))));
    // Terms going down.
    assert.ok(isInvariantError(await rejection(st.save({ entries: [entry(4, 1)] }))));
    assert.ok(isInvariantError(await rejection(st.save({ entries: [entry(4, 3), entry(5, 2)] }))));
    // A bad hard state in the same update leaves the entries out too.
    const bad = { term: -1, vote: null, commit: 0 };
    assert.ok(isInvariantError(await rejection(st.save({ hardState: bad, entries: [entry(4, 2)] }))));
    assert.equal(observe(st), before);
    await reopenSame(ctx, st);
  });

  s('hard state round-trips, with and without entries', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ hardState: { term: 3, vote: 'n2', commit: 0 }, entries: [] });
    assert.equal(st.initialState().hardState, { term: 3, vote: 'n2', commit: 0 });
    await st.save({ hardState: { term: 3, vote: 'n2', commit: 2 }, entries: range(1, 2, 3) });
    assert.equal(st.initialState().hardState, { term: 3, vote: 'n2', commit: 2 });
    // An update without a hard state keeps the last one.
    await st.save({ entries: range(3, 3, 3) });
    assert.equal(st.initialState().hardState, { term: 3, vote: 'n2', commit: 2 });
    const reopened = await reopenSame(ctx, st);
    await reopened.save({ hardState: { term: 4, vote: null, commit: 3 }, entries: [] });
    const again = await reopenSame(ctx, reopened);
    assert.equal(again.initialState().hardState, { term: 4, vote: null, commit: 3 });
  });

  s('an empty save is accepted and resolves in order', async (ctx) => {
    const st = fixture(ctx).storage;
    const order: number[] = [];
    const a = st.save({ entries: range(1, 2, 1) }).then(() => order.push(1));
    const b = st.save({ entries: [] }).then(() => order.push(2));
    const c = st
      .save({ hardState: { term: 1, vote: null, commit: 1 }, entries: [] })
      .then(() => order.push(3));
    await Promise.all([a, b, c]);
    assert.equal(order, [1, 2, 3]);
    await reopenSame(ctx, st);
  });

  s('concurrent saves all land, in call order', async (ctx) => {
    const st = fixture(ctx).storage;
    const order: number[] = [];
    const saves: Promise<unknown>[] = [];
    for (let i = 1; i <= 20; i++) {
      saves.push(
        st
          .save({ hardState: { term: 1, vote: 'n1', commit: i - 1 }, entries: [entry(i, 1)] })
          .then(() => order.push(i)),
      );
    }
    await Promise.all(saves);
    assert.equal(
      order,
      range(1, 20, 1).map((e) => e.index),
    );
    assert.is(st.lastIndex(), 20);
    assert.is(st.initialState().hardState.commit, 19);
    await reopenSame(ctx, st);
  });

  s('entries stops before maxBytes is exceeded but returns at least one', async (ctx) => {
    const st = fixture(ctx).storage;
    const ten = (i: number): Entry => entry(i, 1, new Uint8Array(10).fill(i));
    await st.save({ entries: [1, 2, 3, 4, 5].map(ten) });
    assert.is(st.entries(1, 6, 25).length, 2);
    assert.is(st.entries(1, 6, 30).length, 3);
    assert.is(st.entries(1, 6, 29).length, 2);
    assert.is(st.entries(1, 6, 0).length, 1);
    assert.is(st.entries(1, 6, 5).length, 1);
    assert.is(st.entries(3, 6, 1000).length, 3);
    assert.is(st.entries(1, 6).length, 5);
    assert.equal(st.entries(2, 4, 15), [ten(2)]);
  });

  s('reads outside the log throw LogCompactedError or LogUnavailableError', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 10, 1) });
    assert.ok(isLogUnavailableError(thrown(() => st.term(11))));
    assert.ok(isLogUnavailableError(thrown(() => st.entries(5, 12))));
    await st.createSnapshot(snapshotAt(6, 1), 0);
    assert.is(st.firstIndex(), 7);
    assert.is(st.term(6), 1);
    assert.ok(isLogCompactedError(thrown(() => st.term(5))));
    assert.ok(isLogCompactedError(thrown(() => st.entries(6, 8))));
    assert.ok(isLogCompactedError(thrown(() => st.entries(1, 2))));
    assert.equal(
      st.entries(7, 11).map((e) => e.index),
      [7, 8, 9, 10],
    );
    const reopened = await reopenSame(ctx, st);
    assert.ok(isLogCompactedError(thrown(() => reopened.term(5))));
    assert.ok(isLogUnavailableError(thrown(() => reopened.term(11))));
  });

  s('installSnapshot keeps the entries after it when the log agrees at its index', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({
      hardState: { term: 2, vote: 'n1', commit: 3 },
      entries: [...range(1, 4, 1), ...range(5, 10, 2)],
    });
    await st.installSnapshot(snapshotAt(6, 2));
    assert.is(st.firstIndex(), 7);
    assert.is(st.lastIndex(), 10);
    assert.is(st.term(6), 2);
    assert.equal(st.entries(7, 11), range(7, 10, 2));
    assert.is(st.snapshot().meta.index, 6);
    assert.equal(st.snapshot().data, text.encode('state@6'));
    // The commit index is raised to the snapshot: it only holds committed entries.
    assert.equal(st.initialState().hardState, { term: 2, vote: 'n1', commit: 6 });
    assert.equal(st.initialState().conf.voters, ['n1', 'n2', 'n3']);
    const reopened = await reopenSame(ctx, st);
    await reopened.save({ entries: range(11, 12, 2) });
    await reopenSame(ctx, reopened);
  });

  s('installSnapshot discards the log when it disagrees or is shorter', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 10, 1) });
    await st.installSnapshot(snapshotAt(5, 2));
    assert.is(st.firstIndex(), 6);
    assert.is(st.lastIndex(), 5);
    assert.is(st.term(5), 2);
    assert.equal(st.entries(6, 6), []);
    const reopened = await reopenSame(ctx, st);
    await reopened.save({ entries: range(6, 8, 2) });
    // Beyond the last index: nothing to keep either.
    await reopened.installSnapshot(snapshotAt(20, 3));
    assert.is(reopened.firstIndex(), 21);
    assert.is(reopened.lastIndex(), 20);
    assert.is(reopened.term(20), 3);
    const again = await reopenSame(ctx, reopened);
    await again.save({ entries: range(21, 22, 3) });
    await reopenSame(ctx, again);
  });

  s('installSnapshot rejects a snapshot that is not newer', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 5, 1) });
    await st.installSnapshot(snapshotAt(4, 1));
    const before = observe(st);
    assert.ok(isInvariantError(await rejection(st.installSnapshot(snapshotAt(4, 1)))));
    assert.ok(isInvariantError(await rejection(st.installSnapshot(snapshotAt(2, 1)))));
    assert.equal(observe(st), before);
  });

  s('createSnapshot compacts up to index - retain, never past what the snapshot covers', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({
      hardState: { term: 2, vote: null, commit: 10 },
      entries: [...range(1, 5, 1), ...range(6, 12, 2)],
    });
    await st.createSnapshot(snapshotAt(8, 2), 3);
    assert.is(st.firstIndex(), 6);
    assert.is(st.term(5), 1);
    assert.is(st.lastIndex(), 12);
    assert.is(st.snapshot().meta.index, 8);
    assert.equal(st.entries(6, 13), range(6, 12, 2));
    let current = await reopenSame(ctx, st);
    // A retain wider than the log keeps the first index where it is.
    await current.createSnapshot(snapshotAt(9, 2), 100);
    assert.is(current.firstIndex(), 6);
    assert.is(current.snapshot().meta.index, 9);
    current = await reopenSame(ctx, current);
    // retain 0: the log starts right after the snapshot.
    await current.createSnapshot(snapshotAt(11, 2), 0);
    assert.is(current.firstIndex(), 12);
    assert.is(current.term(11), 2);
    current = await reopenSame(ctx, current);
    // A snapshot of the whole log leaves it empty.
    await current.createSnapshot(snapshotAt(12, 2), 0);
    assert.is(current.firstIndex(), 13);
    assert.is(current.lastIndex(), 12);
    current = await reopenSame(ctx, current);
    await current.save({ entries: range(13, 14, 3) });
    await reopenSame(ctx, current);
  });

  s('createSnapshot rejects snapshots outside the log or with the wrong term', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 5, 1) });
    assert.ok(isInvariantError(await rejection(st.createSnapshot(snapshotAt(6, 1), 0))));
    assert.ok(isInvariantError(await rejection(st.createSnapshot(snapshotAt(3, 2), 0))));
    assert.ok(isInvariantError(await rejection(st.createSnapshot(snapshotAt(3, 1), -1))));
    await st.createSnapshot(snapshotAt(3, 1), 0);
    assert.ok(isInvariantError(await rejection(st.createSnapshot(snapshotAt(3, 1), 0))));
    assert.ok(isInvariantError(await rejection(st.createSnapshot(snapshotAt(2, 1), 0))));
    // Entries may not overwrite what a snapshot covers.
    assert.ok(isInvariantError(await rejection(st.save({ entries: [entry(3, 2)] }))));
    assert.is(st.firstIndex(), 4);
    await reopenSame(ctx, st);
  });

  s('saves after a snapshot append to the compacted log', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 5, 1) });
    await st.createSnapshot(snapshotAt(5, 1), 2);
    await st.save({ entries: range(6, 8, 2) });
    await st.save({ entries: [entry(7, 3)] });
    assert.equal(
      st.entries(4, 8).map((e) => [e.index, e.term]),
      [
        [4, 1],
        [5, 1],
        [6, 2],
        [7, 3],
      ],
    );
    await reopenSame(ctx, st);
  });

  s('stats count saves, entries and snapshots', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 3, 1) });
    await st.save({ hardState: { term: 1, vote: null, commit: 1 }, entries: [] });
    await st.save({ entries: [] });
    await st.createSnapshot(snapshotAt(2, 1), 0);
    const stats = st.stats();
    assert.is(stats.saves, 2);
    assert.is(stats.entriesAppended, 3);
    assert.is(stats.snapshotsSaved, 1);
    assert.ok(stats.bytesWritten > 0);
  });

  s('close is idempotent', async (ctx) => {
    const st = fixture(ctx).storage;
    await st.save({ entries: range(1, 2, 1) });
    await st.close();
    await st.close();
  });

  return s;
}
