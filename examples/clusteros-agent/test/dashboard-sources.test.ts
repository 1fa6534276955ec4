// The agent's dashboard adapters: what membership, Raft and the role manager report comes out of
// the dashboard as valid wire shapes (checked against the dashboard's own schemas), with the
// right statuses, roles, addresses and leaders, and live events for every kind.
import {
  createDashboard,
  type Dashboard,
  LeadersResponse,
  NodesResponse,
  StatusResponse,
} from '@clusteros/dashboard';
import { decodeTags, encodeTags, type Memberlist } from '@clusteros/membership';
import type { RaftNode } from '@clusteros/raft';
import type { RoleManager } from '@clusteros/roles';
import { EventEmitter } from 'eventemitter3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  eventsSource,
  leadershipSource,
  type MembershipView,
  type MemberView,
  membershipSource,
  type RaftView,
  type RoleManagerView,
  rolesFromTag,
  rolesSource,
} from '../src/dashboard-sources.js';

// The real objects satisfy the views the adapters ask for (checked by the compiler).
export const realViews = (
  list: Memberlist,
  manager: RoleManager,
  raft: RaftNode,
): [MembershipView, RoleManagerView, RaftView] => [list, manager, raft];

function member(name: string, state: MemberView['state'], tags: Record<string, string>): MemberView {
  return { name, addr: '127.0.0.1', port: 7946, meta: encodeTags(tags), state };
}

const members: MemberView[] = [
  member('n1', 'alive', {
    name: 'alpha',
    roles: 'slurm-worker, slurm-controller',
    ts_ip: '100.64.0.1',
    cpu_cores: '8',
  }),
  member('n2', 'suspect', { name: 'bravo', roles: 'slurm-worker' }),
  member('n3', 'dead', {}),
];

const manager: RoleManagerView = {
  statuses: () => [
    {
      role: 'munge',
      running: true,
      healthy: true,
      leader: false,
      since: Date.UTC(2026, 10, 30),
      detail: 'ok',
    },
    {
      role: 'slurm-controller',
      running: true,
      healthy: true,
      leader: true,
      since: null,
      detail: 'slurmctld pid 42',
    },
  ],
  leaders: () => [
    { role: 'slurm-controller', nodeId: 'n1', fencingToken: 17 },
    { role: 'k3s-server', nodeId: null, fencingToken: null },
    { role: 'raft', nodeId: 'n2', fencingToken: null },
  ],
};

const raft: RaftView = { id: 'n1', status: () => ({ term: 5, leader: 'n2', role: 'follower' }) };

function dashboard(): Dashboard {
  return createDashboard({
    membership: membershipSource(
      { allNodes: () => members },
      {
        decodeTags,
        capabilities: (tags) =>
          tags.cpu_cores === undefined
            ? null
            : { cpu_cores: Number(tags.cpu_cores), ram_bytes: 0, gpus: 0, arch: 'x64' },
        seen: (name) =>
          name === 'n1'
            ? { joinedAt: Date.UTC(2026, 10, 30, 1), lastSeen: Date.UTC(2026, 10, 30, 2) }
            : undefined,
      },
    ),
    roles: rolesSource(manager),
    leadership: leadershipSource(raft, manager, {
      lookup: (id) =>
        id === 'n1' ? { name: 'alpha', address: '127.0.0.1', tailscaleIp: '100.64.0.1' } : undefined,
    }),
  });
}

async function json(d: Dashboard, path: string): Promise<unknown> {
  const response = await d.fetch(new Request(`http://node${path}`));
  assert.is(response.status, 200, path);
  return response.json();
}

test('members become dashboard nodes with status, roles, addresses and capabilities', async () => {
  const d = dashboard();
  const parsed = NodesResponse.safeParse(await json(d, '/api/v1/nodes'));
  d.close();
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  const nodes = parsed.data.nodes;
  assert.ok(Array.isArray(nodes));
  assert.equal(
    nodes.map((n) => [n.id, n.name, n.status, n.roles]),
    [
      ['n1', 'alpha', 'alive', ['slurm-worker', 'slurm-controller']],
      ['n2', 'bravo', 'suspect', ['slurm-worker']],
      ['n3', 'n3', 'dead', []],
    ],
  );
  assert.is(nodes[0]?.addresses.tailscale_ip, '100.64.0.1');
  assert.is(nodes[0]?.addresses.gossip, '127.0.0.1:7946');
  assert.is(nodes[0]?.capabilities?.cpu_cores, 8);
  assert.is(nodes[1]?.capabilities, null);
  assert.is(nodes[0]?.joined_at, '2026-11-30T01:00:00.000Z');
  assert.is(nodes[1]?.last_seen, null);
});

test('status carries roles and Raft leadership; discovery counts come from membership', async () => {
  const d = dashboard();
  const parsed = StatusResponse.safeParse(await json(d, '/api/v1/status'));
  d.close();
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  assert.equal(parsed.data.leadership, { raft_leader: 'n2', is_leader: false, term: 5 });
  assert.equal(parsed.data.discovery, { members: 3, alive: 1, suspect: 1 });
  const roles = parsed.data.roles as Record<string, { leader: boolean; since: string | null }>;
  assert.is(roles['slurm-controller']?.leader, true);
  assert.is(roles.munge?.since, '2026-11-30T00:00:00.000Z');
});

test('leaders name the holder, its addresses and fencing token; free roles read null', async () => {
  const d = dashboard();
  const parsed = LeadersResponse.safeParse(await json(d, '/api/v1/leaders'));
  d.close();
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  assert.equal(parsed.data.leaders, [
    {
      role: 'slurm-controller',
      node_id: 'n1',
      name: 'alpha',
      address: '127.0.0.1',
      tailscale_ip: '100.64.0.1',
      fencing_token: 17,
      since: null,
    },
    {
      role: 'k3s-server',
      node_id: null,
      name: null,
      address: null,
      tailscale_ip: null,
      fencing_token: null,
      since: null,
    },
    {
      role: 'raft',
      node_id: 'n2',
      name: 'n2',
      address: null,
      tailscale_ip: null,
      fencing_token: null,
      since: null,
    },
  ]);
});

test('membership, role, handoff and Raft events reach the stream with their kinds; unsubscribe detaches', () => {
  const membership = new EventEmitter();
  const roles = new EventEmitter();
  const raftEvents = new EventEmitter();
  const seen: string[] = [];
  const off = eventsSource({ membership, roles, raft: raftEvents }, 'n1').subscribe((event) =>
    seen.push(`${event.kind}:${event.type}:${event.node}:${event.role}:${JSON.stringify(event.detail)}`),
  );
  membership.emit('join', members[1]);
  roles.emit('leader-acquired', { role: 'slurm-controller', fencingToken: 9 });
  roles.emit('failed', {
    role: 'munge',
    error: new Error('exit 1'),
    failures: 2,
    retryInMs: 500,
    unhealthy: false,
  });
  roles.emit('handoff-completed', { role: 'slurm-controller', id: 'h1', from: 'n1', to: 'n2' });
  raftEvents.emit('leader', 'n2', 6);
  off();
  membership.emit('leave', members[2]);
  assert.equal(seen, [
    'membership:join:n2:null:{"state":"suspect"}',
    'leadership:leader-acquired:n1:slurm-controller:{"fencingToken":9}',
    'role:failed:n1:munge:{"error":"exit 1","failures":2,"retryInMs":500,"unhealthy":false}',
    'handoff:handoff-completed:n1:slurm-controller:{"id":"h1","from":"n1","to":"n2"}',
    'leadership:raft-leader:n2:raft:{"term":6}',
  ]);
  assert.is(membership.listenerCount('join'), 0);
});

test('the roles tag tolerates spaces and empty entries', () => {
  assert.equal(rolesFromTag(' a, ,b ,'), ['a', 'b']);
  assert.equal(rolesFromTag(undefined), []);
});

test.run();
