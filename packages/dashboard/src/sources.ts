/**
 * What the dashboard reads: one small provider interface per section, every one optional. The
 * agent implements them over membership, Raft, roles and the service packages; anyone with their
 * own agent implements the ones they have. A missing provider makes its sections `unavailable`;
 * a provider that throws or exceeds the timeout makes its section `error` — never a 500 for the
 * whole response. Providers return the schema types (snake_case), so they are checked by tsc.
 */
import type { Registry } from 'prom-client';
import type {
  ClusterEvent,
  K3sPod,
  LeaderInfo,
  LeadershipInfo,
  MergeInfo,
  NetworkInfo,
  NodeIdentity,
  NodeInfo,
  ResourcesInfo,
  RoleInfo,
  ServiceInfo,
  ServicesResponse,
  SlurmJob,
} from './schemas.js';

/** A value now or later. */
export type MaybePromise<T> = T | Promise<T>;

/** Who this node is. */
export interface IdentitySource {
  /** This node's identity. */
  identity(): MaybePromise<NodeIdentity>;
}

/** The overlay network (Tailscale). */
export interface NetworkSource {
  /** Connection state, address and peer count. */
  network(): MaybePromise<NetworkInfo>;
}

/** Gossip membership. */
export interface MembershipSource {
  /** Every known node, this one included. */
  nodes(): MaybePromise<readonly NodeInfo[]>;
}

/** Raft and role leadership. */
export interface LeadershipSource {
  /** Raft leadership as this node knows it. */
  raft(): MaybePromise<LeadershipInfo>;
  /** The holder of each singleton role (and `raft`). */
  leaders(): MaybePromise<readonly LeaderInfo[]>;
}

/** Roles on this node. */
export interface RolesSource {
  /** Each enabled role's status. */
  roles(): MaybePromise<Readonly<Record<string, RoleInfo>>>;
}

/** Services (SLURM, k3s, Tailscale, others). */
export interface ServicesSource {
  /** Services on this node, for `status.services` (`slurmctld`, `k3s`, `ttyd`, ...). */
  local(): MaybePromise<Readonly<Record<string, ServiceInfo>>>;
  /** Cluster-level service views; each part optional. */
  cluster?(): MaybePromise<
    Partial<{ [K in keyof ServicesResponse]: Exclude<ServicesResponse[K], { state: string }> }>
  >;
}

/** Machine resources. */
export interface ResourcesSource {
  /** CPU, load, memory and disk of this node. */
  resources(): MaybePromise<ResourcesInfo>;
}

/** Jobs and pods. */
export interface JobsSource {
  /** All SLURM jobs (the router pages them). */
  slurmJobs?(): MaybePromise<readonly SlurmJob[]>;
  /** All pods (the router pages them). */
  k3sPods?(): MaybePromise<readonly K3sPod[]>;
}

/** Cluster merges. */
export interface MergeSource {
  /** The merge under way, or null. */
  current(): MaybePromise<MergeInfo | null>;
  /** Approves merge `id` (the `POST /api/v1/merge/{id}/approve` action). */
  approve?(id: string): Promise<void>;
}

/** A live event before the dashboard numbers it (and stamps it, unless `at` is given). */
export interface ClusterEventInput extends Omit<ClusterEvent, 'id' | 'at'> {
  /** When it happened (ISO 8601); now if absent. */
  readonly at?: string;
}

/** Live events. */
export interface EventsSource {
  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: ClusterEventInput) => void): () => void;
}

/** Prometheus metrics beyond the dashboard's own HTTP metrics. */
export interface MetricsSource {
  /** A registry whose metrics are served at `/metrics` together with the dashboard's. */
  readonly registry: Registry;
}

/** Actions (behind the bearer token). */
export interface ActionsSource {
  /** Hands singleton `role` over to node `to`; resolves when done, rejects with why not. */
  handoff?(role: string, to: string): Promise<Readonly<Record<string, string | number | boolean | null>>>;
  /** Makes this node leave the cluster gracefully. */
  leave?(): Promise<void>;
}

/** Readiness checks for `/readyz`: each resolves true when ready. */
export interface ReadinessSource {
  /** Named checks (e.g. `raft: () => node.leader !== null`). */
  readonly checks: Readonly<Record<string, () => MaybePromise<boolean>>>;
}

/** Every provider the dashboard can read; all optional. */
export interface DashboardSources {
  /** This node's identity. */
  readonly identity?: IdentitySource;
  /** The overlay network. */
  readonly network?: NetworkSource;
  /** Gossip membership. */
  readonly membership?: MembershipSource;
  /** Raft and role leadership. */
  readonly leadership?: LeadershipSource;
  /** Roles on this node. */
  readonly roles?: RolesSource;
  /** Services. */
  readonly services?: ServicesSource;
  /** Machine resources. */
  readonly resources?: ResourcesSource;
  /** Jobs and pods. */
  readonly jobs?: JobsSource;
  /** Cluster merges. */
  readonly merge?: MergeSource;
  /** Live events. */
  readonly events?: EventsSource;
  /** Extra Prometheus metrics. */
  readonly metrics?: MetricsSource;
  /** Actions. */
  readonly actions?: ActionsSource;
  /** Readiness checks. */
  readonly readiness?: ReadinessSource;
}
