// What the SLURM roles read back from the cluster store is untrusted: the controller record and
// the shipped state decode to exactly what was written, and anything else is a typed error
// (never a crash, never a half-read value). Record ordering: token first, then seq.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderSlurmConf } from '../src/conf/render.js';
import { DEBIAN_SLURM_LAYOUT } from '../src/roles/layout.js';
import { modelForRecord } from '../src/roles/node-runtime.js';
import { decodeShippedState, encodeShippedState } from '../src/roles/shipped-state.js';
import {
  decodeControllerRecord,
  encodeControllerRecord,
  isNewerRecord,
  recordVersion,
  type SlurmControllerRecord,
  SlurmRecordError,
} from '../src/roles/store.js';
import { packState } from '../src/state/pack.js';

const RECORD: SlurmControllerRecord = {
  token: 12,
  seq: 3,
  node: 'n1',
  host: 'n1',
  address: '10.77.0.10',
  nodes: [
    { name: 'n1', address: '10.77.0.10', cpus: 2, memoryBytes: 4 * 2 ** 30 },
    {
      name: 'n2',
      address: '10.77.0.11',
      cpus: 4,
      memoryBytes: 8 * 2 ** 30,
      gpus: { count: 1, files: ['/dev/nvidia0'] },
    },
  ],
};

test('controller record: round trip, version string, ordering', () => {
  assert.equal(decodeControllerRecord(encodeControllerRecord(RECORD)), RECORD);
  assert.is(recordVersion(RECORD), '12.3');
  assert.ok(isNewerRecord(RECORD, undefined));
  assert.ok(isNewerRecord({ token: 13, seq: 0 }, RECORD), 'a higher token wins over any seq');
  assert.ok(isNewerRecord({ token: 12, seq: 4 }, RECORD));
  assert.not.ok(isNewerRecord({ token: 12, seq: 3 }, RECORD));
  assert.not.ok(isNewerRecord({ token: 11, seq: 99 }, RECORD), 'an older holder never wins');
});

test('controller record: malformed values are SlurmRecordErrors naming the problem', () => {
  const bad = (value: unknown, why: RegExp): void => {
    const bytes = new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
    assert.throws(
      () => decodeControllerRecord(bytes),
      (e: unknown) => e instanceof SlurmRecordError && why.test((e as Error).message),
    );
  };
  bad('not json', /not JSON/);
  bad([], /not an object/);
  bad({ ...RECORD, v: 2 }, /version/);
  bad({ v: 1, ...RECORD, token: -1 }, /token/);
  bad({ v: 1, ...RECORD, seq: 1.5 }, /seq/);
  bad({ v: 1, ...RECORD, address: 'slurmctl; rm -rf /' }, /address/);
  bad({ v: 1, ...RECORD, host: 'a b' }, /host/);
  bad({ v: 1, ...RECORD, nodes: [] }, /nodes/);
  bad({ v: 1, ...RECORD, nodes: [{ ...RECORD.nodes[0], name: 'bad name' }] }, /name/);
  bad({ v: 1, ...RECORD, nodes: [{ ...RECORD.nodes[0], cpus: 0 }] }, /cpus/);
  bad({ v: 1, ...RECORD, nodes: [{ ...RECORD.nodes[0], address: 'x\ny' }] }, /address/);
  assert.throws(() => decodeControllerRecord(new Uint8Array(300 * 1024)), /too large/);
});

test('controller record: fuzzed bytes and fuzzed fields never throw anything but SlurmRecordError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      try {
        decodeControllerRecord(bytes);
      } catch (error) {
        if (!(error instanceof SlurmRecordError)) throw error;
      }
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.constantFrom('token', 'seq', 'node', 'host', 'address', 'nodes'),
      fc.anything(),
      (field, value) => {
        const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, ...RECORD, [field]: value }));
        try {
          decodeControllerRecord(bytes);
        } catch (error) {
          if (!(error instanceof SlurmRecordError)) throw error;
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('the model for a record: the alias as the controller address, accounting and MaxNodeCount from the layout', () => {
  const layout = { ...DEBIAN_SLURM_LAYOUT, maxNodeCount: 1, accounting: { host: 'db1', port: 16819 } };
  const model = modelForRecord(layout, RECORD);
  assert.equal(model.controller, { host: 'n1', address: 'slurmctl' });
  assert.is(model.maxNodeCount, 2, 'never fewer than the static nodes');
  const conf = renderSlurmConf(model);
  assert.match(conf, /^AccountingStorageHost=db1$/m);
  assert.match(conf, /^AccountingStoragePort=16819$/m);
  assert.match(conf, /^SlurmctldHost=n1\(slurmctl\)$/m);
  assert.not.match(renderSlurmConf(modelForRecord(DEBIAN_SLURM_LAYOUT, RECORD)), /AccountingStorageHost/);
});

test('shipped state: round trip with its header; corruption anywhere is a typed error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-shipped-'));
  try {
    await writeFile(join(dir, 'job_state'), 'jobs');
    await writeFile(join(dir, 'node_state'), 'nodes');
    const archive = await packState(dir);
    const value = encodeShippedState(
      { node: 'n1', token: 4, at: 1_700_000_000_000, reason: 'periodic' },
      archive,
    );
    const decoded = decodeShippedState(value);
    assert.equal(decoded.archive, archive);
    assert.equal(
      { ...decoded.header, sha256: undefined },
      { node: 'n1', token: 4, at: 1_700_000_000_000, reason: 'periodic', sha256: undefined },
    );
    fc.assert(
      fc.property(fc.nat(value.byteLength - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const copy = new Uint8Array(value);
        copy[index] = (copy[index] ?? 0) ^ flip;
        try {
          decodeShippedState(copy);
          // A flip inside the JSON header can leave it valid only if it changes no checked value.
        } catch (error) {
          assert.is((error as { reason?: string }).reason, 'state');
        }
      }),
      { numRuns: 300 },
    );
    for (let cut = 0; cut < value.byteLength; cut += 7)
      assert.throws(
        () => decodeShippedState(value.slice(0, cut)),
        (e: unknown) => (e as { reason?: string }).reason === 'state',
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
