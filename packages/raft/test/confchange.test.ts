import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyConfChange,
  confEquals,
  isJoint,
  isVoterIn,
  LEAVE_JOINT,
  membersOf,
} from '../src/core/confchange.js';
import type { ConfChange, ConfChangeStep, ConfState } from '../src/core/types.js';
import { isConfChangeError } from '../src/errors.js';

function conf(
  voters: string[],
  learners: string[] = [],
  votersOutgoing: string[] = [],
  learnersNext: string[] = [],
  autoLeave = false,
): ConfState {
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}
const step = (type: ConfChangeStep['type'], id: string): ConfChangeStep => ({ type, id });
const simple = (...steps: ConfChangeStep[]): ConfChange => ({ mode: 'simple', steps });
const joint = (autoLeave: boolean, ...steps: ConfChangeStep[]): ConfChange => ({
  mode: 'joint',
  steps,
  autoLeave,
});

const valid: [string, ConfState, ConfChange, ConfState][] = [
  ['add a voter', conf(['a']), simple(step('addVoter', 'b')), conf(['a', 'b'])],
  ['add a learner', conf(['a']), simple(step('addLearner', 'l')), conf(['a'], ['l'])],
  ['promote a learner', conf(['a'], ['l']), simple(step('addVoter', 'l')), conf(['a', 'l'])],
  ['demote a voter to learner', conf(['a', 'b']), simple(step('addLearner', 'b')), conf(['a'], ['b'])],
  ['remove a voter', conf(['a', 'b', 'c']), simple(step('remove', 'c')), conf(['a', 'b'])],
  ['remove a learner', conf(['a'], ['l']), simple(step('remove', 'l')), conf(['a'])],
  ['remove an unknown member is a no-op', conf(['a']), simple(step('remove', 'z')), conf(['a'])],
  ['add an existing voter is a no-op', conf(['a', 'b']), simple(step('addVoter', 'b')), conf(['a', 'b'])],
  [
    'simple with several learner steps',
    conf(['a']),
    simple(step('addLearner', 'x'), step('addLearner', 'y')),
    conf(['a'], ['x', 'y']),
  ],
  [
    'enter joint replacing two voters',
    conf(['a', 'b', 'c']),
    joint(true, step('remove', 'b'), step('remove', 'c'), step('addVoter', 'd'), step('addVoter', 'e')),
    conf(['a', 'd', 'e'], [], ['a', 'b', 'c'], [], true),
  ],
  [
    'joint demotion waits in learnersNext',
    conf(['a', 'b', 'c']),
    joint(false, step('addLearner', 'c'), step('addVoter', 'd')),
    conf(['a', 'b', 'd'], [], ['a', 'b', 'c'], ['c'], false),
  ],
  ['leave joint', conf(['a', 'd'], [], ['a', 'b'], [], true), LEAVE_JOINT, conf(['a', 'd'])],
  [
    'leave joint turns learnersNext into learners',
    conf(['a', 'd'], ['l'], ['a', 'c'], ['c']),
    LEAVE_JOINT,
    conf(['a', 'd'], ['l', 'c']),
  ],
];
for (const [name, from, change, expected] of valid) {
  test(`valid: ${name}`, () => {
    const before = JSON.stringify(from);
    const next = applyConfChange(from, change);
    assert.ok(confEquals(next, expected), `${JSON.stringify(next)} != ${JSON.stringify(expected)}`);
    assert.is(JSON.stringify(from), before, 'input not modified');
  });
}

const invalid: [string, ConfState, ConfChange, RegExp][] = [
  [
    'simple change of two voters',
    conf(['a']),
    simple(step('addVoter', 'b'), step('addVoter', 'c')),
    /at most one voter/,
  ],
  [
    'simple swap of a voter',
    conf(['a', 'b']),
    simple(step('remove', 'b'), step('addVoter', 'c')),
    /at most one voter/,
  ],
  ['remove the last voter', conf(['a']), simple(step('remove', 'a')), /every voter/],
  ['demote the last voter', conf(['a']), simple(step('addLearner', 'a')), /every voter/],
  [
    'joint removing every voter',
    conf(['a', 'b']),
    joint(true, step('remove', 'a'), step('remove', 'b')),
    /every voter/,
  ],
  [
    'simple change while joint',
    conf(['a', 'd'], [], ['a', 'b']),
    simple(step('addLearner', 'x')),
    /left before/,
  ],
  [
    'enter joint while joint',
    conf(['a', 'd'], [], ['a', 'b']),
    joint(true, step('addVoter', 'x')),
    /left before/,
  ],
  ['leave joint when not joint', conf(['a']), LEAVE_JOINT, /not in a joint/],
  [
    'leave joint with steps',
    conf(['a'], [], ['b']),
    { mode: 'leaveJoint', steps: [step('addVoter', 'x')] },
    /no steps/,
  ],
  ['no steps', conf(['a']), simple(), /no steps/],
  ['empty id', conf(['a']), simple(step('addVoter', '')), /empty id/],
  ['unknown step type', conf(['a']), simple({ type: 'bogus' as 'remove', id: 'x' }), /unknown step/],
  [
    'unknown mode',
    conf(['a']),
    { mode: 'bogus' as 'simple', steps: [step('addVoter', 'b')] },
    /unknown mode/,
  ],
];
for (const [name, from, change, message] of invalid) {
  test(`invalid: ${name}`, () => {
    try {
      applyConfChange(from, change);
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.ok(isConfChangeError(error), String(error));
      assert.match((error as Error).message, message);
    }
  });
}

test('helpers: isJoint, isVoterIn, membersOf', () => {
  const c = conf(['a', 'd'], ['l'], ['a', 'b'], ['b']);
  assert.ok(isJoint(c));
  assert.not.ok(isJoint(conf(['a'])));
  assert.ok(isVoterIn(c, 'b'));
  assert.ok(isVoterIn(c, 'd'));
  assert.not.ok(isVoterIn(c, 'l'));
  assert.equal(membersOf(c).sort(), ['a', 'b', 'd', 'l']);
});

test('learners never overlap voters after any valid change', () => {
  const changes: ConfChange[] = [
    simple(step('addLearner', 'x')),
    simple(step('addVoter', 'x')),
    simple(step('addLearner', 'a')),
    joint(true, step('addLearner', 'a'), step('addVoter', 'x')),
  ];
  for (const change of changes) {
    const next = applyConfChange(conf(['a', 'b', 'c']), change);
    for (const l of next.learners)
      assert.not.ok(isVoterIn(next, l), `${l} is both in ${JSON.stringify(next)}`);
  }
});

test.run();
