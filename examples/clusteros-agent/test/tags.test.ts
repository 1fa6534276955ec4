// The agent's gossip tags: what it publishes (fits memberlist's 512-byte metadata, survives the
// Serf encoding, its own names win over operator tags), what it trusts of a peer's tags (malformed
// values are dropped, never thrown), and host:port joining with IPv6 brackets.
import { decodeTags, encodeTags } from '@clusteros/membership';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AGENT_TAG, type AgentTagInput, agentTags, joinHostPort, readPeerTags } from '../src/agent/tags.js';
import { CAPABILITY_TAG_KEYS } from '../src/capabilities.js';
import { TAG } from '../src/dashboard-sources.js';

const FP = '0123456789abcdef0123456789abcdef';

function realisticNode(over: Partial<AgentTagInput> = {}): AgentTagInput {
  return {
    name: 'gpu-node-17.rack3.example.org',
    roles: ['cluster-coordinator', 'slurm-controller', 'slurm-worker', 'k3s-server', 'k3s-agent'],
    tailscaleIp: '100.101.102.103',
    fingerprint: FP,
    raftAddress: '100.101.102.103:7700',
    apiAddress: '100.101.102.103:8080',
    raftState: 'member',
    capabilities: {
      cpuCores: 128,
      ramBytes: 1_099_511_627_776,
      arch: 'x64',
      gpus: 8,
      gpuMemoryBytes: 8 * 85_899_345_920,
    },
    priority: 10,
    extra: { rack: 'rack-03', zone: 'eu-west-1a' },
    ...over,
  };
}

test('agentTags: a realistic node round-trips through encodeTags/decodeTags within 512 bytes', () => {
  const tags = agentTags(realisticNode());
  const meta = encodeTags(tags);
  assert.ok(meta.length <= 512, `encoded tags are ${meta.length} bytes`);
  const decoded = decodeTags(meta);
  assert.equal({ ...decoded }, tags);
  assert.equal(
    { ...decoded },
    {
      rack: 'rack-03',
      zone: 'eu-west-1a',
      [TAG.name]: 'gpu-node-17.rack3.example.org',
      [TAG.roles]: 'cluster-coordinator,slurm-controller,slurm-worker,k3s-server,k3s-agent',
      [TAG.tailscaleIp]: '100.101.102.103',
      [AGENT_TAG.fingerprint]: FP,
      [AGENT_TAG.raft]: '100.101.102.103:7700',
      [AGENT_TAG.api]: '100.101.102.103:8080',
      [AGENT_TAG.raftState]: 'member',
      [AGENT_TAG.priority]: '10',
      cpu_cores: '128',
      ram_bytes: '1099511627776',
      arch: 'x64',
      gpus: '8',
      gpu_mem_bytes: '687194767360',
    },
  );
  // And the peer reading of those tags gives back what was published.
  assert.equal(readPeerTags(decoded), {
    fingerprint: FP,
    raftAddress: '100.101.102.103:7700',
    apiAddress: '100.101.102.103:8080',
    raftState: 'member',
    capabilities: realisticNode().capabilities,
  });
});

test('agentTags: no ts_ip tag off a tailnet', () => {
  const tags = agentTags(realisticNode({ tailscaleIp: null }));
  assert.not.ok(TAG.tailscaleIp in tags);
  assert.is(tags[AGENT_TAG.raftState], 'member');
});

test('agentTags: the agent’s own tag names win over operator tags on a clash', () => {
  const tags = agentTags(
    realisticNode({
      raftState: 'fresh',
      extra: {
        [TAG.name]: 'impostor',
        [TAG.roles]: 'everything',
        [AGENT_TAG.fingerprint]: 'f'.repeat(32),
        [AGENT_TAG.raft]: 'evil:1',
        [AGENT_TAG.raftState]: 'member',
        [AGENT_TAG.priority]: '999',
        cpu_cores: '100000',
        arch: 'sparc',
        rack: 'rack-03',
      },
    }),
  );
  assert.is(tags[TAG.name], 'gpu-node-17.rack3.example.org');
  assert.is(tags[TAG.roles], 'cluster-coordinator,slurm-controller,slurm-worker,k3s-server,k3s-agent');
  assert.is(tags[AGENT_TAG.fingerprint], FP);
  assert.is(tags[AGENT_TAG.raft], '100.101.102.103:7700');
  assert.is(tags[AGENT_TAG.raftState], 'fresh');
  assert.is(tags[AGENT_TAG.priority], '10');
  assert.is(tags.cpu_cores, '128');
  assert.is(tags.arch, 'x64');
  assert.is(tags.rack, 'rack-03', 'operator tags that do not clash are kept');
});

function goodPeer(): Record<string, string> {
  return agentTags(realisticNode());
}

test('readPeerTags: a bad fingerprint is dropped, the rest kept', () => {
  for (const fp of ['', 'abc', FP.toUpperCase(), `${FP}0`, FP.slice(1), `${FP.slice(1)}g`]) {
    const peer = readPeerTags({ ...goodPeer(), [AGENT_TAG.fingerprint]: fp });
    assert.is(peer.fingerprint, undefined, fp);
    assert.not.ok('fingerprint' in peer, fp);
    assert.is(peer.raftAddress, '100.101.102.103:7700');
  }
  const missing = goodPeer();
  delete missing[AGENT_TAG.fingerprint];
  assert.not.ok('fingerprint' in readPeerTags(missing));
});

test('readPeerTags: a Raft address without a port or with a port out of range is dropped', () => {
  for (const raft of [
    '10.0.0.1',
    'node-a',
    '10.0.0.1:',
    '10.0.0.1:0',
    '10.0.0.1:70000',
    '10.0.0.1:65536',
    '10.0.0.1:123456',
    ':7000',
    'fd7a::1:7000:x',
    '[fd7a::1]',
    'bad host:7000',
    '',
  ]) {
    const peer = readPeerTags({ ...goodPeer(), [AGENT_TAG.raft]: raft });
    assert.not.ok('raftAddress' in peer, raft);
    assert.is(peer.fingerprint, FP, raft);
  }
  for (const raft of ['10.0.0.1:1', 'node-a.example:65535', '[fd7a:115c:a1e0::1]:7700']) {
    assert.is(readPeerTags({ ...goodPeer(), [AGENT_TAG.raft]: raft }).raftAddress, raft);
  }
});

test('readPeerTags: a bad dashboard address is dropped too', () => {
  for (const api of ['10.0.0.1', '10.0.0.1:0', '10.0.0.1:99999']) {
    const peer = readPeerTags({ ...goodPeer(), [AGENT_TAG.api]: api });
    assert.not.ok('apiAddress' in peer, api);
    assert.is(peer.raftAddress, '100.101.102.103:7700');
  }
});

test('readPeerTags: an unknown raft_state is dropped', () => {
  for (const state of ['leader', 'MEMBER', 'Fresh', '', 'member ']) {
    const peer = readPeerTags({ ...goodPeer(), [AGENT_TAG.raftState]: state });
    assert.not.ok('raftState' in peer, state);
  }
  assert.is(readPeerTags({ ...goodPeer(), [AGENT_TAG.raftState]: 'fresh' }).raftState, 'fresh');
});

test('readPeerTags: bad capability tags drop the capabilities, never throw', () => {
  const bad: Record<string, string>[] = [
    { cpu_cores: 'abc' },
    { cpu_cores: '0' },
    { cpu_cores: '012' },
    { ram_bytes: '-1' },
    { arch: 'X86 64' },
    { gpus: '0', gpu_mem_bytes: '1024' },
    { gpus: '1e3' },
  ];
  for (const change of bad) {
    const peer = readPeerTags({ ...goodPeer(), ...change });
    assert.not.ok('capabilities' in peer, JSON.stringify(change));
    assert.is(peer.fingerprint, FP);
    assert.is(peer.raftState, 'member');
  }
  for (const key of CAPABILITY_TAG_KEYS) {
    const tags = goodPeer();
    delete tags[key];
    assert.not.ok('capabilities' in readPeerTags(tags), `without ${key}`);
  }
});

test('readPeerTags: empty tags give an empty reading', () => {
  assert.equal(readPeerTags({}), {});
});

test('joinHostPort: IPv6 literals are bracketed, other hosts are not', () => {
  assert.is(joinHostPort('fd7a:115c:a1e0::1', 7700), '[fd7a:115c:a1e0::1]:7700');
  assert.is(joinHostPort('::1', 1), '[::1]:1');
  assert.is(joinHostPort('100.64.0.1', 7700), '100.64.0.1:7700');
  assert.is(joinHostPort('node-a.example', 80), 'node-a.example:80');
  // What joinHostPort makes, readPeerTags accepts.
  const raft = joinHostPort('fd7a:115c:a1e0::1', 7700);
  assert.is(readPeerTags({ [AGENT_TAG.raft]: raft }).raftAddress, raft);
});

test.run();
