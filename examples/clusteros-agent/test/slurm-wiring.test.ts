// The agent's SLURM wiring: the Raft KV as the roles' store (create-only really is create-only),
// each member's cluster address, and the roles a node runs with the process tracking `auto`
// resolves to.
import { type KvResult, KvStateMachine } from '@clusteros/raft';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterAddressOf, roleStoreOf } from '../src/agent/role-store.js';
import { slurmRoles } from '../src/agent/slurm-wiring.js';
import { parseConfig } from '../src/config/load.js';

const KEY = 'test-only-cluster-key-0123456789abcdefXYZ';

function kvStore() {
  const machine = new KvStateMachine();
  let index = 0;
  const raft = { propose: async (command: Uint8Array) => machine.apply(command, ++index) as KvResult };
  return { machine, store: roleStoreOf(raft, machine) };
}

test('store: put and get go through the KV; create writes only a missing key', async () => {
  const { store } = kvStore();
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.is(store.get('/k'), undefined);
  await store.put('/k', bytes('one'));
  assert.equal(store.get('/k'), bytes('one'));
  assert.is(await store.create('/k', bytes('two')), false);
  assert.equal(store.get('/k'), bytes('one'), 'an existing key is never replaced');
  assert.is(await store.create('/new', bytes('three')), true);
  assert.equal(store.get('/new'), bytes('three'));
});

test('cluster address: the Tailscale IP, else the host of the Raft address', () => {
  assert.is(
    clusterAddressOf({ id: 'a', name: 'a', tags: { ts_ip: '100.64.0.7', raft: '10.0.0.1:7947' } }),
    '100.64.0.7',
  );
  assert.is(clusterAddressOf({ id: 'a', name: 'a', tags: { raft: '10.0.0.1:7947' } }), '10.0.0.1');
  assert.is(clusterAddressOf({ id: 'a', name: 'a', tags: { raft: '[fd7a::1]:7947' } }), 'fd7a::1');
  assert.is(clusterAddressOf({ id: 'a', name: 'a', tags: {} }), undefined);
});

test('roles: none without SLURM roles; auto tracking resolves through the detection', async () => {
  const config = parseConfig(`cluster:\n  name: dev\n  auth_key: ${KEY}\n`, { source: 'test.yaml' });
  const { store } = kvStore();
  const logged: unknown[] = [];
  const logger = { info: (fields: object) => logged.push(fields), warn: () => {} };
  const none = await slurmRoles({ id: 'n1', managed: ['cluster-coordinator'], config, store, logger });
  assert.equal(none.roles, []);
  assert.equal(none.services(), {});
  let asked = 0;
  const both = await slurmRoles({
    id: 'n1',
    managed: ['slurm-worker', 'slurm-controller'],
    config,
    store,
    logger,
    detectTracking: async () => {
      asked++;
      return 'cgroup';
    },
  });
  assert.equal(
    both.roles.map((r) => r.name),
    ['slurm-worker', 'slurm-controller'],
  );
  assert.is(asked, 1);
  assert.equal(logged, [{ processTracking: 'cgroup', setting: 'auto' }]);
  assert.equal(both.services(), {}, 'nothing runs before the roles start');
  const fixed = parseConfig(
    `cluster:\n  name: dev\n  auth_key: ${KEY}\nslurm:\n  process_tracking: linuxproc\n`,
    {
      source: 'test.yaml',
    },
  );
  await slurmRoles({
    id: 'n1',
    managed: ['slurm-worker'],
    config: fixed,
    store,
    logger,
    detectTracking: async () => {
      asked++;
      return 'cgroup';
    },
  });
  assert.is(asked, 1, 'an explicit setting is not detected');
});

test.run();
