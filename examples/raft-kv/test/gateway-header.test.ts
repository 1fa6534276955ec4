// Every answer carries etcd's response header: the cluster, this member's id, the revision the
// answer reflects and the member's current Raft term (read per request, so a new term shows at
// once without the member's full status being built for every response).
import { encodeKvCommand, type KvQuery, type KvQueryResult, KvStateMachine } from '@clusteros/raft';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createGatewayHandler, type GatewayBackend } from '../src/gateway.js';

test('responses carry cluster_id, member_id, revision and the current raft_term', async () => {
  const machine = new KvStateMachine();
  let term = 3;
  let statusCalls = 0;
  let index = 0;
  const backend: GatewayBackend = {
    propose: async (command) => machine.apply(encodeKvCommand({ now: 0, command }), ++index),
    read: (query: KvQuery): Promise<KvQueryResult> => Promise.resolve(machine.query(query)),
    term: () => term,
    status: () => {
      statusCalls++;
      return {
        id: 'n2',
        term,
        leader: 'n2',
        commitIndex: index,
        appliedIndex: index,
        revision: machine.revision,
      };
    },
    transferLeadership: () => Promise.resolve(),
    memberId: (name) => (name === 'n2' ? '22' : '0'),
    memberName: () => 'n2',
    clusterId: '7',
    id: 'n2',
  };
  const handle = createGatewayHandler(backend);
  const put = await handle('/v3/kv/put', 'POST', () => JSON.stringify({ key: btoa('k'), value: btoa('v') }));
  assert.is(put.status, 200);
  assert.equal(JSON.parse(put.body).header, {
    cluster_id: '7',
    member_id: '22',
    revision: '1',
    raft_term: '3',
  });
  assert.is(statusCalls, 0, 'a write answer needs no status');
  term = 4;
  const range = await handle('/v3/kv/range', 'POST', () => JSON.stringify({ key: btoa('k') }));
  assert.equal(JSON.parse(range.body).header, {
    cluster_id: '7',
    member_id: '22',
    revision: '1',
    raft_term: '4',
  });
});

test.run();
