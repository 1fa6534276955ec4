// raft-kv puts every write in a client session of the KV machine while it is in flight (a
// pool per member), so that a write Raft commits twice is applied once; a member with every
// session in flight answers as an overloaded etcd does.
import {
  decodeKvCommand,
  encodeKvCommand,
  type KvCommand,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvSessionPool,
  KvStateMachine,
} from '@clusteros/raft';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createGatewayHandler, type GatewayBackend } from '../src/gateway.js';

/** A gateway over one KV machine whose proposals the test settles by hand. */
function gatewayWithPool(limit: number) {
  const machine = new KvStateMachine();
  const sessions = new KvSessionPool({ prefix: 'raft-kv/test', limit });
  const inFlight: { bytes: Uint8Array; settle: () => void }[] = [];
  let index = 0;
  const backend: GatewayBackend = {
    propose: (command: KvCommand) =>
      sessions.withSession(
        (client, seq) =>
          new Promise<KvResult>((resolve) => {
            const bytes = encodeKvCommand({ now: 0, client, seq, command });
            inFlight.push({ bytes, settle: () => resolve(machine.apply(bytes, ++index)) });
          }),
      ),
    read: (_query: KvQuery): Promise<KvQueryResult> => Promise.reject(new Error('not used')),
    term: () => 1,
    status: () => ({
      id: 'a',
      term: 1,
      leader: 'a',
      commitIndex: index,
      appliedIndex: index,
      revision: machine.revision,
    }),
    transferLeadership: () => Promise.resolve(),
    memberId: () => '1',
    memberName: () => 'a',
    clusterId: '7',
    id: 'a',
  };
  const handle = createGatewayHandler(backend);
  const put = (value: string) =>
    handle('/v3/kv/put', 'POST', () => JSON.stringify({ key: btoa('k'), value: btoa(value) }));
  return { machine, inFlight, put };
}

test('writes in flight at once are in sessions of their own; a copy committed twice applies once', async () => {
  const { machine, inFlight, put } = gatewayWithPool(4);
  const answers = [put('a'), put('b')];
  await until(() => inFlight.length === 2);
  const sessionsUsed = inFlight.map((w) => decodeKvCommand(w.bytes).client);
  assert.is(new Set(sessionsUsed).size, 2);
  for (const w of inFlight) w.settle();
  assert.equal(
    (await Promise.all(answers)).map((a) => a.status),
    [200, 200],
  );
  // The same bytes committed again (a retried forward) change nothing and get the same answer.
  const again = machine.apply((inFlight[0] as { bytes: Uint8Array }).bytes, 99);
  assert.equal(again, { type: 'put', revision: 1 });
  assert.is(machine.revision, 2);
});

test('a member with every session in flight answers 429 "too many requests" and proposes nothing', async () => {
  const { inFlight, put } = gatewayWithPool(2);
  const held = [put('a'), put('b')];
  await until(() => inFlight.length === 2);
  const refused = await put('c');
  assert.is(refused.status, 429);
  assert.equal(JSON.parse(refused.body), {
    error: 'etcdserver: too many requests',
    message: 'etcdserver: too many requests',
    code: 8,
  });
  assert.is(inFlight.length, 2, 'the refused write was not proposed');
  for (const w of inFlight) w.settle();
  await Promise.all(held);
  // Sessions are free again.
  const next = put('d');
  await until(() => inFlight.length === 3);
  inFlight[2]?.settle();
  assert.is((await next).status, 200);
});

/** Waits (bounded) for the gateway's asynchronous parsing to reach the proposal. */
async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !ready(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(ready(), 'condition not reached');
}

test.run();
