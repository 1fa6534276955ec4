/**
 * A proposer's client sessions of the KV state machine, reused: the way to make every command
 * of a proposer apply once (a copy committed twice gets the first copy's answer) without the
 * machine's session table filling up with one session per command.
 */
import { hasName } from '../errors.js';
import { inClientSession, KV_MAX_CLIENT_ID_BYTES } from './commands.js';

/** Commands a {@link KvSessionPool} carries at once unless told otherwise. */
export const KV_SESSION_POOL_DEFAULT_LIMIT = 1_024;

/** Every session of a {@link KvSessionPool} is carrying a command; none was proposed. */
export class KvSessionPoolExhaustedError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'KvSessionPoolExhaustedError' as const;
  /** Always `'KvSessionPoolExhaustedError'`. */
  override readonly name = 'KvSessionPoolExhaustedError' as const;
  /** The pool's limit: commands in flight at once. */
  readonly limit: number;
  /** Creates the error for a pool of `limit` sessions. */
  constructor(limit: number) {
    super(`all ${limit} client sessions are carrying a command`);
    this.limit = limit;
  }
}

/** True for a {@link KvSessionPoolExhaustedError}, from any copy of this package. */
export function isKvSessionPoolExhaustedError(error: unknown): error is KvSessionPoolExhaustedError {
  return hasName(error, KvSessionPoolExhaustedError.name);
}

/** Options of a {@link KvSessionPool}. */
export interface KvSessionPoolOptions {
  /**
   * Start of every session name (`<prefix>/<n>`). It must be unique to the proposer and to this
   * run of it — a random id drawn at start-up, say — because a session that another proposer,
   * or this one before a restart, used has sequence numbers this pool does not know, and the
   * machine refuses a sequence number below one it has seen.
   */
  readonly prefix: string;
  /**
   * Most commands in flight at once (each holds a session until it settles); one more is
   * refused with {@link KvSessionPoolExhaustedError}. Keep the state machine's `maxSessions`
   * above the sum of the limits of the proposers that share it, or a session in use may be
   * forgotten. @defaultValue {@link KV_SESSION_POOL_DEFAULT_LIMIT}
   */
  readonly limit?: number;
}

interface PooledSession {
  readonly client: string;
  seq: number;
}

/**
 * Client sessions for one proposer, each carrying one command at a time.
 *
 * A session answers only its newest sequence number (older ones are refused as stale), so two
 * commands in flight in one session could refuse each other. A command therefore takes a free
 * session for as long as it is in flight and gives it back when its proposal settles; the next
 * command in that session uses the next sequence number. Free sessions are reused most recently
 * freed first, so a proposer under steady load keeps using the few it needs, and the machine's
 * session table (written into every snapshot) holds about as many sessions as commands were ever
 * in flight at once, instead of one per command.
 *
 * A command whose proposal failed (a timeout, say) may still be committed later: its session's
 * next command has a higher sequence number, so whichever of the two the log orders first, each
 * is applied at most once.
 *
 * @example
 * ```ts
 * const sessions = new KvSessionPool({ prefix: `agent-${nodeId}-${randomBytes(8).toString('hex')}` });
 * await sessions.run(kv.put('k', 'v'), (bytes) => raftNode.propose(bytes));
 * ```
 */
export class KvSessionPool {
  readonly #prefix: string;
  readonly #limit: number;
  readonly #free: PooledSession[] = [];
  #created = 0;

  /**
   * @throws {RangeError} for an empty prefix, a limit that is not a positive integer, or a
   *   prefix so long that session names would not fit in {@link KV_MAX_CLIENT_ID_BYTES}.
   */
  constructor(options: KvSessionPoolOptions) {
    const limit = options.limit ?? KV_SESSION_POOL_DEFAULT_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`session pool limit must be a positive integer, got ${limit}`);
    }
    if (options.prefix.length === 0) throw new RangeError('session pool prefix must not be empty');
    const longest = new TextEncoder().encode(`${options.prefix}/${limit.toString(36)}`).byteLength;
    if (longest > KV_MAX_CLIENT_ID_BYTES) {
      throw new RangeError(
        `session pool prefix too long: names would take ${longest} bytes, at most ${KV_MAX_CLIENT_ID_BYTES} fit`,
      );
    }
    this.#prefix = options.prefix;
    this.#limit = limit;
  }

  /** Sessions created so far, in flight or free. */
  get size(): number {
    return this.#created;
  }

  /** Commands in flight now. */
  get inFlight(): number {
    return this.#created - this.#free.length;
  }

  /**
   * Runs `propose` with a free session's name and next sequence number, for a caller that
   * encodes the command itself (`encodeKvCommand({ now: 0, client, seq, command })`); the
   * session is free again once the returned promise settles.
   * @throws {KvSessionPoolExhaustedError} when every session is in flight.
   */
  async withSession<T>(propose: (client: string, seq: number) => Promise<T>): Promise<T> {
    const session = this.#take();
    session.seq++;
    try {
      return await propose(session.client, session.seq);
    } finally {
      this.#free.push(session);
    }
  }

  /**
   * Puts built command bytes (`kv.put(...)` and the other builders) in a free session and runs
   * `propose` with them; the session is free again once `propose` settles.
   * @throws {KvSessionPoolExhaustedError} when every session is in flight.
   * @throws {KvDecodeError} when `command` is not a command's bytes.
   */
  run<T>(command: Uint8Array, propose: (bytes: Uint8Array) => Promise<T>): Promise<T> {
    return this.withSession((client, seq) => propose(inClientSession(command, client, seq)));
  }

  #take(): PooledSession {
    const session = this.#free.pop();
    if (session !== undefined) return session;
    if (this.#created >= this.#limit) throw new KvSessionPoolExhaustedError(this.#limit);
    this.#created++;
    return { client: `${this.#prefix}/${this.#created.toString(36)}`, seq: 0 };
  }
}
