/**
 * The dashboard's wire format: one zod schema per response, the single source of truth for the
 * handlers (every response is built from these types and checked against them in tests), the
 * provider interfaces (providers return these shapes) and the OpenAPI document (generated from
 * them). Fields are snake_case, as JSON APIs read by other tools conventionally are.
 */
import { z } from 'zod';

/** A section whose provider is missing. */
export const UnavailableSection = z
  .object({ state: z.literal('unavailable') })
  .meta({ id: 'UnavailableSection', description: 'No provider is configured for this section.' });

/** A section whose provider threw or timed out. */
export const ErrorSection = z
  .object({ state: z.literal('error'), message: z.string() })
  .meta({ id: 'ErrorSection', description: 'The provider failed; `message` says how.' });

/** A response section: the data, or why it is missing. */
export function section<T extends z.ZodType>(schema: T) {
  return z.union([schema, UnavailableSection, ErrorSection]);
}

/** Membership status of a node. */
export const NodeState = z.enum(['alive', 'suspect', 'dead', 'left']);

/** State of a service on this node. */
export const ServiceState = z.enum(['running', 'stopped', 'error', 'not-installed']);

/** This node's identity. */
export const NodeIdentity = z
  .object({
    id: z.string(),
    name: z.string(),
    cluster: z.string(),
    region: z.string(),
    datacenter: z.string(),
  })
  .meta({ id: 'NodeIdentity' });

/** The overlay network (Tailscale) as this node sees it. */
export const NetworkInfo = z
  .object({
    provider: z.string(),
    connected: z.boolean(),
    ip: z.string().nullable(),
    peer_count: z.number().int().nonnegative(),
  })
  .meta({ id: 'NetworkInfo' });

/** Membership counts. */
export const DiscoveryInfo = z
  .object({
    members: z.number().int().nonnegative(),
    alive: z.number().int().nonnegative(),
    suspect: z.number().int().nonnegative(),
  })
  .meta({ id: 'DiscoveryInfo' });

/** Raft leadership as this node knows it. */
export const LeadershipInfo = z
  .object({
    raft_leader: z.string().nullable(),
    is_leader: z.boolean(),
    term: z.number().int().nonnegative(),
  })
  .meta({ id: 'LeadershipInfo' });

/** One role on this node. */
export const RoleInfo = z
  .object({
    running: z.boolean(),
    healthy: z.boolean(),
    leader: z.boolean(),
    since: z.string().nullable().describe('ISO 8601 time the current state began'),
    detail: z.string(),
  })
  .meta({ id: 'RoleInfo' });

/** One service on this node. */
export const ServiceInfo = z
  .object({
    state: ServiceState,
    detail: z.string().optional(),
  })
  .meta({ id: 'ServiceInfo' });

/** Machine resources of this node. */
export const ResourcesInfo = z
  .object({
    cpu_percent: z.number().min(0),
    load: z.array(z.number()).length(3).describe('1, 5 and 15 minute load averages'),
    memory_used: z.number().int().nonnegative(),
    memory_total: z.number().int().nonnegative(),
    disk_used: z.number().int().nonnegative(),
    disk_total: z.number().int().nonnegative(),
  })
  .meta({ id: 'ResourcesInfo' });

/** `GET /api/v1/status`. */
export const StatusResponse = z
  .object({
    node: section(NodeIdentity),
    network: section(NetworkInfo),
    discovery: section(DiscoveryInfo),
    leadership: section(LeadershipInfo),
    roles: section(z.record(z.string(), RoleInfo)),
    services: section(z.record(z.string(), ServiceInfo)),
    resources: section(ResourcesInfo),
  })
  .meta({ id: 'StatusResponse' });

/** What a node offers. */
export const Capabilities = z
  .object({
    cpu_cores: z.number().int().nonnegative(),
    ram_bytes: z.number().int().nonnegative(),
    gpus: z.number().int().nonnegative(),
    arch: z.string(),
  })
  .meta({ id: 'Capabilities' });

/** One known node. */
export const NodeInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    roles: z.array(z.string()),
    status: NodeState,
    addresses: z.object({
      tailscale_ip: z.string().nullable(),
      wireguard_ip: z.string().nullable(),
      gossip: z.string().nullable(),
    }),
    capabilities: Capabilities.nullable(),
    tags: z.record(z.string(), z.string()),
    last_seen: z.string().nullable().describe('ISO 8601'),
    joined_at: z.string().nullable().describe('ISO 8601'),
  })
  .meta({ id: 'NodeInfo' });

/** `GET /api/v1/nodes`. */
export const NodesResponse = z.object({ nodes: section(z.array(NodeInfo)) }).meta({ id: 'NodesResponse' });

/** The holder of one singleton role (or `raft`). */
export const LeaderInfo = z
  .object({
    role: z.string(),
    node_id: z.string().nullable(),
    name: z.string().nullable(),
    address: z.string().nullable(),
    tailscale_ip: z.string().nullable(),
    fencing_token: z.number().int().nonnegative().nullable(),
    since: z.string().nullable().describe('ISO 8601'),
  })
  .meta({ id: 'LeaderInfo' });

/** `GET /api/v1/leaders`. */
export const LeadersResponse = z
  .object({ leaders: section(z.array(LeaderInfo)) })
  .meta({ id: 'LeadersResponse' });

/** `GET /api/v1/services`. */
export const ServicesResponse = z
  .object({
    tailscale: section(
      z.object({
        connected: z.boolean(),
        ip: z.string().nullable(),
        peer_count: z.number().int().nonnegative(),
      }),
    ),
    slurm: section(
      z.object({
        controller: z.string().nullable(),
        worker: z.boolean(),
        nodes_in_partition: z.number().int().nonnegative(),
        queued_jobs: z.number().int().nonnegative(),
      }),
    ),
    k3s: section(
      z.object({
        server: z.string().nullable(),
        agent: z.boolean(),
        node_count: z.number().int().nonnegative(),
        pod_count: z.number().int().nonnegative(),
      }),
    ),
    others: section(z.record(z.string(), ServiceInfo)),
  })
  .meta({ id: 'ServicesResponse' });

/** A merge of two clusters under way. */
export const MergeInfo = z
  .object({
    id: z.string(),
    state: z.string(),
    peer_cluster: z.string(),
    started_at: z.string().nullable(),
    needs_approval: z.boolean(),
  })
  .meta({ id: 'MergeInfo' });

/** `GET /api/v1/cluster`. */
export const ClusterResponse = z
  .object({
    name: z.string().nullable(),
    region: z.string().nullable(),
    datacenter: z.string().nullable(),
    total_nodes: z.number().int().nonnegative(),
    alive_nodes: z.number().int().nonnegative(),
    capacity: z.object({
      cpu_cores: z.number().int().nonnegative(),
      ram_bytes: z.number().int().nonnegative(),
      gpus: z.number().int().nonnegative(),
    }),
    role_distribution: z.record(z.string(), z.number().int().nonnegative()),
    membership: z
      .union([z.object({ state: z.literal('ok') }), UnavailableSection, ErrorSection])
      .describe('Whether the node counts, capacity and role distribution come from a membership provider'),
    merge: section(MergeInfo.nullable()),
  })
  .meta({ id: 'ClusterResponse' });

/** A SLURM job. */
export const SlurmJob = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.string(),
    user: z.string(),
    runtime_s: z.number().nonnegative(),
  })
  .meta({ id: 'SlurmJob' });

/** A Kubernetes pod. */
export const K3sPod = z
  .object({ name: z.string(), namespace: z.string(), phase: z.string() })
  .meta({ id: 'K3sPod' });

/** One page of a list, its items under `key`. */
function page<K extends string, T extends z.ZodType>(item: T, key: K) {
  return z.object({
    ...({ [key]: z.array(item) } as { [P in K]: z.ZodArray<T> }),
    total: z.number().int().nonnegative(),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  });
}

/** `GET /api/v1/jobs`. */
export const JobsResponse = z
  .object({
    slurm: section(page(SlurmJob, 'jobs')),
    k3s: section(page(K3sPod, 'pods')),
  })
  .meta({ id: 'JobsResponse' });

/** Kinds of live events. */
export const EventKind = z.enum(['membership', 'leadership', 'role', 'handoff', 'merge']);

/** One live event (the `data` of an SSE message). */
export const ClusterEvent = z
  .object({
    id: z.number().int().positive().describe('Also the SSE `id`; send it back as Last-Event-ID to resume'),
    kind: EventKind,
    type: z.string().describe('What happened, e.g. join, leave, leader-acquired, handoff-completed'),
    at: z.string().describe('ISO 8601'),
    node: z.string().nullable(),
    role: z.string().nullable(),
    detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .meta({ id: 'ClusterEvent' });

/** Every error response. */
export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().describe('A stable machine-readable code, e.g. not_found, bad_request, unauthorized'),
      message: z.string(),
      parameter: z.string().optional(),
    }),
  })
  .meta({ id: 'ErrorResponse' });

/** `POST /api/v1/roles/{role}/handoff` body. */
export const HandoffRequest = z.object({ to: z.string().min(1).max(256) }).meta({ id: 'HandoffRequest' });

/** Result of an accepted action. */
export const ActionResponse = z
  .object({
    ok: z.literal(true),
    detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .meta({ id: 'ActionResponse' });

/** `GET /healthz` and `GET /readyz`. */
export const HealthResponse = z
  .object({ status: z.enum(['ok', 'not-ready']), checks: z.record(z.string(), z.string()) })
  .meta({ id: 'HealthResponse' });

/** Inferred types, for providers and clients. */
export type NodeIdentity = z.infer<typeof NodeIdentity>;
/** Overlay network info. */
export type NetworkInfo = z.infer<typeof NetworkInfo>;
/** Raft leadership. */
export type LeadershipInfo = z.infer<typeof LeadershipInfo>;
/** One role's status. */
export type RoleInfo = z.infer<typeof RoleInfo>;
/** One service's status. */
export type ServiceInfo = z.infer<typeof ServiceInfo>;
/** Machine resources. */
export type ResourcesInfo = z.infer<typeof ResourcesInfo>;
/** One known node. */
export type NodeInfo = z.infer<typeof NodeInfo>;
/** One role holder. */
export type LeaderInfo = z.infer<typeof LeaderInfo>;
/** A merge under way. */
export type MergeInfo = z.infer<typeof MergeInfo>;
/** A SLURM job. */
export type SlurmJob = z.infer<typeof SlurmJob>;
/** A pod. */
export type K3sPod = z.infer<typeof K3sPod>;
/** A live event. */
export type ClusterEvent = z.infer<typeof ClusterEvent>;
/** Kinds of live events. */
export type EventKind = z.infer<typeof EventKind>;
/** `GET /api/v1/status`. */
export type StatusResponse = z.infer<typeof StatusResponse>;
/** `GET /api/v1/services`. */
export type ServicesResponse = z.infer<typeof ServicesResponse>;
/** `GET /api/v1/cluster`. */
export type ClusterResponse = z.infer<typeof ClusterResponse>;
/** `GET /api/v1/jobs`. */
export type JobsResponse = z.infer<typeof JobsResponse>;
