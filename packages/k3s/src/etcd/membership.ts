/**
 * Which etcd member belongs to which k3s node, and who leads. k3s names a server's member
 * `<node-name>-<first 8 hex digits of a uuid>` and gives it the peer URL `https://<node-ip>:2380`;
 * its own removal controller matches a member by that name and that peer host, and so does this.
 */
import type { EtcdMember, EtcdStatus } from './types.js';

/** The 8-hex suffix k3s appends (lowercase: it is cut from a uuid's text form). */
const K3S_SUFFIX = /^-[0-9a-f]{8}$/;

/** True when `memberName` is exactly `<nodeName>-<8 lowercase hex>`, the name k3s gives node `nodeName`'s member. */
export function isK3sMemberName(memberName: string, nodeName: string): boolean {
  return (
    nodeName !== '' &&
    memberName.length === nodeName.length + 9 &&
    memberName.startsWith(nodeName) &&
    K3S_SUFFIX.test(memberName.slice(nodeName.length))
  );
}

/**
 * The host of `address` (an IPv4 or IPv6 address, with or without brackets, or a host name) in the
 * form the WHATWG URL parser writes it, without brackets; undefined when it is not a host.
 * Writing both sides through the same parser makes `fd7a::0:1` equal `[fd7a::1]` and `EXAMPLE` equal `example`.
 */
function canonicalHost(address: string): string | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1');
  if (bare === '' || /[\s/?#@[\]]/.test(bare)) return undefined;
  try {
    const host = new URL(`http://${bare.includes(':') ? `[${bare}]` : bare}/`).hostname;
    return host.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return undefined;
  }
}

/** True when one of `member`'s peer URLs has host `address` (IPv6 with or without brackets). */
export function hasPeerHost(member: EtcdMember, address: string): boolean {
  const wanted = canonicalHost(address);
  if (wanted === undefined) return false;
  return member.peerUrls.some((url) => {
    try {
      return canonicalHost(new URL(url).hostname) === wanted;
    } catch {
      return false;
    }
  });
}

/**
 * True when `member` is k3s node `nodeName`'s member: its name is exactly `<nodeName>-<8 hex>` and,
 * when `nodeAddress` is given, one of its peer URLs has that host. A learner that has not started has
 * no name yet and so matches no node; find it by peer host with {@link hasPeerHost}.
 */
export function isMemberOf(member: EtcdMember, nodeName: string, nodeAddress?: string): boolean {
  if (!isK3sMemberName(member.name, nodeName)) return false;
  return nodeAddress === undefined || hasPeerHost(member, nodeAddress);
}

/**
 * The member `status` names as leader, from `members`; undefined when the answering member knows no
 * leader or the leader is not in the list (lists and status come from separate calls).
 */
export function leaderOf(members: readonly EtcdMember[], status: EtcdStatus): EtcdMember | undefined {
  if (status.leaderId === '0') return undefined;
  return members.find((member) => member.id === status.leaderId);
}
