import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  jointCommitted,
  jointVote,
  majorityCommitted,
  majoritySize,
  majorityVote,
  UNBOUNDED_INDEX,
  type VoteResult,
} from '../src/core/quorum.js';

const matchOf = (matches: Record<string, number>) => (id: string) => matches[id];

test('majoritySize is more than half', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 7].map(majoritySize), [1, 2, 2, 3, 3, 4, 4]);
});

const committedTable: [string, string[], Record<string, number>, number][] = [
  ['empty config is unbounded', [], {}, UNBOUNDED_INDEX],
  ['single voter', ['a'], { a: 5 }, 5],
  ['single voter without a match', ['a'], {}, 0],
  ['two voters need both', ['a', 'b'], { a: 5, b: 3 }, 3],
  ['three voters: the median', ['a', 'b', 'c'], { a: 9, b: 4, c: 7 }, 7],
  ['three voters, one unknown', ['a', 'b', 'c'], { a: 9, b: 4 }, 4],
  ['four voters need three', ['a', 'b', 'c', 'd'], { a: 9, b: 8, c: 2, d: 1 }, 2],
  ['five voters need three', ['a', 'b', 'c', 'd', 'e'], { a: 9, b: 8, c: 7, d: 1, e: 0 }, 7],
  ['non-voters are ignored', ['a', 'b', 'c'], { a: 1, b: 1, c: 1, x: 100, y: 100 }, 1],
  ['duplicates count once', ['a', 'a', 'b', 'c'], { a: 9, b: 1, c: 1 }, 1],
];
for (const [name, voters, matches, expected] of committedTable) {
  test(`majorityCommitted: ${name}`, () => {
    assert.is(majorityCommitted(voters, matchOf(matches)), expected);
  });
}

test('majorityCommitted: the median of the de-duplicated matches, for any voters and matches', () => {
  // The reference: unique voters, matches sorted descending, the majority-th one.
  const reference = (voters: string[], matches: Record<string, number>): number => {
    const unique = [...new Set(voters)];
    if (unique.length === 0) return UNBOUNDED_INDEX;
    const sorted = unique.map((id) => matches[id] ?? 0).sort((a, b) => b - a);
    return sorted[majoritySize(unique.length) - 1] ?? 0;
  };
  const id = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i');
  fc.assert(
    fc.property(
      fc.array(id, { maxLength: 12 }),
      fc.dictionary(id, fc.nat({ max: 50 })),
      (voters, matches) => majorityCommitted(voters, matchOf(matches)) === reference(voters, matches),
    ),
    { numRuns: 2_000 },
  );
});

const jointTable: [string, string[], string[], Record<string, number>, number][] = [
  ['outgoing empty: same as majority', ['a', 'b', 'c'], [], { a: 5, b: 5, c: 1 }, 5],
  ['the lower majority wins', ['a', 'b', 'c'], ['d', 'e', 'f'], { a: 9, b: 9, c: 9, d: 3, e: 4, f: 0 }, 3],
  ['overlapping halves', ['a', 'b', 'c'], ['a', 'b', 'd'], { a: 8, b: 6, c: 7, d: 1 }, 6],
  ['new voter lagging blocks incoming', ['a', 'b', 'd'], ['a', 'b', 'c'], { a: 8, b: 0, c: 8, d: 0 }, 0],
];
for (const [name, incoming, outgoing, matches, expected] of jointTable) {
  test(`jointCommitted: ${name}`, () => {
    assert.is(jointCommitted(incoming, outgoing, matchOf(matches)), expected);
  });
}

const voteTable: [string, string[], [string, boolean][], VoteResult][] = [
  ['empty config wins', [], [], 'won'],
  ['single voter granted', ['a'], [['a', true]], 'won'],
  ['single voter rejected', ['a'], [['a', false]], 'lost'],
  ['single voter pending', ['a'], [], 'pending'],
  [
    'three voters: two grants win',
    ['a', 'b', 'c'],
    [
      ['a', true],
      ['b', true],
    ],
    'won',
  ],
  [
    'three voters: two rejections lose',
    ['a', 'b', 'c'],
    [
      ['a', false],
      ['b', false],
    ],
    'lost',
  ],
  [
    'three voters: split pending',
    ['a', 'b', 'c'],
    [
      ['a', true],
      ['b', false],
    ],
    'pending',
  ],
  [
    'four voters: 2-2 loses',
    ['a', 'b', 'c', 'd'],
    [
      ['a', true],
      ['b', true],
      ['c', false],
      ['d', false],
    ],
    'lost',
  ],
  [
    'four voters: 2 grants pending',
    ['a', 'b', 'c', 'd'],
    [
      ['a', true],
      ['b', true],
    ],
    'pending',
  ],
  [
    'non-voters do not count',
    ['a', 'b', 'c'],
    [
      ['a', true],
      ['x', true],
      ['y', true],
    ],
    'pending',
  ],
];
for (const [name, voters, votes, expected] of voteTable) {
  test(`majorityVote: ${name}`, () => {
    assert.is(majorityVote(voters, new Map(votes)), expected);
  });
}

const jointVoteTable: [string, string[], string[], [string, boolean][], VoteResult][] = [
  [
    'both won',
    ['a', 'b', 'c'],
    ['c', 'd', 'e'],
    [
      ['a', true],
      ['b', true],
      ['c', true],
      ['d', true],
    ],
    'won',
  ],
  [
    'incoming won, outgoing pending',
    ['a', 'b', 'c'],
    ['d', 'e', 'f'],
    [
      ['a', true],
      ['b', true],
    ],
    'pending',
  ],
  [
    'outgoing lost',
    ['a', 'b', 'c'],
    ['d', 'e', 'f'],
    [
      ['a', true],
      ['b', true],
      ['d', false],
      ['e', false],
    ],
    'lost',
  ],
  [
    'incoming lost',
    ['a', 'b', 'c'],
    ['d', 'e', 'f'],
    [
      ['a', false],
      ['b', false],
      ['d', true],
      ['e', true],
    ],
    'lost',
  ],
  [
    'outgoing empty: plain majority',
    ['a', 'b', 'c'],
    [],
    [
      ['a', true],
      ['b', true],
    ],
    'won',
  ],
];
for (const [name, incoming, outgoing, votes, expected] of jointVoteTable) {
  test(`jointVote: ${name}`, () => {
    assert.is(jointVote(incoming, outgoing, new Map(votes)), expected);
  });
}

test.run();
