import { type Clock, sanitizeDelay, type TimerHandle } from './clock.js';
import type { Disk, DiskLock, FileInfo } from './disk.js';
import { DiskFaultError, DiskLockedError, PathKindError } from './disk-errors.js';
import { basenameOf, dirnameOf, joinDiskPath, normalizeDiskDir, normalizeDiskPath } from './disk-path.js';
import { FileNotFoundError } from './errors.js';
import { type Random, SeededRandom } from './random.js';

/** The kinds of {@link Disk} operation, for latency, fault injection and statistics. */
export type DiskOp =
  | 'read'
  | 'write'
  | 'append'
  | 'truncate'
  | 'sync'
  | 'rename'
  | 'remove'
  | 'mkdir'
  | 'syncDir'
  | 'list'
  | 'stat';

/** Every {@link DiskOp}, in a fixed order (for tables and property tests). */
export const DISK_OPS: readonly DiskOp[] = [
  'read',
  'write',
  'append',
  'truncate',
  'sync',
  'rename',
  'remove',
  'mkdir',
  'syncDir',
  'list',
  'stat',
];

/** Options of {@link SimDisk}. */
export interface SimDiskOptions {
  /**
   * The clock that operation latency is measured on. Latency applies only when both `clock` and
   * `latencyMs` are given; otherwise every operation completes on the next microtask.
   */
  readonly clock?: Clock;
  /**
   * Draws the length of torn tails on {@link SimDisk.crash}.
   * @defaultValue `new SeededRandom(0)`
   */
  readonly random?: Random;
  /** Milliseconds each kind of operation takes, on `clock` (an fsync of a slow disk: 5). */
  readonly latencyMs?: (op: DiskOp) => number;
  /**
   * A label for fault messages and traces.
   * @defaultValue `'disk'`
   */
  readonly name?: string;
}

/** Options of {@link SimDisk.crash}. */
export interface SimDiskCrashOptions {
  /**
   * Whether a file that was only appended to since its last sync keeps a random prefix of the
   * unsynced bytes (a torn write) instead of losing them all.
   * @defaultValue true
   */
  readonly tornTail?: boolean;
}

/** Counters of a {@link SimDisk}, since it was created. */
export interface SimDiskStats {
  /** Operations called, by kind, including ones that failed or were lost in a crash. */
  readonly ops: Readonly<Record<DiskOp, number>>;
  /** Bytes applied by completed `writeFile` and `appendFile` calls. */
  readonly bytesWritten: number;
  /** Completed durability barriers: successful `sync` plus `syncDir` calls. */
  readonly syncs: number;
  /** Calls of {@link SimDisk.crash}. */
  readonly crashes: number;
  /** Operations rejected by {@link SimDisk.failNext}. */
  readonly faults: number;
}

/** A growable byte array: appends are amortised O(length of the append). */
class Bytes {
  buf: Uint8Array = new Uint8Array(0);
  size = 0;

  view(start = 0, end = this.size): Uint8Array {
    return this.buf.subarray(start, end);
  }

  /** Takes ownership of `bytes` (already a private copy). */
  adopt(bytes: Uint8Array): void {
    this.buf = bytes;
    this.size = bytes.length;
  }

  append(bytes: Uint8Array): void {
    this.#reserve(this.size + bytes.length);
    this.buf.set(bytes, this.size);
    this.size += bytes.length;
  }

  /** Shortens, or extends with zero bytes. */
  setLength(length: number): void {
    if (length > this.size) {
      this.#reserve(length);
      // Bytes past `size` may be left over from an earlier, longer content.
      this.buf.fill(0, this.size, length);
    }
    this.size = length;
  }

  #reserve(capacity: number): void {
    if (capacity <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.buf.length * 2, 64));
    grown.set(this.view());
    this.buf = grown;
  }
}

/**
 * A file (an inode): what readers see now, and what the platter holds.
 *
 * Invariant: `current` and `durable` agree on every byte below
 * `min(dirtyFrom, current.size, durable.size)`, so `sync` and `crash` copy only the rest.
 */
interface SimFile {
  readonly kind: 'file';
  readonly current: Bytes;
  readonly durable: Bytes;
  /** Lowest offset changed since the last sync; Infinity when nothing changed. */
  dirtyFrom: number;
}

/** A folder: the names readers see now, and the names that survive a crash. */
interface SimFolder {
  readonly kind: 'folder';
  current: Map<string, SimNode>;
  durable: Map<string, SimNode>;
}

type SimNode = SimFile | SimFolder;

/** An operation waiting for its latency to pass, or for earlier operations on its paths. */
interface PendingOp {
  readonly keys: readonly string[];
  ready: boolean;
  timer: TimerHandle | undefined;
  readonly complete: () => void;
}

interface ArmedFault {
  readonly error: Error | undefined;
}

function newFile(): SimFile {
  return { kind: 'file', current: new Bytes(), durable: new Bytes(), dirtyFrom: Number.POSITIVE_INFINITY };
}

function newFolder(): SimFolder {
  return { kind: 'folder', current: new Map(), durable: new Map() };
}

function checkLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`truncate length must be a non-negative safe integer, got ${length}`);
  }
}

/**
 * An in-memory {@link Disk} that forgets what was not made durable when its node crashes, so
 * storage code can be tested against the crashes a real disk allows.
 *
 * Crash model (the POSIX contract of {@link Disk}, at its most unforgiving):
 * - Each file has current content (what reads return) and durable content; `sync(path)` makes
 *   the current content durable.
 * - Each folder has current names and durable names; `syncDir(dir)` makes the names directly in
 *   it durable: files created, renamed in or out, removed. A new file whose name was never made
 *   durable vanishes in a crash even if its content was synced. A rename made durable in the
 *   target folder but not in the source leaves both names, like a hard link.
 * - `mkdir` is durable at once, folders and parents alike (as ext4's journal nearly always makes
 *   it; `NodeDisk` fsyncs the parents to match). Folders are never removed or renamed.
 * - {@link SimDisk.crash} reverts every file and folder to its durable state, except that a
 *   file only appended to (or zero-extended) since its last sync may keep a random prefix of
 *   the unsynced bytes: a torn tail. Bytes that survive a crash are durable afterwards.
 *
 * Files are created only in existing folders: `writeFile`, `appendFile` and `rename` into a
 * folder that does not exist reject with `FileNotFoundError` (as POSIX `open` and `rename`
 * do); call `mkdir` first. Only `mkdir` creates folders, with their parents, and a folder
 * exists durably once `mkdir` has resolved.
 *
 * Timing: with a `clock` and `latencyMs`, an operation completes `latencyMs(op)` ms after it
 * is called; without, on the next microtask. Either way the effect applies at completion, with
 * the state at that moment, and operations on the same path complete in call order (a fast
 * append never overtakes a slow write to the same file). Operations on different paths may
 * complete in any order their latencies give. Path and argument errors reject at once.
 *
 * Data is copied in and out: changing a buffer after passing it to `writeFile`, or changing
 * what `readFile` returned, never changes the file. Nothing here reads real time or ambient
 * randomness, so a run is a pure function of the scenario, the clock and the seed.
 */
export class SimDisk implements Disk {
  /** The label given in the options. */
  readonly name: string;
  readonly #clock: Clock | undefined;
  readonly #random: Random;
  readonly #latency: ((op: DiskOp) => number) | undefined;
  readonly #root: SimFolder = newFolder();
  readonly #pending = new Set<PendingOp>();
  /** Per path, the pending operations on it in call order; only the head may complete. */
  readonly #queues = new Map<string, PendingOp[]>();
  readonly #faults = new Map<DiskOp, ArmedFault[]>();
  readonly #ops = Object.fromEntries(DISK_OPS.map((op) => [op, 0])) as Record<DiskOp, number>;
  #bytesWritten = 0;
  #syncs = 0;
  #crashes = 0;
  #faultCount = 0;
  /** Folders taken with {@link SimDisk.lock}; a crash ends the process that held them. */
  readonly #locks = new Set<string>();

  /** Creates an empty disk (just the root folder). */
  constructor(options: SimDiskOptions = {}) {
    this.name = options.name ?? 'disk';
    this.#clock = options.clock;
    this.#random = options.random ?? new SeededRandom(0);
    this.#latency = options.latencyMs;
  }

  /** Number of operations called but not yet completed. */
  get pendingOps(): number {
    return this.#pending.size;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const p = normalizeDiskPath(path);
    return this.#submit('read', p, [p], () => this.#file(p).current.view().slice());
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    const p = normalizeDiskPath(path);
    const copy = new Uint8Array(data);
    return this.#submit('write', p, [p], () => {
      const file = this.#fileForWrite(p);
      file.current.adopt(copy);
      file.dirtyFrom = 0;
      this.#bytesWritten += copy.length;
    });
  }

  async appendFile(path: string, data: Uint8Array): Promise<void> {
    const p = normalizeDiskPath(path);
    const copy = new Uint8Array(data);
    return this.#submit('append', p, [p], () => {
      const file = this.#fileForWrite(p);
      file.dirtyFrom = Math.min(file.dirtyFrom, file.current.size);
      file.current.append(copy);
      this.#bytesWritten += copy.length;
    });
  }

  /**
   * An `appendFile` followed by a `sync` of the same path: two operations, each with its own
   * latency, faults and statistics, so a crash between them leaves the append unsynced (what a
   * crash during an `O_DSYNC` write may leave too).
   */
  async appendDurable(path: string, data: Uint8Array): Promise<void> {
    // Both queued at once (operations on one path run in call order), so nothing else on this
    // path slips between them; the append settles first, so its failure is the one reported.
    await Promise.all([this.appendFile(path, data), this.sync(path)]);
  }

  async truncate(path: string, length: number): Promise<void> {
    const p = normalizeDiskPath(path);
    checkLength(length);
    return this.#submit('truncate', p, [p], () => {
      const file = this.#file(p);
      file.dirtyFrom = Math.min(file.dirtyFrom, file.current.size, length);
      file.current.setLength(length);
    });
  }

  async sync(path: string): Promise<void> {
    const p = normalizeDiskPath(path);
    return this.#submit('sync', p, [p], () => {
      const file = this.#file(p);
      const start = Math.min(file.dirtyFrom, file.current.size, file.durable.size);
      file.durable.setLength(start);
      file.durable.append(file.current.view(start));
      file.dirtyFrom = Number.POSITIVE_INFINITY;
      this.#syncs++;
    });
  }

  async rename(from: string, to: string): Promise<void> {
    const source = normalizeDiskPath(from);
    const target = normalizeDiskPath(to);
    const keys = source === target ? [source] : [source, target];
    return this.#submit('rename', source, keys, () => {
      const file = this.#file(source);
      const targetFolder = this.#parentOf(target);
      const replaced = targetFolder.current.get(basenameOf(target));
      if (replaced?.kind === 'folder') throw new PathKindError(target, 'file');
      // POSIX: renaming a name onto another name of the same file does nothing.
      if (replaced === file) return;
      this.#parentOf(source).current.delete(basenameOf(source));
      targetFolder.current.set(basenameOf(target), file);
    });
  }

  async remove(path: string): Promise<void> {
    const p = normalizeDiskPath(path);
    return this.#submit('remove', p, [p], () => {
      const parent = this.#lookup(dirnameOf(p));
      if (parent?.kind !== 'folder') return;
      const node = parent.current.get(basenameOf(p));
      if (node === undefined) return;
      if (node.kind === 'folder') throw new PathKindError(p, 'file');
      parent.current.delete(basenameOf(p));
    });
  }

  async mkdir(dir: string): Promise<void> {
    const d = normalizeDiskDir(dir);
    return this.#submit('mkdir', d, [d], () => {
      if (d === '') return;
      let folder = this.#root;
      for (const segment of d.split('/')) {
        let child = folder.current.get(segment);
        if (child === undefined) {
          child = newFolder();
          // Durable at once: see the class comment.
          folder.current.set(segment, child);
          folder.durable.set(segment, child);
        }
        if (child.kind === 'file') throw new PathKindError(d, 'folder');
        folder = child;
      }
    });
  }

  async syncDir(dir: string): Promise<void> {
    const d = normalizeDiskDir(dir);
    return this.#submit('syncDir', d, [d], () => {
      const node = this.#lookup(d);
      if (node === undefined) throw new FileNotFoundError(d);
      if (node.kind === 'file') throw new PathKindError(d, 'folder');
      node.durable = new Map(node.current);
      this.#syncs++;
    });
  }

  async list(dir: string): Promise<string[]> {
    const d = normalizeDiskDir(dir);
    return this.#submit('list', d, [d], () => {
      const node = this.#lookup(d);
      if (node === undefined) return [];
      if (node.kind === 'file') throw new PathKindError(d, 'folder');
      return [...node.current.keys()].sort();
    });
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const p = normalizeDiskPath(path);
    return this.#submit('stat', p, [p], () => {
      const node = this.#lookup(p);
      if (node === undefined) return undefined;
      if (node.kind === 'folder') throw new PathKindError(p, 'file');
      return { size: node.current.size };
    });
  }

  /**
   * Takes the folder `dir` until the lock is released or the disk crashes (which ends the
   * process that held it). Completes at once, with no latency, fault or statistics: the lock
   * is process state, not an operation on the device.
   * @throws {FileNotFoundError} when the folder does not exist.
   * @throws {PathKindError} when `dir` is a file.
   * @throws {DiskLockedError} while it is held.
   */
  async lock(dir: string): Promise<DiskLock> {
    const d = normalizeDiskDir(dir);
    const node = d === '' ? this.#root : this.#lookup(d);
    if (node === undefined) throw new FileNotFoundError(d);
    if (node.kind === 'file') throw new PathKindError(d, 'folder');
    if (this.#locks.has(d)) throw new DiskLockedError(d, { file: d });
    this.#locks.add(d);
    const crashes = this.#crashes;
    let released = false;
    const isHeld = (): boolean => !released && this.#crashes === crashes;
    return {
      get held() {
        return isHeld();
      },
      release: async () => {
        if (released) return;
        released = true;
        // After a crash the hold is gone already, and the folder may belong to a new holder.
        if (this.#crashes === crashes) this.#locks.delete(d);
      },
    };
  }

  /**
   * Simulates a power loss followed by a restart: every file and folder reverts to its durable
   * state (see the class comment for torn tails), and pending operations are dropped: their
   * promises never settle and their effects never apply, as in a process that died while
   * waiting. Calls made afterwards work normally, as the restarted process's calls would.
   * Faults armed with {@link SimDisk.failNext} stay armed.
   */
  crash(options: SimDiskCrashOptions = {}): void {
    const tornTail = options.tornTail ?? true;
    for (const op of this.#pending) if (op.timer !== undefined) this.#clock?.clearTimeout(op.timer);
    this.#pending.clear();
    this.#locks.clear();
    // The dropped operations head their paths' queues: forget the queues too, or the restarted
    // process's first operation on such a path would wait behind them forever.
    this.#queues.clear();
    // Sorted walk, so the random draws for torn tails do not depend on the order names were made.
    const files: SimFile[] = [];
    const seen = new Set<SimFile>();
    const visit = (folder: SimFolder): void => {
      folder.current = new Map(folder.durable);
      for (const name of [...folder.durable.keys()].sort()) {
        const node = folder.durable.get(name);
        if (node?.kind === 'folder') visit(node);
        else if (node !== undefined && !seen.has(node)) {
          seen.add(node);
          files.push(node);
        }
      }
    };
    visit(this.#root);
    for (const file of files) this.#revert(file, tornTail);
    this.#crashes++;
  }

  /**
   * Flips bits of a file, at once, in both its current and its durable content: bit rot, or a
   * misdirected write, for testing checksums. Applies to whichever of the two is long enough
   * to hold `offset`. Throws `FileNotFoundError` for a missing file and `RangeError` for an
   * offset beyond both, or a mask outside 0..255.
   */
  corrupt(path: string, offset: number, xorMask: number): void {
    const p = normalizeDiskPath(path);
    const file = this.#file(p);
    if (!Number.isInteger(xorMask) || xorMask < 0 || xorMask > 255) {
      throw new RangeError(`xorMask must be a byte, got ${xorMask}`);
    }
    const { current, durable } = file;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= Math.max(current.size, durable.size)) {
      throw new RangeError(`offset ${offset} is outside ${p}`);
    }
    if (offset < current.size) current.buf[offset] = (current.buf[offset] ?? 0) ^ xorMask;
    if (offset < durable.size) durable.buf[offset] = (durable.buf[offset] ?? 0) ^ xorMask;
  }

  /**
   * Makes the next call of `op` reject, after its usual latency and without any effect, with
   * `error` or else a {@link DiskFaultError} (`EIO`). Several calls queue several faults. The
   * fault is taken when the operation is called, so it hits the next call even if an earlier
   * one is still pending.
   */
  failNext(op: DiskOp, error?: Error): void {
    let queue = this.#faults.get(op);
    if (queue === undefined) {
      queue = [];
      this.#faults.set(op, queue);
    }
    queue.push({ error });
  }

  /** A snapshot of the counters. */
  stats(): SimDiskStats {
    return {
      ops: { ...this.#ops },
      bytesWritten: this.#bytesWritten,
      syncs: this.#syncs,
      crashes: this.#crashes,
      faults: this.#faultCount,
    };
  }

  /**
   * Every file reachable through durable names, with its durable content (copies), by path in
   * sorted order: what `crash({ tornTail: false })` would leave. Empty folders do not appear.
   */
  snapshotDurable(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const visit = (folder: SimFolder, prefix: string): void => {
      for (const name of [...folder.durable.keys()].sort()) {
        const node = folder.durable.get(name);
        if (node?.kind === 'folder') visit(node, joinDiskPath(prefix, name));
        else if (node !== undefined) out.set(joinDiskPath(prefix, name), node.durable.view().slice());
      }
    };
    visit(this.#root, '');
    return out;
  }

  /**
   * Every file as readers see it now (copies), by path in sorted order; pending operations
   * are not applied. Empty folders do not appear.
   */
  snapshotCurrent(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const visit = (folder: SimFolder, prefix: string): void => {
      for (const name of [...folder.current.keys()].sort()) {
        const node = folder.current.get(name);
        if (node?.kind === 'folder') visit(node, joinDiskPath(prefix, name));
        else if (node !== undefined) out.set(joinDiskPath(prefix, name), node.current.view().slice());
      }
    };
    visit(this.#root, '');
    return out;
  }

  /**
   * Queues an operation: `effect` runs when its latency has passed and every earlier operation
   * on the same paths has completed; the promise settles with its result.
   */
  #submit<T>(op: DiskOp, path: string, keys: readonly string[], effect: () => T): Promise<T> {
    this.#ops[op]++;
    const fault = this.#faults.get(op)?.shift();
    return new Promise<T>((resolve, reject) => {
      const pending: PendingOp = {
        keys,
        ready: false,
        timer: undefined,
        complete: () => {
          if (fault !== undefined) {
            this.#faultCount++;
            reject(fault.error ?? new DiskFaultError(op, path));
            return;
          }
          try {
            resolve(effect());
          } catch (error) {
            reject(error);
          }
        },
      };
      this.#pending.add(pending);
      for (const key of keys) {
        const queue = this.#queues.get(key);
        if (queue === undefined) this.#queues.set(key, [pending]);
        else queue.push(pending);
      }
      const fire = (): void => {
        // A crash in between dropped it: a dead process's I/O never completes.
        if (!this.#pending.has(pending)) return;
        pending.timer = undefined;
        pending.ready = true;
        this.#drain(pending);
      };
      if (this.#clock !== undefined && this.#latency !== undefined) {
        pending.timer = this.#clock.setTimeout(fire, sanitizeDelay(this.#latency(op)));
      } else {
        queueMicrotask(fire);
      }
    });
  }

  /**
   * Completes `first` if it heads the queue of each of its paths, then whichever operations that
   * unblocks. Queues are in call order, so the oldest pending operation always heads all of its
   * queues and nothing can deadlock.
   */
  #drain(first: PendingOp): void {
    const work = [first];
    for (let op = work.shift(); op !== undefined; op = work.shift()) {
      if (!op.ready || !this.#pending.has(op)) continue;
      const current = op;
      if (!op.keys.every((key) => this.#queues.get(key)?.[0] === current)) continue;
      this.#pending.delete(op);
      for (const key of op.keys) {
        const queue = this.#queues.get(key);
        queue?.shift();
        const next = queue?.[0];
        if (next === undefined) this.#queues.delete(key);
        else work.push(next);
      }
      op.complete();
    }
  }

  /** The node at a canonical path (`''` is the root), through current names. */
  #lookup(path: string): SimNode | undefined {
    if (path === '') return this.#root;
    let node: SimNode = this.#root;
    for (const segment of path.split('/')) {
      if (node.kind !== 'folder') return undefined;
      const child: SimNode | undefined = node.current.get(segment);
      if (child === undefined) return undefined;
      node = child;
    }
    return node;
  }

  /** The existing file at `path`, or the error a reader of it gets. */
  #file(path: string): SimFile {
    const node = this.#lookup(path);
    if (node === undefined) throw new FileNotFoundError(path);
    if (node.kind === 'folder') throw new PathKindError(path, 'file');
    return node;
  }

  /** The folder that holds `path`; a missing parent means the file cannot be created. */
  #parentOf(path: string): SimFolder {
    const parent = this.#lookup(dirnameOf(path));
    if (parent?.kind !== 'folder') throw new FileNotFoundError(path);
    return parent;
  }

  /** The file at `path`, created (with empty durable content) when missing. */
  #fileForWrite(path: string): SimFile {
    const parent = this.#parentOf(path);
    const name = basenameOf(path);
    const node = parent.current.get(name);
    if (node?.kind === 'folder') throw new PathKindError(path, 'file');
    if (node !== undefined) return node;
    const file = newFile();
    parent.current.set(name, file);
    return file;
  }

  /** Reverts one file to what a crash leaves of it, which becomes its durable content too. */
  #revert(file: SimFile, tornTail: boolean): void {
    const { current, durable } = file;
    const appendedOnly = file.dirtyFrom >= durable.size && current.size > durable.size;
    if (tornTail && appendedOnly) {
      const kept = this.#random.int(0, current.size - durable.size + 1);
      current.setLength(durable.size + kept);
      durable.append(current.view(durable.size));
    } else {
      const start = Math.min(file.dirtyFrom, current.size, durable.size);
      current.setLength(start);
      current.append(durable.view(start));
    }
    file.dirtyFrom = Number.POSITIVE_INFINITY;
  }
}
