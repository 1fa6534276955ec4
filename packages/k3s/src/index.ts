/**
 * `@clusteros/k3s`: k3s on ClusterOS nodes.
 *
 * - `k3s-server` ({@link K3sServerRole}, singleton) holds the primary duties: the join token,
 *   the cluster record (who runs `k3s server`: 1, 3 or 5 embedded-etcd voters), the bootstrap,
 *   and a handoff that keeps etcd quorum and evicts pods the way `kubectl drain` does;
 * - `k3s-agent` ({@link K3sAgentRole}, every node) runs `k3s agent`, or `k3s server` on the
 *   listed servers, through one {@link K3sNodeRuntime} per node: arguments built from the node
 *   (Tailscale IPv4 as node IP and advertise address, the token in a 0600 file, never on argv),
 *   restarts with backoff, and a member that k3s removed from etcd rejoins cleanly (its
 *   `server/db` wiped) instead of looping;
 * - the embedded etcd through its v3 JSON gateway ({@link EtcdGateway}: members, learners,
 *   promotion, leadership, removal; 64-bit member ids kept exact);
 * - the Kubernetes API through `@kubernetes/client-node` ({@link KubeApi}, cordon, drain,
 *   k3s's etcd-removal annotation, counts);
 * - status for dashboards ({@link K3sStatusReader}).
 *
 * @packageDocumentation
 */
export * from './etcd/index.js';
export * from './kube/index.js';
export * from './process/index.js';
export * from './roles/index.js';
export * from './status/index.js';
