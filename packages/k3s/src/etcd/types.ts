/**
 * The shapes the etcd gateway client works with. Every value here was decoded from gateway JSON and
 * checked; uint64 values (member ids, raft term and index) stay decimal strings because a JS number
 * cannot hold them exactly.
 */

/** Client TLS material for an `https` gateway: PEM text or bytes, as read from k3s's files. */
export interface EtcdClientTls {
  /** The CA certificate(s) that signed etcd's serving certificate (k3s: `server-ca.crt`). */
  readonly ca: string | Uint8Array;
  /** The client certificate etcd's `--client-cert-auth` asks for (k3s: `server-client.crt`). */
  readonly cert: string | Uint8Array;
  /** The client certificate's private key (k3s: `server-client.key`). Never printed. */
  readonly key: string | Uint8Array;
}

/** How to reach one etcd member's v3 JSON gateway. */
export interface EtcdGatewayOptions {
  /**
   * Base URL of the gateway, `http://` or `https://`, e.g. `https://127.0.0.1:2382` on a k3s server
   * (its HTTP listener) or a plain etcd client URL such as `http://127.0.0.1:2379`.
   */
  readonly endpoint: string;
  /** Client certificates for an `https` endpoint; without them the system CAs are used and no client cert is sent. */
  readonly tls?: EtcdClientTls;
  /** Bound on each request, from connecting to the last response byte. @defaultValue 5000 */
  readonly timeoutMs?: number;
}

/** One etcd cluster member, as the gateway lists it. */
export interface EtcdMember {
  /** The member id: a non-zero uint64 as an exact decimal string (what the gateway sends and takes). */
  readonly id: string;
  /** The same id in lowercase hex without leading zeros, as `etcdctl member list` prints it. */
  readonly hexId: string;
  /** The member's name (k3s: `<node-name>-<8 hex>`); `''` for a member that has not started yet. */
  readonly name: string;
  /** URLs the member's peers reach it on (k3s: `https://<node-ip>:2380`). */
  readonly peerUrls: readonly string[];
  /** URLs clients reach it on; empty for a member that has not started yet. */
  readonly clientUrls: readonly string[];
  /** True for a learner (a non-voting member that is catching up). */
  readonly isLearner: boolean;
}

/** What one member says about itself and the cluster (`/v3/maintenance/status`). */
export interface EtcdStatus {
  /** The answering member's id (decimal uint64 string). */
  readonly memberId: string;
  /** The leader this member knows of (decimal uint64 string); `'0'` when it knows none. */
  readonly leaderId: string;
  /** The raft term (decimal uint64 string). */
  readonly raftTerm: string;
  /** The member's raft log index (decimal uint64 string). */
  readonly raftIndex: string;
  /** etcd's version, e.g. `'3.4.23'`; `''` if the member did not say. */
  readonly version: string;
  /** Size of the member's backend database in bytes. */
  readonly dbSize: number;
  /** True when the answering member is a learner. */
  readonly isLearner: boolean;
}
