/**
 * Configuration changes as pure functions over {@link ConfState}.
 *
 * Rules enforced (each violation throws `ConfChangeError`):
 * - `simple` changes the voter set by at most one member, and only outside a joint config;
 *   a simple change of one voter needs no joint phase because any two majorities of configs
 *   that differ by one member overlap.
 * - `joint` enters a joint config (only from a non-joint one): the current voters become the
 *   outgoing half and the steps shape the incoming half. A voter of the outgoing half that is
 *   demoted to learner waits in `learnersNext` until the joint config is left, because a member
 *   cannot be a voter and a learner at once.
 * - `leaveJoint` (no steps) leaves a joint config.
 * - The incoming voter set can never become empty.
 */
import { ConfChangeError } from '../errors.js';
import type { ConfChange, ConfChangeStep, ConfState, NodeId } from './types.js';

/** True while `conf` is joint (has an outgoing voter set). */
export function isJoint(conf: ConfState): boolean {
  return conf.votersOutgoing.length > 0;
}

/** Every member of `conf`: voters of both halves, learners and learners-to-be, without duplicates. */
export function membersOf(conf: ConfState): NodeId[] {
  return [...new Set([...conf.voters, ...conf.votersOutgoing, ...conf.learners, ...conf.learnersNext])];
}

/** True when `id` votes in `conf` (in either half of a joint config). */
export function isVoterIn(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.votersOutgoing.includes(id);
}

/** The change that leaves a joint configuration. */
export const LEAVE_JOINT: ConfChange = Object.freeze({ mode: 'leaveJoint', steps: Object.freeze([]) });

/** Two ConfStates describe the same configuration (order of members ignored). */
export function confEquals(a: ConfState, b: ConfState): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]) =>
    x.length === y.length && [...x].sort().join('\u0000') === [...y].sort().join('\u0000');
  return (
    same(a.voters, b.voters) &&
    same(a.learners, b.learners) &&
    same(a.votersOutgoing, b.votersOutgoing) &&
    same(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

interface Draft {
  voters: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  readonly outgoing: ReadonlySet<NodeId>;
}

function applyStep(draft: Draft, step: ConfChangeStep): void {
  if (typeof step !== 'object' || step === null) throw new ConfChangeError('a step is not an object');
  if (typeof step.id !== 'string' || step.id.length === 0)
    throw new ConfChangeError('a step has an empty id');
  switch (step.type) {
    case 'addVoter':
      draft.learners.delete(step.id);
      draft.learnersNext.delete(step.id);
      draft.voters.add(step.id);
      return;
    case 'addLearner':
      draft.voters.delete(step.id);
      // Still a voter of the outgoing half: it becomes a learner only when the joint config ends.
      if (draft.outgoing.has(step.id)) draft.learnersNext.add(step.id);
      else draft.learners.add(step.id);
      return;
    case 'remove':
      draft.voters.delete(step.id);
      draft.learners.delete(step.id);
      draft.learnersNext.delete(step.id);
      return;
    default:
      throw new ConfChangeError(`unknown step type ${String((step as { type?: unknown }).type)}`);
  }
}

function symmetricDifference(a: readonly NodeId[], b: ReadonlySet<NodeId>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  const left = new Set(a);
  for (const id of b) if (!left.has(id)) n++;
  return n;
}

function checkInvariants(conf: ConfState): void {
  if (conf.voters.length === 0) throw new ConfChangeError('the change would remove every voter');
  for (const id of conf.learners) {
    if (conf.voters.includes(id)) throw new ConfChangeError(`${id} would be a voter and a learner`);
    if (conf.votersOutgoing.includes(id)) {
      throw new ConfChangeError(`${id} would be an outgoing voter and a learner`);
    }
  }
  for (const id of conf.learnersNext) {
    if (!conf.votersOutgoing.includes(id))
      throw new ConfChangeError(`${id} in learnersNext is not an outgoing voter`);
    if (conf.voters.includes(id)) throw new ConfChangeError(`${id} would be a voter and a learner`);
  }
  if (conf.autoLeave && !isJoint(conf)) throw new ConfChangeError('autoLeave is set outside a joint config');
}

/**
 * Applies `change` to `conf` and returns the new configuration; `conf` is not modified.
 * Throws `ConfChangeError` when the change is not allowed from `conf`.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  if (typeof change !== 'object' || change === null || !Array.isArray(change.steps)) {
    throw new ConfChangeError('malformed change');
  }
  if (change.mode === 'leaveJoint') {
    if (change.steps.length > 0) throw new ConfChangeError('leaveJoint takes no steps');
    if (!isJoint(conf)) throw new ConfChangeError('not in a joint configuration');
    const next: ConfState = {
      voters: [...conf.voters],
      learners: [...new Set([...conf.learners, ...conf.learnersNext])],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    checkInvariants(next);
    return next;
  }
  if (change.mode !== 'simple' && change.mode !== 'joint') {
    throw new ConfChangeError(`unknown mode ${String((change as { mode?: unknown }).mode)}`);
  }
  if (isJoint(conf)) throw new ConfChangeError('a joint configuration must be left before another change');
  if (change.steps.length === 0) throw new ConfChangeError('the change has no steps');
  const joint = change.mode === 'joint';
  const draft: Draft = {
    voters: new Set(conf.voters),
    learners: new Set(conf.learners),
    learnersNext: new Set(),
    outgoing: joint ? new Set(conf.voters) : new Set(),
  };
  for (const step of change.steps) applyStep(draft, step);
  if (!joint && symmetricDifference(conf.voters, draft.voters) > 1) {
    throw new ConfChangeError('a simple change may alter at most one voter; use a joint change');
  }
  const next: ConfState = {
    voters: [...draft.voters],
    learners: [...draft.learners],
    votersOutgoing: joint ? [...conf.voters] : [],
    learnersNext: [...draft.learnersNext],
    autoLeave: joint && change.autoLeave === true,
  };
  checkInvariants(next);
  return next;
}
