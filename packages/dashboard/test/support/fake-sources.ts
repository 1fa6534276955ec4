/**
 * Fake providers for the dashboard's tests and load benchmark: a deterministic cluster view of
 * any size (realistic node objects — statuses, roles, Tailscale/WireGuard/gossip addresses,
 * capabilities, tags, timestamps — plus leaders, local roles and services, jobs and pods, a merge),
 * {@link DashboardSources} that read it through closures (so a test can change the view between
 * requests), recorders for the actions, and provider doubles that throw or never answer.
 * Also the helpers every test uses on responses: {@link expectSchema} (zod `safeParse`, failing
 * with the issues), {@link responseSchema} (which schema a JSON answer must match) and
 * {@link call} (a request through `dashboard.fetch` that validates every JSON answer it gets).
 */
import type { z } from 'zod';
import type {
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
  SlurmJob,
} from '../../src/index.js';
import {
  ActionResponse,
  ClusterResponse,
  type Dashboard,
  type DashboardSources,
  ErrorResponse,
  HealthResponse,
  JobsResponse,
  LeadersResponse,
  NodesResponse,
  ServicesResponse,
  StatusResponse,
} from '../../src/index.js';

/** The singleton roles of the fake cluster (each has one holder). */
export const SINGLETON_ROLES = ['slurm-controller', 'k3s-server', 'dns', 'job-server'] as const;

/** The cluster-level service parts a `services.cluster()` provider returns. */
export type ClusterServices = Partial<{
  [K in keyof ServicesResponse]: Exclude<ServicesResponse[K], { state: string }>;
}>;

/** Everything the fake providers serve; mutate it to change what the next request sees. */
export interface ClusterView {
  identity: NodeIdentity;
  network: NetworkInfo;
  nodes: NodeInfo[];
  raft: LeadershipInfo;
  leaders: LeaderInfo[];
  roles: Record<string, RoleInfo>;
  local: Record<string, ServiceInfo>;
  cluster: ClusterServices;
  resources: ResourcesInfo;
  slurmJobs: SlurmJob[];
  k3sPods: K3sPod[];
  merge: MergeInfo | null;
}

const EPOCH = Date.parse('2026-11-30T12:00:00.000Z');
const iso = (offsetMs: number): string => new Date(EPOCH + offsetMs).toISOString();
const pad = (i: number): string => String(i).padStart(3, '0');

/** Node `i` (1-based) of a fake cluster: every 10th suspect, every 25th dead, every 40th left. */
export function fakeNode(i: number): NodeInfo {
  const status: NodeInfo['status'] =
    i % 40 === 0 ? 'left' : i % 25 === 0 ? 'dead' : i % 10 === 0 ? 'suspect' : 'alive';
  const roles = ['slurm-worker', ...(i % 3 === 0 ? ['k3s-agent'] : []), ...(i % 7 === 0 ? ['storage'] : [])];
  // The singleton holders are nodes 1..4 (one role each), always alive.
  const singleton = SINGLETON_ROLES[i - 1];
  if (singleton !== undefined) roles.unshift(singleton);
  return {
    id: `n${pad(i)}`,
    name: `node-${pad(i)}`,
    roles,
    status,
    addresses: {
      tailscale_ip: `100.64.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      wireguard_ip: i % 5 === 0 ? null : `10.42.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      gossip: `100.64.${Math.floor(i / 250)}.${(i % 250) + 1}:7946`,
    },
    capabilities:
      i % 17 === 0
        ? null
        : {
            cpu_cores: 8 * (1 + (i % 4)),
            ram_bytes: 2 ** 34 * (1 + (i % 3)),
            gpus: i % 9 === 0 ? 2 : 0,
            arch: i % 6 === 0 ? 'arm64' : 'x64',
          },
    tags: {
      rack: `r${1 + (i % 8)}`,
      zone: i % 2 === 0 ? 'eu-west-1a' : 'eu-west-1b',
      ...(i % 9 === 0 ? { gpu: 'a100' } : {}),
    },
    last_seen: status === 'left' ? null : iso(-1000 * (i % 30)),
    joined_at: iso(-86_400_000 + 60_000 * i),
  };
}

/** A deterministic view of a `size`-node cluster, seen from node 1. */
export function fakeCluster(size = 12): ClusterView {
  const nodes = Array.from({ length: size }, (_, k) => fakeNode(k + 1));
  const leaderOf = (role: string, index: number): LeaderInfo => {
    const holder = nodes[index];
    return {
      role,
      node_id: holder?.id ?? null,
      name: holder?.name ?? null,
      address: holder?.addresses.gossip ?? null,
      tailscale_ip: holder?.addresses.tailscale_ip ?? null,
      fencing_token: holder === undefined ? null : 3 + index,
      since: holder === undefined ? null : iso(-3_600_000 + index * 1000),
    };
  };
  return {
    identity: { id: 'n001', name: 'node-001', cluster: 'lab', region: 'eu-west', datacenter: 'rack-hall-2' },
    network: { provider: 'tailscale', connected: true, ip: '100.64.0.2', peer_count: size - 1 },
    nodes,
    raft: { raft_leader: 'n001', is_leader: true, term: 42 },
    leaders: [leaderOf('raft', 0), ...SINGLETON_ROLES.map((role, index) => leaderOf(role, index))],
    roles: {
      'slurm-controller': {
        running: true,
        healthy: true,
        leader: true,
        since: iso(-3_600_000),
        detail: 'slurmctld active',
      },
      'slurm-worker': {
        running: true,
        healthy: true,
        leader: false,
        since: iso(-7_200_000),
        detail: 'slurmd idle',
      },
      storage: {
        running: false,
        healthy: false,
        leader: false,
        since: null,
        detail: 'disabled on this node',
      },
    },
    local: {
      slurmctld: { state: 'running', detail: 'pid 4242' },
      slurmd: { state: 'running' },
      k3s: { state: 'not-installed' },
      ttyd: { state: 'stopped', detail: 'started on demand' },
    },
    cluster: {
      tailscale: { connected: true, ip: '100.64.0.2', peer_count: size - 1 },
      slurm: { controller: 'n001', worker: true, nodes_in_partition: size, queued_jobs: 3 },
      k3s: {
        server: 'n002',
        agent: false,
        node_count: Math.ceil(size / 3),
        pod_count: 17,
        server_state: 'stopped',
        agent_state: 'running',
        servers: ['n002'],
        ready_node_count: Math.ceil(size / 3),
        pods_by_phase: { Running: 15, Pending: 2 },
        etcd_members: [{ name: 'n002-1a2b3c4d', id: '4719c06ae717eca3', voter: true, leader: true }],
      },
      others: { ttyd: { state: 'stopped' }, 'node-exporter': { state: 'running', detail: ':9100' } },
    },
    resources: {
      cpu_percent: 37.5,
      load: [0.52, 0.61, 0.7],
      memory_used: 7_516_192_768,
      memory_total: 34_359_738_368,
      disk_used: 120_000_000_000,
      disk_total: 500_000_000_000,
    },
    slurmJobs: Array.from({ length: 23 }, (_, k) => ({
      id: String(1000 + k),
      name: `train-${k}`,
      state: k % 4 === 0 ? 'PENDING' : 'RUNNING',
      user: k % 2 === 0 ? 'alice' : 'bob',
      runtime_s: k * 61.5,
    })),
    k3sPods: Array.from({ length: 9 }, (_, k) => ({
      name: `web-${k}`,
      namespace: k < 5 ? 'default' : 'kube-system',
      phase: k === 8 ? 'Pending' : 'Running',
    })),
    merge: {
      id: 'm-7',
      state: 'awaiting-approval',
      peer_cluster: 'lab-b',
      started_at: iso(-60_000),
      needs_approval: true,
    },
  };
}

/** What the action providers were asked to do. */
export interface ActionCalls {
  readonly handoff: Array<[role: string, to: string]>;
  readonly approve: string[];
  leave: number;
}

/** How the fake actions answer. */
export interface ActionBehaviour {
  /** When set, every action rejects with this message. */
  rejectWith?: string;
}

/** Fake providers over `view`: every one present (drop some with {@link without}). */
export function fakeSources(view: ClusterView): {
  readonly sources: DashboardSources;
  readonly calls: ActionCalls;
  readonly behaviour: ActionBehaviour;
} {
  const calls: ActionCalls = { handoff: [], approve: [], leave: 0 };
  const behaviour: ActionBehaviour = {};
  const act = async (): Promise<void> => {
    if (behaviour.rejectWith !== undefined) throw new Error(behaviour.rejectWith);
  };
  const sources: DashboardSources = {
    identity: { identity: () => view.identity },
    network: { network: async () => view.network },
    membership: { nodes: () => view.nodes },
    leadership: { raft: async () => view.raft, leaders: () => view.leaders },
    roles: { roles: () => view.roles },
    services: { local: () => view.local, cluster: async () => view.cluster },
    resources: { resources: () => view.resources },
    jobs: { slurmJobs: () => view.slurmJobs, k3sPods: async () => view.k3sPods },
    merge: {
      current: () => view.merge,
      approve: async (id) => {
        calls.approve.push(id);
        await act();
      },
    },
    actions: {
      handoff: async (role, to) => {
        calls.handoff.push([role, to]);
        await act();
        return { fencing_token: 9, completed: true };
      },
      leave: async () => {
        calls.leave += 1;
        await act();
      },
    },
  };
  return { sources, calls, behaviour };
}

/** `sources` without the named providers. */
export function without(
  sources: DashboardSources,
  ...names: Array<keyof DashboardSources>
): DashboardSources {
  const copy: Record<string, unknown> = { ...sources };
  for (const name of names) delete copy[name];
  return copy as DashboardSources;
}

/** A provider method that rejects with `message`. */
export const rejecting = (message: string) => async (): Promise<never> => {
  throw new Error(message);
};

/** A provider method that throws `value` synchronously (not even a promise). */
export const throwing = (value: unknown) => (): never => {
  throw value;
};

/** A provider method that never answers (a promise that never settles; holds no timer). */
export const hanging = () => (): Promise<never> => new Promise<never>(() => {});

/** Fails the test with zod's issues unless `body` matches `schema`; returns the parsed value. */
export function expectSchema<T extends z.ZodType>(schema: T, body: unknown, what = 'response'): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(
      `${what} does not match its schema:\n${issues.join('\n')}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
    );
  }
  return result.data;
}

/** One answer, body read. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON (`undefined` if it is not JSON). */
  readonly json: unknown;
}

/**
 * The schema a JSON answer to `pathname` with `status` must match: ErrorResponse for every error
 * (but a 503 from /readyz, which is a HealthResponse), else the endpoint's; `'openapi'` for the
 * OpenAPI document (checked by its own tests); undefined when no JSON answer is expected.
 */
export function responseSchema(pathname: string, status: number): z.ZodType | 'openapi' | undefined {
  if (pathname === '/readyz' && (status === 200 || status === 503)) return HealthResponse;
  if (status >= 400) return ErrorResponse;
  const exact: Record<string, z.ZodType | 'openapi'> = {
    '/api/v1/status': StatusResponse,
    '/api/v1/nodes': NodesResponse,
    '/api/v1/leaders': LeadersResponse,
    '/api/v1/services': ServicesResponse,
    '/api/v1/cluster': ClusterResponse,
    '/api/v1/jobs': JobsResponse,
    '/api/v1/openapi.json': 'openapi',
    '/healthz': HealthResponse,
  };
  if (pathname in exact) return exact[pathname];
  if (/^\/api\/v1\/(roles\/[^/]+\/handoff|merge\/[^/]+\/approve|leave)$/.test(pathname))
    return ActionResponse;
  return undefined;
}

/**
 * Checks a JSON body the way every test needs: it parses, and matches {@link responseSchema}
 * (the OpenAPI document only has to say `openapi: 3.1.0` here). Returns the parsed body.
 */
export function checkJsonAnswer(where: string, pathname: string, status: number, text: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${where}: the body is not JSON: ${text.slice(0, 500)}`);
  }
  const schema = responseSchema(pathname, status);
  if (schema === undefined)
    throw new Error(`${where}: a JSON answer where none is expected: ${text.slice(0, 500)}`);
  if (schema === 'openapi') {
    if ((json as { openapi?: unknown }).openapi !== '3.1.0')
      throw new Error(`${where}: not an OpenAPI 3.1.0 document`);
  } else expectSchema(schema, json, where);
  return json;
}

/** Strings that must never appear in any body (checked by {@link call} on every answer). */
export const NEVER_SERVED: string[] = [];

/**
 * Sends one request through `dashboard.fetch` and reads the body. Every answer is checked: no
 * {@link NEVER_SERVED} string in it, and a JSON body must parse and match its schema
 * ({@link checkJsonAnswer}) — so no test can forget to validate a response.
 */
export async function call(dashboard: Dashboard, path: string, init: RequestInit = {}): Promise<Answer> {
  const request = new Request(`http://dashboard.test${path}`, init);
  const response = await dashboard.fetch(request);
  const text = await response.text();
  const where = `${request.method} ${path} -> ${response.status}`;
  for (const secret of NEVER_SERVED) {
    if (text.includes(secret)) throw new Error(`${where}: the body contains a secret: ${text}`);
  }
  const isJson = (response.headers.get('content-type') ?? '').startsWith('application/json');
  const json = isJson
    ? checkJsonAnswer(where, new URL(request.url).pathname, response.status, text)
    : undefined;
  return { status: response.status, headers: response.headers, text, json };
}
