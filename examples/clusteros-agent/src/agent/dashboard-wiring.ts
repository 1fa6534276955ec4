/**
 * The agent's dashboard providers: each section of `@clusteros/dashboard` wired to the part of
 * the running agent that knows it (gossip, Raft, the role manager, the network provider, the
 * machine). The adapters themselves live in `src/dashboard-sources.ts`; this file only chooses
 * what feeds them.
 */
import type { DashboardSources, RoleInfo, ServiceInfo } from '@clusteros/dashboard';
import { decodeTags, type Memberlist } from '@clusteros/membership';
import type { KvQuery, KvQueryResult, KvResult, KvStateMachine, RaftNode } from '@clusteros/raft';
import type { RoleManager } from '@clusteros/roles';
import { parseCapabilityTags } from '../capabilities.js';
import type { AgentConfig } from '../config/index.js';
import {
  type EventEmitters,
  eventsSource,
  leadershipSource,
  membershipSource,
  rolesSource,
} from '../dashboard-sources.js';
import type { NetworkProvider } from '../network/provider.js';
import { availabilityDetail, type RoleAvailability } from './catalog.js';
import { NODE_REGISTRY_PREFIX, parseNodeRecord } from './coordinator-role.js';
import type { GossipView } from './gossip-view.js';
import type { K3sParts } from './k3s-wiring.js';
import { agentMetrics } from './metrics.js';
import { resourcesSource } from './resources.js';
import type { SlurmParts } from './slurm-wiring.js';

/** The running parts the dashboard reads. */
export interface AgentParts {
  /** This node's id. */
  readonly id: string;
  /** The config. */
  readonly config: AgentConfig;
  /** The network provider. */
  readonly provider: NetworkProvider;
  /** Gossip as the agent reads it. */
  readonly gossip: GossipView;
  /** The gossip member (for its events). */
  readonly memberlist: Memberlist;
  /** The Raft member. */
  readonly raft: RaftNode<KvResult, KvQuery, KvQueryResult>;
  /** Its state machine (the node registry). */
  readonly machine: KvStateMachine;
  /** The role manager. */
  readonly manager: RoleManager;
  /** Enabled roles and whether each can run here. */
  readonly availability: ReadonlyMap<string, RoleAvailability>;
  /** This node's services: probed at start, with what the roles run now on top. */
  readonly services: () => Readonly<Record<string, ServiceInfo>>;
  /** The cluster's SLURM (services section and jobs); absent or undefined when this node runs no SLURM role. */
  readonly slurm?: Pick<SlurmParts, 'service' | 'jobs'>;
  /** The cluster's k3s (services section and pods); absent or undefined parts when this node runs no k3s role. */
  readonly k3s?: Pick<K3sParts, 'service' | 'pods'>;
  /** Membership changes the autopilot made. */
  readonly autopilotChanges: () => number;
  /** Asks the agent to leave (the `leave` action). */
  readonly requestLeave: () => void;
}

/** Every dashboard provider the agent has. */
export function agentDashboardSources(parts: AgentParts): DashboardSources {
  const { id, config, provider, gossip, memberlist, raft, machine, manager } = parts;
  const baseRoles = rolesSource(manager);
  const registry = (node: string): { joinedAt: number; lastSeen: number } | undefined => {
    const record = machine.get(`${NODE_REGISTRY_PREFIX}${node}`);
    const value = record === undefined ? undefined : parseNodeRecord(record.value);
    const joined = value === undefined ? Number.NaN : Date.parse(value.joined_at);
    if (!Number.isFinite(joined)) return undefined;
    return { joinedAt: joined, lastSeen: Date.now() };
  };
  return {
    identity: {
      identity: () => ({
        id,
        name: id,
        cluster: config.cluster.name,
        region: config.cluster.region,
        datacenter: config.cluster.datacenter,
      }),
    },
    network: {
      network: () => {
        const state = provider.state();
        return {
          provider: state.provider,
          connected: state.connected,
          ip: state.ip,
          peer_count: state.peerCount,
        };
      },
    },
    membership: membershipSource(
      {
        allNodes: () =>
          gossip.cluster().map((m) => ({
            name: m.member.name,
            addr: m.member.addr,
            port: m.member.port,
            meta: m.member.meta,
            state: m.member.state,
          })),
      },
      {
        decodeTags,
        capabilities: (tags) => {
          try {
            const caps = parseCapabilityTags(tags);
            return { cpu_cores: caps.cpuCores, ram_bytes: caps.ramBytes, arch: caps.arch, gpus: caps.gpus };
          } catch {
            return null;
          }
        },
        seen: registry,
      },
    ),
    leadership: leadershipSource(raft, manager, gossip),
    roles: {
      roles: async () => {
        const out: Record<string, RoleInfo> = { ...(await baseRoles.roles()) };
        for (const [role, availability] of parts.availability)
          if (availability.kind !== 'managed')
            out[role] = {
              running: false,
              healthy: false,
              leader: false,
              since: null,
              detail: availabilityDetail(availability),
            };
        return out;
      },
    },
    services: {
      local: () => parts.services(),
      cluster: async () => {
        const [slurm, k3s] = await Promise.all([parts.slurm?.service(), parts.k3s?.service()]);
        return { ...(slurm === undefined ? {} : { slurm }), ...(k3s === undefined ? {} : { k3s }) };
      },
    },
    jobs: {
      ...(parts.slurm === undefined ? {} : { slurmJobs: () => parts.slurm?.jobs() ?? [] }),
      ...(parts.k3s === undefined ? {} : { k3sPods: () => parts.k3s?.pods() ?? [] }),
    },
    resources: resourcesSource(config.data_dir),
    events: eventsSource(
      {
        membership: memberlist,
        // The manager's events each carry one info object, which is what the adapter reads.
        roles: manager as unknown as NonNullable<EventEmitters['roles']>,
        raft,
      },
      id,
    ),
    actions: {
      handoff: async (role, to) => {
        const result = await manager.coordinator.transfer(role, to);
        return { role, to, ...scalars(result) };
      },
      leave: async () => parts.requestLeave(),
    },
    metrics: { registry: agentMetrics({ raft, autopilotChanges: parts.autopilotChanges }) },
    readiness: {
      checks: { raft: () => raft.leader !== null, gossip: () => memberlist.numMembers() > 0 },
    },
  };
}

/** Keeps the scalar fields of a transfer result for the action's response. */
function scalars(result: object): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(result))
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value))
      out[key] = value as string | number | boolean | null;
  return out;
}
