/**
 * The SWIM failure detector of one node (memberlist `probe`/`probeNode`, MEMBERLIST-WIRE.md
 * §11.1–11.3): every probe interval, ping the next member in round-robin order; without an
 * ack within the probe timeout, ask `indirectChecks` others to ping it (and try TCP); without
 * any ack by the end of the (health-scaled) interval, suspect it. Lifeguard: nacks from relays
 * tell apart "the target is down" from "I am not hearing anything", and the local health score
 * moves accordingly.
 */
import type { TimerHandle } from '@clusteros/sim';
import { encodeCompound } from '../wire/compound.js';
import { NodeState } from '../wire/message-types.js';
import { encodeIndirectPingReq, encodePing, encodeSuspect } from '../wire/messages.js';
import { scaleTimeout } from '../wire/timing.js';
import { type NodeRecord, toMember } from './member.js';
import type { Memberlist } from './memberlist.js';

/** Runs the probe loop of a {@link Memberlist}. */
export class Prober {
  readonly #ml: Memberlist;
  #timer: TimerHandle | null = null;
  #roundStart = 0;
  #stopped = false;

  /** Creates the prober of `ml` (not started). */
  constructor(ml: Memberlist) {
    this.#ml = ml;
  }

  /** Starts probing after `staggerMs`. */
  start(staggerMs: number): void {
    this.#timer = this.#ml.after(staggerMs, () => this.#round());
  }

  /** Stops probing; an unfinished probe is abandoned. */
  stop(): void {
    this.#stopped = true;
    this.#ml.cancel(this.#timer);
    this.#timer = null;
  }

  #round(): void {
    this.#timer = null;
    if (this.#stopped) return;
    const ml = this.#ml;
    this.#roundStart = ml.opts.clock.now();
    const target = ml.table.nextProbeTarget(
      ml.self.name,
      this.#roundStart,
      ml.opts.tuning.gossipToTheDeadTimeMs,
      () => {},
    );
    if (target === undefined) {
      this.#next();
      return;
    }
    this.#probe(target);
  }

  /** Schedules the next round on the interval grid, at once if this round overran it. */
  #next(): void {
    if (this.#stopped) return;
    const ml = this.#ml;
    const due = this.#roundStart + ml.opts.tuning.probeIntervalMs - ml.opts.clock.now();
    this.#timer = ml.after(Math.max(0, due), () => this.#round());
  }

  #probe(node: NodeRecord): void {
    const ml = this.#ml;
    const { tuning, clock, logger } = ml.opts;
    ml.counters.counts.probes++;
    const seqNo = ml.nextSeqNo();
    const interval = scaleTimeout(tuning.probeIntervalMs, ml.healthScore());
    const sent = clock.now();
    // memberlist probes a copy of the node's state: a failure suspects the incarnation the probe
    // started with, so a node that refuted (or restarted) meanwhile is not accused anew.
    const incarnation = node.incarnation;
    let finished = false;
    let nacks = 0;
    let expectedNacks = 0;
    let deadlinePassed = false;
    let tcpPending = false;
    let directTimer: TimerHandle | null = null;
    let deadlineTimer: TimerHandle | null = null;

    const end = (): void => {
      finished = true;
      ml.cancel(directTimer);
      ml.cancel(deadlineTimer);
      ml.acks.cancel(seqNo);
      this.#next();
    };
    const succeed = (payload: Uint8Array | null, at: number): void => {
      if (finished || this.#stopped) return;
      end();
      ml.counters.counts.probeSuccesses++;
      ml.applyAwareness(-1);
      if (ml.opts.delegate.notifyPingComplete !== undefined) {
        const member = toMember(node);
        ml.callDelegate('notifyPingComplete', (d) =>
          d.notifyPingComplete?.(member, at - sent, payload ?? new Uint8Array(0)),
        );
      }
    };
    const fail = (): void => {
      if (finished || this.#stopped) return;
      end();
      ml.counters.counts.probeFailures++;
      // Lifeguard: missing nacks mean this node may be the one with the problem.
      ml.applyAwareness(expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1);
      logger.debug({ node: node.name }, 'memberlist: probe failed, suspecting node');
      ml.suspectNode({ incarnation, node: node.name, from: ml.self.name });
    };

    ml.acks.register(seqNo, { onAck: succeed, onNack: () => nacks++ }, interval);
    const ping = encodePing(ml.pingFor(seqNo, node.name));
    const target = { host: node.addr, port: node.port };
    if (node.state === NodeState.alive) {
      ml.sendMsg(target, ping);
    } else {
      // A suspect gets the suspicion alongside the ping, so that it can refute at once.
      const suspect = encodeSuspect({ incarnation: node.incarnation, node: node.name, from: ml.self.name });
      ml.rawSend(target, encodeCompound([ping, suspect]), node);
    }

    directTimer = ml.after(tuning.probeTimeoutMs, () => {
      directTimer = null;
      if (finished) return;
      const relays = ml.table.randomNodes(
        tuning.indirectChecks,
        (n) => n.name !== ml.self.name && n.name !== node.name && n.state === NodeState.alive,
      );
      for (const relay of relays) {
        const wantNack = tuning.lifeguard && (relay.vsn[1] ?? 0) >= 4;
        if (wantNack) expectedNacks++;
        ml.counters.counts.indirectPings++;
        const req = encodeIndirectPingReq({
          seqNo,
          target: node.addrBytes,
          port: node.port,
          node: node.name,
          nack: wantNack,
          sourceAddr: ml.self.addrBytes,
          sourcePort: ml.self.port,
          sourceNode: ml.self.name,
        });
        ml.sendMsg({ host: relay.addr, port: relay.port }, req);
      }
      const remaining = Math.max(0, sent + interval - clock.now());
      if (!tuning.disableTcpPings && (node.vsn[1] ?? 0) >= 3) {
        tcpPending = true;
        ml.counters.counts.tcpPings++;
        ml.tcpPing(node, seqNo, remaining).then(
          (ok) => {
            tcpPending = false;
            if (ok) {
              logger.warn({ node: node.name }, 'memberlist: UDP probes failed but the TCP ping succeeded');
              succeed(null, clock.now());
            } else if (deadlinePassed) fail();
          },
          () => {
            tcpPending = false;
            if (deadlinePassed) fail();
          },
        );
      }
      deadlineTimer = ml.after(remaining, () => {
        deadlineTimer = null;
        deadlinePassed = true;
        if (!tcpPending) fail();
      });
    });
  }
}
