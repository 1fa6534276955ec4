import { randomBytes } from 'node:crypto';
import { encodeKvCommand, type KvCommand } from '@clusteros/raft';

/** How many writes one member keeps in flight at once, each in its own session. */
export const MAX_WRITES_IN_FLIGHT = 1_024;

/**
 * Sessions remembered by the state machine: enough for {@link MAX_WRITES_IN_FLIGHT} on each of
 * 64 members, so that no session still in use is ever forgotten.
 */
export const MACHINE_MAX_SESSIONS = 64 * MAX_WRITES_IN_FLIGHT;

/** More writes are in flight on this member than it has sessions for. */
export class TooManyWritesError extends Error {
  override readonly name = 'TooManyWritesError' as const;
  constructor(limit: number) {
    super(`more than ${limit} writes in flight on this member`);
  }
}

interface Session {
  readonly client: string;
  seq: number;
}

/**
 * Puts every write this member proposes in a client session of the KV state machine, so that a
 * write committed twice (Raft's `retryForwardedProposals` sends a forwarded write again when the
 * leader changes, and the old leader may have replicated the first copy) is applied once; the
 * second copy gets the first one's answer.
 *
 * A session carries one write at a time: the machine answers a repeat of a session's last
 * sequence number from its cache and refuses older ones, so two writes in flight in one session
 * could refuse each other. Each write therefore takes a session of its own for as long as it is
 * in flight and gives it back when it settles; the next write in that session uses the next
 * sequence number. Sessions are reused most recently freed first, so a member under steady load
 * keeps using the same few. Session names start with a random id drawn at start-up (64 bits), so
 * neither another member nor this one after a restart reuses a name whose sequence numbers it
 * does not know.
 */
export class WriteSessions {
  readonly #prefix: string;
  readonly #limit: number;
  readonly #free: Session[] = [];
  #created = 0;

  constructor(limit = MAX_WRITES_IN_FLIGHT) {
    this.#prefix = `raft-kv/${randomBytes(8).toString('hex')}/`;
    this.#limit = limit;
  }

  /** Sessions created so far (each is in flight or free). */
  get size(): number {
    return this.#created;
  }

  /**
   * Encodes `command` in a free session and runs `propose` with it; the session is free again
   * once `propose` settles.
   * @throws {TooManyWritesError} when every session is in flight.
   */
  async run<T>(command: KvCommand, propose: (bytes: Uint8Array) => Promise<T>): Promise<T> {
    const session = this.#take();
    session.seq++;
    try {
      return await propose(encodeKvCommand({ now: 0, client: session.client, seq: session.seq, command }));
    } finally {
      this.#free.push(session);
    }
  }

  #take(): Session {
    const session = this.#free.pop();
    if (session !== undefined) return session;
    if (this.#created >= this.#limit) throw new TooManyWritesError(this.#limit);
    this.#created++;
    return { client: `${this.#prefix}${this.#created.toString(36)}`, seq: 0 };
  }
}
