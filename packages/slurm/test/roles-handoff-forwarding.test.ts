// The old holder's side of a controller handoff, wired as the role runs it: after
// `prepareHandoff` its forwarder listens on its own controller address, holds a client without
// dialling the new holder until the lease has moved to the new holder or its controller record
// is in the store (either under a newer fencing token), and then forwards the client's bytes.
// The new holder's address is served here by a listener that answers at once, as the new
// holder's forwarder from an earlier handoff (pointing back at the old holder) would: dialling
// it early is what sent clients round in a loop.
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { LeaderInfo, NodeRef } from '@clusteros/roles';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitUntil } from '../src/daemons/wait.js';
import { SlurmControllerRole } from '../src/roles/controller-role.js';
import { SlurmNodeRuntime } from '../src/roles/node-runtime.js';
import { encodeControllerRecord, SLURM_STORE_KEYS, type SlurmControllerRecord } from '../src/roles/store.js';
import { MemoryStore, makeRoleLab, roleContext } from './support/role-harness.js';
import { reply } from './support/sockets.js';

const OLD_HOLDER: NodeRef = {
  id: 'old',
  name: 'old',
  address: '127.0.0.2:9090',
  tags: { ts_ip: '127.0.0.2' },
};
const NEW_HOLDER: NodeRef = {
  id: 'new',
  name: 'new',
  address: '127.0.0.3:9090',
  tags: { ts_ip: '127.0.0.3' },
};

function record(node: NodeRef, token: number): SlurmControllerRecord {
  const address = node.tags?.ts_ip as string;
  const nodes = [OLD_HOLDER, NEW_HOLDER].map((n) => ({
    name: n.id,
    address: n.tags?.ts_ip as string,
    cpus: 2,
    memoryBytes: 2 ** 31,
  }));
  return { token, seq: 0, node: node.id, host: node.id, address, nodes };
}

/** A store that counts reads of the controller record (how often the forwarder's gate looked). */
class CountingStore extends MemoryStore {
  recordReads = 0;
  override get(key: string): Uint8Array | undefined {
    if (key === SLURM_STORE_KEYS.controller) this.recordReads++;
    return super.get(key);
  }
}

/**
 * The old holder after `prepareHandoff` to the new one, whose address is served by a listener
 * that counts dials; a client connected to the old address with its request sent. `lease` is
 * what the old holder's context reports as the lease's holder.
 */
async function preparedHandoff(lease: { current: LeaderInfo }) {
  const { lab, layout } = await makeRoleLab('linuxproc');
  const store = new CountingStore();
  const runtime = new SlurmNodeRuntime({ nodeId: OLD_HOLDER.id, store, layout });
  const role = new SlurmControllerRole({ runtime });
  const base = roleContext('slurm-controller', OLD_HOLDER, () => [OLD_HOLDER, NEW_HOLDER], 7);
  const ctx: typeof base = { ...base, leader: () => lease.current };
  const port = layout.ports?.slurmctld as number;
  const dials = { count: 0 };
  const newAddress = createServer((socket) => {
    dials.count++;
    socket.on('data', (data) => socket.write(`new:${data}`));
  });
  newAddress.listen(port, '127.0.0.3');
  await once(newAddress, 'listening');
  const cleanup = async (): Promise<void> => {
    // No SLURM daemon ran: stopping the role (which closes the forwarder) and the files is all.
    await role.stop(ctx, 'shutdown');
    await rm(lab, { recursive: true, force: true });
    await new Promise((resolve) => newAddress.close(resolve));
  };
  try {
    // The old holder's saved state and its own record, as after a stopped slurmctld.
    await mkdir(layout.paths.stateSaveLocation, { recursive: true });
    await writeFile(join(layout.paths.stateSaveLocation, 'job_state'), 'state');
    await store.put(SLURM_STORE_KEYS.controller, encodeControllerRecord(record(OLD_HOLDER, 7)));
    await role.prepareHandoff(ctx, NEW_HOLDER);
    const client = connect({ host: '127.0.0.2', port });
    await once(client, 'connect');
    client.write('squeue');
    const answer = reply(client, 10_000);
    // The gate looks at the record each time it is asked (every 50 ms while the client waits).
    const looked = (times: number): Promise<void> => {
      const from = store.recordReads;
      return waitUntil(
        `${times} looks at the record`,
        5_000,
        async () => (store.recordReads >= from + times ? true : undefined),
        10,
      ).then(() => undefined);
    };
    return { store, client, answer, dials, looked, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

test('the old holder dials the new holder once its newer controller record is published', async () => {
  const lease = { current: { nodeId: OLD_HOLDER.id, fencingToken: 7 } };
  const { store, client, answer, dials, looked, cleanup } = await preparedHandoff(lease);
  try {
    await looked(3);
    assert.is(dials.count, 0, 'not dialled while lease and record name the old holder');
    // A record naming the new holder under an older token is not its publication.
    await store.put(SLURM_STORE_KEYS.controller, encodeControllerRecord(record(NEW_HOLDER, 6)));
    await looked(3);
    assert.is(dials.count, 0, 'not dialled for a stale record');
    await store.put(SLURM_STORE_KEYS.controller, encodeControllerRecord(record(NEW_HOLDER, 8)));
    assert.is(await answer, 'new:squeue', "the client's request reaches the new holder");
    assert.is(dials.count, 1);
  } finally {
    client.destroy();
    await cleanup();
  }
});

test('the old holder dials the new holder once the lease has moved there under a newer token', async () => {
  const lease = { current: { nodeId: OLD_HOLDER.id, fencingToken: 7 } };
  const { client, answer, dials, looked, cleanup } = await preparedHandoff(lease);
  try {
    await looked(3);
    assert.is(dials.count, 0, 'not dialled while the old holder holds the lease');
    lease.current = { nodeId: NEW_HOLDER.id, fencingToken: 6 };
    await looked(3);
    assert.is(dials.count, 0, 'not dialled for an older lease of the new holder');
    // The record still names the old holder: the moved lease alone opens the way.
    lease.current = { nodeId: NEW_HOLDER.id, fencingToken: 8 };
    assert.is(await answer, 'new:squeue', "the client's request reaches the new holder");
    assert.is(dials.count, 1);
  } finally {
    client.destroy();
    await cleanup();
  }
});

test.run();
