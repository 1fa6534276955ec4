/**
 * The agent's providers for the dashboard: adapters from membership (`Memberlist`), Raft
 * (`RaftNode`) and roles (`RoleManager`) to `@clusteros/dashboard`'s provider interfaces. They
 * only read and translate (camelCase state → snake_case wire shapes, clock ms → ISO 8601); the
 * dashboard bounds every call by its section timeout.
 *
 * Each adapter takes the narrowest structural view of its package it needs, so tests can drive
 * it with small fakes and the agent passes the real objects.
 */
import type {
  Capabilities,
  ClusterEventInput,
  EventsSource,
  LeadershipSource,
  MembershipSource,
  NodeInfo,
  RoleInfo,
  RolesSource,
} from '@clusteros/dashboard';

/** A gossip member as the membership package reports it. */
export interface MemberView {
  /** Unique node name (the node id). */
  readonly name: string;
  /** Advertised gossip address. */
  readonly addr: string;
  /** Advertised gossip port. */
  readonly port: number;
  /** Serf-format tags. */
  readonly meta: Uint8Array;
  /** Membership state. */
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
}

/** What the membership adapter reads: a `Memberlist` has it. */
export interface MembershipView {
  /** Every known node, dead and left ones included. */
  allNodes(): MemberView[];
}

/** The tag names the agent publishes in gossip metadata. */
export const TAG = {
  /** Human-readable host name. */
  name: 'name',
  /** Comma-separated enabled roles. */
  roles: 'roles',
  /** Tailscale IPv4. */
  tailscaleIp: 'ts_ip',
} as const;

/** Options of {@link membershipSource}. */
export interface MembershipSourceOptions {
  /** Decodes Serf tags (`decodeTags` from `@clusteros/membership`). */
  readonly decodeTags: (meta: Uint8Array) => Record<string, string>;
  /** Reads capabilities back from tags; null when absent or malformed. */
  readonly capabilities: (tags: Readonly<Record<string, string>>) => Capabilities | null;
  /** When each node was first seen and last heard of (clock ms), if the agent tracks it. */
  readonly seen?: (name: string) => { readonly joinedAt: number; readonly lastSeen: number } | undefined;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** Splits the `roles` tag into names (empty entries dropped). */
export function rolesFromTag(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((role) => role.trim())
    .filter((role) => role.length > 0);
}

/** Every gossip member as a dashboard node. */
export function membershipSource(list: MembershipView, options: MembershipSourceOptions): MembershipSource {
  return {
    nodes: (): NodeInfo[] =>
      list.allNodes().map((member) => {
        const tags = options.decodeTags(member.meta);
        const seen = options.seen?.(member.name);
        return {
          id: member.name,
          name: tags[TAG.name] ?? member.name,
          roles: rolesFromTag(tags[TAG.roles]),
          status: member.state,
          addresses: {
            tailscale_ip: tags[TAG.tailscaleIp] ?? null,
            wireguard_ip: null,
            gossip: `${member.addr.includes(':') ? `[${member.addr}]` : member.addr}:${member.port}`,
          },
          capabilities: options.capabilities(tags),
          tags: { ...tags },
          last_seen: iso(seen?.lastSeen),
          joined_at: iso(seen?.joinedAt),
        };
      }),
  };
}

/** One role's status as `RoleManager.statuses()` reports it. */
export interface RoleStatusView {
  /** Role name. */
  readonly role: string;
  /** Runs here. */
  readonly running: boolean;
  /** Healthy. */
  readonly healthy: boolean;
  /** Holds the singleton role. */
  readonly leader: boolean;
  /** Clock ms the state began, or null. */
  readonly since: number | null;
  /** One line for people. */
  readonly detail: string;
}

/** One singleton's holder as `RoleManager.leaders()` reports it. */
export interface LeaderView {
  /** Role name (or `raft`). */
  readonly role: string;
  /** Holder node id, or null. */
  readonly nodeId: string | null;
  /** Fencing token, or null. */
  readonly fencingToken: number | null;
}

/** What the roles and leadership adapters read: a `RoleManager` has it. */
export interface RoleManagerView {
  /** Per-role status. */
  statuses(): RoleStatusView[];
  /** Per-singleton holder. */
  leaders(): LeaderView[];
}

/** The roles on this node. */
export function rolesSource(manager: RoleManagerView): RolesSource {
  return {
    roles: (): Record<string, RoleInfo> =>
      Object.fromEntries(
        manager.statuses().map((s) => [
          s.role,
          {
            running: s.running,
            healthy: s.healthy,
            leader: s.leader,
            since: iso(s.since ?? undefined),
            detail: s.detail,
          },
        ]),
      ),
  };
}

/** What the leadership adapter reads of Raft: a `RaftNode` has it. */
export interface RaftView {
  /** This member's id. */
  readonly id: string;
  /** A snapshot with the term and leader. */
  status(): { readonly term: number; readonly leader: string | null; readonly role: string };
}

/** Where a node can be reached, for the leaders table. */
export interface NodeDirectory {
  /** The node's name, address and Tailscale address, if known. */
  lookup(
    id: string,
  ):
    | { readonly name: string; readonly address: string | null; readonly tailscaleIp: string | null }
    | undefined;
}

/** Raft leadership and the holder of every singleton role. */
export function leadershipSource(
  raft: RaftView,
  manager: RoleManagerView,
  directory: NodeDirectory,
): LeadershipSource {
  return {
    raft: () => {
      const status = raft.status();
      return { raft_leader: status.leader, is_leader: status.role === 'leader', term: status.term };
    },
    leaders: () =>
      manager.leaders().map((leader) => {
        const node = leader.nodeId === null ? undefined : directory.lookup(leader.nodeId);
        return {
          role: leader.role,
          node_id: leader.nodeId,
          name: node?.name ?? leader.nodeId,
          address: node?.address ?? null,
          tailscale_ip: node?.tailscaleIp ?? null,
          fencing_token: leader.fencingToken,
          since: null,
        };
      }),
  };
}

/** The event emitters the events adapter listens to. */
export interface EventEmitters {
  /** Membership: `join`, `leave`, `update`, `suspect`, `alive` with a member. */
  readonly membership?: {
    on(event: string, listener: (member: MemberView) => void): unknown;
    off(event: string, listener: (member: MemberView) => void): unknown;
  };
  /** Roles: the RoleManager's events with one info object. */
  readonly roles?: {
    on(event: string, listener: (info: Record<string, unknown>) => void): unknown;
    off(event: string, listener: (info: Record<string, unknown>) => void): unknown;
  };
  /** Raft: `leader` with the new leader and term. */
  readonly raft?: {
    on(event: 'leader', listener: (leader: string | null, term: number) => void): unknown;
    off(event: 'leader', listener: (leader: string | null, term: number) => void): unknown;
  };
}

const MEMBERSHIP_EVENTS = ['join', 'leave', 'update', 'suspect', 'alive'] as const;
const ROLE_EVENTS = [
  'started',
  'stopped',
  'failed',
  'leader-acquired',
  'leader-lost',
  'handoff-started',
  'handoff-prepared',
  'handoff-accepted',
  'handoff-completed',
  'handoff-aborted',
] as const;

/** Keeps only scalar details (the wire format's `detail` values); errors become their message. */
function scalars(info: Record<string, unknown>): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(info)) {
    if (key === 'role') continue;
    if (value instanceof Error) out[key] = value.message;
    else if (
      value === null ||
      typeof value === 'string' ||
      typeof value === 'number' ||
      typeof value === 'boolean'
    )
      out[key] = value;
  }
  return out;
}

/** Membership, leadership, role and handoff events for the dashboard's live stream. */
export function eventsSource(emitters: EventEmitters, self: string): EventsSource {
  return {
    subscribe(listener: (event: ClusterEventInput) => void): () => void {
      const offs: Array<() => void> = [];
      const { membership, roles, raft } = emitters;
      if (membership !== undefined) {
        for (const type of MEMBERSHIP_EVENTS) {
          const on = (member: MemberView): void =>
            listener({
              kind: 'membership',
              type,
              node: member.name,
              role: null,
              detail: { state: member.state },
            });
          membership.on(type, on);
          offs.push(() => membership.off(type, on));
        }
      }
      if (roles !== undefined) {
        for (const type of ROLE_EVENTS) {
          const on = (info: Record<string, unknown>): void =>
            listener({
              kind: type.startsWith('handoff-')
                ? 'handoff'
                : type.startsWith('leader-')
                  ? 'leadership'
                  : 'role',
              type,
              node: self,
              role: typeof info.role === 'string' ? info.role : null,
              detail: scalars(info),
            });
          roles.on(type, on);
          offs.push(() => roles.off(type, on));
        }
      }
      if (raft !== undefined) {
        const on = (leader: string | null, term: number): void =>
          listener({ kind: 'leadership', type: 'raft-leader', node: leader, role: 'raft', detail: { term } });
        raft.on('leader', on);
        offs.push(() => raft.off('leader', on));
      }
      return () => {
        for (const off of offs) off();
      };
    },
  };
}
