import { kv } from '@clusteros/raft';
import type { RoleStore } from './store.js';

/**
 * `store` with every proposal in a client session of its own (`<session>/<n>`, sequence 1), so
 * that a command committed twice is applied once. A Raft member that forwards a proposal may
 * send it again when the first copy could have been lost (RaftNode's
 * `retryForwardedProposals`: a leader that failed, a message dropped on the way); without a
 * session a second copy of, say, "create the lease key if absent" could run again after the key
 * was released and revive a stale claim. One session per proposal, not one per manager: a
 * session answers only its newest sequence number, and proposals of one manager overtake each
 * other on the way to the leader.
 */
export function sessionStore(store: RoleStore, session: string): RoleStore {
  const log = store.log;
  const inSession = kv.sessions(session);
  return {
    ...store,
    log: {
      propose: (command) => log.propose(inSession(command)),
      read: (query) => log.read(query),
      on: (event, listener) => log.on(event, listener),
      off: (event, listener) => log.off(event, listener),
    },
  };
}
