/**
 * The state half of push/pull anti-entropy (MEMBERLIST-WIRE.md §6.2): what a node sends (its
 * whole node table and its delegate's state) and how a received table is merged — after the
 * protocol version check and the merge delegate's veto, alive entries go through the alive
 * rule, left entries through the dead rule with `from` = the node, and dead or suspect
 * entries become suspicions, as memberlist's `mergeState` does.
 */
import { NodeState } from '../wire/message-types.js';
import type { PushNodeState } from '../wire/messages.js';
import type { PushPull } from '../wire/stream.js';
import { StreamExchangeError } from './errors.js';
import { ipFromBytes } from './ip.js';
import { toMember } from './member.js';
import type { Memberlist } from './memberlist.js';
import { checkProtocolCompatibility } from './versions.js';

/** The push/pull body `ml` sends: its whole node table and its delegate state. */
export function localPushPull(ml: Memberlist, join: boolean): PushPull {
  const nodes: PushNodeState[] = ml.table.all.map((n) => ({
    name: n.name,
    addr: n.addrBytes,
    port: n.port,
    meta: n.meta,
    incarnation: n.incarnation,
    state: n.state,
    vsn: n.vsn,
  }));
  const userState = ml.callDelegate('localState', (d) => d.localState?.(join)) ?? new Uint8Array(0);
  return { join, nodes, userState };
}

/**
 * Merges a peer's push/pull into `ml` (memberlist `mergeRemoteState`): version check, merge
 * delegate (joins only), node states, then user state. Throws {@link StreamExchangeError}
 * (`incompatible`, `vetoed`) without changing anything.
 */
export function mergeRemoteState(ml: Memberlist, remote: PushPull): void {
  const incompatible = checkProtocolCompatibility(remote.nodes, ml.table.all);
  if (incompatible !== null) {
    ml.counters.drop('incompatible');
    throw new StreamExchangeError('incompatible', incompatible);
  }
  const usable = remote.nodes.filter((n) => {
    const ok = ipFromBytes(n.addr) !== null && n.name.length > 0;
    if (!ok) ml.counters.drop('badAddress');
    return ok;
  });
  if (remote.join && ml.opts.delegate.notifyMerge !== undefined) {
    const peers = usable.map((n) =>
      toMember({
        name: n.name,
        addr: ipFromBytes(n.addr) ?? '',
        addrBytes: n.addr ?? new Uint8Array(0),
        port: n.port,
        meta: n.meta ?? new Uint8Array(0),
        incarnation: n.incarnation,
        state: n.state as NodeState,
        stateChange: ml.opts.clock.now(),
        vsn: n.vsn ?? new Uint8Array(0),
      }),
    );
    const veto = ml.callDelegate('notifyMerge', (d) => d.notifyMerge?.(peers));
    if (typeof veto === 'string') {
      ml.counters.drop('vetoed');
      throw new StreamExchangeError('vetoed', `merge refused by the delegate: ${veto}`);
    }
  }
  for (const n of usable) {
    switch (n.state) {
      case NodeState.alive:
        ml.aliveNode(
          {
            incarnation: n.incarnation,
            node: n.name,
            addr: n.addr,
            port: n.port,
            meta: n.meta,
            vsn: n.vsn,
          },
          null,
          false,
        );
        break;
      case NodeState.left:
        ml.deadNode({ incarnation: n.incarnation, node: n.name, from: n.name }, null);
        break;
      case NodeState.dead:
      case NodeState.suspect:
        ml.suspectNode({ incarnation: n.incarnation, node: n.name, from: ml.self.name });
        break;
      default:
        break;
    }
  }
  if (remote.userState.length > 0)
    ml.callDelegate('mergeRemoteState', (d) => d.mergeRemoteState?.(remote.userState, remote.join));
}
