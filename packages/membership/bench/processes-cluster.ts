// One measured cluster: N peer processes of one implementation (Go memberlist 0.2.2 or this
// package) on 127.0.0.1, driven by the test harness (test/support/go-peer.ts). It forms the
// cluster through a few seeds, measures CPU and resident memory over a steady window, then times
// a join, a failure (SIGKILL by PID) and a graceful leave until every node has reported it.
//
// Times come from the arrival of each peer's event line in this process (stamped when the line
// is parsed, not by polling), measured from just before the action: the join command, the kill,
// the leave command. Every wait is bounded; every peer is stopped by PID in `finally`.
import { performance } from 'node:perf_hooks';
import {
  NodeState,
  type Peer,
  type PeerEvent,
  type PeerImpl,
  type PeerNodeEvent,
  startPeer,
  stopAll,
} from '../test/support/go-peer.js';
import { cpuSeconds, machineBusySeconds, statusMiB } from './processes-proc.js';

export interface ClusterSettings {
  readonly impl: PeerImpl;
  readonly n: number;
  /** The plain-JavaScript bundle of the TypeScript peer, run with `node` alone. */
  readonly tsBundle: string;
  /** memberlist base configuration, the same for both implementations. */
  readonly config: 'lan' | 'local' | 'wan';
  /** After the cluster has formed, before the first (early) window. */
  readonly settleMs: number;
  /** After the cycles (and N restored), before the steady window: JIT warm-up and reaping. */
  readonly warmMs: number;
  /** Length of each CPU/memory window. */
  readonly steadyMs: number;
  /** Join / failure / leave cycles on the same cluster (a filler node restores N between cycles). */
  readonly cycles: number;
  /** Between phases, for the previous change's gossip to die down. */
  readonly pauseMs: number;
  readonly formLimitMs: number;
  readonly propagationLimitMs: number;
  readonly failureLimitMs: number;
  /** Registers every started peer (so that a signal handler can stop it). */
  readonly track: (peer: Peer) => void;
  readonly log: (line: string) => void;
}

/** How long each node took to report one change, measured from the action (ms). */
export interface Propagation {
  /** Until the last node reported it: "every node knows". */
  readonly allMs: number;
  readonly firstMs: number;
  readonly medianMs: number;
  readonly nodes: number;
}

export interface SteadyState {
  readonly seconds: number;
  /** Per node: CPU (user + system) as a percentage of one core over the window. */
  readonly cpuPercent: readonly number[];
  /** Per node: VmRSS at the end of the window, MiB. */
  readonly rssMiB: readonly number[];
  /** Per node: largest VmRSS sampled (every second) in the window, MiB. */
  readonly rssPeakMiB: readonly number[];
  /** Per node: VmHWM (peak resident since start, start-up included), MiB. */
  readonly hwmMiB: readonly number[];
  /** Per node: RssAnon at the end of the window (private memory; the rest is mapped files), MiB. */
  readonly rssAnonMiB: readonly number[];
  /** Per node: memberlist's Lifeguard health score at the end of the window (0 = healthy). */
  readonly health: readonly number[];
  /** Cores used meanwhile by everything but the peers and this process. */
  readonly otherCores: number;
  /** Cores used meanwhile by this process (reading the peers' event lines). */
  readonly benchCores: number;
  /** join/leave events during the window: 0 unless something was wrongly declared dead. */
  readonly membershipChanges: number;
}

/** One join, one failure and one leave, each until every node has reported it. */
export interface Cycle {
  /** Live members before the join. */
  readonly members: number;
  readonly join: Propagation;
  /** Duration of the join command on the joining node. */
  readonly joinCommandMs: number;
  readonly failure: Propagation;
  readonly leave: Propagation;
  /** Duration of the leave command (it waits for its broadcast to go out). */
  readonly leaveCommandMs: number;
}

export interface ClusterRun {
  readonly impl: PeerImpl;
  readonly n: number;
  /** From the first join command until every node sees all N alive. */
  readonly formationMs: number;
  /** leave events during formation (nodes wrongly declared dead while the cluster formed). */
  readonly formationLeaves: number;
  /** The window right after formation (settleMs later): includes the JIT's warm-up. */
  readonly early: SteadyState;
  /** The window after the cycles, N restored and warmMs later: the steady state. */
  readonly steady: SteadyState;
  readonly cycles: readonly Cycle[];
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

/** Marks a promise awaited later as handled, so that failing before it is awaited does not crash. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

const isNodeEvent = (event: PeerEvent): event is PeerNodeEvent =>
  event.event === 'join' || event.event === 'leave' || event.event === 'update';

interface Stamp {
  readonly at: number;
  readonly event: PeerNodeEvent;
}

interface Waiter {
  readonly since: number;
  readonly match: (event: PeerNodeEvent) => boolean;
  readonly resolve: (at: number) => void;
}

/** A peer with the arrival time of each of its node events and its current view of the members. */
class Watch {
  readonly stamps: Stamp[] = [];
  /** Names this peer has reported joining and not since leaving. */
  readonly alive = new Set<string>();
  private readonly waiters = new Set<Waiter>();

  constructor(readonly peer: Peer) {
    for (const event of peer.log) if (isNodeEvent(event)) this.apply(event);
    peer.events.on('event', (event: PeerEvent) => {
      if (!isNodeEvent(event)) return;
      const at = performance.now();
      this.stamps.push({ at, event });
      this.apply(event);
      for (const waiter of this.waiters) {
        if (at >= waiter.since && waiter.match(event)) {
          this.waiters.delete(waiter);
          waiter.resolve(at);
        }
      }
    });
  }

  private apply(event: PeerNodeEvent): void {
    if (event.event === 'join') this.alive.add(event.node.name);
    else if (event.event === 'leave') this.alive.delete(event.node.name);
  }

  /** When the first node event at or after `since` matching `match` arrived; rejects at `deadline`. */
  when(
    match: (event: PeerNodeEvent) => boolean,
    since: number,
    deadline: number,
    what: string,
  ): Promise<number> {
    const seen = this.stamps.find((s) => s.at >= since && match(s.event));
    if (seen !== undefined) return Promise.resolve(seen.at);
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        this.peer.events.off('exit', onExit);
      };
      const waiter: Waiter = {
        since,
        match,
        resolve: (at) => {
          finish();
          resolve(at);
        },
      };
      const onExit = (): void => {
        finish();
        reject(new Error(`${this.peer.impl} peer ${this.peer.name} exited waiting for ${what}`));
      };
      const timer = setTimeout(
        () => {
          finish();
          reject(new Error(`${this.peer.impl} peer ${this.peer.name}: no ${what} in time`));
        },
        Math.max(0, deadline - performance.now()),
      );
      this.waiters.add(waiter);
      this.peer.events.on('exit', onExit);
    });
  }
}

/** Waits until every watch reports a matching event after `since`; the per-node delays. */
async function propagation(
  watches: readonly Watch[],
  match: (event: PeerNodeEvent) => boolean,
  since: number,
  limitMs: number,
  what: string,
): Promise<Propagation> {
  const deadline = since + limitMs;
  const settled = await Promise.allSettled(watches.map((w) => w.when(match, since, deadline, what)));
  const missing = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (missing.length > 0) {
    throw new Error(
      `${missing.length} of ${watches.length} nodes did not report ${what} within ${limitMs} ms; first: ${String(missing[0]?.reason)}`,
    );
  }
  const delays = settled.map((s) => (s.status === 'fulfilled' ? s.value - since : Number.NaN));
  return {
    allMs: Math.max(...delays),
    firstMs: Math.min(...delays),
    medianMs: median(delays),
    nodes: delays.length,
  };
}

/** Starts peers `concurrency` at a time; each is tracked as soon as it has started. */
async function startMany(
  settings: ClusterSettings,
  names: readonly string[],
  concurrency: number,
): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (let i = 0; i < names.length; i += concurrency) {
    const batch = names.slice(i, i + concurrency);
    const started = await Promise.allSettled(batch.map((name) => startOne(settings, name)));
    for (const result of started) if (result.status === 'fulfilled') peers.push(result.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await stopAll(peers);
      throw failed.reason;
    }
  }
  return peers;
}

async function startOne(settings: ClusterSettings, name: string): Promise<Peer> {
  const peer = await startPeer({
    impl: settings.impl,
    tsBundle: settings.tsBundle,
    name,
    config: settings.config,
    readyTimeoutMs: 30_000,
    commandTimeoutMs: 30_000,
  });
  settings.track(peer);
  return peer;
}

/** Polls (locally, no commands) until `check` holds; throws after `limitMs`. */
async function until(check: () => boolean | Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${limitMs} ms`);
    await sleep(50);
  }
}

/** Joins everyone through the first (up to) three nodes and waits until all see all N alive. */
async function form(
  settings: ClusterSettings,
  peers: readonly Peer[],
  watches: readonly Watch[],
): Promise<number> {
  const seeds = peers.slice(0, Math.min(3, peers.length));
  const first = seeds[0];
  if (first === undefined) throw new Error('no peers');
  const started = performance.now();
  for (const seed of seeds.slice(1)) await seed.join([first.address]);
  const rest = peers.slice(seeds.length);
  for (let i = 0; i < rest.length; i += 10) {
    await Promise.all(
      rest.slice(i, i + 10).map((peer, j) => peer.join([(seeds[(i + j) % seeds.length] ?? first).address])),
    );
  }
  const names = peers.map((p) => p.name);
  const sees = (w: Watch): boolean =>
    w.alive.size === names.length && names.every((name) => w.alive.has(name));
  await until(() => watches.every(sees), settings.formLimitMs, `every node seeing ${names.length} alive`);
  const formationMs = performance.now() - started;
  // Confirm with the members command: N live members, every one alive (not suspect).
  await until(
    async () => {
      const views = await Promise.all(peers.map((p) => p.members()));
      return views.every(
        (view) => view.length === names.length && view.every((m) => m.state === NodeState.alive),
      );
    },
    settings.formLimitMs,
    'every node listing all members alive',
  );
  return formationMs;
}

async function steadyState(settings: ClusterSettings, watches: readonly Watch[]): Promise<SteadyState> {
  const pids = watches.map((w) => w.peer.pid);
  const cpuBefore = pids.map(cpuSeconds);
  const machineBefore = machineBusySeconds();
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  const rssPeak = pids.map(() => 0);
  while (performance.now() - started < settings.steadyMs) {
    await sleep(Math.min(1_000, Math.max(0, settings.steadyMs - (performance.now() - started))));
    pids.forEach((pid, i) => {
      rssPeak[i] = Math.max(rssPeak[i] ?? 0, statusMiB(pid, 'VmRSS'));
    });
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = pids.map(cpuSeconds);
  const machine = machineBusySeconds() - machineBefore;
  const self = process.cpuUsage(selfBefore);
  const selfSeconds = (self.user + self.system) / 1e6;
  const cpu = cpuAfter.map((after, i) => after - (cpuBefore[i] ?? Number.NaN));
  const peersTotal = cpu.reduce((sum, c) => sum + c, 0);
  const windowStart = started;
  const windowEnd = started + seconds * 1000;
  const membershipChanges = watches.reduce(
    (sum, w) =>
      sum +
      w.stamps.filter((s) => s.at >= windowStart && s.at <= windowEnd && s.event.event !== 'update').length,
    0,
  );
  return {
    seconds,
    cpuPercent: cpu.map((c) => (c / seconds) * 100),
    rssMiB: pids.map((pid) => statusMiB(pid, 'VmRSS')),
    rssPeakMiB: rssPeak,
    hwmMiB: pids.map((pid) => statusMiB(pid, 'VmHWM')),
    rssAnonMiB: pids.map((pid) => statusMiB(pid, 'RssAnon')),
    health: await Promise.all(watches.map((w) => w.peer.healthScore())),
    otherCores: Math.max(0, machine - peersTotal - selfSeconds) / seconds,
    benchCores: selfSeconds / seconds,
    membershipChanges,
  };
}

function describe(state: SteadyState): string {
  return (
    `CPU/node median ${median(state.cpuPercent).toFixed(2)} %, RSS median ${median(state.rssMiB).toFixed(1)} MiB ` +
    `max ${Math.max(...state.rssPeakMiB).toFixed(1)} MiB, others ${state.otherCores.toFixed(2)} cores, ` +
    `changes ${state.membershipChanges}, max health ${Math.max(...state.health)}`
  );
}

/** Waits until every live node, `node` included, lists `node` and every other live node as joined. */
async function allSee(live: readonly Watch[], limitMs: number, what: string): Promise<void> {
  const names = live.map((w) => w.peer.name);
  await until(
    () => live.every((w) => w.alive.size === names.length && names.every((name) => w.alive.has(name))),
    limitMs,
    what,
  );
}

/**
 * One cycle on `live` (seeds first): (a) a new node joins through a seed; (b) SIGKILL of one
 * established non-seed node; (c) graceful leave of another. Updates `live` in place.
 */
async function cycle(settings: ClusterSettings, live: Watch[], index: number, peers: Peer[]): Promise<Cycle> {
  const { impl, n, log } = settings;
  const members = live.length;
  const seeds = live.slice(0, 3);
  const seed = seeds[index % seeds.length]?.peer;
  if (seed === undefined) throw new Error('no seed');

  // (a) Join: one more node, through one seed; every member must report it.
  const joiner = await startOne(settings, `${impl}-join-${index}`);
  peers.push(joiner);
  const joinerWatch = new Watch(joiner);
  await sleep(settings.pauseMs);
  const joinSince = performance.now();
  const joinCall = handled(joiner.join([seed.address]).then(() => performance.now() - joinSince));
  const join = await propagation(
    live,
    (e) => e.event === 'join' && e.node.name === joiner.name,
    joinSince,
    settings.propagationLimitMs,
    `join of ${joiner.name}`,
  );
  const joinCommandMs = await joinCall;
  live.push(joinerWatch);
  log(`  ${impl} N=${n} cycle ${index + 1}: join known by all ${members} in ${join.allMs.toFixed(0)} ms`);

  // (b) Failure: SIGKILL an established non-seed node by PID; every survivor must declare it dead.
  const candidates = live.filter((w) => !seeds.includes(w) && w !== joinerWatch);
  const victim = candidates.at(-1);
  const leaver = candidates.at(-2);
  if (victim === undefined || leaver === undefined) throw new Error('cluster too small');
  await sleep(settings.pauseMs);
  const survivors = live.filter((w) => w !== victim);
  const failSince = performance.now();
  const failed = handled(
    propagation(
      survivors,
      (e) => e.event === 'leave' && e.node.name === victim.peer.name && e.node.state === NodeState.dead,
      failSince,
      settings.failureLimitMs,
      `death of ${victim.peer.name}`,
    ),
  );
  await victim.peer.kill('SIGKILL');
  const failure = await failed;
  live.splice(live.indexOf(victim), 1);
  log(
    `  ${impl} N=${n} cycle ${index + 1}: failure known by all ${survivors.length} in ${failure.allMs.toFixed(0)} ms`,
  );

  // (c) Graceful leave of another node; every other live node must report it left.
  await sleep(settings.pauseMs);
  const others = live.filter((w) => w !== leaver);
  const leaveSince = performance.now();
  const leaveCall = handled(leaver.peer.leave(10_000).then(() => performance.now() - leaveSince));
  const leave = await propagation(
    others,
    (e) => e.event === 'leave' && e.node.name === leaver.peer.name && e.node.state === NodeState.left,
    leaveSince,
    settings.propagationLimitMs,
    `leave of ${leaver.peer.name}`,
  );
  const leaveCommandMs = await leaveCall;
  live.splice(live.indexOf(leaver), 1);
  await leaver.peer.stop();
  log(
    `  ${impl} N=${n} cycle ${index + 1}: leave known by all ${others.length} in ${leave.allMs.toFixed(0)} ms`,
  );
  return { members, join, joinCommandMs, failure, leave, leaveCommandMs };
}

/** Runs one cluster through all phases; stops every peer it started before returning or throwing. */
export async function runCluster(settings: ClusterSettings): Promise<ClusterRun> {
  const { impl, n, log } = settings;
  if (n < 5) throw new Error('a cluster needs at least 5 nodes (3 seeds, one to fail, one to leave)');
  const peers: Peer[] = [];
  try {
    const names = Array.from({ length: n }, (_, i) => `${impl}-${String(i).padStart(2, '0')}`);
    peers.push(...(await startMany(settings, names, impl === 'go' ? 10 : 5)));
    const live = peers.map((p) => new Watch(p));
    const formationMs = await form(settings, peers, live);
    const formationLeaves = live.reduce(
      (sum, w) => sum + w.stamps.filter((s) => s.event.event === 'leave').length,
      0,
    );
    log(
      `  ${impl} N=${n}: formed in ${formationMs.toFixed(0)} ms (${formationLeaves} leave events meanwhile); settling ${settings.settleMs} ms`,
    );
    await sleep(settings.settleMs);
    const early = await steadyState(settings, live);
    log(`  ${impl} N=${n}: early window: ${describe(early)}`);
    const cycles: Cycle[] = [];
    for (let index = 0; index < settings.cycles; index++) {
      cycles.push(await cycle(settings, live, index, peers));
      // Back to N members: an untimed filler joins through a seed.
      const filler = await startOne(settings, `${impl}-fill-${index}`);
      peers.push(filler);
      const fillerWatch = new Watch(filler);
      await filler.join([(live[(index + 1) % 3] ?? live[0])?.peer.address ?? '']);
      live.push(fillerWatch);
      await allSee(live, settings.formLimitMs, `every node seeing ${filler.name}`);
    }
    await sleep(settings.warmMs);
    const steady = await steadyState(settings, live);
    log(`  ${impl} N=${n}: steady window: ${describe(steady)}`);
    return { impl, n, formationMs, formationLeaves, early, steady, cycles };
  } finally {
    await stopAll(peers);
  }
}
