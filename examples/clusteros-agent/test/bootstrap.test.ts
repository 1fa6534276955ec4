// The founding decision of a node with an empty data dir: join a cluster that exists, keep
// waiting for configured seeds, let gossip settle, and let only the smallest fresh name found.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type BootstrapInput, type BootstrapMember, decideStart } from '../src/agent/bootstrap.js';

const fresh = (id: string): BootstrapMember => ({ id, raftState: 'fresh', raftAddress: `${id}:7000` });
const member = (id: string): BootstrapMember => ({ id, raftState: 'member', raftAddress: `${id}:7000` });
const unknown = (id: string): BootstrapMember => ({ id, raftState: undefined, raftAddress: undefined });

function decide(over: Partial<BootstrapInput>) {
  return decideStart({ self: 'm', others: [], seeds: 0, selfIsSeed: false, settled: true, ...over });
}

test('join when another member already has Raft state; hints are those members’ addresses', () => {
  const decision = decide({
    others: [fresh('a'), member('x'), unknown('b'), member('y'), fresh('z')],
    seeds: 2,
    settled: false,
  });
  assert.equal(decision, { kind: 'join', hints: { x: 'x:7000', y: 'y:7000' } });
});

test('join takes precedence over everything else (unsettled, self a seed, smaller fresh names)', () => {
  for (const over of [
    { settled: false },
    { selfIsSeed: true, seeds: 3 },
    { others: [fresh('a'), member('q')] },
  ] satisfies Partial<BootstrapInput>[]) {
    const decision = decide({ others: [member('q')], ...over });
    assert.equal(decision, { kind: 'join', hints: { q: 'q:7000' } }, JSON.stringify(over));
  }
});

test('a member without a Raft address is not joined', () => {
  const decision = decide({ others: [{ id: 'x', raftState: 'member', raftAddress: undefined }] });
  assert.is.not(decision.kind, 'join');
});

test('wait while seeds are configured, this node is not one, and nobody else is seen', () => {
  const decision = decide({ seeds: 2, selfIsSeed: false, others: [], settled: true });
  assert.is(decision.kind, 'wait');
  assert.ok(decision.kind === 'wait' && /seed/.test(decision.reason), JSON.stringify(decision));
});

test('wait until gossip has settled', () => {
  for (const over of [
    { seeds: 0 },
    { seeds: 2, selfIsSeed: true },
    { seeds: 2, others: [fresh('z')] },
  ] satisfies Partial<BootstrapInput>[]) {
    const decision = decide({ ...over, settled: false });
    assert.is(decision.kind, 'wait', JSON.stringify(over));
    assert.ok(decision.kind === 'wait' && /settle/.test(decision.reason), JSON.stringify(decision));
  }
});

test('wait for a smaller fresh name to found the cluster, naming the smallest', () => {
  const decision = decide({ others: [fresh('k'), fresh('c'), fresh('z'), fresh('f')] });
  assert.equal(decision, { kind: 'wait', reason: 'waiting for c (smallest name) to found the cluster' });
});

test('bootstrap when this node has the smallest name, ignoring members without Raft state', () => {
  assert.equal(decide({ others: [fresh('n'), fresh('zz'), unknown('a'), unknown('b')] }), {
    kind: 'bootstrap',
  });
  assert.equal(decide({ others: [fresh('n')], seeds: 1 }), { kind: 'bootstrap' });
});

test('bootstrap with no seeds at all once settled, even alone', () => {
  assert.equal(decide({ seeds: 0, others: [], settled: true }), { kind: 'bootstrap' });
});

test('bootstrap when this node is a seed, even if nobody answered', () => {
  assert.equal(decide({ seeds: 2, selfIsSeed: true, others: [], settled: true }), { kind: 'bootstrap' });
});

test('names compare as strings: "m10" is smaller than "m9"', () => {
  assert.equal(decide({ self: 'm10', others: [fresh('m9')] }), { kind: 'bootstrap' });
  assert.is(decide({ self: 'm9', others: [fresh('m10')] }).kind, 'wait');
});

test.run();
