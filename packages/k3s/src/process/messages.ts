/**
 * Log lines that mean "this server's etcd member has been removed from the cluster". etcd prints
 * the first two when it learns of its removal (from its own log, or from a peer when it restarts
 * on stale data) and then stops; k3s repeats them and exits. The third is what k3s versions with
 * a "tombstone" file print (read in k3s `pkg/daemons/executor/embed.go`). Any of them means: do
 * not just restart, delete `${dataDir}/server/db` first (see {@link wipeServerDb}).
 */

/** Substrings (matched case-insensitively) of the lines that report a removed etcd member. */
export const K3S_REMOVED_MEMBER_MESSAGES: readonly string[] = Object.freeze([
  'the member has been permanently removed from the cluster',
  'data-dir used by this member must be removed',
  'this node has been removed from the cluster',
]);

const LOWERED = K3S_REMOVED_MEMBER_MESSAGES.map((message) => message.toLowerCase());

/** Whether a k3s log line reports that this node's etcd member was removed. */
export function isRemovedMemberLine(line: string): boolean {
  const lower = line.toLowerCase();
  return LOWERED.some((message) => lower.includes(message));
}
