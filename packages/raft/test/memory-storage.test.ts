import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EMPTY_SNAPSHOT } from '../src/core/types.js';
import { isInvariantError, isLogCompactedError } from '../src/errors.js';
import { MemoryLog, MemoryStorage } from '../src/storage/memory-storage.js';
import { entry, range, snapshotAt, storageContract, thrown } from './contracts/storage-contract.js';

storageContract('MemoryStorage', async () => {
  const storage = new MemoryStorage();
  await storage.open();
  return { storage, reopen: async () => storage, cleanup: () => storage.close() };
}).run();

const s = suite('MemoryStorage');

s('bootstraps from a snapshot, a hard state and entries', () => {
  const st = new MemoryStorage({
    snapshot: snapshotAt(10, 3),
    hardState: { term: 4, vote: 'n2', commit: 11 },
    entries: [entry(11, 3), entry(12, 4)],
  });
  assert.is(st.firstIndex(), 11);
  assert.is(st.lastIndex(), 12);
  assert.is(st.term(10), 3);
  assert.is(st.term(12), 4);
  assert.equal(st.initialState().hardState, { term: 4, vote: 'n2', commit: 11 });
  assert.equal(st.initialState().conf.learners, ['n4']);
  assert.is(st.snapshot().meta.index, 10);
});

s('rejects bootstrap entries that do not follow the snapshot', () => {
  assert.ok(
    isInvariantError(
      thrown(() => new MemoryStorage({ snapshot: snapshotAt(10, 3), entries: [entry(12, 3)] })),
    ),
  );
  assert.ok(isInvariantError(thrown(() => new MemoryStorage({ entries: [entry(1, 2), entry(2, 1)] }))));
  assert.ok(isInvariantError(thrown(() => new MemoryStorage({ entries: [entry(1, 1), entry(3, 1)] }))));
});

s('syncs nothing; bytesWritten counts entry data', async () => {
  const st = new MemoryStorage();
  await st.save({ entries: [entry(1, 1, new Uint8Array(7)), entry(2, 1, new Uint8Array(3))] });
  assert.equal(st.stats(), { saves: 1, syncs: 0, entriesAppended: 2, bytesWritten: 10, snapshotsSaved: 0 });
});

s('reads reject non-integer indexes and reversed ranges', async () => {
  const st = new MemoryStorage({ entries: range(1, 3, 1) });
  assert.ok(isInvariantError(thrown(() => st.term(1.5))));
  assert.ok(isInvariantError(thrown(() => st.entries(3, 2))));
});

s('holds the caller’s entries without copying them, hands out new arrays', async () => {
  const st = new MemoryStorage();
  const batch = range(1, 3, 1);
  await st.save({ entries: batch });
  batch.pop();
  assert.is(st.lastIndex(), 3);
  const a = st.entries(1, 4);
  assert.is.not(a, st.entries(1, 4));
  assert.is(a[0], batch[0]);
});

const log = suite('MemoryLog');

log('keeps a retained tail below the snapshot, with the term before it', () => {
  const l = new MemoryLog({
    snapshot: snapshotAt(8, 2),
    hardState: { term: 2, vote: null, commit: 8 },
    entries: [entry(6, 1), entry(7, 2), entry(8, 2), entry(9, 2)],
    firstIndex: 6,
    prevTerm: 1,
  });
  assert.is(l.term(5), 1);
  assert.ok(isLogCompactedError(thrown(() => l.term(4))));
  assert.equal(l.position(), { snapshotIndex: 8, snapshotTerm: 2, firstIndex: 6, prevTerm: 1, lastIndex: 9 });
});

log('rejects inconsistent states', () => {
  const base = { snapshot: EMPTY_SNAPSHOT, hardState: { term: 0, vote: null, commit: 0 }, entries: [] };
  // The first index may not be beyond the snapshot.
  assert.ok(isInvariantError(thrown(() => new MemoryLog({ ...base, firstIndex: 2, prevTerm: 0 }))));
  // Index 0 has term 0.
  assert.ok(isInvariantError(thrown(() => new MemoryLog({ ...base, firstIndex: 1, prevTerm: 1 }))));
  // The snapshot's term must match the log's at its index.
  assert.ok(
    isInvariantError(
      thrown(
        () =>
          new MemoryLog({
            ...base,
            snapshot: snapshotAt(2, 2),
            entries: [entry(1, 1), entry(2, 1)],
            firstIndex: 1,
            prevTerm: 0,
          }),
      ),
    ),
  );
  // The log may not end before the snapshot.
  assert.ok(
    isInvariantError(
      thrown(
        () => new MemoryLog({ ...base, snapshot: snapshotAt(5, 1), entries: [], firstIndex: 4, prevTerm: 1 }),
      ),
    ),
  );
});

log('createSnapshot reports the new first index and the term before it', () => {
  const l = new MemoryLog({
    snapshot: EMPTY_SNAPSHOT,
    hardState: { term: 1, vote: null, commit: 5 },
    entries: [...range(1, 3, 1), ...range(4, 5, 2)],
    firstIndex: 1,
    prevTerm: 0,
  });
  assert.equal(l.createSnapshot(snapshotAt(5, 2), 2), { firstIndex: 4, prevTerm: 1 });
  assert.is(l.installSnapshot(snapshotAt(5 + 1, 9)), false);
  assert.equal(l.position(), { snapshotIndex: 6, snapshotTerm: 9, firstIndex: 7, prevTerm: 9, lastIndex: 6 });
  assert.is(l.hardState().commit, 6);
});

s.run();
log.run();
