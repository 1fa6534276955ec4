/**
 * Quorum arithmetic as pure functions. A majority config decides by more than half of its
 * voters; a joint config (incoming + outgoing voter sets) decides only when both majorities do.
 *
 * The empty voter set is treated as "agrees with anything": it wins every vote and its commit
 * index is unbounded. That makes a non-joint config the special case of a joint config whose
 * outgoing half is empty, so callers need no separate branch.
 */
import type { NodeId } from './types.js';

/** Outcome of counting votes. */
export type VoteResult = 'won' | 'lost' | 'pending';

/** The commit index an empty voter set reports: neutral under `min`. */
export const UNBOUNDED_INDEX = Number.MAX_SAFE_INTEGER;

/** Number of voters that form a majority of `size` voters. */
export function majoritySize(size: number): number {
  return Math.floor(size / 2) + 1;
}

/** Reused by {@link majorityCommitted}: it runs on every acknowledgement, synchronously. */
const scratch: number[] = [];

/**
 * The highest index that a majority of `voters` has acknowledged: `matchOf(id)` is the highest
 * index known stored on `id` (`undefined` counts as 0). A voter listed twice counts once.
 */
export function majorityCommitted(
  voters: readonly NodeId[],
  matchOf: (id: NodeId) => number | undefined,
): number {
  // The leader asks this on every acknowledgement: no Set, copies or sort comparator, so it
  // allocates nothing. Voter sets are small; quadratic de-duplication and insertion sort win.
  let count = 0;
  for (let i = 0; i < voters.length; i++) {
    const id = voters[i] as NodeId;
    if (voters.indexOf(id) !== i) continue;
    const match = matchOf(id) ?? 0;
    // Insert keeping scratch[0..count) in descending order.
    let at = count;
    while (at > 0 && (scratch[at - 1] as number) < match) {
      scratch[at] = scratch[at - 1] as number;
      at--;
    }
    scratch[at] = match;
    count++;
  }
  if (count === 0) return UNBOUNDED_INDEX;
  // Descending, the q-th largest value is stored on at least q voters.
  return scratch[majoritySize(count) - 1] as number;
}

/** The commit index of a joint config: the lower of the two majorities' indexes. */
export function jointCommitted(
  incoming: readonly NodeId[],
  outgoing: readonly NodeId[],
  matchOf: (id: NodeId) => number | undefined,
): number {
  return Math.min(majorityCommitted(incoming, matchOf), majorityCommitted(outgoing, matchOf));
}

/**
 * Counts `votes` (true: granted, false: rejected, missing: not yet answered) of `voters`.
 * Votes of non-voters are ignored.
 */
export function majorityVote(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const unique = [...new Set(voters)];
  if (unique.length === 0) return 'won';
  let granted = 0;
  let rejected = 0;
  for (const id of unique) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = majoritySize(unique.length);
  if (granted >= needed) return 'won';
  // Even if every missing voter granted, a majority could no longer be reached.
  if (unique.length - rejected < needed) return 'lost';
  return 'pending';
}

/** Counts votes in a joint config: won when both halves won, lost when either lost. */
export function jointVote(
  incoming: readonly NodeId[],
  outgoing: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const a = majorityVote(incoming, votes);
  const b = majorityVote(outgoing, votes);
  if (a === 'won' && b === 'won') return 'won';
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
