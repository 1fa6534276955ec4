/** The public view of a member, and the mutable record the runtime keeps per node. */
import { NodeState } from '../wire/message-types.js';

/** A member's state as the local node sees it. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** The protocol and delegate version ranges a member advertises (its `Vsn` bytes). */
export interface MemberVersions {
  /** Lowest memberlist protocol version it understands. */
  readonly protocolMin: number;
  /** Highest memberlist protocol version it understands. */
  readonly protocolMax: number;
  /** The memberlist protocol version it speaks. */
  readonly protocolCur: number;
  /** Lowest delegate protocol version it understands. */
  readonly delegateMin: number;
  /** Highest delegate protocol version it understands. */
  readonly delegateMax: number;
  /** The delegate protocol version it speaks. */
  readonly delegateCur: number;
}

/** One member of the cluster: an immutable snapshot. */
export interface Member {
  /** Unique node name. */
  readonly name: string;
  /** Advertised IP address (text form). */
  readonly addr: string;
  /** Advertised port (UDP and TCP). */
  readonly port: number;
  /** Node metadata (at most 512 bytes); see the tags helpers for Serf's format. */
  readonly meta: Uint8Array;
  /** Alive, suspect, dead or left. */
  readonly state: MemberState;
  /** The node's incarnation number: it only grows, and the node itself raises it to refute. */
  readonly incarnation: number;
  /** Versions it advertises. */
  readonly versions: MemberVersions;
}

/** The runtime's record of one node (not exported from the package). */
export interface NodeRecord {
  readonly name: string;
  addr: string;
  addrBytes: Uint8Array;
  port: number;
  meta: Uint8Array;
  incarnation: number;
  state: NodeState;
  /** Clock time of the last state change. */
  stateChange: number;
  vsn: Uint8Array;
}

const stateNames: Record<number, MemberState> = {
  [NodeState.alive]: 'alive',
  [NodeState.suspect]: 'suspect',
  [NodeState.dead]: 'dead',
  [NodeState.left]: 'left',
};

/** The public name of a wire state number. */
export function memberStateOf(state: NodeState): MemberState {
  return stateNames[state] ?? 'dead';
}

/** Reads a `Vsn` array (missing bytes read as 0). */
export function versionsOf(vsn: Uint8Array): MemberVersions {
  return {
    protocolMin: vsn[0] ?? 0,
    protocolMax: vsn[1] ?? 0,
    protocolCur: vsn[2] ?? 0,
    delegateMin: vsn[3] ?? 0,
    delegateMax: vsn[4] ?? 0,
    delegateCur: vsn[5] ?? 0,
  };
}

/** A frozen public snapshot of a record. */
export function toMember(record: NodeRecord): Member {
  return Object.freeze({
    name: record.name,
    addr: record.addr,
    port: record.port,
    meta: record.meta.slice(),
    state: memberStateOf(record.state),
    incarnation: record.incarnation,
    versions: Object.freeze(versionsOf(record.vsn)),
  });
}

/** True for dead and left nodes, which are not probed and not counted as members. */
export function isDeadOrLeft(record: NodeRecord): boolean {
  return record.state === NodeState.dead || record.state === NodeState.left;
}
