import { KvSessionPool } from '@clusteros/raft';
import type { RoleStore } from './store.js';

/**
 * `store` with every proposal in a client session of the KV machine (`<session>/<n>`), so that
 * a command committed twice is applied once. A Raft member that forwards a proposal may send it
 * again when the first copy could have been lost (RaftNode's `retryForwardedProposals`: a
 * leader that failed, a message dropped on the way); without a session a second copy of, say,
 * "create the lease key if absent" could run again after the key was released and revive a
 * stale claim. The sessions come from a pool: a session carries one proposal at a time (it
 * answers only its newest sequence number, and a manager's proposals overtake each other on the
 * way to the leader) and is reused once that proposal settles, so the machine remembers about
 * as many sessions per manager as it ever had proposals in flight, not one per proposal.
 */
export function sessionStore(store: RoleStore, session: string): RoleStore {
  const log = store.log;
  const sessions = new KvSessionPool({ prefix: session });
  return {
    ...store,
    log: {
      propose: (command) => sessions.run(command, (bytes) => log.propose(bytes)),
      read: (query) => log.read(query),
      on: (event, listener) => log.on(event, listener),
      off: (event, listener) => log.off(event, listener),
    },
  };
}
