/**
 * The k3s roles as this agent runs them: one `K3sNodeRuntime` per node (the k3s process, as
 * server or agent, following the cluster record) shared by `k3s-server` and `k3s-agent`, the
 * Raft KV as their store (the same adapter as SLURM's), the node's cluster address (Tailscale
 * IPv4) as k3s's node IP, and a status reader for the dashboard.
 */
import type { K3sPod, K3sService, ServiceInfo } from '@clusteros/dashboard';
import {
  K3S_AGENT_ROLE,
  K3S_SERVER_ROLE,
  K3sAgentRole,
  type K3sLogger,
  K3sNodeRuntime,
  K3sServerRole,
  K3sStatusReader,
  type K3sStore,
} from '@clusteros/k3s';
import type { NodeRef, Role } from '@clusteros/roles';
import type { AgentConfig } from '../config/index.js';

/** Options of {@link k3sRoles}. */
export interface K3sRolesOptions {
  /** This node's id (its Kubernetes node name). */
  readonly id: string;
  /** The roles this node runs. */
  readonly managed: readonly string[];
  /** The agent's configuration (`k3s` section). */
  readonly config: Pick<AgentConfig, 'k3s'>;
  /** The store. */
  readonly store: K3sStore;
  /** This node's cluster address (Tailscale IPv4), if known. */
  readonly nodeIp: string | undefined;
  /** This node's MagicDNS name, added to the API server certificate. */
  readonly dnsName?: string;
  /** Each member's cluster address. */
  readonly addressOf: (node: NodeRef) => string | undefined;
  /** Logger. */
  readonly logger: K3sLogger;
}

/** The k3s roles of a node and what the dashboard reads of them. */
export interface K3sParts {
  /** The roles to hand to the role manager (none when the node enables neither). */
  readonly roles: Role[];
  /** `k3s` as running now, for the dashboard's services (only when this node runs it). */
  services(): Record<string, ServiceInfo>;
  /** The cluster's k3s for the dashboard's services section; undefined when this node runs no k3s role. */
  service(): Promise<K3sService | undefined>;
  /** The pods of all namespaces (empty on agent-only nodes: they have no admin kubeconfig). */
  pods(): Promise<K3sPod[]>;
}

const NONE: K3sParts = {
  roles: [],
  services: () => ({}),
  service: async () => undefined,
  pods: async () => [],
};

/** The k3s roles this node runs (none when it enables neither, or has no IPv4 cluster address). */
export function k3sRoles(options: K3sRolesOptions): K3sParts {
  const wantsServer = options.managed.includes(K3S_SERVER_ROLE);
  const wantsAgent = options.managed.includes(K3S_AGENT_ROLE) || wantsServer;
  if (!wantsAgent) return NONE;
  if (options.nodeIp === undefined) {
    options.logger.warn({}, 'k3s roles not started: this node has no IPv4 cluster address');
    return NONE;
  }
  const k = options.config.k3s;
  const runtime = new K3sNodeRuntime({
    nodeId: options.id,
    nodeIp: options.nodeIp,
    dataDir: k.data_dir,
    binary: k.binary,
    network:
      k.network === 'cni' && k.cni !== undefined
        ? { kind: 'cni', cni: k.cni }
        : { kind: 'flannel', iface: k.flannel_iface },
    tlsSans: [...(options.dnsName === undefined ? [] : [options.dnsName]), ...k.tls_san],
    store: options.store,
    logger: options.logger,
  });
  const roles: Role[] = [new K3sAgentRole(runtime)];
  if (wantsServer)
    roles.push(
      new K3sServerRole({
        runtime,
        servers: k.servers,
        addressOf: options.addressOf,
        logger: options.logger,
      }),
    );
  const reader = new K3sStatusReader({ runtime, binary: k.binary });
  return {
    roles,
    services: () => {
      const status = runtime.status();
      return status.pid === undefined
        ? {}
        : {
            k3s: {
              state: 'running',
              detail: `k3s ${status.mode ?? ''} pid ${status.pid}`.replace('  ', ' '),
            },
          };
    },
    service: async () => {
      const status = await reader.read();
      return {
        server: status.primary,
        agent: status.agent === 'running' || status.server === 'running',
        node_count: status.nodes ?? 0,
        pod_count: status.pods ?? 0,
        server_state: status.server,
        agent_state: status.agent,
        servers: [...status.servers],
        ...(status.readyNodes === null ? {} : { ready_node_count: status.readyNodes }),
        ...(status.podsByPhase === null ? {} : { pods_by_phase: { ...status.podsByPhase } }),
        ...(status.etcdMembers === null ? {} : { etcd_members: status.etcdMembers.map((m) => ({ ...m })) }),
      };
    },
    pods: () => reader.pods(),
  };
}
