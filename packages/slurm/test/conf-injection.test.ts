// No model value can add a line or a key to a rendered file. Any string (or any value at all) in
// any string field, and any number in any numeric field, either is refused with a
// SlurmConfigError or gives files with exactly the lines and keys the unmodified model gives:
// the same number of lines, the same keys on each, every value a single token that SLURM's parser
// reads as one value (no white space, '#', '\', '"', no leading "Include").
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SlurmClusterModel } from '../src/conf/model.js';
import { renderCgroupConf, renderGresConf, renderSlurmConf } from '../src/conf/render.js';
import { isSlurmConfigError } from '../src/conf/validate.js';
import { fullModel } from './support/conf-models.js';
import { fieldName, type PathStep, withValue } from './support/set-path.js';

const STRING_FIELDS: PathStep[][] = [
  ['clusterName'],
  ['controller', 'host'],
  ['controller', 'address'],
  ['nodes', 0, 'name'],
  ['nodes', 0, 'address'],
  ['nodes', 0, 'gpus', 'type'],
  ['nodes', 0, 'gpus', 'files', 0],
  ['nodes', 0, 'gpus', 'files', 1],
  ['nodes', 1, 'name'],
  ['nodes', 1, 'address'],
  ['nodes', 2, 'name'],
  ['nodes', 2, 'address'],
  ['partitions', 0, 'name'],
  ['partitions', 0, 'nodes'],
  ['partitions', 0, 'nodes', 0],
  ['partitions', 1, 'name'],
  ['partitions', 1, 'nodes', 1],
  ['paths', 'stateSaveLocation'],
  ['paths', 'spoolDir'],
  ['paths', 'logDir'],
  ['paths', 'runDir'],
  ['paths', 'mungeSocket'],
  ['processTracking'],
  ['users', 'slurmUser'],
  ['users', 'slurmdUser'],
  ['debug', 'slurmctld'],
  ['debug', 'slurmd'],
  ['accounting', 'host'],
];

const NUMBER_FIELDS: PathStep[][] = [
  ['nodes', 0, 'cpus'],
  ['nodes', 0, 'memoryBytes'],
  ['nodes', 0, 'gpus', 'count'],
  ['nodes', 1, 'gpus', 'count'],
  ['nodes', 2, 'cpus'],
  ['partitions', 0, 'maxTimeMinutes'],
  ['ports', 'slurmctld'],
  ['ports', 'slurmd'],
  ['maxNodeCount'],
  ['defaultMemoryPerCpuMiB'],
  ['timeouts', 'slurmdSeconds'],
  ['timeouts', 'slurmctldSeconds'],
  ['accounting', 'port'],
];

// Characters a value that reaches a file is made of; a string with any other character must be
// refused, naming the field it was put in.
const SAFE = /^[A-Za-z0-9._+@/%-]*$/;

const plausible = fc.constantFrom(
  '',
  'g1',
  'g2',
  'n1',
  'ctl1',
  'ALL',
  'n-2',
  '10.0.0.9',
  'host.example',
  '/var/lib/x',
  '/dev/nvidia0',
  '/dev/nvidia1',
  'a100',
  'root',
  'info',
  'cgroup',
  'linuxproc',
);
const dangerous = fc.constantFrom(
  '\n',
  '\r',
  '\r\n',
  ' ',
  '\t',
  '\v',
  '#',
  '=',
  '\\',
  '"',
  "'",
  ',',
  ':',
  ';',
  '%',
  '%n',
  '%h',
  '(',
  ')',
  '[',
  ']',
  '$',
  '\u0000',
  '\u0085',
  '\u00a0',
  '\u2028',
  'é',
  ' NodeName=evil',
  '\nNodeName=evil State=UP',
  '\\\nNodeName=evil',
  '\nInclude /etc/passwd',
  '" Evil=1 "',
);
const injected = fc
  .tuple(plausible, dangerous, fc.oneof(plausible, fc.string({ maxLength: 6 })))
  .map(([a, b, c]) => `${a}${b}${c}`);
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  injected,
  plausible,
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/),
  fc.stringMatching(/^(\/[a-z0-9._%-]{1,6}){1,4}$/),
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.integer({ min: 1, max: 70_000 }),
  fc.double(),
  fc.constantFrom(0, -1, 1, 2, 3, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 53, 65_535, 65_536),
);

/** What a file is made of: per line '' (blank), '#' (comment) or its keys, in line order. */
function shape(text: string): string[] {
  assert.ok(text.endsWith('\n'), 'a file ends with a newline');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      if (line === '') return '';
      if (line.startsWith('# ')) {
        assert.not.ok(/[\r\u0085\u2028\u2029]/.test(line), `control character in ${JSON.stringify(line)}`);
        return '#';
      }
      assert.not.ok(/^\s*include\b/i.test(line), `Include line ${JSON.stringify(line)}`);
      return line
        .split(' ')
        .map((token) => {
          const pair = /^([A-Za-z]+)=([A-Za-z0-9._+@/%(),:[\]=-]+)$/.exec(token);
          assert.ok(pair, `token ${JSON.stringify(token)} in ${JSON.stringify(line)} is not Key=Value`);
          return pair[1];
        })
        .join(' ');
    });
}

/** The shapes of all three files, NodeName lines compared as a sorted set (a rename may reorder them). */
function shapes(model: SlurmClusterModel): string[][] {
  return [renderSlurmConf(model), renderGresConf(model), renderCgroupConf(model)].map((text) => {
    const s = shape(text);
    const nodeLines = s.filter((l) => l.startsWith('NodeName')).sort();
    let i = 0;
    return s.map((l) => (l.startsWith('NodeName') ? (nodeLines[i++] ?? '') : l));
  });
}

const expected = shapes(fullModel);

/** Whether the changed model was refused or accepted (and then checked). */
function check(path: readonly PathStep[], value: unknown): 'refused' | 'accepted' {
  const model = withValue(fullModel, path, value);
  let actual: string[][];
  try {
    actual = shapes(model);
  } catch (error) {
    if (!isSlurmConfigError(error)) throw error;
    const name = fieldName(path);
    if (typeof value === 'string' && !SAFE.test(value))
      assert.is(error.field, name, `${JSON.stringify(value)} at ${name}: ${error.message}`);
    else if (typeof value !== 'string' && typeof value !== 'number')
      assert.ok(
        error.field === name || error.field.startsWith(`${name}.`) || error.field.startsWith(`${name}[`),
        `${name}: ${error.message}`,
      );
    return 'refused';
  }
  // undefined leaves an optional field out, which may rightly drop a key (Type=, MaxNodeCount=).
  if (value === undefined) return 'accepted';
  assert.equal(
    actual,
    expected,
    `${fieldName(path)} = ${JSON.stringify(value)} changed the files' lines or keys`,
  );
  if (typeof value === 'string') assert.ok(SAFE.test(value), `accepted ${JSON.stringify(value)}`);
  return 'accepted';
}

/** Runs `check` on every generated case and asserts that each outcome occurred often enough. */
function checkAll(
  fields: PathStep[][],
  values: fc.Arbitrary<unknown>,
  numRuns: number,
  min: { accepted: number; refused: number },
): void {
  const seen = { refused: 0, accepted: 0 };
  fc.assert(
    fc.property(fc.constantFrom(...fields), values, (path, value) => {
      seen[check(path, value)]++;
    }),
    { numRuns },
  );
  assert.ok(
    seen.accepted >= min.accepted && seen.refused >= min.refused,
    `too one-sided: ${JSON.stringify(seen)}`,
  );
}

test('an arbitrary string in any string field is refused or changes no line or key', () => {
  checkAll(STRING_FIELDS, anyString, 4000, { accepted: 200, refused: 200 });
});

test('an arbitrary value of any type in any string field is refused or changes no line or key', () => {
  // Almost nothing but a string is accepted here; the point is that nothing else slips through.
  checkAll(STRING_FIELDS, fc.anything(), 1000, { accepted: 0, refused: 500 });
});

test('an arbitrary number (or any value) in any numeric field is refused or changes no line or key', () => {
  checkAll(NUMBER_FIELDS, fc.oneof(anyNumber, fc.anything()), 2000, { accepted: 200, refused: 200 });
});

test('every known injection is refused, naming the field it was put in', () => {
  for (const path of STRING_FIELDS)
    for (const evil of ['x\nNodeName=evil', 'x NodeName=evil', 'x#', 'x\\', '"x"', 'x\r', 'x\u2028'])
      assert.is(check(path, evil), 'refused');
});

test('two fields changed at once are also refused or change no line or key', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...STRING_FIELDS),
      anyString,
      fc.constantFrom(...STRING_FIELDS),
      anyString,
      (pathA, a, pathB, b) => {
        // Replacing a value and then something inside it is not a model.
        fc.pre(!pathA.every((step, i) => pathB[i] === step));
        const model = withValue(withValue(fullModel, pathA, a), pathB, b);
        try {
          assert.equal(shapes(model), expected);
        } catch (error) {
          if (!isSlurmConfigError(error)) throw error;
        }
      },
    ),
    { numRuns: 1000 },
  );
});

test.run();
