/**
 * The dashboard's wire format. Each shape is a documented TypeScript interface (what providers
 * return and clients read) and, under the same name, a zod schema typed to that interface, so the
 * compiler keeps the two in step. The schemas are the single source of truth for the handlers'
 * tests (every response is checked against them) and for the OpenAPI document (generated from
 * them). Fields are snake_case, as JSON APIs read by other tools conventionally are.
 */
import { z } from 'zod';

const count = () => z.number().int().nonnegative();
const iso = () => z.string().nullable().describe('ISO 8601');

/** A section whose provider is missing. */
export interface UnavailableSection {
  /** Always `'unavailable'`. */
  state: 'unavailable';
}

/** Schema of {@link UnavailableSection}. */
export const UnavailableSection: z.ZodType<UnavailableSection> = z
  .object({ state: z.literal('unavailable') })
  .meta({ id: 'UnavailableSection', description: 'No provider is configured for this section.' });

/** A section whose provider threw or timed out. */
export interface ErrorSection {
  /** Always `'error'`. */
  state: 'error';
  /** What went wrong (secrets redacted). */
  message: string;
}

/** Schema of {@link ErrorSection}. */
export const ErrorSection: z.ZodType<ErrorSection> = z
  .object({ state: z.literal('error'), message: z.string() })
  .meta({ id: 'ErrorSection', description: 'The provider failed; `message` says how.' });

/** A response section: the data, or why it is missing. */
export type Section<T> = T | UnavailableSection | ErrorSection;

/** The schema of a section holding `schema`'s data. */
export function section<T>(schema: z.ZodType<T>): z.ZodType<Section<T>> {
  return z.union([schema, UnavailableSection, ErrorSection]);
}

/** Membership status of a node. */
export type NodeState = 'alive' | 'suspect' | 'dead' | 'left';
/** Schema of {@link NodeState}. */
export const NodeState: z.ZodType<NodeState> = z.enum(['alive', 'suspect', 'dead', 'left']);

/** State of a service on this node. */
export type ServiceState = 'running' | 'stopped' | 'error' | 'not-installed';
/** Schema of {@link ServiceState}. */
export const ServiceState: z.ZodType<ServiceState> = z.enum(['running', 'stopped', 'error', 'not-installed']);

/** This node's identity. */
export interface NodeIdentity {
  /** Stable node id. */
  id: string;
  /** Host name. */
  name: string;
  /** Cluster name. */
  cluster: string;
  /** Region. */
  region: string;
  /** Datacenter. */
  datacenter: string;
}

/** Schema of {@link NodeIdentity}. */
export const NodeIdentity: z.ZodType<NodeIdentity> = z
  .object({
    id: z.string(),
    name: z.string(),
    cluster: z.string(),
    region: z.string(),
    datacenter: z.string(),
  })
  .meta({ id: 'NodeIdentity' });

/** The overlay network (Tailscale) as this node sees it. */
export interface NetworkInfo {
  /** Which overlay (`tailscale`). */
  provider: string;
  /** Whether this node is connected to it. */
  connected: boolean;
  /** This node's overlay address. */
  ip: string | null;
  /** Peers this node can see. */
  peer_count: number;
}

/** Schema of {@link NetworkInfo}. */
export const NetworkInfo: z.ZodType<NetworkInfo> = z
  .object({ provider: z.string(), connected: z.boolean(), ip: z.string().nullable(), peer_count: count() })
  .meta({ id: 'NetworkInfo' });

/** Membership counts. */
export interface DiscoveryInfo {
  /** Known members. */
  members: number;
  /** Alive members. */
  alive: number;
  /** Suspected members. */
  suspect: number;
}

/** Schema of {@link DiscoveryInfo}. */
export const DiscoveryInfo: z.ZodType<DiscoveryInfo> = z
  .object({ members: count(), alive: count(), suspect: count() })
  .meta({ id: 'DiscoveryInfo' });

/** Raft leadership as this node knows it. */
export interface LeadershipInfo {
  /** The Raft leader's id, or null while none is known. */
  raft_leader: string | null;
  /** Whether this node leads. */
  is_leader: boolean;
  /** The current term. */
  term: number;
}

/** Schema of {@link LeadershipInfo}. */
export const LeadershipInfo: z.ZodType<LeadershipInfo> = z
  .object({ raft_leader: z.string().nullable(), is_leader: z.boolean(), term: count() })
  .meta({ id: 'LeadershipInfo' });

/** One role on this node. */
export interface RoleInfo {
  /** The role's software runs here. */
  running: boolean;
  /** Its last health verdict. */
  healthy: boolean;
  /** This node holds the (singleton) role. */
  leader: boolean;
  /** When the current state began (ISO 8601). */
  since: string | null;
  /** One line for people. */
  detail: string;
}

/** Schema of {@link RoleInfo}. */
export const RoleInfo: z.ZodType<RoleInfo> = z
  .object({
    running: z.boolean(),
    healthy: z.boolean(),
    leader: z.boolean(),
    since: iso(),
    detail: z.string(),
  })
  .meta({ id: 'RoleInfo' });

/** One service on this node. */
export interface ServiceInfo {
  /** Its state. */
  state: ServiceState;
  /** One line for people. */
  detail?: string | undefined;
}

/** Schema of {@link ServiceInfo}. */
export const ServiceInfo: z.ZodType<ServiceInfo> = z
  .object({ state: ServiceState, detail: z.string().optional() })
  .meta({ id: 'ServiceInfo' });

/** Machine resources of this node. */
export interface ResourcesInfo {
  /** CPU use in percent of all cores. */
  cpu_percent: number;
  /** 1, 5 and 15 minute load averages. */
  load: number[];
  /** Memory in use, bytes. */
  memory_used: number;
  /** Memory in total, bytes. */
  memory_total: number;
  /** Disk in use, bytes. */
  disk_used: number;
  /** Disk in total, bytes. */
  disk_total: number;
}

/** Schema of {@link ResourcesInfo}. */
export const ResourcesInfo: z.ZodType<ResourcesInfo> = z
  .object({
    cpu_percent: z.number().min(0),
    load: z.array(z.number()).length(3).describe('1, 5 and 15 minute load averages'),
    memory_used: count(),
    memory_total: count(),
    disk_used: count(),
    disk_total: count(),
  })
  .meta({ id: 'ResourcesInfo' });

/** `GET /api/v1/status`. */
export interface StatusResponse {
  /** This node. */
  node: Section<NodeIdentity>;
  /** The overlay network. */
  network: Section<NetworkInfo>;
  /** Membership counts. */
  discovery: Section<DiscoveryInfo>;
  /** Raft leadership. */
  leadership: Section<LeadershipInfo>;
  /** Roles by name. */
  roles: Section<Record<string, RoleInfo>>;
  /** Services by name. */
  services: Section<Record<string, ServiceInfo>>;
  /** Machine resources. */
  resources: Section<ResourcesInfo>;
}

/** Schema of {@link StatusResponse}. */
export const StatusResponse: z.ZodType<StatusResponse> = z
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
export interface Capabilities {
  /** Logical CPU cores. */
  cpu_cores: number;
  /** Memory, bytes. */
  ram_bytes: number;
  /** GPUs. */
  gpus: number;
  /** CPU architecture (`x64`, `arm64`). */
  arch: string;
}

/** Schema of {@link Capabilities}. */
export const Capabilities: z.ZodType<Capabilities> = z
  .object({ cpu_cores: count(), ram_bytes: count(), gpus: count(), arch: z.string() })
  .meta({ id: 'Capabilities' });

/** Where a node can be reached. */
export interface NodeAddresses {
  /** Tailscale address. */
  tailscale_ip: string | null;
  /** WireGuard address. */
  wireguard_ip: string | null;
  /** Gossip `host:port`. */
  gossip: string | null;
}

/** One known node. */
export interface NodeInfo {
  /** Stable node id. */
  id: string;
  /** Host name. */
  name: string;
  /** Roles enabled on it. */
  roles: string[];
  /** Membership status. */
  status: NodeState;
  /** Where it can be reached. */
  addresses: NodeAddresses;
  /** What it offers, if known. */
  capabilities: Capabilities | null;
  /** Its membership tags. */
  tags: Record<string, string>;
  /** When it was last heard from (ISO 8601). */
  last_seen: string | null;
  /** When it joined (ISO 8601). */
  joined_at: string | null;
}

/** Schema of {@link NodeInfo}. */
export const NodeInfo: z.ZodType<NodeInfo> = z
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
    last_seen: iso(),
    joined_at: iso(),
  })
  .meta({ id: 'NodeInfo' });

/** `GET /api/v1/nodes`. */
export interface NodesResponse {
  /** Every known node. */
  nodes: Section<NodeInfo[]>;
}

/** Schema of {@link NodesResponse}. */
export const NodesResponse: z.ZodType<NodesResponse> = z
  .object({ nodes: section(z.array(NodeInfo)) })
  .meta({ id: 'NodesResponse' });

/** The holder of one singleton role (or `raft`). */
export interface LeaderInfo {
  /** The role (`raft` for Raft leadership). */
  role: string;
  /** The holder's node id, or null when free. */
  node_id: string | null;
  /** Its name. */
  name: string | null;
  /** Its address. */
  address: string | null;
  /** Its Tailscale address. */
  tailscale_ip: string | null;
  /** Its fencing token (null for `raft`). */
  fencing_token: number | null;
  /** Since when it holds the role (ISO 8601). */
  since: string | null;
}

/** Schema of {@link LeaderInfo}. */
export const LeaderInfo: z.ZodType<LeaderInfo> = z
  .object({
    role: z.string(),
    node_id: z.string().nullable(),
    name: z.string().nullable(),
    address: z.string().nullable(),
    tailscale_ip: z.string().nullable(),
    fencing_token: count().nullable(),
    since: iso(),
  })
  .meta({ id: 'LeaderInfo' });

/** `GET /api/v1/leaders`. */
export interface LeadersResponse {
  /** Each singleton role's holder. */
  leaders: Section<LeaderInfo[]>;
}

/** Schema of {@link LeadersResponse}. */
export const LeadersResponse: z.ZodType<LeadersResponse> = z
  .object({ leaders: section(z.array(LeaderInfo)) })
  .meta({ id: 'LeadersResponse' });

/** Tailscale as a service. */
export interface TailscaleService {
  /** Connected to the tailnet. */
  connected: boolean;
  /** This node's tailnet address. */
  ip: string | null;
  /** Visible peers. */
  peer_count: number;
}

/** SLURM in the cluster. */
export interface SlurmService {
  /** The node running slurmctld. */
  controller: string | null;
  /** Whether this node runs slurmd. */
  worker: boolean;
  /** Nodes in the partition. */
  nodes_in_partition: number;
  /** Jobs waiting. */
  queued_jobs: number;
}

/** The state of a k3s process on this node. */
export type K3sProcessState = 'running' | 'stopped' | 'error' | 'not-installed';

/** One member of k3s's embedded etcd. */
export interface K3sEtcdMember {
  /** Member name (`<node>-<8 hex>`). */
  name: string;
  /** Member id (hex, as etcdctl prints it). */
  id: string;
  /** A voter (not a learner). */
  voter: boolean;
  /** The etcd leader. */
  leader: boolean;
}

/** k3s in the cluster. */
export interface K3sService {
  /** The node running the k3s server. */
  server: string | null;
  /** Whether this node runs the agent. */
  agent: boolean;
  /** Kubernetes nodes. */
  node_count: number;
  /** Pods. */
  pod_count: number;
  /** This node's `k3s server`. */
  server_state?: K3sProcessState | undefined;
  /** This node's `k3s agent` (a server runs its agent inside the same process). */
  agent_state?: K3sProcessState | undefined;
  /** The nodes that run `k3s server` (embedded-etcd voters). */
  servers?: string[] | undefined;
  /** Kubernetes nodes whose Ready condition is True. */
  ready_node_count?: number | undefined;
  /** Pods of all namespaces by phase. */
  pods_by_phase?: Record<string, number> | undefined;
  /** The embedded etcd's members (read on server nodes). */
  etcd_members?: K3sEtcdMember[] | undefined;
}

const K3S_PROCESS_STATE = z.enum(['running', 'stopped', 'error', 'not-installed']);

/** `GET /api/v1/services`. */
export interface ServicesResponse {
  /** Tailscale. */
  tailscale: Section<TailscaleService>;
  /** SLURM. */
  slurm: Section<SlurmService>;
  /** k3s. */
  k3s: Section<K3sService>;
  /** Other services by name. */
  others: Section<Record<string, ServiceInfo>>;
}

/** Schema of {@link ServicesResponse}. */
export const ServicesResponse: z.ZodType<ServicesResponse> = z
  .object({
    tailscale: section(z.object({ connected: z.boolean(), ip: z.string().nullable(), peer_count: count() })),
    slurm: section(
      z.object({
        controller: z.string().nullable(),
        worker: z.boolean(),
        nodes_in_partition: count(),
        queued_jobs: count(),
      }),
    ),
    k3s: section(
      z.object({
        server: z.string().nullable(),
        agent: z.boolean(),
        node_count: count(),
        pod_count: count(),
        server_state: K3S_PROCESS_STATE.optional(),
        agent_state: K3S_PROCESS_STATE.optional(),
        servers: z.array(z.string()).optional(),
        ready_node_count: count().optional(),
        pods_by_phase: z.record(z.string(), count()).optional(),
        etcd_members: z
          .array(z.object({ name: z.string(), id: z.string(), voter: z.boolean(), leader: z.boolean() }))
          .optional(),
      }),
    ),
    others: section(z.record(z.string(), ServiceInfo)),
  })
  .meta({ id: 'ServicesResponse' });

/** A merge of two clusters under way. */
export interface MergeInfo {
  /** Merge id. */
  id: string;
  /** Where it got to. */
  state: string;
  /** The other cluster's name or fingerprint. */
  peer_cluster: string;
  /** When it began (ISO 8601). */
  started_at: string | null;
  /** Whether an operator must approve it. */
  needs_approval: boolean;
}

/** Schema of {@link MergeInfo}. */
export const MergeInfo: z.ZodType<MergeInfo> = z
  .object({
    id: z.string(),
    state: z.string(),
    peer_cluster: z.string(),
    started_at: z.string().nullable(),
    needs_approval: z.boolean(),
  })
  .meta({ id: 'MergeInfo' });

/** Capacity of the alive nodes. */
export interface ClusterCapacity {
  /** CPU cores. */
  cpu_cores: number;
  /** Memory, bytes. */
  ram_bytes: number;
  /** GPUs. */
  gpus: number;
}

/** The membership-derived figures came from a provider. */
export interface MembershipOk {
  /** Always `'ok'`. */
  state: 'ok';
}

/** Whether the membership-derived figures had a provider. */
export type MembershipSourceState = MembershipOk | UnavailableSection | ErrorSection;

/** `GET /api/v1/cluster`. */
export interface ClusterResponse {
  /** Cluster name. */
  name: string | null;
  /** Region. */
  region: string | null;
  /** Datacenter. */
  datacenter: string | null;
  /** Known nodes. */
  total_nodes: number;
  /** Alive nodes. */
  alive_nodes: number;
  /** Capacity of the alive nodes. */
  capacity: ClusterCapacity;
  /** Alive nodes per role. */
  role_distribution: Record<string, number>;
  /** Whether the node counts, capacity and role distribution come from a membership provider. */
  membership: MembershipSourceState;
  /** The merge under way, or null. */
  merge: Section<MergeInfo | null>;
}

/** Schema of {@link ClusterResponse}. */
export const ClusterResponse: z.ZodType<ClusterResponse> = z
  .object({
    name: z.string().nullable(),
    region: z.string().nullable(),
    datacenter: z.string().nullable(),
    total_nodes: count(),
    alive_nodes: count(),
    capacity: z.object({ cpu_cores: count(), ram_bytes: count(), gpus: count() }),
    role_distribution: z.record(z.string(), count()),
    membership: z
      .union([z.object({ state: z.literal('ok') }), UnavailableSection, ErrorSection])
      .describe('Whether the node counts, capacity and role distribution come from a membership provider'),
    merge: section(MergeInfo.nullable()),
  })
  .meta({ id: 'ClusterResponse' });

/** A SLURM job. */
export interface SlurmJob {
  /** Job id. */
  id: string;
  /** Job name. */
  name: string;
  /** SLURM state (PENDING, RUNNING, …). */
  state: string;
  /** Owner. */
  user: string;
  /** Run time so far, seconds. */
  runtime_s: number;
}

/** Schema of {@link SlurmJob}. */
export const SlurmJob: z.ZodType<SlurmJob> = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.string(),
    user: z.string(),
    runtime_s: z.number().nonnegative(),
  })
  .meta({ id: 'SlurmJob' });

/** A Kubernetes pod. */
export interface K3sPod {
  /** Pod name. */
  name: string;
  /** Namespace. */
  namespace: string;
  /** Pod phase. */
  phase: string;
}

/** Schema of {@link K3sPod}. */
export const K3sPod: z.ZodType<K3sPod> = z
  .object({ name: z.string(), namespace: z.string(), phase: z.string() })
  .meta({ id: 'K3sPod' });

/** One page of SLURM jobs. */
export interface SlurmJobsPage {
  /** The jobs on this page. */
  jobs: SlurmJob[];
  /** Jobs in all pages. */
  total: number;
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** One page of pods. */
export interface K3sPodsPage {
  /** The pods on this page. */
  pods: K3sPod[];
  /** Pods in all pages. */
  total: number;
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

const nextCursor = () =>
  z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page');

/** `GET /api/v1/jobs`. */
export interface JobsResponse {
  /** SLURM jobs. */
  slurm: Section<SlurmJobsPage>;
  /** Pods. */
  k3s: Section<K3sPodsPage>;
}

/** Schema of {@link JobsResponse}. */
export const JobsResponse: z.ZodType<JobsResponse> = z
  .object({
    slurm: section(z.object({ jobs: z.array(SlurmJob), total: count(), next_cursor: nextCursor() })),
    k3s: section(z.object({ pods: z.array(K3sPod), total: count(), next_cursor: nextCursor() })),
  })
  .meta({ id: 'JobsResponse' });

/** Kinds of live events. */
export type EventKind = 'membership' | 'leadership' | 'role' | 'handoff' | 'merge';
/** Schema of {@link EventKind}. */
export const EventKind: z.ZodType<EventKind> = z.enum([
  'membership',
  'leadership',
  'role',
  'handoff',
  'merge',
]);

/** A scalar detail value. */
export type DetailValue = string | number | boolean | null;

/** One live event (the `data` of an SSE message). */
export interface ClusterEvent {
  /** Also the SSE `id`; send it back as Last-Event-ID to resume. */
  id: number;
  /** What area it concerns. */
  kind: EventKind;
  /** What happened: join, leave, leader-acquired, handoff-completed, … */
  type: string;
  /** When (ISO 8601). */
  at: string;
  /** The node concerned, if any. */
  node: string | null;
  /** The role concerned, if any. */
  role: string | null;
  /** Further facts. */
  detail: Record<string, DetailValue>;
}

const detail = () => z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));

/** Schema of {@link ClusterEvent}. */
export const ClusterEvent: z.ZodType<ClusterEvent> = z
  .object({
    id: z.number().int().positive().describe('Also the SSE `id`; send it back as Last-Event-ID to resume'),
    kind: EventKind,
    type: z.string().describe('What happened, e.g. join, leave, leader-acquired, handoff-completed'),
    at: z.string().describe('ISO 8601'),
    node: z.string().nullable(),
    role: z.string().nullable(),
    detail: detail(),
  })
  .meta({ id: 'ClusterEvent' });

/** The body of every error response. */
export interface ErrorResponse {
  /** The error. */
  error: {
    /** A stable machine-readable code: not_found, bad_request, unauthorized, … */
    code: string;
    /** For people. */
    message: string;
    /** The offending parameter, for 400s. */
    parameter?: string | undefined;
  };
}

/** Schema of {@link ErrorResponse}. */
export const ErrorResponse: z.ZodType<ErrorResponse> = z
  .object({
    error: z.object({
      code: z.string().describe('A stable machine-readable code, e.g. not_found, bad_request, unauthorized'),
      message: z.string(),
      parameter: z.string().optional(),
    }),
  })
  .meta({ id: 'ErrorResponse' });

/** `POST /api/v1/roles/{role}/handoff` body. */
export interface HandoffRequest {
  /** The target node id. */
  to: string;
}

/** Schema of {@link HandoffRequest}. */
export const HandoffRequest: z.ZodType<HandoffRequest> = z
  .object({ to: z.string().min(1).max(256) })
  .meta({ id: 'HandoffRequest' });

/** Result of an accepted action. */
export interface ActionResponse {
  /** Always true. */
  ok: true;
  /** What was done. */
  detail: Record<string, DetailValue>;
}

/** Schema of {@link ActionResponse}. */
export const ActionResponse: z.ZodType<ActionResponse> = z
  .object({ ok: z.literal(true), detail: detail() })
  .meta({ id: 'ActionResponse' });

/** `GET /healthz` and `GET /readyz`. */
export interface HealthResponse {
  /** `ok`, or `not-ready` (503). */
  status: 'ok' | 'not-ready';
  /** Each check's verdict. */
  checks: Record<string, string>;
}

/** Schema of {@link HealthResponse}. */
export const HealthResponse: z.ZodType<HealthResponse> = z
  .object({ status: z.enum(['ok', 'not-ready']), checks: z.record(z.string(), z.string()) })
  .meta({ id: 'HealthResponse' });
