// Interoperability with HashiCorp memberlist 0.2.2: in-process TypeScript `Memberlist` nodes on
// real sockets (127.0.0.1, port 0) and Go peer processes (test/go-peer/main.go) in one cluster,
// each side joining the other's. Membership, failure, leave, meta, user messages, broadcasts,
// push/pull user state, encryption and key rotation, probing health and the delegate version
// check all cross the language line. Every wait is bounded; every Go process is stopped by PID
// and every TypeScript node shut down in `finally`.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DelegateVersions,
  type DroppedReason,
  isJoinError,
  isStreamExchangeError,
  localConfig,
  type Member,
  Memberlist,
  type MemberlistOptions,
} from '../src/index.js';
import {
  type GoNode,
  type GoNodeEvent,
  type GoPeer,
  GoPeerCommandError,
  type GoPeerEvent,
  type GoPeerOptions,
  NodeState,
  startGoPeer,
  stopAll,
} from './support/go-peer.js';

// ---------------------------------------------------------------------------------------------
// Timing: the same fast settings on both sides. The probe timeout leaves room for a loaded
// machine (CI runs test files side by side): a direct ping gets 200 ms, the whole probe with its
// indirect and TCP fallbacks 400 ms, before a node is suspected.

const PROBE_INTERVAL_MS = 400;
const PROBE_TIMEOUT_MS = 200;
const FAST_GO: Omit<GoPeerOptions, 'name'> = {
  config: 'local',
  probeIntervalMs: PROBE_INTERVAL_MS,
  probeTimeoutMs: PROBE_TIMEOUT_MS,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 2_000,
};
const FAST_TS = {
  ...localConfig(),
  probeIntervalMs: PROBE_INTERVAL_MS,
  probeTimeoutMs: PROBE_TIMEOUT_MS,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 2_000,
};
/** Bound on a membership change spreading (join, update, leave gossip). */
const SPREAD_MS = 10_000;
/** Bound on a failure being detected and declared (suspicion timeout included). */
const FAILURE_MS = 15_000;

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const sorted = (values: Iterable<string>): string[] => [...values].sort();

/** Polls `check` every 25 ms until it returns a value other than undefined/false, at most `limitMs`. */
async function until<T>(check: () => T | undefined | false, limitMs: number, what: string): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The async flavour of {@link until}, for checks that ask Go peers. */
async function untilAsync(check: () => Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// TypeScript nodes with a recording delegate.

type TsEventKind = 'join' | 'leave' | 'update' | 'suspect' | 'alive';

/** `Memberlist.create` options beyond the fast defaults, and the delegate's user state. */
type TsNodeOptions = Omit<Partial<MemberlistOptions>, 'name' | 'delegate'> & { readonly userState?: string };

/** A TypeScript memberlist plus everything its delegate and events saw. */
class TsNode {
  readonly events: { kind: TsEventKind; member: Member }[] = [];
  readonly messages: Uint8Array[] = [];
  readonly merged: { state: Uint8Array; join: boolean }[] = [];
  /** Completed probes per peer name (the ping delegate). */
  readonly pinged = new Map<string, number>();
  userState: string;

  private constructor(
    readonly ml: Memberlist,
    userState: string,
  ) {
    this.userState = userState;
    for (const kind of ['join', 'leave', 'update', 'suspect', 'alive'] as const) {
      ml.on(kind, (member) => this.events.push({ kind, member }));
    }
  }

  static async start(name: string, options: TsNodeOptions = {}): Promise<TsNode> {
    let node: TsNode | undefined;
    const { userState, ...overrides } = options;
    const config: MemberlistOptions = {
      ...FAST_TS,
      bindAddr: '127.0.0.1',
      bindPort: 0,
      ...overrides,
      name,
      delegate: {
        notifyMessage: (message) => node?.messages.push(message.slice()),
        localState: () => bytes(node?.userState ?? ''),
        mergeRemoteState: (state, join) => node?.merged.push({ state: state.slice(), join }),
        notifyPingComplete: (peer) => node?.pinged.set(peer.name, (node.pinged.get(peer.name) ?? 0) + 1),
      },
    };
    node = new TsNode(await Memberlist.create(config), userState ?? '');
    return node;
  }

  get name(): string {
    return this.ml.localNode.name;
  }

  get address(): string {
    return `127.0.0.1:${this.ml.localNode.port}`;
  }

  /** Alive or suspect member names. */
  memberNames(): string[] {
    return sorted(this.ml.members().map((m) => m.name));
  }

  node(name: string): Member | undefined {
    return this.ml.allNodes().find((m) => m.name === name);
  }

  /** Resolves with the first `kind` event about `name` matching `accept` (already seen or coming). */
  waitForEvent(
    kind: TsEventKind,
    name: string,
    limitMs: number,
    accept: (member: Member) => boolean = () => true,
    from = 0,
  ): Promise<Member> {
    return until(
      () =>
        this.events.slice(from).find((e) => e.kind === kind && e.member.name === name && accept(e.member))
          ?.member,
      limitMs,
      `${this.name}: ${kind} of ${name}`,
    );
  }

  waitForMessage(payload: string, limitMs = 5_000): Promise<Uint8Array> {
    return until(
      () => this.messages.find((m) => text(m) === payload),
      limitMs,
      `${this.name}: message ${JSON.stringify(payload)}`,
    );
  }
}

/** Every Go peer and TypeScript node this file started (for the final leak check). */
const everyGoPeer: GoPeer[] = [];
const everyTsNode: TsNode[] = [];

/** What one test started; {@link cleanup} stops all of it whatever happened. */
class Fixture {
  readonly go: GoPeer[] = [];
  readonly ts: TsNode[] = [];
  /** Starts still under way: cleanup waits for them, so that none is left running. */
  readonly #starting: Promise<unknown>[] = [];

  startGo(name: string, options: Omit<GoPeerOptions, 'name'> = {}): Promise<GoPeer> {
    const started = startGoPeer({ ...FAST_GO, ...options, name }).then((peer) => {
      this.go.push(peer);
      everyGoPeer.push(peer);
      return peer;
    });
    this.#starting.push(started);
    return started;
  }

  startTs(name: string, options: TsNodeOptions = {}): Promise<TsNode> {
    const started = TsNode.start(name, options).then((node) => {
      this.ts.push(node);
      everyTsNode.push(node);
      return node;
    });
    this.#starting.push(started);
    return started;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#starting);
    const results = await Promise.allSettled([
      ...this.ts.map((node) => node.ml.shutdown()),
      stopAll(this.go),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

async function withFixture(body: (f: Fixture) => Promise<void>): Promise<void> {
  const fixture = new Fixture();
  try {
    await body(fixture);
  } finally {
    await fixture.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster-wide checks.

const goNames = (members: readonly GoNode[]): string[] => sorted(members.map((m) => m.name));

/** Waits until every node, Go and TypeScript, sees exactly `expected` as its live members. */
async function allSee(
  go: readonly GoPeer[],
  ts: readonly TsNode[],
  expected: readonly string[],
  limitMs = SPREAD_MS,
): Promise<void> {
  const want = sorted(expected).join();
  await untilAsync(
    async () => {
      if (!ts.every((node) => node.memberNames().join() === want)) return false;
      const views = await Promise.all(go.map((peer) => peer.members()));
      return views.every((view) => goNames(view).join() === want);
    },
    limitMs,
    `every node seeing exactly ${want}`,
  );
}

/**
 * Asserts that every node sees exactly `expected`, all alive, and that each node's incarnation
 * and port as the others see them are what the node itself reports (so Go decoded the
 * TypeScript nodes' alive messages and push/pull entries, and the reverse), with plain
 * memberlist versions (Vsn 1,5,2,0,0,0) for the TypeScript nodes at the Go peers.
 */
async function assertAllAlive(
  go: readonly GoPeer[],
  ts: readonly TsNode[],
  expected: readonly string[],
): Promise<void> {
  const truth = new Map<string, { incarnation: number | null; port: number }>();
  for (const node of ts) truth.set(node.name, node.ml.localNode);
  for (const peer of go) truth.set(peer.name, await peer.localNode());
  const check = (viewer: string, name: string, incarnation: number | null, port: number): void => {
    const own = truth.get(name);
    assert.ok(own !== undefined, `${viewer} lists ${name}, a node of this test`);
    assert.is(incarnation, own.incarnation, `${viewer}: incarnation of ${name}`);
    assert.is(port, own.port, `${viewer}: port of ${name}`);
  };
  for (const peer of go) {
    const members = await peer.members();
    assert.equal(goNames(members), sorted(expected), `${peer.name}'s members`);
    for (const member of members) {
      assert.is(member.state, NodeState.alive, `${peer.name} sees ${member.name} alive`);
      assert.is(member.addr, '127.0.0.1');
      check(peer.name, member.name, member.incarnation, member.port);
      if (ts.some((node) => node.name === member.name))
        assert.equal(member.vsn, [1, 5, 2, 0, 0, 0], `${peer.name}: Vsn of ${member.name}`);
    }
  }
  for (const node of ts) {
    assert.equal(node.memberNames(), sorted(expected), `${node.name}'s members`);
    for (const member of node.ml.allNodes()) {
      assert.is(member.state, 'alive', `${node.name} sees ${member.name} alive`);
      assert.is(member.addr, '127.0.0.1');
      check(node.name, member.name, member.incarnation, member.port);
    }
  }
}

/** The [ERR] and [WARN] lines of a Go peer's memberlist log (its stderr). */
const goProblems = (peer: GoPeer): string[] =>
  peer
    .stderrTail(64 * 1024)
    .split('\n')
    .filter((line) => /\[(ERR|WARN)\]/.test(line));

/**
 * A steady period: waits (bounded) until every TypeScript node has completed at least `probes`
 * more probes of each Go peer, then checks that nobody was suspected meanwhile: no suspect
 * events and no refutes on the TypeScript side, every member alive everywhere, Go health 0.
 */
async function assertSteady(go: readonly GoPeer[], ts: readonly TsNode[], probes: number): Promise<void> {
  const suspectsBefore = ts.map((node) => node.events.filter((e) => e.kind === 'suspect').length);
  const pingedBefore = ts.map((node) => new Map(node.pinged));
  const dropsBefore = ts.map((node) => node.ml.stats().dropped);
  const goLogBefore = go.map((peer) => new Set(goProblems(peer)));
  const goIncarnations = await Promise.all(go.map(async (peer) => (await peer.localNode()).incarnation));
  await until(
    () =>
      ts.every((node, i) =>
        go.every(
          (peer) => (node.pinged.get(peer.name) ?? 0) - (pingedBefore[i]?.get(peer.name) ?? 0) >= probes,
        ),
      ),
    (probes * (go.length + ts.length) + 10) * PROBE_INTERVAL_MS * 2,
    `${probes} completed probes of each Go peer from every TypeScript node`,
  );
  ts.forEach((node, i) => {
    const suspects = node.events.filter((e) => e.kind === 'suspect');
    assert.is(suspects.length, suspectsBefore[i], `${node.name} suspected nobody`);
    const stats = node.ml.stats();
    assert.ok(stats.acks > 0, `${node.name} got acks`);
    assert.is(stats.refutes, 0, `${node.name} never had to refute a suspicion`);
    assert.is(node.ml.healthScore(), 0, `${node.name}'s health score`);
    for (const member of node.ml.allNodes()) assert.is(member.state, 'alive', `${node.name}: ${member.name}`);
    // Nothing Go sent was dropped: no decrypt, CRC, decode, LZW, unknown type or address problem.
    const before = dropsBefore[i];
    const dropped = Object.entries(stats.dropped).filter(
      ([reason, n]) => n !== before?.[reason as DroppedReason],
    );
    assert.equal(dropped, [], `${node.name}'s drops during the steady period`);
  });
  for (const [i, peer] of go.entries()) {
    // Nor did Go complain about anything it received (memberlist logs [ERR]/[WARN] for that).
    const complaints = goProblems(peer).filter((line) => !goLogBefore[i]?.has(line));
    assert.equal(complaints, [], `${peer.name}'s log during the steady period`);
    assert.is(await peer.healthScore(), 0, `${peer.name}'s health score`);
    assert.is((await peer.localNode()).incarnation, goIncarnations[i], `${peer.name} never refuted`);
    for (const member of await peer.members())
      assert.is(member.state, NodeState.alive, `${peer.name} sees ${member.name} alive`);
  }
}

const goMessage =
  (payload: string) =>
  (e: GoPeerEvent): boolean =>
    e.event === 'message' && text(e.data) === payload;

/**
 * Broadcasts distinct payloads from `sender` (at most 10) until every node named in `required`
 * has had one. memberlist sends a broadcast only retransmitLimit times to random members and
 * receivers do not relay user broadcasts, so one broadcast need not reach everybody; each must
 * reach at least one of `receivers` (every other live node) within 5 s.
 */
async function broadcastUntilAllReached(
  send: (payload: string) => Promise<void>,
  sender: string,
  receivers: readonly { name: string; has: (payload: string) => boolean }[],
  required: readonly string[],
): Promise<void> {
  const reached = new Set<string>();
  const payloads: string[] = [];
  const done = () => required.every((name) => reached.has(name));
  for (let i = 0; i < 10 && !done(); i++) {
    const payload = `broadcast ${i} from ${sender}`;
    payloads.push(payload);
    await send(payload);
    await until(() => receivers.some((r) => r.has(payload)), 5_000, `${payload} reaching anyone`);
    for (const r of receivers) if (payloads.some((p) => r.has(p))) reached.add(r.name);
  }
  assert.ok(
    done(),
    `${sender}'s broadcasts reached ${sorted(reached).join()}, not all of ${required.join()}`,
  );
}

async function expectGoJoinFailure(peer: GoPeer, address: string, why: string): Promise<void> {
  try {
    await peer.join([address]);
  } catch (error) {
    assert.instance(error, GoPeerCommandError, String(error));
    return;
  }
  assert.unreachable(why);
}

async function expectTsJoinFailure(node: TsNode, address: string, why: string): Promise<Error> {
  try {
    await node.ml.join([address]);
  } catch (error) {
    if (!isJoinError(error)) throw new Error(`expected a JoinError, got ${String(error)}`);
    const [attempt] = error.attempts;
    assert.ok(attempt !== undefined && error.attempts.length === 1);
    return attempt.error;
  }
  assert.unreachable(why);
  throw new Error('unreachable');
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

test('TypeScript nodes join a Go cluster: state, probing, messages, broadcasts, meta, failures', async () => {
  await withFixture(async (f) => {
    const [g1, g2] = await Promise.all([
      f.startGo('go-1', { userState: 'state-of-go-1', meta: bytes('go-1 meta v1') }),
      f.startGo('go-2', { userState: 'state-of-go-2' }),
    ]);
    const [t1, t2] = await Promise.all([
      f.startTs('ts-1', { userState: 'state-of-ts-1', meta: bytes('ts-1 meta v1') }),
      f.startTs('ts-2', { userState: 'state-of-ts-2' }),
    ]);
    const all = ['go-1', 'go-2', 'ts-1', 'ts-2'];
    assert.is(await g2.join([g1.address]), 1);
    assert.is(await t1.ml.join([g1.address]), 1);
    assert.is(await t2.ml.join([g2.address]), 1);
    await allSee(f.go, f.ts, all);
    await assertAllAlive(f.go, f.ts, all);

    // Initial meta crossed both ways.
    assert.is(text(t2.node('go-1')?.meta ?? new Uint8Array(0)), 'go-1 meta v1');
    const ts1AtGo = (await g2.members()).find((m) => m.name === 'ts-1');
    assert.is(text(ts1AtGo?.meta ?? new Uint8Array(0)), 'ts-1 meta v1');
    // Go's join events carry the TypeScript nodes' versions.
    const joined = await g1.waitForNodeEvent('join', 'ts-2', SPREAD_MS);
    assert.equal(joined.node.vsn, [1, 5, 2, 0, 0, 0]);

    // Push/pull user state of the join, both ways: ts-1 joined through go-1.
    const fromGo = await until(
      () => t1.merged.find((m) => m.join && text(m.state) === 'state-of-go-1'),
      5_000,
      'ts-1 merging go-1 user state',
    );
    assert.ok(fromGo.join);
    const atGo = await g1.waitForEvent(
      (e) => e.event === 'merge_remote_state' && e.join && text(e.data) === 'state-of-ts-1',
      5_000,
      { what: "ts-1's user state at go-1" },
    );
    assert.ok(atGo.event === 'merge_remote_state' && atGo.join);
    // The periodic (non-join) push/pull every 2 s, to a random member, carries it too.
    const periodic = (e: GoPeerEvent): boolean =>
      e.event === 'merge_remote_state' && !e.join && text(e.data).startsWith('state-of-ts-');
    await untilAsync(
      async () => [g1, g2].some((peer) => peer.log.some(periodic)),
      SPREAD_MS,
      'a TypeScript user state in a periodic push/pull at a Go peer',
    );
    await until(
      () =>
        [t1, t2].some((node) => node.merged.some((m) => !m.join && text(m.state).startsWith('state-of-go-'))),
      SPREAD_MS,
      'a Go user state in a periodic push/pull at a TypeScript node',
    );

    // Probing across the line: a steady period with nobody suspected.
    await assertSteady(f.go, f.ts, 4);

    // User messages: best effort (UDP) and reliable (TCP), both ways.
    t1.ml.sendBestEffort('go-1', bytes('ts-1 to go-1 over udp'));
    await g1.waitForEvent(goMessage('ts-1 to go-1 over udp'), 5_000, { what: 'the UDP message' });
    await t2.ml.sendReliable('go-1', bytes('ts-2 to go-1 over tcp'));
    await g1.waitForEvent(goMessage('ts-2 to go-1 over tcp'), 5_000, { what: 'the TCP message' });
    await g1.send('ts-1', bytes('go-1 to ts-1 over udp'), false);
    await t1.waitForMessage('go-1 to ts-1 over udp');
    await g2.send('ts-2', bytes('go-2 to ts-2 over tcp'), true);
    await t2.waitForMessage('go-2 to ts-2 over tcp');
    const big = 'x'.repeat(20_000);
    await g2.send('ts-1', bytes(big), true);
    await t1.waitForMessage(big);
    await t1.ml.sendReliable('go-2', bytes(big));
    await g2.waitForEvent(goMessage(big), 5_000, { what: 'the 20 kB TCP message' });

    // Broadcasts, piggybacked on gossip, both ways. memberlist sends a broadcast only
    // retransmitMult × ceil(log10(N + 1)) = 2 times here, to 3 possible receivers, and receivers
    // do not relay user broadcasts: one broadcast need not reach everybody, each reaches someone.
    const tsHas = (node: TsNode) => (payload: string) => node.messages.some((m) => text(m) === payload);
    const goHas = (peer: GoPeer) => (payload: string) => peer.log.some(goMessage(payload));
    await broadcastUntilAllReached(
      (payload) => g1.broadcast(bytes(payload)).then(() => undefined),
      'go-1',
      [
        { name: 'go-2', has: goHas(g2) },
        { name: 'ts-1', has: tsHas(t1) },
        { name: 'ts-2', has: tsHas(t2) },
      ],
      ['ts-1', 'ts-2'],
    );
    await broadcastUntilAllReached(
      async (payload) => t2.ml.queueBroadcast(bytes(payload)),
      'ts-2',
      [
        { name: 'go-1', has: goHas(g1) },
        { name: 'go-2', has: goHas(g2) },
        { name: 'ts-1', has: tsHas(t1) },
      ],
      ['go-1', 'go-2'],
    );

    // Meta updates, both ways.
    const ts1Before = t1.ml.localNode.incarnation;
    await t1.ml.updateMeta(bytes('ts-1 meta v2'), 5_000);
    for (const peer of [g1, g2]) {
      const seen = await peer.waitForNodeEvent(
        'update',
        'ts-1',
        SPREAD_MS,
        (n) => text(n.meta) === 'ts-1 meta v2',
      );
      assert.equal(seen.node.meta, bytes('ts-1 meta v2'));
      assert.is(seen.node.incarnation, t1.ml.localNode.incarnation);
      assert.ok((seen.node.incarnation ?? 0) > ts1Before);
    }
    await g1.updateMeta(bytes('go-1 meta v2'));
    for (const node of [t1, t2]) {
      const seen = await node.waitForEvent(
        'update',
        'go-1',
        SPREAD_MS,
        (m) => text(m.meta) === 'go-1 meta v2',
      );
      assert.equal(seen.meta, bytes('go-1 meta v2'));
      assert.is(seen.incarnation, (await g1.localNode()).incarnation);
    }

    // A Go peer dies (SIGKILL): the TypeScript nodes declare it dead.
    await g2.kill('SIGKILL');
    for (const node of [t1, t2]) {
      const dead = await node.waitForEvent('leave', 'go-2', FAILURE_MS);
      assert.is(dead.state, 'dead', `${node.name} declares go-2 dead`);
      assert.is(node.node('go-2')?.state, 'dead');
    }
    await g1.waitForNodeEvent('leave', 'go-2', FAILURE_MS, (n) => n.state === NodeState.dead);

    // A TypeScript node crashes (shutdown without leave): Go declares it dead.
    await t2.ml.shutdown();
    const crashed = await g1.waitForNodeEvent('leave', 'ts-2', FAILURE_MS);
    assert.is(crashed.node.state, NodeState.dead, 'go-1 declares ts-2 dead, not left');
    const crashedAtTs = await t1.waitForEvent('leave', 'ts-2', FAILURE_MS);
    assert.is(crashedAtTs.state, 'dead');
    await allSee([g1], [t1], ['go-1', 'ts-1']);

    // Both come back under their old names and ports, each joining through the other language.
    // The cluster still holds them as dead at their old incarnation, so each must refute that
    // (a higher incarnation) to be accepted: Go's refute seen by TypeScript, and the reverse.
    const go2Dead = t1.node('go-2');
    const ts2AtGo = (await g1.members()).find((m) => m.name === 'ts-2');
    assert.is(go2Dead?.state, 'dead');
    assert.is(ts2AtGo, undefined, 'go-1 lists ts-2 no longer');
    const t1Mark = t1.events.length;
    const g2b = await f.startGo('go-2', { port: g2.port });
    assert.is(await g2b.join([t1.address]), 1);
    const go2Back = await t1.waitForEvent('join', 'go-2', SPREAD_MS, () => true, t1Mark);
    assert.ok(go2Back.incarnation > (go2Dead?.incarnation ?? 0), 'go-2 refuted its death');
    assert.is(go2Back.incarnation, (await g2b.localNode()).incarnation);
    const g1Mark = g1.log.length;
    const t2b = await f.startTs('ts-2', { bindPort: t2.ml.localNode.port });
    assert.is(await t2b.ml.join([g1.address]), 1);
    const ts2Back = await g1.waitForEvent(
      (e): e is GoNodeEvent => e.event === 'join' && e.node.name === 'ts-2',
      SPREAD_MS,
      { from: g1Mark, what: 'ts-2 joining again' },
    );
    assert.ok(t2b.ml.stats().refutes >= 1, 'the restarted ts-2 refuted its death');
    assert.ok((ts2Back.node.incarnation ?? 0) > 1);
    assert.is(ts2Back.node.incarnation, t2b.ml.localNode.incarnation);
    await allSee([g1, g2b], [t1, t2b], all);
    await assertAllAlive([g1, g2b], [t1, t2b], all);
  });
});

test('Go nodes join a TypeScript cluster: state, user state, meta, a crash, leave both ways', async () => {
  await withFixture(async (f) => {
    // ts-2 and go-2 run without compression, the others with it (memberlist's default).
    const [t1, t2] = await Promise.all([
      f.startTs('ts-1', { userState: 'state-of-ts-1' }),
      f.startTs('ts-2', { meta: bytes('ts-2 meta v1'), enableCompression: false }),
    ]);
    const [g1, g2] = await Promise.all([
      f.startGo('go-1', { userState: 'state-of-go-1' }),
      f.startGo('go-2', { compression: false }),
    ]);
    const all = ['go-1', 'go-2', 'ts-1', 'ts-2'];
    assert.is(await t2.ml.join([t1.address]), 1);
    assert.is(await g1.join([t1.address]), 1);
    assert.is(await g2.join([t2.address]), 1);
    await allSee(f.go, f.ts, all);
    await assertAllAlive(f.go, f.ts, all);
    assert.is(
      text((await g1.members()).find((m) => m.name === 'ts-2')?.meta ?? new Uint8Array(0)),
      'ts-2 meta v1',
    );

    // Push/pull user state of the join, both ways: go-1 joined through ts-1.
    const atGo = await g1.waitForEvent(
      (e) => e.event === 'merge_remote_state' && e.join && text(e.data) === 'state-of-ts-1',
      5_000,
      { what: "ts-1's user state at go-1 on join" },
    );
    assert.ok(atGo.event === 'merge_remote_state');
    await until(
      () => t1.merged.find((m) => m.join && text(m.state) === 'state-of-go-1'),
      5_000,
      "go-1's user state at ts-1 on join",
    );

    // A steady period here too (Go probing TypeScript seeds).
    await assertSteady(f.go, f.ts, 3);

    // User messages between compressing and non-compressing nodes.
    await g2.send('ts-1', bytes('plain go-2 to ts-1'), false);
    await t1.waitForMessage('plain go-2 to ts-1');
    await g1.send('ts-2', bytes('lzw go-1 to ts-2'.repeat(50)), true);
    await t2.waitForMessage('lzw go-1 to ts-2'.repeat(50));
    t2.ml.sendBestEffort('go-1', bytes('plain ts-2 to go-1'));
    await g1.waitForEvent(goMessage('plain ts-2 to go-1'), 5_000, { what: 'the uncompressed UDP message' });
    await t1.ml.sendReliable('go-2', bytes('lzw ts-1 to go-2'.repeat(50)));
    await g2.waitForEvent(goMessage('lzw ts-1 to go-2'.repeat(50)), 5_000, {
      what: 'the compressed TCP message',
    });

    // Meta updates at the 512-byte limit, both ways.
    const tsMeta = new Uint8Array(randomBytes(512));
    await t2.ml.updateMeta(tsMeta, 5_000);
    for (const peer of [g1, g2]) {
      const seen = await peer.waitForNodeEvent('update', 'ts-2', SPREAD_MS, (n) => n.meta.length === 512);
      assert.equal(seen.node.meta, tsMeta);
      assert.is(seen.node.incarnation, t2.ml.localNode.incarnation);
    }
    const tsMetaAtTs = await t1.waitForEvent('update', 'ts-2', SPREAD_MS, (m) => m.meta.length === 512);
    assert.equal(tsMetaAtTs.meta, tsMeta);
    const goMeta = new Uint8Array(randomBytes(512));
    await g2.updateMeta(goMeta);
    const go2Incarnation = (await g2.localNode()).incarnation;
    for (const node of [t1, t2]) {
      const seen = await node.waitForEvent('update', 'go-2', SPREAD_MS, (m) => m.meta.length === 512);
      assert.equal(seen.meta, goMeta);
      assert.is(seen.incarnation, go2Incarnation);
    }
    const goMetaAtGo = await g1.waitForNodeEvent('update', 'go-2', SPREAD_MS, (n) => n.meta.length === 512);
    assert.equal(goMetaAtGo.node.meta, goMeta);

    // A third TypeScript node joins through go-2, then crashes (shutdown without leave): both Go
    // peers, and the TypeScript nodes, declare it dead.
    const t3 = await f.startTs('ts-3');
    assert.is(await t3.ml.join([g2.address]), 1);
    await allSee(f.go, [t1, t2, t3], [...all, 'ts-3']);
    await t3.ml.shutdown();
    for (const peer of [g1, g2]) {
      const crashed = await peer.waitForNodeEvent('leave', 'ts-3', FAILURE_MS);
      assert.is(crashed.node.state, NodeState.dead, `${peer.name} declares ts-3 dead, not left`);
    }
    for (const node of [t1, t2]) {
      const crashed = await node.waitForEvent('leave', 'ts-3', FAILURE_MS);
      assert.is(crashed.state, 'dead');
    }
    await allSee(f.go, [t1, t2], all);

    // A Go peer leaves: state left on the TypeScript side.
    await g1.leave(5_000);
    for (const node of [t1, t2]) {
      const left = await node.waitForEvent('leave', 'go-1', SPREAD_MS);
      assert.is(left.state, 'left', `${node.name} sees go-1 as left`);
    }
    const leftAtGo = await g2.waitForNodeEvent('leave', 'go-1', SPREAD_MS);
    assert.is(leftAtGo.node.state, NodeState.left);

    // A TypeScript node leaves: Go reports a leave with state left.
    await t2.ml.leave(5_000);
    const tsLeft = await g2.waitForNodeEvent('leave', 'ts-2', SPREAD_MS);
    assert.is(tsLeft.node.state, NodeState.left, 'go-2 sees ts-2 as left');
    const tsLeftAtTs = await t1.waitForEvent('leave', 'ts-2', SPREAD_MS);
    assert.is(tsLeftAtTs.state, 'left');
    await t2.ml.shutdown();
    await untilAsync(
      async () =>
        goNames(await g2.members()).join() === 'go-2,ts-1' && t1.memberNames().join() === 'go-2,ts-1',
      SPREAD_MS,
      'go-2 and ts-1 left alone',
    );
    // The leaves were seen as leaves, the crash as the only death.
    const leaves = t1.events
      .filter((e) => e.kind === 'leave')
      .map((e) => `${e.member.name}:${e.member.state}`);
    assert.equal(leaves, ['ts-3:dead', 'go-1:left', 'ts-2:left']);
    assert.is(t1.ml.stats().deaths, 1);
  });
});

test('encryption: a mixed cluster shares a 16-byte key, keeps out wrong keys, rotates keys', async () => {
  const key = randomBytes(16);
  const otherKey = randomBytes(16);
  await withFixture(async (f) => {
    const g1 = await f.startGo('go-1', { key });
    const t1 = await f.startTs('ts-1', { secretKey: key });
    const g2 = await f.startGo('go-2', { key });
    const t2 = await f.startTs('ts-2', { secretKey: key });
    const all = ['go-1', 'go-2', 'ts-1', 'ts-2'];
    assert.is(await t1.ml.join([g1.address]), 1);
    assert.is(await g2.join([t1.address]), 1);
    assert.is(await t2.ml.join([g2.address]), 1);
    await allSee(f.go, f.ts, all);
    await assertAllAlive(f.go, f.ts, all);
    assert.is(t1.ml.stats().dropped.decrypt, 0);

    // Encrypted user messages both ways.
    t2.ml.sendBestEffort('go-1', bytes('sealed udp'));
    await g1.waitForEvent(goMessage('sealed udp'), 5_000, { what: 'the encrypted UDP message' });
    await g2.send('ts-1', bytes('sealed tcp'), true);
    await t1.waitForMessage('sealed tcp');

    // Wrong keys and no key are refused in both directions.
    const wrongTs = await f.startTs('ts-wrong', { secretKey: otherKey });
    const plainTs = await f.startTs('ts-plain');
    const wrongGo = await f.startGo('go-wrong', { key: otherKey });
    for (const outsider of [wrongTs, plainTs]) {
      const error = await expectTsJoinFailure(outsider, g1.address, `${outsider.name} must not join`);
      assert.ok(isStreamExchangeError(error), String(error));
      assert.is(outsider.memberNames().join(), outsider.name);
    }
    await expectGoJoinFailure(wrongGo, t1.address, 'go-wrong must not join the TypeScript seed');
    await expectGoJoinFailure(wrongGo, t2.address, 'go-wrong must not join the TypeScript seed');
    assert.equal(goNames(await wrongGo.members()), ['go-wrong']);
    await assertAllAlive([g1, g2], [t1, t2], all);

    // Rotate everyone onto the outsiders' key: install, use, remove, across both languages.
    for (const peer of [g1, g2]) assert.is(await peer.installKey(otherKey), 2);
    for (const node of [t1, t2]) node.ml.keyring.install(otherKey);
    for (const peer of [g1, g2]) await peer.useKey(otherKey);
    for (const node of [t1, t2]) node.ml.keyring.use(otherKey);
    for (const peer of [g1, g2]) assert.is(await peer.removeKey(key), 1);
    for (const node of [t1, t2]) {
      node.ml.keyring.remove(key);
      assert.is(node.ml.keyring.size, 1);
    }
    await assertSteady([g1, g2], [t1, t2], 3);
    await assertAllAlive([g1, g2], [t1, t2], all);

    // Now the former outsiders are in, each through the other language.
    assert.is(await wrongTs.ml.join([g2.address]), 1);
    assert.is(await wrongGo.join([t2.address]), 1);
    await allSee([g1, g2, wrongGo], [t1, t2, wrongTs], [...all, 'go-wrong', 'ts-wrong']);
    // plainTs, without a key, is still shut out.
    await expectTsJoinFailure(plainTs, t1.address, 'a node without a key must not join');
  });
});

test('encryption: a 32-byte key works both ways', async () => {
  const key = randomBytes(32);
  await withFixture(async (f) => {
    const g1 = await f.startGo('go-1', { key });
    const t1 = await f.startTs('ts-1', { secretKey: key });
    const g2 = await f.startGo('go-2', { key });
    const t2 = await f.startTs('ts-2', { secretKey: key });
    assert.is(await t1.ml.join([g1.address]), 1);
    assert.is(await g2.join([t1.address]), 1);
    assert.is(await t2.ml.join([t1.address]), 1);
    const all = ['go-1', 'go-2', 'ts-1', 'ts-2'];
    await allSee(f.go, f.ts, all);
    await assertAllAlive(f.go, f.ts, all);
    await g1.send('ts-2', bytes('aes-256 udp'), false);
    await t2.waitForMessage('aes-256 udp');
    await t2.ml.sendReliable('go-2', bytes('aes-256 tcp'));
    await g2.waitForEvent(goMessage('aes-256 tcp'), 5_000, { what: 'the AES-256 TCP message' });
    await assertSteady(f.go, f.ts, 2);
    assert.is(t1.ml.stats().dropped.decrypt, 0);
  });
});

test('delegate versions: Serf-like TypeScript and plain Go nodes cannot merge; matching ones can', async () => {
  const serf: DelegateVersions = { min: 2, max: 5, cur: 4 };
  await withFixture(async (f) => {
    const plainGo = await f.startGo('go-plain');
    const serfTs = await f.startTs('ts-serf', { delegateVersions: serf });
    assert.equal(serfTs.ml.localNode.versions, {
      protocolMin: 1,
      protocolMax: 5,
      protocolCur: 2,
      delegateMin: 2,
      delegateMax: 5,
      delegateCur: 4,
    });

    const error = await expectTsJoinFailure(
      serfTs,
      plainGo.address,
      'a Serf-like node must not merge with D=0',
    );
    assert.ok(isStreamExchangeError(error), String(error));
    assert.is(error.reason, 'incompatible', error.message);
    assert.match(error.message, /delegate protocol version/);
    assert.is(serfTs.memberNames().join(), 'ts-serf');
    assert.ok(serfTs.ml.stats().dropped.incompatible >= 1);
    // The Go side refused the merge too.
    assert.equal(goNames(await plainGo.members()), ['go-plain']);
    // And the other direction: the plain Go node cannot join the Serf-like TypeScript node, and
    // the TypeScript node, having answered with its state, refuses to merge Go's as well.
    const refusedBefore = serfTs.ml.stats().dropped.incompatible;
    await expectGoJoinFailure(plainGo, serfTs.address, 'a plain Go node must not merge with D=2..5');
    assert.equal(goNames(await plainGo.members()), ['go-plain']);
    await until(
      () => serfTs.ml.stats().dropped.incompatible > refusedBefore,
      5_000,
      "ts-serf refusing go-plain's state",
    );
    assert.is(serfTs.memberNames().join(), 'ts-serf');

    // A Go node with Serf's delegate versions is compatible.
    const serfGo = await f.startGo('go-serf', { delegateVersion: [2, 5, 4] });
    assert.is(await serfTs.ml.join([serfGo.address]), 1);
    const serfTs2 = await f.startTs('ts-serf-2', { delegateVersions: serf });
    const serfGo2 = await f.startGo('go-serf-2', { delegateVersion: [2, 5, 4] });
    assert.is(await serfGo2.join([serfTs.address]), 1);
    assert.is(await serfTs2.ml.join([serfGo2.address]), 1);
    await allSee([serfGo, serfGo2], [serfTs, serfTs2], ['go-serf', 'go-serf-2', 'ts-serf', 'ts-serf-2']);
    for (const peer of [serfGo, serfGo2]) {
      for (const member of await peer.members()) {
        assert.is(member.state, NodeState.alive);
        assert.equal(member.vsn, [1, 5, 2, 2, 5, 4], `${peer.name}: Vsn of ${member.name}`);
      }
    }
    for (const member of serfTs2.ml.allNodes()) {
      assert.is(member.state, 'alive');
      assert.is(member.versions.delegateCur, 4);
      assert.is(member.versions.delegateMin, 2);
      assert.is(member.versions.delegateMax, 5);
    }
    // The plain Go node is still refused by the now larger Serf-like cluster.
    await expectGoJoinFailure(
      plainGo,
      serfGo.address,
      'a plain Go node must not merge with the Serf cluster',
    );
  });
});

test('every Go peer process has exited and every TypeScript node is shut down', async () => {
  const running = everyGoPeer.filter((peer) => peer.running);
  const open = everyTsNode.filter((node) => !node.ml.closed);
  // Never leave anything behind, even if a test's cleanup failed.
  await Promise.allSettled([stopAll(running), ...open.map((node) => node.ml.shutdown())]);
  assert.equal(
    running.map((peer) => `${peer.name} (pid ${peer.pid})`),
    [],
    'Go peers still running',
  );
  assert.equal(
    open.map((node) => node.name),
    [],
    'TypeScript nodes still open',
  );
});

test.run();
