/**
 * The gossip tags an agent publishes about itself, and how it reads other agents' tags.
 *
 * Tags travel in memberlist metadata (Serf's encoding, at most 512 bytes in all), so they carry
 * only what peers need before any Raft state is shared: who the node is, which cluster it belongs
 * to (a fingerprint derived from the auth key — never the key), where its Raft transport and
 * dashboard listen, whether it is already a member of a Raft cluster, and its capabilities.
 */
import { type CapabilitySummary, capabilityTags, parseCapabilityTags } from '../capabilities.js';
import { TAG } from '../dashboard-sources.js';

/** Tag names of the agent beyond {@link TAG} and the capability tags. */
export const AGENT_TAG = {
  /** The cluster fingerprint (32 hex characters). */
  fingerprint: 'fp',
  /** `host:port` of the Raft transport. */
  raft: 'raft',
  /** `fresh` (empty data dir, no Raft state yet) or `member` (has Raft state). */
  raftState: 'raft_state',
  /** `host:port` of the dashboard API. */
  api: 'api',
  /** Election priority (`roles.preferences.priority`). */
  priority: 'prio',
} as const;

/** Whether a node has Raft state. */
export type RaftState = 'fresh' | 'member';

/** Everything the agent publishes about itself. */
export interface AgentTagInput {
  /** Human-readable name. */
  readonly name: string;
  /** Enabled roles. */
  readonly roles: readonly string[];
  /** Tailscale IPv4, when on a tailnet. */
  readonly tailscaleIp: string | null;
  /** Cluster fingerprint. */
  readonly fingerprint: string;
  /** Raft transport address. */
  readonly raftAddress: string;
  /** Dashboard address. */
  readonly apiAddress: string;
  /** Raft state. */
  readonly raftState: RaftState;
  /** Detected capabilities. */
  readonly capabilities: CapabilitySummary;
  /** Election priority. */
  readonly priority: number;
  /** Operator tags from the config (`node.tags`); the agent's own names win on a clash. */
  readonly extra: Readonly<Record<string, string>>;
}

/** The tag map for {@link AgentTagInput}. */
export function agentTags(input: AgentTagInput): Record<string, string> {
  return {
    ...input.extra,
    [TAG.name]: input.name,
    [TAG.roles]: input.roles.join(','),
    ...(input.tailscaleIp === null ? {} : { [TAG.tailscaleIp]: input.tailscaleIp }),
    [AGENT_TAG.fingerprint]: input.fingerprint,
    [AGENT_TAG.raft]: input.raftAddress,
    [AGENT_TAG.api]: input.apiAddress,
    [AGENT_TAG.raftState]: input.raftState,
    [AGENT_TAG.priority]: String(input.priority),
    ...capabilityTags(input.capabilities),
  };
}

/** What the agent reads back from a peer's tags; fields it cannot trust are absent. */
export interface PeerTags {
  /** Cluster fingerprint. */
  readonly fingerprint?: string;
  /** Raft transport address (`host:port`). */
  readonly raftAddress?: string;
  /** Dashboard address. */
  readonly apiAddress?: string;
  /** Raft state. */
  readonly raftState?: RaftState;
  /** Capabilities, when well-formed. */
  readonly capabilities?: CapabilitySummary;
}

const HOST_PORT_RE = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$/;
const FINGERPRINT_RE = /^[0-9a-f]{32}$/;

/** Reads a peer's tags; a malformed value is left out rather than trusted. */
export function readPeerTags(tags: Readonly<Record<string, string>>): PeerTags {
  const fingerprint = tags[AGENT_TAG.fingerprint];
  const raft = tags[AGENT_TAG.raft];
  const api = tags[AGENT_TAG.api];
  const state = tags[AGENT_TAG.raftState];
  let capabilities: CapabilitySummary | undefined;
  try {
    capabilities = parseCapabilityTags(tags);
  } catch {
    capabilities = undefined;
  }
  const validPort = (hostPort: string): boolean => {
    const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65_535;
  };
  return {
    ...(fingerprint !== undefined && FINGERPRINT_RE.test(fingerprint) ? { fingerprint } : {}),
    ...(raft !== undefined && HOST_PORT_RE.test(raft) && validPort(raft) ? { raftAddress: raft } : {}),
    ...(api !== undefined && HOST_PORT_RE.test(api) && validPort(api) ? { apiAddress: api } : {}),
    ...(state === 'fresh' || state === 'member' ? { raftState: state } : {}),
    ...(capabilities === undefined ? {} : { capabilities }),
  };
}

/** `host:port`, bracketing IPv6 literals. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
