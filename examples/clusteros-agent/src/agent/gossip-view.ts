/**
 * The agent's reading of gossip: which members belong to this cluster (same fingerprint), and
 * the views other parts need of them — `NodeRef`s for the role manager, Raft candidates for the
 * autopilot, bootstrap members for the founding decision, and the node directory for the
 * dashboard's leaders table. Tags are decoded once per call; a member whose tags do not decode
 * is not of this cluster.
 */
import { decodeTags, type Member } from '@clusteros/membership';
import type { NodeRef } from '@clusteros/roles';
import { rolesFromTag, TAG } from '../dashboard-sources.js';
import type { Candidate } from './autopilot.js';
import type { BootstrapMember } from './bootstrap.js';
import { AGENT_TAG, type PeerTags, readPeerTags } from './tags.js';

/** A member of this cluster with its decoded tags. */
export interface ClusterMember {
  /** The gossip member. */
  readonly member: Member;
  /** Its raw tags. */
  readonly tags: Readonly<Record<string, string>>;
  /** Its agent tags. */
  readonly peer: PeerTags;
}

/** What the view reads: a `Memberlist` has it. */
export interface GossipSource {
  /** Every known node, dead and left ones included. */
  allNodes(): Member[];
}

/** Decodes tags, or undefined when they are not Serf tags. */
function tagsOf(member: Member): Record<string, string> | undefined {
  try {
    return decodeTags(member.meta);
  } catch {
    return undefined;
  }
}

/** Gossip as the agent needs it. */
export class GossipView {
  readonly #source: GossipSource;
  readonly #self: string;
  readonly #fingerprint: string;

  /** A view over `source` for node `self` of the cluster with `fingerprint`. */
  constructor(source: GossipSource, self: string, fingerprint: string) {
    this.#source = source;
    this.#self = self;
    this.#fingerprint = fingerprint;
  }

  /** Every known member of this cluster (any state), this node included. */
  cluster(): ClusterMember[] {
    const out: ClusterMember[] = [];
    for (const member of this.#source.allNodes()) {
      const tags = tagsOf(member);
      if (tags === undefined) continue;
      const peer = readPeerTags(tags);
      if (peer.fingerprint !== this.#fingerprint) continue;
      out.push({ member, tags, peer });
    }
    return out;
  }

  /** Alive members of this cluster as role-manager node refs, this node included. */
  nodeRefs(): NodeRef[] {
    return this.cluster()
      .filter((m) => m.member.state === 'alive')
      .map((m) => toNodeRef(m));
  }

  /** This cluster's members with a Raft address, for the autopilot. */
  candidates(): Candidate[] {
    return this.cluster().flatMap((m) =>
      m.peer.raftAddress === undefined
        ? []
        : [{ id: m.member.name, raftAddress: m.peer.raftAddress, state: m.member.state }],
    );
  }

  /** Alive members other than this node, for the founding decision. */
  bootstrapOthers(): BootstrapMember[] {
    return this.cluster()
      .filter((m) => m.member.state === 'alive' && m.member.name !== this.#self)
      .map((m) => ({ id: m.member.name, raftState: m.peer.raftState, raftAddress: m.peer.raftAddress }));
  }

  /** Where node `id` can be reached, for the dashboard's leaders table. */
  lookup(
    id: string,
  ):
    | { readonly name: string; readonly address: string | null; readonly tailscaleIp: string | null }
    | undefined {
    const found = this.cluster().find((m) => m.member.name === id);
    if (found === undefined) return undefined;
    return {
      name: found.tags[TAG.name] ?? id,
      address: found.peer.apiAddress ?? null,
      tailscaleIp: found.tags[TAG.tailscaleIp] ?? null,
    };
  }
}

/** A member as the role manager sees it. */
export function toNodeRef(m: ClusterMember): NodeRef {
  const caps = m.peer.capabilities;
  const priority = Number(m.tags[AGENT_TAG.priority]);
  return {
    id: m.member.name,
    name: m.tags[TAG.name] ?? m.member.name,
    ...(m.peer.apiAddress === undefined ? {} : { address: m.peer.apiAddress }),
    ...(caps === undefined
      ? {}
      : {
          capabilities: {
            cpuCores: caps.cpuCores,
            ramBytes: caps.ramBytes,
            gpus: caps.gpus,
            arch: caps.arch,
          },
        }),
    ...(Number.isSafeInteger(priority) ? { priority } : {}),
    tags: { ...m.tags },
    roles: rolesFromTag(m.tags[TAG.roles]),
  };
}
