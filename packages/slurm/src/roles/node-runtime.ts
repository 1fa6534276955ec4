/**
 * The part of SLURM that belongs to a node rather than to a role: one munged, the stable
 * controller alias in the hosts file, and `slurm.conf`. Both SLURM roles on a node share one
 * runtime: munged runs while either role needs it, and the runtime follows the controller record
 * in the store for as long as munged runs — pointing the alias at the holder, writing the
 * `slurm.conf` the record describes, and acknowledging each record so that a new controller knows
 * when every node follows it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SlurmClusterModel } from '../conf/model.js';
import { renderCgroupConf, renderGresConf, renderSlurmConf } from '../conf/render.js';
import type { SlurmDaemon } from '../daemons/daemon.js';
import { startMunged } from '../daemons/start.js';
import { stopStrayDaemon } from '../daemons/stray.js';
import { pointAlias } from '../hosts/hosts-file.js';
import { MungeKey, writeMungeKeyFile } from '../munge/key.js';
import { SlurmRoleError } from './errors.js';
import type { SlurmNodeLayout } from './layout.js';
import {
  decodeControllerRecord,
  isNewerRecord,
  recordVersion,
  SLURM_STORE_KEYS,
  type SlurmControllerRecord,
  type SlurmStore,
} from './store.js';

/** The logger the runtime writes to (pino-compatible; silent by default). */
export interface SlurmLogger {
  /** Informational. */
  info(fields: object, message: string): void;
  /** Something went wrong but the runtime carries on. */
  warn(fields: object, message: string): void;
}

/** How often the key file is compared with the cluster key. */
const KEY_CHECK_EVERY_MS = 5_000;

const SILENT: SlurmLogger = { info: () => {}, warn: () => {} };

/** Options of {@link SlurmNodeRuntime}. */
export interface SlurmNodeRuntimeOptions {
  /** This node's id (its SLURM node name). */
  readonly nodeId: string;
  /** The cluster store. */
  readonly store: SlurmStore;
  /** Where things live on this node. */
  readonly layout: SlurmNodeLayout;
  /** How often the store is checked for a new controller record or munge key. @defaultValue 50 */
  readonly followEveryMs?: number;
  /** Logger. */
  readonly logger?: SlurmLogger;
}

/** What the runtime is doing, for status lines and the dashboard. */
export interface SlurmRuntimeStatus {
  /** munged runs. */
  readonly mungeRunning: boolean;
  /** munged's PID while it runs. */
  readonly mungePid: number | undefined;
  /** The controller record this node follows, if any. */
  readonly record: SlurmControllerRecord | undefined;
  /** Records (or keys) read from the store that were invalid and ignored. */
  readonly invalidRecords: number;
  /** Times the key file was found not to hold the cluster key and was repaired. */
  readonly keyRepairs: number;
  /** The last problem, if any. */
  readonly lastError: string | undefined;
}

/** The model `slurm.conf` is rendered from, for a record under a layout. */
export function modelForRecord(layout: SlurmNodeLayout, record: SlurmControllerRecord): SlurmClusterModel {
  return {
    clusterName: layout.clusterName,
    controller: { host: record.host, address: layout.controllerAlias },
    nodes: record.nodes,
    paths: layout.paths,
    processTracking: layout.processTracking,
    ...(layout.ports === undefined ? {} : { ports: layout.ports }),
    ...(layout.accounting === undefined ? {} : { accounting: layout.accounting }),
    ...(layout.maxNodeCount === undefined
      ? {}
      : { maxNodeCount: Math.max(layout.maxNodeCount, record.nodes.length) }),
  };
}

/** Writes `text` to `path` atomically (temporary file, then rename), unless it already holds it. */
export async function writeFileIfChanged(path: string, text: string, mode = 0o644): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temporary, text, { mode });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** One node's munged, controller alias and `slurm.conf` (see the module comment). */
export class SlurmNodeRuntime {
  /** This node's id. */
  readonly nodeId: string;
  /** The layout. */
  readonly layout: SlurmNodeLayout;
  /** The store. */
  readonly store: SlurmStore;
  readonly #logger: SlurmLogger;
  readonly #followEveryMs: number;
  #users = 0;
  #munged: SlurmDaemon | undefined;
  #mungeKey: MungeKey | undefined;
  #starting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #following: Promise<void> | undefined;
  #record: SlurmControllerRecord | undefined;
  /** The record bytes last read from the store (valid or not). */
  #seen: Uint8Array | undefined;
  #invalid = 0;
  #keyCheckedAt = 0;
  #keyRepairs = 0;
  #lastError: string | undefined;
  readonly #listeners = new Set<(record: SlurmControllerRecord) => void>();
  readonly #mungeExitListeners = new Set<(why: string) => void>();

  /** Creates the runtime; nothing runs until a role {@link acquire}s it. */
  constructor(options: SlurmNodeRuntimeOptions) {
    this.nodeId = options.nodeId;
    this.layout = options.layout;
    this.store = options.store;
    this.#logger = options.logger ?? SILENT;
    this.#followEveryMs = options.followEveryMs ?? 50;
  }

  /** The path `slurm.conf` is written to (clients and daemons are pointed at it). */
  get confFile(): string {
    return this.layout.confFile;
  }

  /** The record this node follows now. */
  get record(): SlurmControllerRecord | undefined {
    return this.#record;
  }

  /** A snapshot for status lines. */
  status(): SlurmRuntimeStatus {
    return {
      mungeRunning: this.#munged?.alive === true,
      mungePid: this.#munged?.alive === true ? this.#munged.pid : undefined,
      record: this.#record,
      invalidRecords: this.#invalid,
      keyRepairs: this.#keyRepairs,
      lastError: this.#lastError,
    };
  }

  /** Calls `listener` with each record this node starts following; returns the unsubscribe. */
  onRecord(listener: (record: SlurmControllerRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` when munged exits by itself; returns the unsubscribe. */
  onMungeExit(listener: (why: string) => void): () => void {
    this.#mungeExitListeners.add(listener);
    return () => this.#mungeExitListeners.delete(listener);
  }

  /**
   * Starts munged (with the store's munge key) and the follow loop unless they run, and counts
   * the caller as a user. Rejects with {@link SlurmRoleError} `'no-munge-key'` when the store
   * has no usable key; the caller's count is then not taken.
   */
  async acquire(): Promise<void> {
    this.#users++;
    try {
      while (this.#starting !== undefined) await this.#starting.catch(() => {});
      if (this.#munged?.alive !== true) {
        this.#starting = this.#startMunged();
        try {
          await this.#starting;
        } finally {
          this.#starting = undefined;
        }
      }
      this.#startFollowing();
    } catch (error) {
      this.#users--;
      throw error;
    }
  }

  /** Drops the caller's use; the last user stops the follow loop and munged. */
  async release(): Promise<void> {
    if (this.#users === 0) return;
    this.#users--;
    if (this.#users > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#following;
    const munged = this.#munged;
    this.#munged = undefined;
    await munged?.stop(10_000);
  }

  /** The munge key in the store, or undefined when absent or unusable (counted). */
  #storeKey(): MungeKey | undefined {
    const bytes = this.store.get(SLURM_STORE_KEYS.mungeKey);
    if (bytes === undefined) return undefined;
    try {
      return new MungeKey(bytes);
    } catch {
      this.#invalid++;
      return undefined;
    }
  }

  async #startMunged(): Promise<void> {
    const key = this.#storeKey();
    if (key === undefined)
      throw new SlurmRoleError('no-munge-key', 'the cluster store has no usable munge key yet');
    const { mungeKeyFile, mungeDir, paths } = this.layout;
    await mkdir(dirname(mungeKeyFile), { recursive: true, mode: 0o700 });
    await mkdir(mungeDir, { recursive: true, mode: 0o711 });
    // munged refuses a socket directory that other users cannot traverse.
    await mkdir(dirname(paths.mungeSocket), { recursive: true, mode: 0o755 });
    await writeMungeKeyFile(mungeKeyFile, key);
    // A munged left by a crashed agent, or started by hand with another key, holds the socket.
    const stray = await stopStrayDaemon(join(mungeDir, 'munged.pid'), 'munged');
    if (stray !== undefined)
      this.#logger.warn(
        { pid: stray },
        'slurm: stopped a munged this agent did not start (it may run another key)',
      );
    const munged = await startMunged({ keyFile: mungeKeyFile, socket: paths.mungeSocket, dir: mungeDir });
    this.#munged = munged;
    this.#mungeKey = key;
    void munged.exited.then((how) => {
      if (this.#munged !== munged) return;
      this.#munged = undefined;
      for (const listener of this.#mungeExitListeners) listener(`munged exited (${String(how)})`);
    });
  }

  #startFollowing(): void {
    if (this.#timer !== undefined || this.#following !== undefined) return;
    const tick = (): void => {
      this.#following = this.#followOnce()
        .catch((error: unknown) => {
          this.#lastError = error instanceof Error ? error.message : String(error);
          this.#logger.warn({ error: this.#lastError }, 'slurm: following the controller record failed');
        })
        .finally(() => {
          this.#following = undefined;
          if (this.#users > 0) this.#timer = setTimeout(tick, this.#followEveryMs);
        });
    };
    tick();
  }

  /**
   * Follows the store once: a new munge key restarts munged with it (rotation); a newer valid
   * record is applied (slurm.conf, alias) and acknowledged.
   */
  async #followOnce(): Promise<void> {
    const key = this.#storeKey();
    await this.#checkKeyFile(key);
    if (key !== undefined && this.#mungeKey !== undefined && !key.equals(this.#mungeKey) && this.#users > 0) {
      this.#logger.info({}, 'slurm: the cluster munge key changed; restarting munged with it');
      const old = this.#munged;
      this.#munged = undefined;
      await old?.stop(10_000);
      await this.#startMunged();
    }
    const bytes = this.store.get(SLURM_STORE_KEYS.controller);
    // Unchanged since the last look (the common case, every 50 ms): nothing to decode.
    if (bytes === undefined || (this.#seen !== undefined && sameBytes(bytes, this.#seen))) return;
    this.#seen = bytes;
    let record: SlurmControllerRecord;
    try {
      record = decodeControllerRecord(bytes);
    } catch (error) {
      this.#invalid++;
      this.#lastError = (error as Error).message;
      this.#logger.warn({ error: this.#lastError }, 'slurm: ignoring an invalid controller record');
      return;
    }
    if (!isNewerRecord(record, this.#record)) return;
    try {
      await this.apply(record);
    } catch (error) {
      // Not applied because writing failed: look again next time. A record that does not render
      // stays ignored until it changes (it would fail the same way every 50 ms).
      if (!(error instanceof SlurmRoleError && error.reason === 'config')) this.#seen = undefined;
      throw error;
    }
  }

  /**
   * Every few seconds: the key file must hold the cluster's key. A file changed behind the
   * runtime's back (an operator, a package install) is put back and munged restarted with it,
   * since a munged started from it would reject every other node's credentials.
   */
  async #checkKeyFile(key: MungeKey | undefined): Promise<void> {
    const now = Date.now();
    if (key === undefined || this.#users === 0 || now - this.#keyCheckedAt < KEY_CHECK_EVERY_MS) return;
    this.#keyCheckedAt = now;
    const onDisk = await readFile(this.layout.mungeKeyFile).catch(() => undefined);
    if (onDisk !== undefined && Buffer.from(key.bytes()).equals(onDisk)) return;
    await this.refreshMunge('the munge key file did not hold the cluster key');
  }

  /**
   * Rewrites the key file from the store and restarts munged with it (a repair: the worker calls
   * it when the controller rejects this node's credentials). No-op while no role uses munged.
   */
  async refreshMunge(why: string): Promise<void> {
    if (this.#users === 0) return;
    this.#keyRepairs++;
    this.#lastError = `${why}; key file rewritten from the cluster store and munged restarted`;
    this.#logger.warn({ path: this.layout.mungeKeyFile }, `slurm: ${this.#lastError}`);
    const old = this.#munged;
    this.#munged = undefined;
    await old?.stop(10_000);
    await this.#startMunged();
  }

  /**
   * Makes this node follow `record`: writes its `slurm.conf`, points the controller alias at the
   * holder, acknowledges it in the store, and tells the listeners. The controller role calls it
   * directly for its own records, so that its node never waits for the loop.
   */
  async apply(record: SlurmControllerRecord): Promise<void> {
    let conf: string;
    try {
      conf = renderSlurmConf(modelForRecord(this.layout, record));
    } catch (error) {
      this.#invalid++;
      throw new SlurmRoleError(
        'config',
        `the controller record does not render: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    // gres.conf (GPUs) and cgroup.conf are read from slurm.conf's directory: without gres.conf a
    // GPU node registers no GPUs and is drained as `inval`.
    const model = modelForRecord(this.layout, record);
    const confDir = dirname(this.layout.confFile);
    await writeFileIfChanged(join(confDir, 'gres.conf'), renderGresConf(model));
    if (this.layout.processTracking === 'cgroup')
      await writeFileIfChanged(join(confDir, 'cgroup.conf'), renderCgroupConf(model));
    await writeFileIfChanged(this.layout.confFile, conf);
    await pointAlias(this.layout.hostsFile, this.layout.controllerAlias, record.address);
    if (isNewerRecord(record, this.#record)) {
      this.#record = record;
      for (const listener of this.#listeners) listener(record);
    }
    await this.store.put(
      `${SLURM_STORE_KEYS.ackPrefix}${this.nodeId}`,
      new TextEncoder().encode(recordVersion(record)),
    );
  }
}
