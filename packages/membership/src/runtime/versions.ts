/**
 * The protocol compatibility check memberlist runs before it merges remote state
 * (MEMBERLIST-WIRE.md §9, `state.go: verifyProtocol`): every node, local and remote, must
 * speak a protocol version and a delegate version inside the range all alive nodes understand.
 */
import { NodeState } from '../wire/message-types.js';

/** One node's advertised versions and state, from either side. */
export interface VersionedNode {
  /** Node name, for the error message. */
  readonly name: string;
  /** Wire state number. */
  readonly state: number;
  /** The `Vsn` bytes (may be empty or short from a bad peer). */
  readonly vsn: Uint8Array | null;
}

/** Returns why the merged set is incompatible, or `null` when it is compatible. */
export function checkProtocolCompatibility(
  remote: readonly VersionedNode[],
  local: readonly VersionedNode[],
): string | null {
  let maxPMin = 0;
  let minPMax = 255;
  let maxDMin = 0;
  let minDMax = 255;
  const widen = (node: VersionedNode): void => {
    const vsn = node.vsn;
    if (node.state !== NodeState.alive || vsn === null || vsn.length === 0) return;
    maxPMin = Math.max(maxPMin, vsn[0] ?? 0);
    minPMax = Math.min(minPMax, vsn[1] ?? 0);
    maxDMin = Math.max(maxDMin, vsn[3] ?? 0);
    minDMax = Math.min(minDMax, vsn[4] ?? 0);
  };
  for (const node of remote) widen(node);
  for (const node of local) widen(node);
  for (const node of [...remote, ...local]) {
    const vsn = node.vsn ?? new Uint8Array(0);
    const pCur = vsn.length > 2 ? (vsn[2] ?? 0) : 0;
    const dCur = vsn.length > 5 ? (vsn[5] ?? 0) : 0;
    if (pCur < maxPMin || pCur > minPMax)
      return `node '${node.name}' protocol version (${pCur}) is incompatible: [${maxPMin}, ${minPMax}]`;
    if (dCur < maxDMin || dCur > minDMax)
      return `node '${node.name}' delegate protocol version (${dCur}) is incompatible: [${maxDMin}, ${minDMax}]`;
  }
  return null;
}
