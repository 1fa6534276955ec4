/**
 * The UDP receive path of a memberlist (memberlist `ingestPacket`/`handleCommand`): decode the
 * datagram, count what was dropped, and dispatch each message — pings are answered, indirect
 * pings relayed (with a nack when asked and the target stays silent), acks and nacks handed to
 * the waiting probe, alive/suspect/dead applied to the node table, user messages passed to the
 * delegate. Nothing a peer sends can throw out of here.
 */
import type { Address } from '@clusteros/sim';
import { formatAddress } from '@clusteros/sim';
import { MessageType } from '../wire/message-types.js';
import {
  encodeAckResp,
  encodeNackResp,
  encodePing,
  type IndirectPingReq,
  type Ping,
} from '../wire/messages.js';
import { decodePacket, type InboundMessage } from '../wire/packet.js';
import { ipFromBytes } from './ip.js';
import type { Memberlist } from './memberlist.js';

/** Decompression budget of one datagram: far above a 64 KiB datagram's honest expansion. */
const MAX_PACKET_EXPANSION = 4 * 1024 * 1024;

/** Handles the datagrams of one {@link Memberlist}. */
export class PacketHandler {
  readonly #ml: Memberlist;

  /** Creates the handler of `ml`. */
  constructor(ml: Memberlist) {
    this.#ml = ml;
  }

  /** Decodes and handles one datagram from `from`. */
  ingest(bytes: Uint8Array, from: Address): void {
    const ml = this.#ml;
    if (ml.closed) return;
    const counts = ml.counters.counts;
    counts.packetsIn++;
    counts.bytesIn += bytes.length;
    const decoded = decodePacket(bytes, {
      keyring: ml.opts.keyring,
      verifyIncoming: ml.opts.tuning.gossipVerifyIncoming,
      maxDecompressedBytes: MAX_PACKET_EXPANSION,
    });
    for (const drop of decoded.dropped) {
      ml.counters.drop(drop.reason);
      ml.opts.logger.debug(
        { from: formatAddress(from), reason: drop.reason, detail: drop.detail },
        'memberlist: dropped packet',
      );
    }
    for (const message of decoded.messages) {
      counts.messagesIn++;
      try {
        this.#handle(message, from);
      } catch (error) {
        // Nothing from the network may stop the node; a handler bug is logged and counted.
        ml.counters.drop('decode');
        ml.opts.logger.error(
          { error: (error as Error).message, type: message.type },
          'memberlist: handler failed',
        );
      }
    }
  }

  #handle(message: InboundMessage, from: Address): void {
    const ml = this.#ml;
    switch (message.type) {
      case MessageType.ping:
        this.#handlePing(message.body, from);
        return;
      case MessageType.indirectPing:
        this.#handleIndirectPing(message.body, from);
        return;
      case MessageType.ackResp:
        if (ml.acks.ack(message.body.seqNo, message.body.payload)) ml.counters.counts.acks++;
        return;
      case MessageType.nackResp:
        if (ml.acks.nack(message.body.seqNo)) ml.counters.counts.nacks++;
        return;
      case MessageType.suspect:
        ml.answerStaleAccusation(message.body.node, message.body.incarnation, from);
        ml.suspectNode(message.body);
        return;
      case MessageType.alive:
        ml.aliveNode(message.body, null, false);
        return;
      case MessageType.dead:
        ml.answerStaleAccusation(message.body.node, message.body.incarnation, from);
        ml.deadNode(message.body, null);
        return;
      case MessageType.user:
        ml.deliverUserMessage(message.body);
        return;
      default:
        ml.counters.drop('unexpected');
    }
  }

  #replyAddress(sourceAddr: Uint8Array | null, sourcePort: number, from: Address): Address {
    const host = ipFromBytes(sourceAddr);
    return host !== null && sourcePort > 0 ? { host, port: sourcePort } : from;
  }

  #handlePing(ping: Ping, from: Address): void {
    if (ping.node !== '' && ping.node !== this.#ml.self.name) {
      this.#ml.counters.drop('wrongNode');
      return;
    }
    const payload = this.#ml.callDelegate('ackPayload', (d) => d.ackPayload?.()) ?? null;
    this.#ml.sendMsg(
      this.#replyAddress(ping.sourceAddr, ping.sourcePort, from),
      encodeAckResp({ seqNo: ping.seqNo, payload }),
    );
  }

  #handleIndirectPing(req: IndirectPingReq, from: Address): void {
    const target = ipFromBytes(req.target);
    if (target === null) {
      this.#ml.counters.drop('badAddress');
      return;
    }
    const requester = this.#replyAddress(req.sourceAddr, req.sourcePort, from);
    const seqNo = this.#ml.nextSeqNo();
    this.#ml.acks.register(
      seqNo,
      {
        onAck: () => this.#ml.sendMsg(requester, encodeAckResp({ seqNo: req.seqNo, payload: null })),
        onTimeout: () => {
          if (req.nack && !this.#ml.closed) this.#ml.sendMsg(requester, encodeNackResp({ seqNo: req.seqNo }));
        },
      },
      this.#ml.opts.tuning.probeTimeoutMs,
    );
    // Protocol 1 peers and a zero port mean "the port we all bind", as in memberlist.
    const port =
      this.#ml.opts.tuning.protocolVersion < 2 || req.port === 0 ? this.#ml.opts.bindPort : req.port;
    this.#ml.sendMsg({ host: target, port }, encodePing(this.#ml.pingFor(seqNo, req.node)));
  }
}
