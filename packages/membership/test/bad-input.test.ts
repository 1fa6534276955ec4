// Hostile input against running nodes, in deterministic simulation: an attacker host that is
// not a member floods a healthy cluster with random and mutated datagrams, forges membership
// gossip, and opens abusive TCP streams. Nothing may throw out of the receive path, block a
// node, grow its state without bound or change membership; each input is dropped and counted
// by reason. (The decoders alone are fuzzed in fuzz.test.ts; this file drives the runtime.)
import {
  type Address,
  type ByteStream,
  type ByteStreamEvents,
  type DatagramSocket,
  type Random,
  runSeeds,
  SimClock,
  type SimNode,
  Simulation,
} from '@clusteros/sim';
import { encode as msgpackEncode } from '@msgpack/msgpack';
import { EventEmitter } from 'eventemitter3';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DecodedPacket,
  type DroppedReason,
  decodePacket,
  decodeStream,
  encodeAckResp,
  encodeAlive,
  encodeCompound,
  encodeCompress,
  encodeDead,
  encodeErrResp,
  encodeIndirectPingReq,
  encodeNackResp,
  encodePacket,
  encodePing,
  encodePushNodeState,
  encodePushPull,
  encodePushPullHeader,
  encodeStream,
  encodeSuspect,
  encodeUserMsgHeader,
  encodeUserPacket,
  encodeUserStream,
  encryptPayload,
  ipFromBytes,
  ipToBytes,
  Keyring,
  type Logger,
  localConfig,
  lzwCompress,
  MAX_PUSH_STATE_BYTES,
  Memberlist,
  type MemberlistOptions,
  MessageType,
  type PacketHandler,
  SimTransport,
  type StreamHandler,
  type StreamMessage,
  type Transport,
  wrapCrc,
} from '../src/index.js';
import { MessageScan } from '../src/runtime/message-scan.js';
import { readStreamMessage } from '../src/runtime/stream-io.js';

// ------------------------------------------------------------------ guards

// Anything thrown past the receive path ends up here (or out of the clock's advance, which
// rethrows what a timer callback threw); every test asserts that nothing did.
const escaped: string[] = [];
process.on('uncaughtException', (error) => escaped.push(`uncaughtException: ${String(error)}`));
process.on('unhandledRejection', (error) => escaped.push(`unhandledRejection: ${String(error)}`));
function assertNothingEscaped(): void {
  assert.equal(escaped, [], 'an exception escaped');
}

// ------------------------------------------------------------------ cluster harness

const PORT = 7946;
const ATTACKER = '10.0.0.66';
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const WRONG_KEY = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const tuning = localConfig();

/** Records inbound datagrams (valid cluster traffic to mutate) before handing them on. */
class TapTransport implements Transport {
  readonly #inner: Transport;
  readonly #captured: Uint8Array[];
  constructor(inner: Transport, captured: Uint8Array[]) {
    this.#inner = inner;
    this.#captured = captured;
  }
  get local(): Address {
    return this.#inner.local;
  }
  sendPacket(to: Address, bytes: Uint8Array): void {
    this.#inner.sendPacket(to, bytes);
  }
  onPacket(handler: PacketHandler): void {
    this.#inner.onPacket((bytes, from) => {
      if (from.host !== ATTACKER && this.#captured.length < 400) this.#captured.push(bytes.slice());
      handler(bytes, from);
    });
  }
  dial(to: Address, timeoutMs: number): Promise<ByteStream> {
    return this.#inner.dial(to, timeoutMs);
  }
  onStream(handler: StreamHandler): void {
    this.#inner.onStream(handler);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

interface Cluster {
  readonly sim: Simulation;
  readonly members: Memberlist[];
  /** Valid datagrams captured while the cluster formed (encrypted if the cluster is). */
  readonly captured: Uint8Array[];
  /** Lines the nodes logged at level error (a handler that threw, and the like). */
  readonly errors: string[];
  readonly secretKey: Uint8Array | undefined;
}

function hostOf(i: number): string {
  return `10.0.0.${i + 1}`;
}

/** Drives the simulation until `promise` settles (or `limitMs` passes) and returns its outcome. */
async function settle<T>(sim: Simulation, promise: Promise<T>, limitMs = 20_000): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => {
      outcome = { ok: true, value };
    },
    (error: unknown) => {
      outcome = { ok: false, error };
    },
  );
  await sim.clock.runUntil(() => outcome !== undefined, limitMs);
  if (outcome === undefined) throw new Error(`not settled within ${limitMs} simulated ms`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

async function addMember(
  cluster: Pick<Cluster, 'sim' | 'captured' | 'errors' | 'secretKey'>,
  index: number,
  overrides: Partial<MemberlistOptions> = {},
): Promise<Memberlist> {
  const host = hostOf(index);
  const node = cluster.sim.addNode(host);
  await node.start();
  const errors = cluster.errors;
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (fields, message) => errors.push(`n${index}: ${message} ${JSON.stringify(fields)}`),
  };
  const transport = new TapTransport(
    await SimTransport.create(node.network, { host, port: PORT }),
    cluster.captured,
  );
  const options: MemberlistOptions = {
    ...tuning,
    name: `n${index}`,
    bindAddr: host,
    bindPort: PORT,
    transport,
    clock: node.clock,
    random: node.random,
    logger,
    ...(cluster.secretKey === undefined ? {} : { secretKey: cluster.secretKey }),
    ...overrides,
  };
  return Memberlist.create(options);
}

function allAlive(ml: Memberlist, size: number): boolean {
  const view = ml.allNodes();
  return view.length === size && view.every((m) => m.state === 'alive');
}

/** Starts `size` members, joins them through n0 and waits until everyone sees everyone alive. */
async function startCluster(seed: number, size: number, secretKey?: Uint8Array): Promise<Cluster> {
  const sim = new Simulation({ seed });
  const partial = { sim, captured: [] as Uint8Array[], errors: [] as string[], secretKey };
  const members: Memberlist[] = [];
  for (let i = 0; i < size; i++) members.push(await addMember(partial, i));
  for (const ml of members.slice(1)) await settle(sim, ml.join([`${hostOf(0)}:${PORT}`]));
  await sim.waitFor(() => members.every((ml) => allAlive(ml, size)), 30_000, 'cluster convergence');
  // Let the join gossip run out, so that the broadcast queues are empty.
  await sim.advance(3_000);
  return { ...partial, members };
}

/** Everything a member knows about membership, in one comparable string. */
function viewOf(ml: Memberlist): string {
  return ml
    .allNodes()
    .map((m) => `${m.name}@${m.addr}:${m.port}/${m.state}/${m.incarnation}`)
    .sort()
    .join(' ');
}

async function attackerSocket(sim: Simulation): Promise<{ node: SimNode; socket: DatagramSocket }> {
  const node = sim.addNode(ATTACKER);
  await node.start();
  const socket = await node.network.bindDatagram({ host: ATTACKER, port: 0 });
  socket.onMessage(() => {}); // replies to forged pings land here
  return { node, socket };
}

async function shutdown(cluster: Cluster): Promise<void> {
  for (const ml of cluster.members) await settle(cluster.sim, ml.shutdown());
}

// ------------------------------------------------------------------ what a member must do with a datagram

type Counts = Partial<Record<DroppedReason, number>>;

function decodeOptions(secretKey: Uint8Array | undefined): Parameters<typeof decodePacket>[1] {
  // The same options the runtime uses (memberlist.ts #ingest).
  return {
    keyring: new Keyring(secretKey ?? null),
    verifyIncoming: tuning.gossipVerifyIncoming,
    maxDecompressedBytes: 4 * 1024 * 1024,
  };
}

/**
 * Could this datagram legally change membership? Alive messages (any: they add or update
 * nodes), and suspect/dead about a known node at or above its incarnation. memberlist has no
 * per-message authentication without encryption, so those are protocol-legal forgeries.
 */
function touchesMembership(decoded: DecodedPacket, incarnations: ReadonlyMap<string, number>): boolean {
  return decoded.messages.some((m) => {
    if (m.type === MessageType.alive) return true;
    if (m.type !== MessageType.suspect && m.type !== MessageType.dead) return false;
    const known = incarnations.get(m.body.node);
    return known !== undefined && m.body.incarnation >= known;
  });
}

/** The drop counters a member named `name` must raise for `decoded` (memberlist.ts #handle). */
function expectedDrops(decoded: DecodedPacket, name: string, into: Counts): void {
  for (const drop of decoded.dropped) into[drop.reason] = (into[drop.reason] ?? 0) + 1;
  for (const m of decoded.messages) {
    if (m.type === MessageType.ping && m.body.node !== '' && m.body.node !== name)
      into.wrongNode = (into.wrongNode ?? 0) + 1;
    if (m.type === MessageType.indirectPing && ipFromBytes(m.body.target) === null)
      into.badAddress = (into.badAddress ?? 0) + 1;
  }
}

/**
 * What a relay does with `decoded` shows up elsewhere: for each valid indirect ping, the relay
 * pings the target (port 0 meaning the bind port, as in memberlist), and a member at that
 * address counts `wrongNode` unless the name is its own or empty. `relays` members relay it;
 * `into[i]` collects member i's expected drops.
 */
function expectedRelayDrops(decoded: DecodedPacket, relays: number, into: Counts[]): void {
  for (const m of decoded.messages) {
    if (m.type !== MessageType.indirectPing) continue;
    const host = ipFromBytes(m.body.target);
    const port = m.body.port === 0 ? PORT : m.body.port;
    const index = into.findIndex((_, i) => hostOf(i) === host);
    const counts = into[index];
    if (counts === undefined || port !== PORT || m.body.node === '' || m.body.node === `n${index}`) continue;
    counts.wrongNode = (counts.wrongNode ?? 0) + relays;
  }
}

function dropDelta(before: Memberlist['stats'] extends () => infer S ? S : never, ml: Memberlist): Counts {
  const after = ml.stats().dropped;
  const out: Counts = {};
  for (const [reason, count] of Object.entries(after) as [DroppedReason, number][]) {
    const delta = count - before.dropped[reason];
    if (delta !== 0) out[reason] = delta;
  }
  return out;
}

function sortedCounts(counts: Counts): Counts {
  return Object.fromEntries(
    Object.entries(counts)
      .filter(([, n]) => n !== 0)
      .sort(([a], [b]) => a.localeCompare(b)),
  ) as Counts;
}

// ------------------------------------------------------------------ hostile datagrams

const GO_KEYS = ['SeqNo', 'Node', 'SourceAddr', 'SourcePort', 'Target', 'Port', 'Nack', 'Payload'];
const MORE_KEYS = ['Incarnation', 'From', 'Addr', 'Meta', 'Vsn', 'Algo', 'Buf', 'Error', 'Nodes'];

function randomBytes(random: Random, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = random.int(0, 256);
  return out;
}

/** A msgpack value of a random shape, often under the Go field names with the wrong types. */
function randomValue(random: Random, depth = 0): unknown {
  switch (random.int(0, depth > 2 ? 6 : 8)) {
    case 0:
      return random.pick([0, 1, -1, 255, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 31)]);
    case 1:
      return random.next() * 1e6 - 5e5;
    case 2:
      return random.chance(0.5);
    case 3:
      return null;
    case 4:
      return 'x'.repeat(random.int(0, 40));
    case 5:
      return randomBytes(random, random.int(0, 40));
    case 6:
      return Array.from({ length: random.int(0, 4) }, () => randomValue(random, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      const keys = [...GO_KEYS, ...MORE_KEYS];
      for (let i = random.int(0, 6); i > 0; i--) out[random.pick(keys)] = randomValue(random, depth + 1);
      return out;
    }
  }
}

const HUGE_CLAIMS: readonly (readonly number[])[] = [
  [0xdb, 0xff, 0xff, 0xff, 0xff],
  [0xc6, 0x7f, 0xff, 0xff, 0xff],
  [0xdd, 0xff, 0xff, 0xff, 0xff],
  [0xdf, 0xff, 0xff, 0xff, 0xff],
  [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [MessageType.compound, 0xff, 0xff, 0xff],
];

function mutate(random: Random, input: Uint8Array): Uint8Array {
  const b = input.slice();
  switch (random.int(0, 5)) {
    case 0: // bit flips
      for (let i = random.int(1, 6); i > 0 && b.length > 0; i--) {
        const at = random.int(0, b.length);
        b[at] = (b[at] ?? 0) ^ (1 << random.int(0, 8));
      }
      return b;
    case 1: // truncation
      return b.subarray(0, b.length === 0 ? 0 : random.int(0, b.length));
    case 2: {
      // splice random bytes in
      const at = random.int(0, b.length + 1);
      const cut = Math.min(b.length, at + random.int(0, 8));
      return Uint8Array.of(
        ...b.subarray(0, at),
        ...randomBytes(random, random.int(0, 16)),
        ...b.subarray(cut),
      );
    }
    case 3: {
      // a huge length claim inserted
      const at = random.int(0, b.length + 1);
      return Uint8Array.of(...b.subarray(0, at), ...random.pick(HUGE_CLAIMS), ...b.subarray(at));
    }
    default: // overwrite one byte with a type byte
      if (b.length > 0) b[random.int(0, b.length)] = random.int(0, 16);
      return b;
  }
}

/** A compound whose header lies: up to 255 parts, lengths that run past the end. */
function lyingCompound(random: Random, corpus: readonly Uint8Array[]): Uint8Array {
  const count = random.chance(0.3) ? 255 : random.int(0, 10);
  const lengths = Array.from({ length: count }, () =>
    random.chance(0.5) ? random.int(0, 0x1_0000) : random.int(0, 20),
  );
  const body = random.chance(0.5) ? random.pick(corpus) : randomBytes(random, random.int(0, 64));
  return Uint8Array.of(
    MessageType.compound,
    count,
    ...lengths.flatMap((l) => [l >> 8, l & 0xff]),
    ...body.subarray(0, 200),
  );
}

/** Compound and compress layers nested up to 8 deep around a valid or broken message. */
function nested(random: Random, corpus: readonly Uint8Array[]): Uint8Array {
  let inner = random.chance(0.5) ? random.pick(corpus) : randomBytes(random, random.int(0, 32));
  for (let depth = random.int(1, 9); depth > 0; depth--) {
    inner = random.chance(0.5)
      ? encodeCompound([inner, ...(random.chance(0.3) ? [randomBytes(random, 4)] : [])])
      : encodeCompress({ algo: random.chance(0.9) ? 0 : random.int(1, 256), buf: lzwCompress(inner) });
  }
  return inner;
}

interface Generator {
  /** Plaintext messages to mutate: captured (decrypted when possible) and hand-built. */
  readonly corpus: Uint8Array[];
  /** Raw captured datagrams, as they were on the wire. */
  readonly wire: Uint8Array[];
  readonly secretKey: Uint8Array | undefined;
}

function buildGenerator(cluster: Cluster): Generator {
  const options = decodeOptions(cluster.secretKey);
  const corpus: Uint8Array[] = [];
  // Plaintexts of what the cluster sent: decode each captured packet and re-encode its messages.
  for (const packet of cluster.captured) {
    const decoded = decodePacket(packet, options);
    for (const m of decoded.messages) {
      switch (m.type) {
        case MessageType.ping:
          corpus.push(encodePing(m.body));
          break;
        case MessageType.ackResp:
          corpus.push(encodeAckResp(m.body));
          break;
        case MessageType.alive:
          corpus.push(encodeAlive(m.body));
          break;
        case MessageType.suspect:
          corpus.push(encodeSuspect(m.body));
          break;
        case MessageType.dead:
          corpus.push(encodeDead(m.body));
          break;
        default:
          break;
      }
    }
    if (cluster.secretKey === undefined) corpus.push(packet);
  }
  const attacker = ipToBytes(ATTACKER);
  const member = ipToBytes(hostOf(2));
  corpus.push(
    encodePing({ seqNo: 7, node: '', sourceAddr: attacker, sourcePort: 9, sourceNode: 'evil' }),
    encodePing({ seqNo: 8, node: 'n3', sourceAddr: member, sourcePort: PORT, sourceNode: 'n2' }),
    encodeIndirectPingReq({
      seqNo: 9,
      target: member,
      port: PORT,
      node: 'n2',
      nack: true,
      sourceAddr: attacker,
      sourcePort: 9,
      sourceNode: 'evil',
    }),
    encodeAckResp({ seqNo: 1, payload: Uint8Array.of(1, 2, 3) }),
    encodeNackResp({ seqNo: 2 }),
    encodeUserPacket(Uint8Array.of(1, 2, 3)),
    encodeSuspect({ incarnation: 1, node: 'ghost', from: 'evil' }),
    encodeDead({ incarnation: 0, node: 'n1', from: 'evil' }),
    encodeCompound([encodePing({ seqNo: 1, node: '', sourceAddr: null, sourcePort: 0, sourceNode: '' })]),
  );
  return { corpus, wire: [...cluster.captured], secretKey: cluster.secretKey };
}

// 12 MiB of zeros compresses to ~10 KiB: far above the 4 MiB a datagram may expand to.
const LZW_BOMB = encodeCompress({ algo: 0, buf: lzwCompress(new Uint8Array(12 * 1024 * 1024)) });

/** Frames a plaintext as the attacker's datagram: CRC or not, and (when keyed) encryption. */
function frame(random: Random, gen: Generator, plaintext: Uint8Array): Uint8Array {
  let out = random.chance(0.2) ? wrapCrc(plaintext) : plaintext;
  if (gen.secretKey !== undefined && random.chance(0.3)) {
    // Encrypted with a key the cluster does not have, or garbage behind a version byte.
    out = random.chance(0.5)
      ? encryptPayload(1, WRONG_KEY, out, null)
      : Uint8Array.of(random.int(0, 3), ...randomBytes(random, random.int(0, 60)));
  }
  return out;
}

/** One hostile datagram. */
function hostileDatagram(random: Random, gen: Generator): Uint8Array {
  const { corpus, wire } = gen;
  switch (random.int(0, 12)) {
    case 0:
      return randomBytes(random, random.int(0, 1_400));
    case 1:
      return randomBytes(random, random.int(0, 12));
    case 2: // a real datagram off the wire, mutated (or replayed as is, if encrypted)
      return random.chance(0.8) ? mutate(random, random.pick(wire)) : random.pick(wire);
    case 3:
      return frame(random, gen, mutate(random, random.pick(corpus)));
    case 4:
      return frame(random, gen, lyingCompound(random, corpus));
    case 5:
      return frame(random, gen, nested(random, corpus));
    case 6: {
      // bad CRC: a valid message behind a CRC header that does not match
      const crc = wrapCrc(random.pick(corpus));
      const at = random.int(1, crc.length);
      crc[at] = (crc[at] ?? 0) ^ (1 << random.int(0, 8));
      return crc;
    }
    case 7: // unknown and packet-invalid types
      return frame(
        random,
        gen,
        Uint8Array.of(
          random.pick([6, 10, 12, 13, random.int(14, 256)]),
          ...randomBytes(random, random.int(0, 40)),
        ),
      );
    case 8: // well-formed msgpack of the wrong shape behind every type byte
      return frame(
        random,
        gen,
        Uint8Array.of(
          random.int(0, 14),
          ...msgpackEncode(randomValue(random), { ignoreUndefined: true }).subarray(0, 1_200),
        ),
      );
    case 9: // compressed garbage, unknown algorithms
      return frame(
        random,
        gen,
        encodeCompress({
          algo: random.chance(0.7) ? 0 : random.int(1, 256),
          buf: random.chance(0.5)
            ? randomBytes(random, random.int(0, 200))
            : mutate(random, lzwCompress(random.pick(corpus))),
        }),
      );
    case 10: // a valid message, compressed and compounded as the cluster would send it
      return frame(random, gen, encodePacket(random.pick(corpus), { compress: random.chance(0.5) }));
    default:
      return frame(
        random,
        gen,
        random.chance(0.01) ? LZW_BOMB : mutate(random, mutate(random, random.pick(corpus))),
      );
  }
}

// ------------------------------------------------------------------ 1. the flood

const FLOOD_MS = Number(process.env.BAD_INPUT_FLOOD_MS ?? 12_000);
/** Datagrams per simulated millisecond, each sent to every member: 2000 per member per second. */
const PER_MS = 2;

interface FloodResult {
  readonly sent: number;
  readonly skipped: number;
}

/**
 * Floods every member of `cluster` from a non-member host for `durationMs` (or, with `attack`
 * false, runs the same schedule without sending: the control run) and checks while it runs and
 * after that nothing moved: views and incarnations, no suspicion, exact drop counts by reason,
 * a bounded ack table and broadcast queue.
 */
async function flood(
  cluster: Cluster,
  seed: number,
  durationMs: number,
  attack = true,
): Promise<FloodResult> {
  const { sim, members } = cluster;
  const size = members.length;
  const { socket } = await attackerSocket(sim);
  const gen = buildGenerator(cluster);
  const random = sim.random.fork(`attacker:${seed}`);
  const options = decodeOptions(cluster.secretKey);
  const views = members.map(viewOf);
  const incarnations = new Map(members[0]?.allNodes().map((m) => [m.name, m.incarnation]));
  const before = members.map((ml) => ml.stats());
  const expected: Counts[] = members.map(() => ({}));
  const events: string[] = [];
  for (const ml of members) {
    for (const event of ['suspect', 'leave', 'join', 'update', 'alive'] as const)
      ml.on(event, (m) => events.push(`${ml.localNode.name}: ${event} ${m.name}`));
  }
  // Relayed indirect pings may each hold an ack-table entry for a probe timeout.
  const relayed: number[][] = members.map(() => []);
  let sent = 0;
  let skipped = 0;
  let maxBroadcasts = 0;
  const problems: string[] = [];

  const tick = sim.clock.setInterval(() => {
    const now = sim.clock.now();
    for (let k = 0; attack && k < PER_MS; k++) {
      const datagram = hostileDatagram(random, gen);
      const decoded = decodePacket(datagram, options);
      const legal =
        cluster.secretKey === undefined
          ? touchesMembership(decoded, incarnations)
          : // Keyed: only what the key opens could matter, i.e. a verbatim replay of captured
            // traffic (memberlist has no replay protection); leave those out too.
            decoded.messages.length > 0 ||
            decoded.dropped.some((d) => d.reason !== 'decrypt' && d.reason !== 'empty');
      if (legal) {
        skipped++;
        continue;
      }
      const relays = decoded.messages.filter(
        (m) => m.type === MessageType.indirectPing && ipFromBytes(m.body.target) !== null,
      ).length;
      expectedRelayDrops(decoded, size, expected);
      members.forEach((ml, i) => {
        expectedDrops(decoded, ml.localNode.name, expected[i] as Counts);
        for (let r = 0; r < relays; r++) relayed[i]?.push(now);
        socket.send({ host: hostOf(i), port: PORT }, datagram);
        sent++;
      });
    }
    members.forEach((ml, i) => {
      const window = relayed[i] as number[];
      while (window.length > 0 && (window[0] ?? 0) < now - tuning.probeTimeoutMs - 5) window.shift();
      // Its own probe (one at a time) plus the relays that have not timed out yet.
      const bound = 2 + window.length;
      if (ml.acks.size > bound)
        problems.push(`${ml.localNode.name}: ${ml.acks.size} acks > ${bound} at ${now}`);
      maxBroadcasts = Math.max(maxBroadcasts, ml.broadcasts.length);
      if (ml.table.size !== size)
        problems.push(`${ml.localNode.name}: table size ${ml.table.size} at ${now}`);
    });
    if (now % 250 === 0) {
      members.forEach((ml, i) => {
        if (viewOf(ml) !== views[i])
          problems.push(`${ml.localNode.name}: view changed at ${now}: ${viewOf(ml)}`);
      });
    }
  }, 1);
  await sim.advance(durationMs);
  sim.clock.clearInterval(tick);
  await sim.advance(tuning.probeTimeoutMs + 50); // deliveries and relays in flight finish

  assert.equal(problems.slice(0, 5), [], 'during the flood');
  assert.equal(events, [], 'membership events during the flood');
  assert.equal(cluster.errors, [], 'errors logged by the nodes');
  members.forEach((ml, i) => {
    const name = ml.localNode.name;
    const stats = ml.stats();
    const was = before[i];
    if (was === undefined) throw new Error('unreachable');
    assert.is(viewOf(ml), views[i], `${name}: view`);
    assert.is(stats.suspects, was.suspects, `${name}: suspicions`);
    assert.is(stats.deaths, was.deaths, `${name}: deaths`);
    assert.is(stats.refutes, was.refutes, `${name}: refutes`);
    assert.ok(stats.packetsIn - was.packetsIn >= sent / size, `${name}: received the flood`);
    assert.equal(
      sortedCounts(dropDelta(was, ml)),
      sortedCounts(expected[i] as Counts),
      `${name}: drops by reason`,
    );
    assert.ok(ml.acks.size <= 2, `${name}: ack table drained (${ml.acks.size})`);
  });
  assert.ok(maxBroadcasts <= size, `broadcast queue stayed small (${maxBroadcasts})`);
  await socket.close();
  return { sent, skipped };
}

test('flood: random and mutated datagrams do not move a healthy unencrypted cluster', async () => {
  await runSeeds({
    seeds: 1,
    file: import.meta.url,
    scenario: async (seed) => {
      const cluster = await startCluster(seed, 5);
      const { sent, skipped } = await flood(cluster, seed, FLOOD_MS);
      // Each generated datagram goes to all 5 members; the legal forgeries among them are left out.
      const generated = FLOOD_MS * PER_MS;
      assert.is(sent / 5 + skipped, generated);
      assert.ok(skipped < generated / 10, `skipped ${skipped} of ${generated} as legal forgeries`);
      // Every decoder drop reason but `decrypt` came up.
      const dropped = cluster.members[0]?.stats().dropped;
      for (const reason of [
        'empty',
        'crc',
        'decode',
        'compound',
        'lzw',
        'unknownType',
        'tooLarge',
        'nested',
      ] as const)
        assert.ok((dropped?.[reason] ?? 0) > 0, `no ${reason} drops`);
      await shutdown(cluster);
      assertNothingEscaped();
    },
  });
});

test('flood, encrypted cluster: every datagram is dropped as decrypt and nothing else differs from a quiet run', async () => {
  await runSeeds({
    seeds: 1,
    firstSeed: 11,
    file: import.meta.url,
    scenario: async (seed) => {
      const runs: { views: string[]; stats: unknown[] }[] = [];
      for (const attack of [false, true]) {
        const cluster = await startCluster(seed, 5, KEY);
        const before = cluster.members.map((ml) => ml.stats());
        const { sent } = await flood(cluster, seed, FLOOD_MS / 2, attack);
        cluster.members.forEach((ml, i) => {
          const delta = dropDelta(before[i] as ReturnType<Memberlist['stats']>, ml);
          // (`empty`: the zero-length datagrams, refused before decryption.)
          assert.is(
            (delta.decrypt ?? 0) + (delta.empty ?? 0),
            sent / 5,
            `${ml.localNode.name}: decrypt drops`,
          );
        });
        // What the attacker changes, by design: datagrams in, and their drop counters.
        const stats = cluster.members.map((ml) => {
          const { packetsIn, bytesIn, dropped, ...rest } = ml.stats();
          const { decrypt, empty, ...otherDrops } = dropped;
          return { ...rest, otherDrops };
        });
        runs.push({ views: cluster.members.map(viewOf), stats });
        await shutdown(cluster);
      }
      const [quiet, attacked] = runs;
      assert.equal(attacked?.views, quiet?.views, 'views');
      assert.equal(attacked?.stats, quiet?.stats, 'every other counter');
      assertNothingEscaped();
    },
  });
});

// ------------------------------------------------------------------ forged gossip (unencrypted)

test('forged suspect, dead and leave messages are refuted; the accused stays a member everywhere', async () => {
  const cluster = await startCluster(21, 5);
  const { sim, members } = cluster;
  const { socket } = await attackerSocket(sim);
  const target = members[2] as Memberlist;
  const name = target.localNode.name;
  const incarnation = target.localNode.incarnation;
  const others = members
    .filter((ml) => ml !== target)
    .map((ml) => [ml.localNode.name, ml.localNode.incarnation]);
  const send = (to: number, message: Uint8Array): void =>
    socket.send({ host: hostOf(to), port: PORT }, message);
  send(1, encodeSuspect({ incarnation, node: name, from: 'evil' }));
  send(3, encodeDead({ incarnation, node: name, from: 'evil' }));
  send(4, encodeDead({ incarnation, node: name, from: name })); // a forged leave
  send(2, encodeSuspect({ incarnation, node: name, from: 'evil' }));
  send(0, encodeCompound([encodeSuspect({ incarnation: incarnation + 5, node: name, from: 'evil' })]));
  await sim.waitFor(
    () =>
      members.every(
        (ml) =>
          allAlive(ml, 5) && ml.allNodes().every((m) => m.name !== name || m.incarnation > incarnation + 5),
      ),
    3_000,
    'the refutation reached everyone',
  );
  await sim.advance(20_000); // past any suspicion timeout
  for (const ml of members) assert.ok(allAlive(ml, 5), `${ml.localNode.name}: ${viewOf(ml)}`);
  assert.ok(target.stats().refutes >= 1, 'the accused refuted');
  assert.equal(
    members.filter((ml) => ml !== target).map((ml) => [ml.localNode.name, ml.localNode.incarnation]),
    others,
    'no other incarnation moved',
  );
  assert.equal(cluster.errors, []);
  await shutdown(cluster);
  assertNothingEscaped();
});

test('a forged accusation at the largest incarnation leaves the accused working', async () => {
  const cluster = await startCluster(22, 3);
  const { sim, members } = cluster;
  const { socket } = await attackerSocket(sim);
  const target = members[1] as Memberlist;
  const name = target.localNode.name;
  // u32 incarnations cannot be outbid past 0xffffffff; the refutation must still encode.
  socket.send(
    { host: hostOf(1), port: PORT },
    encodeSuspect({ incarnation: 0xffff_ffff, node: name, from: 'evil' }),
  );
  socket.send(
    { host: hostOf(1), port: PORT },
    encodeDead({ incarnation: 0xffff_ffff, node: name, from: 'evil' }),
  );
  await sim.advance(3_000);
  assert.equal(cluster.errors, [], 'errors logged');
  assert.ok(target.localNode.incarnation <= 0xffff_ffff, `incarnation ${target.localNode.incarnation}`);
  for (const ml of members) assert.ok(allAlive(ml, 3), `${ml.localNode.name}: ${viewOf(ml)}`);
  // It still answers push/pull: a new node joins through it and sees everyone.
  const joiner = await addMember(cluster, 3);
  assert.is(await settle(sim, joiner.join([`${hostOf(1)}:${PORT}`])), 1);
  await sim.waitFor(() => [...members, joiner].every((ml) => allAlive(ml, 4)), 60_000, 'the join spread');
  assert.equal(cluster.errors, [], 'errors logged');
  await settle(sim, joiner.shutdown());
  await shutdown(cluster);
  assertNothingEscaped();
});

// ------------------------------------------------------------------ 2. abusive streams

interface Attack {
  readonly name: string;
  readonly stream: ByteStream;
  readonly openedAt: number;
  closedAt: number | undefined;
  /** When the node finished its side: an error reply and end, or a close. */
  endedAt: number | undefined;
  received: number;
}

/** Opens `count` streams from the attacker to `to`; each is recorded from the moment it opens. */
function openAttacks(
  sim: Simulation,
  attacker: SimNode,
  to: number,
  name: string,
  count = 1,
): Promise<Attack[]> {
  const opening = Array.from({ length: count }, () =>
    attacker.network.connectStream({ host: hostOf(to), port: PORT }, { timeoutMs: 5_000 }).then((stream) => {
      const attack: Attack = {
        name,
        stream,
        openedAt: sim.clock.now(),
        closedAt: undefined,
        endedAt: undefined,
        received: 0,
      };
      stream.on('data', (chunk) => {
        attack.received += chunk.length;
      });
      stream.on('end', () => {
        attack.endedAt ??= sim.clock.now();
      });
      stream.on('close', () => {
        attack.endedAt ??= sim.clock.now();
        attack.closedAt ??= sim.clock.now();
      });
      return attack;
    }),
  );
  return settle(sim, Promise.all(opening));
}

/** Writes `chunk()` every `everyMs` of the attacker's clock until the stream closes. */
function trickle(attacker: SimNode, attack: Attack, everyMs: number, chunk: () => Uint8Array): void {
  const timer = attacker.clock.setInterval(() => {
    if (attack.stream.closed) attacker.clock.clearInterval(timer);
    else attack.stream.write(chunk());
  }, everyMs);
}

function nodeState(i: number): Uint8Array {
  return encodePushNodeState({
    name: `ghost-${i}`,
    addr: Uint8Array.of(10, 9, (i >> 8) & 0xff, i & 0xff),
    port: PORT,
    meta: null,
    incarnation: 1,
    state: 0,
    vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
  });
}

const MiB = 1024 * 1024;
const T = tuning.tcpTimeoutMs;

test('streams: silent, lying, endless, oversized and garbage streams are closed in time and counted', async () => {
  const cluster = await startCluster(31, 3);
  const { sim, members } = cluster;
  const n0 = members[0] as Memberlist;
  const { node: attacker } = await attackerSocket(sim);
  const random = sim.random.fork('streams');
  const before = n0.stats();
  const started = performance.now();

  const quick: Attack[] = [];
  const timed: Attack[] = [];
  const sized: Attack[] = [];
  const one = async (group: Attack[], name: string, first?: Uint8Array): Promise<Attack> => {
    const [attack] = await openAttacks(sim, attacker, 0, name);
    if (attack === undefined) throw new Error('unreachable');
    if (first !== undefined) attack.stream.write(first);
    group.push(attack);
    return attack;
  };
  const header = (nodes: number, userStateLen: number): Uint8Array =>
    encodePushPullHeader({ nodes, userStateLen, join: false });

  await one(timed, 'silent');
  await one(quick, 'push/pull claiming 2 GB of user state', header(0, 2 ** 31));
  await one(quick, 'push/pull claiming 10^9 nodes', header(1e9, 0));
  await one(
    quick,
    'encrypted stream claiming 4 GB',
    Uint8Array.of(MessageType.encrypt, 0xff, 0xff, 0xff, 0xff),
  );
  await one(
    quick,
    'compressed stream claiming 4 GB',
    Uint8Array.of(
      MessageType.compress,
      0x82,
      0xa4,
      0x41,
      0x6c,
      0x67,
      0x6f,
      0,
      0xa3,
      0x42,
      0x75,
      0x66,
      0xc6,
      0xff,
      0xff,
      0xff,
      0xff,
    ),
  );
  await one(quick, 'user message claiming 2 GB', encodeUserMsgHeader({ userMsgLen: 2 ** 31 }));
  await one(quick, 'garbage', Uint8Array.of(0xee, ...randomBytes(random, 300)));
  await one(quick, 'garbage msgpack', Uint8Array.of(MessageType.pushPull, 0xc1, ...randomBytes(random, 30)));
  const endless = await one(timed, 'endless trickle', header(0, 10 * MiB));
  trickle(attacker, endless, 20, () => randomBytes(random, 1));
  await one(
    timed,
    'push/pull that stops after one of three nodes',
    Uint8Array.of(...header(3, 0), ...nodeState(1)),
  );
  // 20 MiB of node states in 64 KiB chunks: refused at the stream limit, and read in linear time
  // (decoding the whole buffer again on every chunk took minutes of CPU).
  const states = await one(sized, 'node states past the 20 MiB limit', header(1_000_000, 0));
  const entry = nodeState(7);
  const block = new Uint8Array(Math.floor(65_536 / entry.length) * entry.length);
  for (let at = 0; at < block.length; at += entry.length) block.set(entry, at);
  trickle(attacker, states, 1, () => block);
  // Two 15 MiB byte strings: each within the limit, together past it.
  const bins = await one(sized, 'two 15 MiB node metas', header(2, 0));
  const meta = Uint8Array.of(0x81, 0xa4, 0x4d, 0x65, 0x74, 0x61, 0xc6, 0x00, 0xf0, 0x00, 0x00);
  bins.stream.write(meta);
  trickle(attacker, bins, 1, () => new Uint8Array(MiB));

  // Meanwhile a new node joins through the node under attack, with an uncompressed push/pull.
  const joiner = await addMember(cluster, 3, { enableCompression: false });
  assert.is(await settle(sim, joiner.join([`${hostOf(0)}:${PORT}`])), 1, 'joined during the attack');

  const all = [...quick, ...timed, ...sized];
  await sim.waitFor(() => all.every((a) => a.closedAt !== undefined), 3 * T, 'every attack stream closed');
  const ms = performance.now() - started;
  assert.ok(ms < 20_000, `the stream attacks took ${ms.toFixed(0)} ms of real time`);
  const took = (a: Attack): string => `${a.name}: ${(a.closedAt ?? Number.NaN) - a.openedAt} ms`;
  // Undecodable streams get memberlist's error reply and an end at once (so a Go peer reports
  // why), and are closed no later than the reply's grace period (1 s) after that.
  const ended = (a: Attack): string => `${a.name}: ended after ${(a.endedAt ?? Number.NaN) - a.openedAt} ms`;
  for (const a of quick) {
    assert.ok((a.endedAt ?? Number.POSITIVE_INFINITY) - a.openedAt <= 10, ended(a));
    assert.ok((a.closedAt ?? 0) - a.openedAt <= 1_010, took(a));
  }
  // Closed by the deadline: tcpTimeoutMs from the accept, one latency before the open.
  for (const a of timed) {
    const open = (a.closedAt ?? 0) - a.openedAt;
    assert.ok(open >= T - 5 && open <= T + 5, took(a));
  }
  for (const a of sized) assert.ok((a.endedAt ?? Number.POSITIVE_INFINITY) - a.openedAt < T - 5, ended(a));
  assert.ok((states.closedAt ?? 0) - states.openedAt >= 300, `${took(states)}: before 20 MiB arrived`);

  const delta = dropDelta(before, n0);
  assert.equal(sortedCounts(delta), { stream: all.length }, 'drops');
  // (Gossip reaches everyone with high probability; push/pull every 15 s makes sure.)
  await sim.waitFor(() => [...members, joiner].every((ml) => allAlive(ml, 4)), 60_000, 'view');
  assert.equal(cluster.errors, []);
  await settle(sim, joiner.shutdown());
  await shutdown(cluster);
  assertNothingEscaped();
});

test('streams: more than 128 connections at once are refused past the limit and the rest time out', async () => {
  const cluster = await startCluster(32, 3);
  const { sim, members } = cluster;
  const n0 = members[0] as Memberlist;
  const { node: attacker } = await attackerSocket(sim);
  const before = n0.stats();
  const held = await openAttacks(sim, attacker, 0, 'idle', 150);
  await sim.advance(10);
  const refused = held.filter((a) => a.closedAt !== undefined);
  assert.is(refused.length, 150 - 128, 'refused past the limit');
  for (const a of refused) assert.ok((a.closedAt ?? 0) - a.openedAt <= 2, `refused at once: ${a.closedAt}`);
  assert.is(n0.stats().dropped.pushPullLimit - before.dropped.pushPullLimit, 22);

  // While n0's inbound slots are all taken it refuses push/pull too (that is the limit); a new
  // node joining through n0 and n1 gets in through n1, and n0 keeps probing and gossiping.
  const joiner = await addMember(cluster, 3);
  assert.is(await settle(sim, joiner.join([`${hostOf(0)}:${PORT}`, `${hostOf(1)}:${PORT}`])), 1);
  await sim.waitFor(() => held.every((a) => a.closedAt !== undefined), 2 * T, 'held streams closed');
  for (const a of held)
    assert.ok((a.closedAt ?? 0) - a.openedAt <= T + 5, `closed by the deadline: ${a.closedAt}`);
  const after = n0.stats();
  assert.is(after.dropped.stream - before.dropped.stream, 128, 'timed out and counted');
  assert.ok(
    after.dropped.pushPullLimit - before.dropped.pushPullLimit >= 23,
    'the join attempt was refused too',
  );

  // Once they are gone, n0 serves joins again, and its count of open streams is back to zero.
  const late = await addMember(cluster, 4);
  assert.is(await settle(sim, late.join([`${hostOf(0)}:${PORT}`])), 1, 'joined through n0 afterwards');
  const again = await openAttacks(sim, attacker, 0, 'idle again', 129);
  await sim.advance(10);
  assert.is(
    again.filter((a) => a.closedAt !== undefined).length,
    1,
    'the limit is 128 again, no slot leaked',
  );
  await sim.advance(T + 10);
  await sim.waitFor(() => [...members, joiner, late].every((ml) => allAlive(ml, 5)), 60_000, 'view');
  assert.equal(cluster.errors, []);
  for (const ml of [joiner, late]) await settle(sim, ml.shutdown());
  await shutdown(cluster);
  assertNothingEscaped();
});

test('streams, encrypted cluster: huge and unkeyed streams are refused, a slow one times out', async () => {
  const cluster = await startCluster(33, 2, KEY);
  const { sim, members } = cluster;
  const n0 = members[0] as Memberlist;
  const { node: attacker } = await attackerSocket(sim);
  const before = n0.stats();
  const open = async (name: string, first: Uint8Array): Promise<Attack> => {
    const [attack] = await openAttacks(sim, attacker, 0, name);
    if (attack === undefined) throw new Error('unreachable');
    attack.stream.write(first);
    return attack;
  };
  const huge = await open('claims 4 GB', Uint8Array.of(MessageType.encrypt, 0xff, 0xff, 0xff, 0xff));
  const plain = await open('plaintext', encodePushPullHeader({ nodes: 0, userStateLen: 0, join: true }));
  const sealed = encryptPayload(
    1,
    WRONG_KEY,
    Uint8Array.of(MessageType.ping, 0x80),
    Uint8Array.of(10, 0, 0, 0, 30),
  );
  const wrongKey = await open('wrong key', Uint8Array.of(10, 0, 0, 0, sealed.length, ...sealed));
  const slow = await open('claims 19 MiB, sends 5 bytes', Uint8Array.of(10, 0x01, 0x30, 0, 0, 1, 2, 3, 4, 5));
  const joiner = await addMember(cluster, 2);
  assert.is(await settle(sim, joiner.join([`${hostOf(0)}:${PORT}`])), 1, 'joined during the attack');
  await sim.waitFor(
    () => [huge, plain, wrongKey, slow].every((a) => a.closedAt !== undefined),
    2 * T,
    'closed',
  );
  for (const a of [huge, plain, wrongKey]) {
    assert.ok((a.endedAt ?? Number.POSITIVE_INFINITY) - a.openedAt <= 10, a.name);
    assert.ok((a.closedAt ?? 0) - a.openedAt <= 1_010, a.name);
    assert.ok(a.received > 0, `${a.name}: the error reply arrived`);
  }
  assert.ok((slow.closedAt ?? 0) - slow.openedAt <= T + 5, slow.name);
  assert.equal(sortedCounts(dropDelta(before, n0)), { stream: 4 });
  await sim.waitFor(() => [...members, joiner].every((ml) => allAlive(ml, 3)), 60_000, 'view');
  assert.equal(cluster.errors, []);
  await settle(sim, joiner.shutdown());
  await shutdown(cluster);
  assertNothingEscaped();
});

// ------------------------------------------------------------------ 3. properties of the receive path

const names = fc.constantFrom('', 'n0', 'n1', 'n2', 'ghost', 'evil');
const ipBytes = fc.oneof(
  fc.constant(null),
  fc.constantFrom(...[0, 1, 2].map((i) => ipToBytes(hostOf(i))), ipToBytes(ATTACKER), ipToBytes('::1')),
  fc.uint8Array({ maxLength: 17 }),
);
const ports = fc.oneof(fc.constantFrom(0, PORT, 9), fc.integer({ min: 0, max: 0xffff }));
const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 0xffff_ffff), fc.nat({ max: 0xffff_ffff }));
const smallBytes = fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null });
/** Every packet message, well-formed, with fields drawn from hostile but encodable values. */
const message: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .record({ seqNo: u32, node: names, sourceAddr: ipBytes, sourcePort: ports, sourceNode: names })
    .map(encodePing),
  fc
    .record({
      seqNo: u32,
      target: ipBytes,
      port: ports,
      node: names,
      nack: fc.boolean(),
      sourceAddr: ipBytes,
      sourcePort: ports,
      sourceNode: names,
    })
    .map(encodeIndirectPingReq),
  fc.record({ seqNo: u32, payload: smallBytes }).map(encodeAckResp),
  u32.map((seqNo) => encodeNackResp({ seqNo })),
  fc.record({ incarnation: u32, node: names, from: names }).map(encodeSuspect),
  fc.record({ incarnation: u32, node: names, from: names }).map(encodeDead),
  fc
    .record({
      incarnation: u32,
      node: names,
      addr: ipBytes,
      port: ports,
      meta: smallBytes,
      vsn: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }),
    })
    .map(encodeAlive),
  fc.uint8Array({ maxLength: 40 }).map(encodeUserPacket),
);
function flipBit(bytes: Uint8Array, bit: number): void {
  const at = (bit >>> 3) % bytes.length;
  bytes[at] = (bytes[at] ?? 0) ^ (1 << (bit & 7));
}
const mutated = fc
  .tuple(message, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fc.nat())
  .map(([bytes, flips, cut]) => {
    const out = bytes.slice(0, bytes.length - (cut % 3 === 0 ? cut % (bytes.length + 1) : 0));
    for (const flip of flips) if (out.length > 0) flipBit(out, flip);
    return out;
  });
/** Datagrams: random bytes, well-formed and mutated messages, compounds, compression, CRC. */
const datagram: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.tuple(fc.nat({ max: 255 }), fc.uint8Array({ maxLength: 100 })).map(([t, b]) => Uint8Array.of(t, ...b)),
  message,
  mutated,
  fc.array(fc.oneof(message, mutated), { maxLength: 6 }).map(encodeCompound),
  fc
    .tuple(fc.oneof(message, mutated), fc.boolean(), fc.boolean())
    .map(([m, compress, crc]) => encodePacket(m, { compress, crc })),
);

/** A 3-node cluster and an attacker socket aimed at n1. */
async function propertyRig(seed: number, secretKey?: Uint8Array) {
  const cluster = await startCluster(seed, 3, secretKey);
  const { socket } = await attackerSocket(cluster.sim);
  const target = cluster.members[1] as Memberlist;
  const send = async (bytes: Uint8Array): Promise<void> => {
    socket.send({ host: hostOf(1), port: PORT }, bytes);
    await cluster.sim.advance(3);
  };
  return { cluster, target, send, options: decodeOptions(secretKey) };
}

test('property: a datagram that is not a legal forgery changes neither view nor incarnation, and is counted', async () => {
  const { cluster, target, send, options } = await propertyRig(41);
  const views = cluster.members.map(viewOf);
  const incarnations = new Map(target.allNodes().map((m) => [m.name, m.incarnation]));
  const incarnation = target.localNode.incarnation;
  await fc.assert(
    fc.asyncProperty(datagram, async (bytes) => {
      const decoded = decodePacket(bytes, options);
      fc.pre(!touchesMembership(decoded, incarnations));
      const before = cluster.members.map((ml) => ml.stats());
      await send(bytes);
      const expected: Counts[] = cluster.members.map(() => ({}));
      expectedDrops(decoded, 'n1', expected[1] as Counts);
      expectedRelayDrops(decoded, 1, expected);
      cluster.members.forEach((ml, i) => {
        const delta = dropDelta(before[i] as ReturnType<Memberlist['stats']>, ml);
        assert.equal(sortedCounts(delta), sortedCounts(expected[i] as Counts), `n${i} drops`);
      });
      assert.is(viewOf(target), views[1]);
      assert.is(target.localNode.incarnation, incarnation);
      assert.equal(cluster.errors, []);
    }),
    { numRuns: 400 },
  );
  await cluster.sim.advance(1_000);
  assert.equal(cluster.members.map(viewOf), views, 'nothing spread to the others either');
  await shutdown(cluster);
  assertNothingEscaped();
});

test('property: any datagram at all, legal forgeries included, leaves the receiver consistent', async () => {
  // Without encryption forged gossip is protocol-legal and may change membership (that is
  // memberlist's threat model). What still holds: nothing throws or is logged as a handler
  // failure, the node never stops believing in itself, and its incarnation stays a u32 that
  // only grows.
  const { cluster, target, send } = await propertyRig(42);
  let incarnation = target.localNode.incarnation;
  await fc.assert(
    fc.asyncProperty(fc.array(datagram, { minLength: 1, maxLength: 4 }), async (batch) => {
      for (const bytes of batch) await send(bytes);
      const self = target.allNodes().find((m) => m.name === 'n1');
      assert.is(self?.state, 'alive');
      const now = target.localNode.incarnation;
      assert.ok(now >= incarnation && now <= 0xffff_ffff, `incarnation ${incarnation} -> ${now}`);
      incarnation = now;
      assert.equal(cluster.errors, []);
    }),
    { numRuns: 300 },
  );
  await cluster.sim.advance(30_000); // phantoms get probed, suspected and reaped; nothing throws
  assert.equal(cluster.errors, []);
  await shutdown(cluster);
  assertNothingEscaped();
});

test('property: with encryption, no datagram from outside changes anything but the decrypt counter', async () => {
  const { cluster, target, send, options } = await propertyRig(43, KEY);
  const views = cluster.members.map(viewOf);
  const wire = cluster.captured;
  const keyed = fc.oneof(
    datagram,
    datagram.map((plain) => encryptPayload(1, WRONG_KEY, plain, null)),
    fc
      .tuple(datagram, fc.constantFrom(0 as const, 1 as const))
      .map(([p, v]) => encryptPayload(v, WRONG_KEY, p, null)),
    // A real packet of the cluster with bits flipped or cut short.
    fc.tuple(fc.constantFrom(...wire), fc.nat(), fc.nat()).map(([packet, flip, cut]) => {
      const out = packet.slice(0, packet.length - (cut % 2 === 0 ? 1 + (cut % packet.length) : 0));
      if (out.length > 0) flipBit(out, flip);
      return out;
    }),
  );
  await fc.assert(
    fc.asyncProperty(keyed, async (bytes) => {
      const decoded = decodePacket(bytes, options);
      // What the cluster key opens is a replay of captured traffic (memberlist has no replay
      // protection, and its version byte is not authenticated: a captured v1 packet with the
      // byte flipped to 0 still opens, minus "padding"). An outsider cannot make anything else.
      fc.pre(
        decoded.messages.length === 0 &&
          decoded.dropped.every((d) => d.reason === 'decrypt' || d.reason === 'empty'),
      );
      const before = target.stats();
      await send(bytes);
      assert.equal(sortedCounts(dropDelta(before, target)), {
        [bytes.length === 0 ? 'empty' : 'decrypt']: 1,
      });
      assert.is(viewOf(target), views[1]);
    }),
    { numRuns: 400 },
  );
  await cluster.sim.advance(1_000);
  assert.equal(cluster.members.map(viewOf), views);
  assert.equal(cluster.errors, []);
  await shutdown(cluster);
  assertNothingEscaped();
});

/** Just enough of a ByteStream to drive the stream reader by hand. */
class FakeStream extends EventEmitter<ByteStreamEvents> implements ByteStream {
  readonly local: Address = { host: '10.0.0.1', port: PORT };
  readonly remote: Address = { host: ATTACKER, port: 40000 };
  destroyed = false;
  get closed(): boolean {
    return this.destroyed;
  }
  write(): boolean {
    return !this.destroyed;
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

test('property: stream messages read in any chunks give what one decode of all bytes gives', async () => {
  // The reader decodes once the message may be complete instead of on every chunk. Whatever the
  // chunking, the outcome is the decoder's on the whole input, with one difference: bytes whose
  // msgpack structure is still incomplete are not decoded yet, so a type error inside them is
  // found when the structure completes (or the deadline closes the stream), not at once.
  const nodes = fc.array(
    fc.record({
      name: fc.string({ maxLength: 12 }),
      addr: ipBytes,
      port: ports,
      meta: smallBytes,
      incarnation: u32,
      state: fc.integer({ min: -1, max: 4 }),
      vsn: fc.option(fc.uint8Array({ maxLength: 6 }), { nil: null }),
    }),
    { maxLength: 6 },
  );
  const plaintext = fc.oneof(
    fc
      .record({ join: fc.boolean(), nodes, userState: fc.uint8Array({ maxLength: 80 }) })
      .map((pp) => encodePushPull(pp)),
    fc.uint8Array({ maxLength: 80 }).map(encodeUserStream),
    message,
    fc.string({ maxLength: 30 }).map((error) => encodeErrResp({ error })),
  );
  const input = fc.oneof(
    plaintext,
    plaintext.map((p) => encodeStream(p, { compress: true })),
    fc.tuple(plaintext, fc.array(fc.nat(), { minLength: 1, maxLength: 3 })).map(([p, flips]) => {
      const out = p.slice();
      for (const flip of flips) if (out.length > 0) flipBit(out, flip);
      return out;
    }),
    fc.uint8Array({ maxLength: 200 }),
  );
  const clock = new SimClock();
  await fc.assert(
    fc.asyncProperty(
      input,
      fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }),
      async (bytes, cuts) => {
        let reference: 'incomplete' | 'error' | StreamMessage;
        try {
          const result = decodeStream(bytes);
          reference = result.complete ? result.message : 'incomplete';
        } catch {
          reference = 'error';
        }
        const stream = new FakeStream();
        let outcome: 'pending' | 'error' | StreamMessage = 'pending';
        readStreamMessage(stream, { clock, timeoutMs: 1e9 }).then(
          (m) => {
            outcome = m;
          },
          () => {
            outcome = 'error';
          },
        );
        let at = 0;
        for (const cut of cuts) {
          if (at >= bytes.length || stream.destroyed) break;
          stream.emit('data', bytes.slice(at, at + cut));
          at += cut;
        }
        if (at < bytes.length && !stream.destroyed) stream.emit('data', bytes.slice(at));
        await Promise.resolve();
        await Promise.resolve();
        if (reference === 'error' && outcome === 'pending')
          assert.not.ok(
            new MessageScan().ready(bytes, MAX_PUSH_STATE_BYTES),
            'pending on a complete structure',
          );
        else assert.equal(outcome, reference === 'incomplete' ? 'pending' : reference);
      },
    ),
    { numRuns: 1_000 },
  );
  assertNothingEscaped();
});

test.run();
