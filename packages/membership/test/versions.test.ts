// The protocol compatibility check run before merging remote state (state.go: verifyProtocol,
// MEMBERLIST-WIRE.md §9): alive nodes with versions narrow the accepted range, and every node,
// local or remote, alive or not, must speak a protocol and delegate version inside it.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeState } from '../src/index.js';
import { checkProtocolCompatibility, type VersionedNode } from '../src/runtime/versions.js';

const node = (name: string, vsn: number[] | null, state: NodeState = NodeState.alive): VersionedNode => ({
  name,
  state,
  vsn: vsn === null ? null : Uint8Array.from(vsn),
});

// Vsn = [pmin, pmax, pcur, dmin, dmax, dcur]
const PLAIN = [1, 5, 2, 0, 0, 0]; // this implementation without a delegate protocol
const SERF = [1, 5, 2, 2, 5, 4]; // Serf 0.9.4 (MEMBERLIST-WIRE.md §13)

test('compatible clusters pass', () => {
  assert.is(checkProtocolCompatibility([], []), null);
  assert.is(checkProtocolCompatibility([node('a', PLAIN)], [node('b', PLAIN)]), null);
  assert.is(checkProtocolCompatibility([node('a', SERF), node('b', SERF)], [node('c', SERF)]), null);
  // A node speaking protocol 4 is fine when everyone understands 1..5.
  assert.is(checkProtocolCompatibility([node('a', [1, 5, 4, 0, 0, 0])], [node('b', PLAIN)]), null);
});

test('a protocol version outside what every alive node understands is refused, naming the node', () => {
  // b understands only 3..5, so a speaking 2 is incompatible.
  const why = checkProtocolCompatibility([node('a', PLAIN)], [node('b', [3, 5, 3, 0, 0, 0])]);
  assert.is(why, "node 'a' protocol version (2) is incompatible: [3, 5]");
  // The same from the other side: the remote's narrow range makes the local node incompatible.
  assert.is(
    checkProtocolCompatibility([node('r', [1, 2, 2, 0, 0, 0])], [node('l', [1, 5, 4, 0, 0, 0])]),
    "node 'l' protocol version (4) is incompatible: [1, 2]",
  );
});

test('delegate versions: a plain node (delegate 0) and a Serf node (2..5) cannot share a cluster', () => {
  assert.is(
    checkProtocolCompatibility([node('serf', SERF)], [node('plain', PLAIN)]),
    "node 'serf' delegate protocol version (4) is incompatible: [2, 0]",
  );
  // Advertising Serf's range and version makes it compatible.
  assert.is(checkProtocolCompatibility([node('serf', SERF)], [node('me', [1, 5, 2, 2, 5, 4])]), null);
});

test('dead, left and suspect nodes do not narrow the range but are still checked', () => {
  const narrow = [3, 5, 3, 0, 0, 0];
  for (const state of [NodeState.dead, NodeState.left, NodeState.suspect]) {
    // Not alive: its narrow range is ignored, but its own current version (3) is inside [1, 5].
    assert.is(checkProtocolCompatibility([node('x', narrow, state)], [node('me', PLAIN)]), null);
    // Its current version is still checked against the alive nodes' range.
    const old = [1, 1, 1, 0, 0, 0];
    assert.is(
      checkProtocolCompatibility([node('x', old, state)], [node('me', [2, 5, 2, 0, 0, 0])]),
      "node 'x' protocol version (1) is incompatible: [2, 5]",
    );
  }
});

test('nodes without versions count as version 0 and do not narrow the range', () => {
  // memberlist skips empty Vsn when computing the range and reads their current versions as 0.
  assert.is(
    checkProtocolCompatibility([node('old', [])], [node('me', PLAIN)]),
    "node 'old' protocol version (0) is incompatible: [1, 5]",
  );
  assert.is(checkProtocolCompatibility([node('old', null)], []), null);
  // Short arrays from a bad peer are read without throwing.
  assert.ok(checkProtocolCompatibility([node('bad', [1, 5])], [node('me', PLAIN)]) !== null);
});

test('the verdict equals a direct transcription of verifyProtocol for random clusters', () => {
  const vsn = fc.tuple(
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 6 }),
  );
  const member = fc.record({
    state: fc.constantFrom(
      NodeState.alive,
      NodeState.alive,
      NodeState.suspect,
      NodeState.dead,
      NodeState.left,
    ),
    vsn,
  });
  fc.assert(
    fc.property(fc.array(member, { maxLength: 5 }), fc.array(member, { maxLength: 5 }), (remote, local) => {
      const r = remote.map((m, i) => node(`r${i}`, m.vsn, m.state));
      const l = local.map((m, i) => node(`l${i}`, m.vsn, m.state));
      let maxPMin = 0;
      let minPMax = 255;
      let maxDMin = 0;
      let minDMax = 255;
      for (const m of [...remote, ...local]) {
        if (m.state !== NodeState.alive) continue;
        maxPMin = Math.max(maxPMin, m.vsn[0]);
        minPMax = Math.min(minPMax, m.vsn[1]);
        maxDMin = Math.max(maxDMin, m.vsn[3]);
        minDMax = Math.min(minDMax, m.vsn[4]);
      }
      const ok = [...remote, ...local].every(
        (m) => m.vsn[2] >= maxPMin && m.vsn[2] <= minPMax && m.vsn[5] >= maxDMin && m.vsn[5] <= minDMax,
      );
      assert.is(checkProtocolCompatibility(r, l) === null, ok);
    }),
    { numRuns: 1000 },
  );
});

test.run();
