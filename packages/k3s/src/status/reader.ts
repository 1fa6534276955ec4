/**
 * k3s as a dashboard sees it: the state of this node's server and agent, the Kubernetes node and
 * pod counts (through the API, with the kubeconfig the server writes) and the embedded etcd's
 * members (through its JSON gateway). Each part is read with a bound and cached briefly; a part
 * that cannot be read is `null` with the reason in `errors`, never an exception.
 */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { EtcdMember } from '../etcd/index.js';
import { countCluster, type KubePodPhase } from '../kube/index.js';
import type { K3sNodeRuntime } from '../roles/runtime.js';

/** The state of one k3s process kind on this node. */
export type K3sProcessState = 'running' | 'stopped' | 'error' | 'not-installed';

/** One etcd member as the status shows it. */
export interface K3sEtcdMemberStatus {
  /** Member name (`<node>-<8 hex>`; empty for a learner that has not started). */
  readonly name: string;
  /** Member id, as 16 hex digits. */
  readonly id: string;
  /** A voter (not a learner). */
  readonly voter: boolean;
  /** The etcd leader. */
  readonly leader: boolean;
}

/** What {@link K3sStatusReader.read} returns. */
export interface K3sStatus {
  /** `k3s server` on this node. */
  readonly server: K3sProcessState;
  /** `k3s agent` on this node (a server runs its agent inside the same process). */
  readonly agent: K3sProcessState;
  /** The k3s PID while it runs. */
  readonly pid: number | null;
  /** The node holding the primary duties, from the cluster record. */
  readonly primary: string | null;
  /** The nodes that run `k3s server`, from the cluster record. */
  readonly servers: readonly string[];
  /** Kubernetes nodes, or `null` when the API cannot be read from this node. */
  readonly nodes: number | null;
  /** Nodes whose Ready condition is True. */
  readonly readyNodes: number | null;
  /** Pods of all namespaces by phase. */
  readonly podsByPhase: Readonly<Record<KubePodPhase, number>> | null;
  /** Pods of all namespaces. */
  readonly pods: number | null;
  /** The embedded etcd's members (server nodes only). */
  readonly etcdMembers: readonly K3sEtcdMemberStatus[] | null;
  /** Why a part is `null` (one line each, never a secret). */
  readonly errors: readonly string[];
}

/** One pod as the dashboard lists it. */
export interface K3sPodSummary {
  /** Pod name. */
  readonly name: string;
  /** Namespace. */
  readonly namespace: string;
  /** `status.phase`. */
  readonly phase: string;
}

/** Options of {@link K3sStatusReader}. */
export interface K3sStatusReaderOptions {
  /** The node's runtime. */
  readonly runtime: K3sNodeRuntime;
  /** The k3s binary (to tell "not installed"). @defaultValue the runtime's */
  readonly binary?: string;
  /** How long a read is reused. @defaultValue 2000 */
  readonly cacheMs?: number;
  /** Bound on each API and etcd call. @defaultValue 3000 */
  readonly timeoutMs?: number;
}

/** Whether `binary` is an executable path, or an executable found on PATH. */
export async function isExecutableOnPath(binary: string, path = process.env.PATH ?? ''): Promise<boolean> {
  const candidates = binary.includes('/')
    ? [binary]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, binary));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return true;
    } catch {
      // Try the next directory.
    }
  }
  return false;
}

function memberStatus(member: EtcdMember, leaderId: string | undefined): K3sEtcdMemberStatus {
  return { name: member.name, id: member.hexId, voter: !member.isLearner, leader: member.id === leaderId };
}

/** Reads (and briefly caches) {@link K3sStatus}. */
export class K3sStatusReader {
  readonly #o: K3sStatusReaderOptions;
  #cached: { at: number; value: Promise<K3sStatus> } | undefined;

  /** A reader over the node's runtime. */
  constructor(options: K3sStatusReaderOptions) {
    this.#o = options;
  }

  /** The status, read at most every `cacheMs`. */
  read(): Promise<K3sStatus> {
    const now = Date.now();
    if (this.#cached !== undefined && now - this.#cached.at < (this.#o.cacheMs ?? 2_000))
      return this.#cached.value;
    const value = this.#read();
    this.#cached = { at: now, value };
    return value;
  }

  /** The pods of all namespaces (name, namespace, phase), or `[]` when the API cannot be read. */
  async pods(): Promise<K3sPodSummary[]> {
    try {
      const kube = await this.#o.runtime.kube();
      const pods = await kube.listPods({}, AbortSignal.timeout(this.#o.timeoutMs ?? 3_000));
      return pods.map((pod) => ({ name: pod.name, namespace: pod.namespace, phase: pod.phase }));
    } catch {
      return [];
    }
  }

  async #read(): Promise<K3sStatus> {
    const runtime = this.#o.runtime.status();
    const errors: string[] = [];
    const installed = await isExecutableOnPath(this.#o.binary ?? this.#o.runtime.binary);
    const stateOf = (mode: 'server' | 'agent'): K3sProcessState => {
      if (!installed) return 'not-installed';
      if (runtime.mode === mode && runtime.pid !== undefined) return 'running';
      const wanted = runtime.desired?.mode === mode;
      return wanted && (runtime.state === 'error' || runtime.state === 'backoff') ? 'error' : 'stopped';
    };
    const base = {
      server: stateOf('server'),
      agent: stateOf('agent'),
      pid: runtime.pid ?? null,
      primary: runtime.record?.primary ?? null,
      servers: runtime.record?.servers.map((entry) => entry.node) ?? [],
    };
    const timeout = () => AbortSignal.timeout(this.#o.timeoutMs ?? 3_000);
    let counts: Awaited<ReturnType<typeof countCluster>> | null = null;
    let etcdMembers: K3sEtcdMemberStatus[] | null = null;
    if (base.server !== 'running') errors.push('Kubernetes and etcd are read on server nodes only');
    else {
      await Promise.all([
        (async () => {
          try {
            counts = await countCluster(await this.#o.runtime.kube(), timeout());
          } catch (error) {
            errors.push(`kubernetes: ${(error as Error).message}`);
          }
        })(),
        (async () => {
          try {
            const etcd = await this.#o.runtime.etcd();
            const [members, status] = await Promise.all([
              etcd.listMembers(timeout()),
              etcd.status(timeout()),
            ]);
            etcdMembers = members.map((member) => memberStatus(member, status.leaderId));
          } catch (error) {
            errors.push(`etcd: ${(error as Error).message}`);
          }
        })(),
      ]);
    }
    const known = counts as Awaited<ReturnType<typeof countCluster>> | null;
    return {
      ...base,
      nodes: known?.nodes ?? null,
      readyNodes: known?.readyNodes ?? null,
      podsByPhase: known?.podsByPhase ?? null,
      pods: known?.pods ?? null,
      etcdMembers,
      errors,
    };
  }
}
