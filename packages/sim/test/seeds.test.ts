import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isSeedFailedError } from '../src/errors.js';
import { runSeeds } from '../src/seeds.js';

const noEnv = {};

test('runs the requested number of seeds from firstSeed', async () => {
  const seen: number[] = [];
  const report = await runSeeds({ seeds: 5, firstSeed: 10, env: noEnv, scenario: (s) => void seen.push(s) });
  assert.equal(seen, [10, 11, 12, 13, 14]);
  assert.equal(report.seeds, seen);
  assert.equal(report.failed, []);
});

test('a failing seed throws SeedFailedError with the seed and a replay command', async () => {
  try {
    await runSeeds({
      seeds: 20,
      env: noEnv,
      file: '/work/x/packages/demo/test/a.test.ts',
      scenario: (seed) => {
        if (seed === 7) throw new Error('two leaders in term 3');
      },
    });
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.ok(isSeedFailedError(error));
    assert.is(error.seed, 7);
    assert.match(error.message, 'seed=7 failed: two leaders in term 3');
    assert.match(error.reproduce, /^SIM_SEED=7 npm test -- .*packages\/demo\/test\/a\.test\.ts$/);
    assert.match(error.message, error.reproduce);
  }
});

test('stops at the first failure unless keepGoing, which lists them all', async () => {
  let runs = 0;
  const failing = (seed: number) => {
    runs++;
    if (seed % 3 === 0) throw new Error(`bad ${seed}`);
  };
  await runSeeds({ seeds: 10, env: noEnv, scenario: failing }).catch(() => {});
  assert.is(runs, 3);
  runs = 0;
  const error = await runSeeds({ seeds: 10, env: noEnv, keepGoing: true, scenario: failing }).catch((e) => e);
  assert.is(runs, 10);
  assert.ok(isSeedFailedError(error));
  assert.is(error.seed, 3);
  assert.match(error.message, 'failing seeds (3 of 10): 3, 6, 9');
});

test('SIM_SEED replays one seed; SIM_SEEDS changes the count', async () => {
  const seen: number[] = [];
  await runSeeds({ seeds: 100, env: { SIM_SEED: '42' }, scenario: (s) => void seen.push(s) });
  assert.equal(seen, [42]);
  seen.length = 0;
  await runSeeds({ seeds: 100, env: { SIM_SEEDS: '3' }, scenario: (s) => void seen.push(s) });
  assert.equal(seen, [1, 2, 3]);
});

test('SIM_SEED_OFFSET moves a counted range to later seeds, not a list or a replay', async () => {
  const seen: number[] = [];
  await runSeeds({
    seeds: 3,
    firstSeed: 10,
    env: { SIM_SEED_OFFSET: '1000' },
    scenario: (s) => void seen.push(s),
  });
  assert.equal(seen, [1010, 1011, 1012]);
  seen.length = 0;
  await runSeeds({
    seeds: 100,
    env: { SIM_SEEDS: '2', SIM_SEED_OFFSET: '5' },
    scenario: (s) => void seen.push(s),
  });
  assert.equal(seen, [6, 7]);
  seen.length = 0;
  await runSeeds({ seeds: [4, 9], env: { SIM_SEED_OFFSET: '5' }, scenario: (s) => void seen.push(s) });
  assert.equal(seen, [4, 9]);
  seen.length = 0;
  await runSeeds({
    seeds: 100,
    env: { SIM_SEED: '42', SIM_SEED_OFFSET: '5' },
    scenario: (s) => void seen.push(s),
  });
  assert.equal(seen, [42]);
  const error = await runSeeds({ env: { SIM_SEED_OFFSET: '-3' }, scenario: () => {} }).catch((e) => e);
  assert.instance(error, RangeError);
  assert.match(String(error), 'SIM_SEED_OFFSET must be a whole number');
});

test('bad SIM_SEED values are rejected with a clear error', async () => {
  const error = await runSeeds({ env: { SIM_SEED: '4x' }, scenario: () => {} }).catch((e) => e);
  assert.instance(error, RangeError);
  assert.match(String(error), 'SIM_SEED must be a whole number');
});

test('async scenarios are awaited', async () => {
  let finished = 0;
  await runSeeds({
    seeds: 3,
    env: noEnv,
    scenario: async () => {
      await Promise.resolve();
      finished++;
    },
  });
  assert.is(finished, 3);
});

test.run();
