// sinfo --json of SLURM 22.05: the real sample (node n1, mixed, in partition debug), the state and
// flag split, and untrusted input: every outcome is a well-typed node list or a SlurmParseError.
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlurmParseError } from '../src/parse/errors.js';
import { parseSinfoJson, type SlurmNodeInfo } from '../src/parse/sinfo.js';
import { parseError } from './support/parse-error.js';

const FIXTURE = readFileSync(new URL('./fixtures/sinfo.json', import.meta.url), 'utf8');

type Json = { [key: string]: unknown };

function withNode(edit: (node: Json) => void): string {
  const doc = JSON.parse(FIXTURE) as Json & { nodes: Json[] };
  const node = doc.nodes[0];
  if (node === undefined) throw new Error('fixture changed');
  edit(node);
  return JSON.stringify(doc);
}

function firstNode(text: string): SlurmNodeInfo {
  const node = parseSinfoJson(text)[0];
  if (node === undefined) throw new Error('no node parsed');
  return node;
}

test('fixture: node n1, every field', () => {
  assert.equal(parseSinfoJson(FIXTURE), [
    {
      name: 'n1',
      state: 'mixed',
      flags: [],
      address: '10.77.0.12',
      hostname: 'n1',
      cpus: 2,
      realMemoryMiB: 1000,
      partitions: ['debug'],
      reason: '',
    },
  ]);
});

test('state is the lower-case base state; flags stay as given', () => {
  const node = firstNode(
    withNode((n) =>
      Object.assign(n, { state: 'DOWN', state_flags: ['DRAIN', 'NOT_RESPONDING'], reason: 'x' }),
    ),
  );
  assert.is(node.state, 'down');
  assert.equal(node.flags, ['DRAIN', 'NOT_RESPONDING']);
  assert.is(node.reason, 'x');
  assert.is(firstNode(withNode((n) => Object.assign(n, { state: 'idle' }))).state, 'idle');
});

test('a combined "idle+drain" state is refused rather than read as a base state', () => {
  const error = parseError(() => parseSinfoJson(withNode((n) => Object.assign(n, { state: 'idle+drain' }))));
  assert.match(error.detail, 'nodes[0].state: expected a node state name, got "idle+drain"');
});

test('null or absent reason, flags and partitions are empty', () => {
  const node = firstNode(
    withNode((n) => {
      n.reason = null;
      delete n.state_flags;
      n.partitions = null;
    }),
  );
  assert.is(node.reason, '');
  assert.equal(node.flags, []);
  assert.equal(node.partitions, []);
});

test('top-level errors are thrown with SLURM messages', () => {
  const doc = JSON.parse(FIXTURE) as Json;
  doc.errors = [{ error: 'Unable to contact slurm controller (connect failure)', errno: 1007 }];
  const error = parseError(() => parseSinfoJson(JSON.stringify(doc)));
  assert.is(error.source, 'sinfo --json');
  assert.match(error.message, 'Unable to contact slurm controller');
});

test('malformed documents and wrong field types name the field', () => {
  const cases: [string, string][] = [
    ['', 'not valid JSON'],
    ['"nodes"', '(top level): expected an object, got "nodes"'],
    ['{"nodes": null}', 'nodes: expected an array, got null'],
    ['{"nodes": ["n1"]}', 'nodes[0]: expected an object, got "n1"'],
    [withNode((n) => Object.assign(n, { cpus: '2' })), 'nodes[0].cpus: expected an integer'],
    [withNode((n) => Object.assign(n, { cpus: -1 })), 'nodes[0].cpus'],
    // A 64-bit sentinel (NO_VAL64) is beyond exact doubles: refused rather than rounded.
    [withNode((n) => Object.assign(n, { real_memory: 2 ** 64 })), 'nodes[0].real_memory'],
    [withNode((n) => Object.assign(n, { partitions: 'debug' })), 'nodes[0].partitions: expected an array'],
    [
      withNode((n) => Object.assign(n, { partitions: ['debug', 3] })),
      'nodes[0].partitions[1]: expected a string',
    ],
    [withNode((n) => Object.assign(n, { state_flags: [null] })), 'nodes[0].state_flags[0]'],
    [withNode((n) => delete n.address), 'nodes[0].address: expected a string, got nothing'],
    [
      withNode((n) => Object.assign(n, { hostname: {} })),
      'nodes[0].hostname: expected a string, got an object',
    ],
    [withNode((n) => Object.assign(n, { state: 5 })), 'nodes[0].state: expected a string'],
    [withNode((n) => Object.assign(n, { name: 'n'.repeat(70000) })), 'nodes[0].name: 70000 characters'],
    [
      withNode((n) => Object.assign(n, { partitions: Array.from({ length: 5000 }, () => 'p') })),
      'nodes[0].partitions: 5000 entries',
    ],
  ];
  for (const [text, detail] of cases) {
    assert.match(parseError(() => parseSinfoJson(text)).detail, detail, detail);
  }
});

// ---------------------------------------------------------------------------------------------
// Untrusted input: only a well-typed result or a SlurmParseError.

function survives(text: string): boolean {
  let nodes: SlurmNodeInfo[];
  try {
    nodes = parseSinfoJson(text);
  } catch (error) {
    if (error instanceof SlurmParseError) return false;
    throw error;
  }
  assert.ok(Array.isArray(nodes));
  for (const node of nodes) {
    for (const text of [node.name, node.address, node.hostname, node.reason]) assert.type(text, 'string');
    assert.ok(/^[a-z_]+$/.test(node.state));
    assert.ok(Number.isSafeInteger(node.cpus) && node.cpus >= 0);
    assert.ok(Number.isSafeInteger(node.realMemoryMiB) && node.realMemoryMiB >= 0);
    for (const list of [node.flags, node.partitions]) {
      assert.ok(Array.isArray(list));
      for (const item of list) assert.type(item, 'string');
    }
  }
  return true;
}

test('fuzz: arbitrary strings and JSON values', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      survives(text);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      survives(JSON.stringify(value) ?? 'null');
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue())), (nodes) => {
      survives(JSON.stringify({ nodes }));
    }),
    { numRuns: 300 },
  );
});

const READ_KEYS = [
  'name',
  'state',
  'state_flags',
  'address',
  'hostname',
  'cpus',
  'real_memory',
  'partitions',
  'reason',
];

test('fuzz: the fixture with one node field replaced or removed', () => {
  const baseline = parseSinfoJson(FIXTURE);
  const raw = (JSON.parse(FIXTURE) as { nodes: Json[] }).nodes[0] ?? {};
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.keys(raw)),
      fc.option(fc.jsonValue(), { nil: undefined }),
      (key, value) => {
        const text = withNode((node) => {
          if (value === undefined) delete node[key];
          else node[key] = value;
        });
        survives(text);
        if (!READ_KEYS.includes(key)) assert.equal(parseSinfoJson(text), baseline, `${key} is not read`);
      },
    ),
    { numRuns: 800 },
  );
});

test('fuzz: node-shaped records with plausible and arbitrary values', () => {
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 20, arbitrary: arb }, fc.jsonValue());
  const node = fc.record({
    name: maybe(fc.string()),
    state: maybe(fc.constantFrom('idle', 'mixed', 'allocated', 'down', 'IDLE', 'idle+drain', '')),
    state_flags: maybe(fc.option(fc.array(fc.constantFrom('DRAIN', 'NOT_RESPONDING', '')))),
    address: maybe(fc.string()),
    hostname: maybe(fc.string()),
    cpus: maybe(fc.integer({ min: -1, max: 1024 })),
    real_memory: maybe(fc.oneof(fc.nat(), fc.constant(2 ** 64))),
    partitions: maybe(fc.option(fc.array(fc.string()))),
    reason: maybe(fc.option(fc.string())),
  });
  let parsed = 0;
  fc.assert(
    fc.property(fc.array(node, { minLength: 1, maxLength: 3 }), (nodes) => {
      if (survives(JSON.stringify({ errors: [], nodes }))) parsed++;
    }),
    { numRuns: 1000 },
  );
  assert.ok(parsed > 50, `only ${parsed} of 1000 generated documents parsed`);
});

test.run();
