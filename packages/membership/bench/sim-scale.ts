// Scale in simulation: N memberlists (lanConfig) join in a staggered rollout, settle, run in
// steady state, then one of them crashes. Everything is measured in simulated time, with the
// wall and CPU time the simulation took; a run that exceeds its wall or memory budget stops
// and reports how far it got.
import { lanConfig, type Member } from '@clusteros/membership';
import { type LinkConfig, latency } from '@clusteros/sim';
import { type ClusterNode, PORT, SimCluster } from './sim-cluster.js';

/** The network of every scale run: a LAN, 0.2–1 ms one way, no loss. */
export const SCALE_LINK: LinkConfig = { latency: latency.uniform(0.2, 1) };
export const SCALE_LINK_TEXT = 'one-way latency uniform 0.2–1 ms, no loss';

export interface ScaleSettings {
  readonly n: number;
  readonly seed: number;
  /** A new node starts joining every this many simulated ms. */
  readonly joinEveryMs: number;
  /** Wait at most this long (simulated) for convergence after the last join started. */
  readonly convergeLimitMs: number;
  /** After convergence, wait at most this long (simulated) for gossip queues to drain. */
  readonly settleLimitMs: number;
  /** Length of the steady-state window (simulated). */
  readonly steadyMs: number;
  /** Wait at most this long (simulated) for every survivor to mark the crashed node dead. */
  readonly failureLimitMs: number;
  /** Stop (and report how far it got) after this much wall time. */
  readonly wallLimitMs: number;
  /** Stop (and report how far it got) when the JS heap grows past this. */
  readonly heapLimitBytes: number;
  readonly log: (line: string) => void;
}

export interface PhaseCost {
  readonly simMs: number;
  readonly wallMs: number;
  readonly cpuMs: number;
}

export interface SteadyState {
  readonly seconds: number;
  readonly datagramsPerNodeSecond: number;
  readonly datagramBytesPerNodeSecond: number;
  readonly streamBytesPerNodeSecond: number;
  readonly pushPullsPerNodeSecond: number;
  readonly suspicions: number;
}

export interface FailureResult {
  readonly victim: string;
  /** Crash → the first member suspects it. */
  readonly firstSuspectMs: number;
  /** Crash → the first member declares it dead (its suspicion timer ran out). */
  readonly firstDeadMs: number;
  /** Crash → half of the survivors have it as dead. */
  readonly medianDeadMs: number;
  /** Crash → every survivor has it as dead (NaN when not reached). */
  readonly allDeadMs: number;
  readonly survivorsDead: number;
  readonly survivors: number;
}

export interface ScaleResult {
  readonly n: number;
  readonly seed: number;
  readonly joinEveryMs: number;
  /** Nodes whose join call had completed when the join phase ended. */
  readonly joined: number;
  /** Share of the n(n−1) (observer, member) pairs known when the join phase ended. */
  readonly pairsKnown: number;
  /** Simulated time the join phase covered. */
  readonly joinSimMs: number;
  /** First join started → last join call resolved. */
  readonly rolloutMs: number;
  readonly joinRetries: number;
  /** First join started → every node knows every other (NaN when not reached). */
  readonly convergedFromStartMs: number;
  /** Last join call resolved → every node knows every other. */
  readonly convergedAfterLastJoinMs: number;
  /** Last joiner's join started → every node has it as a member. */
  readonly lastJoinerKnownMs: number;
  /** False suspicions and deaths during the join (events over all observers). */
  readonly suspicionsDuringJoin: number;
  readonly deathsDuringJoin: number;
  /** Convergence → every gossip queue empty (NaN when they did not drain in time). */
  readonly drainMs: number;
  readonly steady: SteadyState | null;
  readonly failure: FailureResult | null;
  readonly cost: {
    readonly join: PhaseCost;
    readonly settle: PhaseCost | null;
    readonly steady: PhaseCost | null;
    readonly failure: PhaseCost | null;
  };
  /**
   * Live JS heap once settled (at the end of the join phase if it did not get there), and that
   * per (observer, member) pair known.
   */
  readonly heapBytes: number;
  readonly heapBytesPerPair: number;
  /** Why the run stopped early, if it did ('' when it ran to the end). */
  readonly stopped: string;
}

/** Watches membership events on every node with O(1) bookkeeping per event. */
export class Watch {
  /** Other members (alive or suspect) each node sees. */
  readonly known: Int32Array;
  knownTotal = 0;
  /** When each node last reached n − 1 known members. */
  readonly fullAt: Float64Array;
  suspicions = 0;
  deaths = 0;
  /** The last joiner: how many nodes have it as a member, and when the last one got it. */
  target = '';
  targetKnownBy = 0;
  targetKnownAt = Number.NaN;
  /** The crashed node: when each survivor first marked it dead. */
  victim = '';
  readonly victimDeadAt: Float64Array;
  victimDeadCount = 0;
  firstVictimSuspectAt = Number.NaN;

  constructor(
    readonly n: number,
    readonly now: () => number,
  ) {
    this.known = new Int32Array(n);
    this.fullAt = new Float64Array(n).fill(Number.NaN);
    this.victimDeadAt = new Float64Array(n).fill(Number.NaN);
  }

  attach(node: ClusterNode): void {
    const ml = node.ml;
    const i = node.index;
    ml.on('join', (m: Member) => {
      const known = (this.known[i] ?? 0) + 1;
      this.known[i] = known;
      this.knownTotal++;
      if (known === this.n - 1) this.fullAt[i] = this.now();
      if (m.name === this.target) {
        this.targetKnownBy++;
        this.targetKnownAt = this.now();
      }
    });
    ml.on('leave', (m: Member) => {
      this.known[i] = (this.known[i] ?? 0) - 1;
      this.knownTotal--;
      if (m.name === this.target) this.targetKnownBy--;
      if (m.name !== this.victim) {
        if (m.state === 'dead') this.deaths++;
      } else if (m.state === 'dead' && Number.isNaN(this.victimDeadAt[i] ?? 0)) {
        this.victimDeadAt[i] = this.now();
        this.victimDeadCount++;
      }
    });
    ml.on('suspect', (m: Member) => {
      if (m.name !== this.victim) this.suspicions++;
      else if (Number.isNaN(this.firstVictimSuspectAt)) this.firstVictimSuspectAt = this.now();
    });
  }

  /** What the crash of node `victim` (index) at `crashAt` came to, among `survivors` live members. */
  failure(victim: number, crashAt: number, survivors: number): FailureResult {
    const deadTimes = Array.from(this.victimDeadAt).filter((_, i) => i !== victim);
    return {
      victim: this.victim,
      firstSuspectMs: this.firstVictimSuspectAt - crashAt,
      firstDeadMs: quantile(deadTimes, 0) - crashAt,
      medianDeadMs: quantile(deadTimes, 0.5) - crashAt,
      allDeadMs: this.victimDeadCount >= survivors ? quantile(deadTimes, 1) - crashAt : Number.NaN,
      survivorsDead: this.victimDeadCount,
      survivors,
    };
  }
}

function quantile(values: readonly number[], q: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/** JS heap in use after a full collection (the worker runs with --expose-gc). */
export function liveHeap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** Measures one phase: simulated, wall and CPU time. */
export function meter(now: () => number): () => PhaseCost {
  const sim0 = now();
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    return { simMs: now() - sim0, wallMs: performance.now() - wall0, cpuMs: (cpu.user + cpu.system) / 1000 };
  };
}

export async function runScale(settings: ScaleSettings): Promise<ScaleResult> {
  const { n, log } = settings;
  const cluster = new SimCluster({ seed: settings.seed, link: SCALE_LINK });
  const clock = cluster.clock;
  const now = (): number => clock.now();
  const watch = new Watch(n, now);
  const rollout = cluster.random.fork('rollout');
  const wallStart = performance.now();
  let stopped = '';
  const overBudget = (): boolean => {
    if (stopped !== '') return true;
    if (performance.now() - wallStart > settings.wallLimitMs)
      stopped = `wall-time budget of ${(settings.wallLimitMs / 60_000).toFixed(0)} min used up`;
    // Garbage does not count: only a heap still over the budget after a full collection stops it.
    else if (process.memoryUsage().heapUsed > settings.heapLimitBytes && liveHeap() > settings.heapLimitBytes)
      stopped = `live JS heap passed the budget of ${(settings.heapLimitBytes / 2 ** 30).toFixed(1)} GiB`;
    return stopped !== '';
  };
  let lastReport = performance.now();
  const progress = (): void => {
    if (performance.now() - lastReport < 20_000) return;
    lastReport = performance.now();
    log(
      `  n=${n}: ${(now() / 1000).toFixed(1)} s simulated, ${joinsDone}/${n} joined, ` +
        `${((watch.knownTotal / (n * (n - 1))) * 100).toFixed(2)}% of pairs known, ` +
        `heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB, ` +
        `wall ${((performance.now() - wallStart) / 1000).toFixed(0)} s`,
    );
  };

  // ---- join: node 0 starts alone; node i starts at i × joinEveryMs and joins a node picked
  // uniformly among those whose own join had completed by then (node 0 included).
  const joinMeter = meter(now);
  const joined: number[] = [0];
  let joinsDone = 1;
  let joinRetries = 0;
  let lastJoinDoneAt = 0;
  let failure: Error | null = null;
  watch.target = `n${n - 1}`;
  const lastJoinStartAt = (n - 1) * settings.joinEveryMs;
  watch.attach(await cluster.start(0));
  const joinOne = async (i: number): Promise<void> => {
    const node = await cluster.start(i);
    watch.attach(node);
    for (let attempt = 0; ; attempt++) {
      const seed = cluster.nodes[joined[rollout.int(0, joined.length)] ?? 0];
      try {
        await node.ml.join([`${seed?.host}:${PORT}`]);
        break;
      } catch (error) {
        joinRetries++;
        if (attempt >= 5) throw error;
      }
    }
    joined.push(i);
    joinsDone++;
    lastJoinDoneAt = now();
  };
  for (let i = 1; i < n; i++) {
    cluster.clock.setTimeout(() => {
      if (stopped !== '') return;
      joinOne(i).catch((error: Error) => {
        failure = error;
      });
    }, i * settings.joinEveryMs);
  }
  const converged = (): boolean => joinsDone === n && watch.knownTotal === n * (n - 1);
  await cluster.runUntil(() => {
    progress();
    if (failure !== null) throw failure;
    return converged() || overBudget();
  }, lastJoinStartAt + settings.convergeLimitMs);
  const joinCost = joinMeter();
  let heapBytes = liveHeap();
  const reached = converged();
  if (!reached && stopped === '')
    stopped = `not converged ${(settings.convergeLimitMs / 1000).toFixed(0)} s after the last join started`;
  const fullAt = Math.max(...Array.from(watch.fullAt));
  const base = {
    n,
    seed: settings.seed,
    joinEveryMs: settings.joinEveryMs,
    joined: joinsDone,
    pairsKnown: watch.knownTotal / (n * (n - 1)),
    joinSimMs: joinCost.simMs,
    rolloutMs: joinsDone === n ? lastJoinDoneAt : Number.NaN,
    joinRetries,
    convergedFromStartMs: reached ? fullAt : Number.NaN,
    convergedAfterLastJoinMs: reached ? fullAt - lastJoinDoneAt : Number.NaN,
    lastJoinerKnownMs:
      joinsDone === n && watch.targetKnownBy === n - 1 ? watch.targetKnownAt - lastJoinStartAt : Number.NaN,
    suspicionsDuringJoin: watch.suspicions,
    deathsDuringJoin: watch.deaths,
  };
  const heap = (): { heapBytes: number; heapBytesPerPair: number } => ({
    heapBytes,
    heapBytesPerPair: heapBytes / Math.max(1, watch.knownTotal + n),
  });
  log(
    `  n=${n}: join ${reached ? 'converged' : `stopped (${stopped})`} at ${(now() / 1000).toFixed(1)} s simulated ` +
      `(${(joinCost.wallMs / 1000).toFixed(0)} s wall, ${(joinCost.cpuMs / 1000).toFixed(0)} s CPU)`,
  );
  if (!reached) {
    await cluster.close();
    return {
      ...base,
      ...heap(),
      drainMs: Number.NaN,
      steady: null,
      failure: null,
      cost: { join: joinCost, settle: null, steady: null, failure: null },
      stopped,
    };
  }

  // ---- settle: every node past its first push/pull (at a random time within the unscaled
  // interval after its start) and every gossip queue drained.
  const settleMeter = meter(now);
  const firstPushPullDone = lastJoinStartAt + lanConfig().pushPullIntervalMs;
  const queuesEmpty = (): boolean => cluster.nodes.every((node) => node.ml.broadcasts.length === 0);
  const convergedAt = now();
  let drainMs = Number.NaN;
  await cluster.runUntil(
    () => {
      progress();
      const empty = queuesEmpty();
      if (empty && Number.isNaN(drainMs)) drainMs = now() - convergedAt;
      return (now() >= firstPushPullDone && empty) || overBudget();
    },
    Math.max(0, firstPushPullDone - now()) + settings.settleLimitMs,
  );
  const settleCost = settleMeter();
  // Settled: the member tables are what is left (gossip queues are empty).
  heapBytes = liveHeap();

  // ---- steady state: traffic over a window with nothing happening.
  const steadyMeter = meter(now);
  const suspicionsBefore = watch.suspicions;
  const before = cluster.network.stats();
  const pushPullsBefore = cluster.nodes.reduce((sum, node) => sum + node.ml.stats().pushPulls, 0);
  await cluster.runUntil(() => {
    progress();
    return overBudget();
  }, settings.steadyMs);
  const steadyCost = steadyMeter();
  const after = cluster.network.stats();
  const pushPulls = cluster.nodes.reduce((sum, node) => sum + node.ml.stats().pushPulls, 0) - pushPullsBefore;
  const seconds = steadyCost.simMs / 1000;
  const perNodeSecond = (value: number): number => value / n / seconds;
  const steady: SteadyState = {
    seconds,
    datagramsPerNodeSecond: perNodeSecond(after.datagrams.sent - before.datagrams.sent),
    datagramBytesPerNodeSecond: perNodeSecond(after.bytes.sent - before.bytes.sent),
    streamBytesPerNodeSecond: perNodeSecond(after.streams.bytes - before.streams.bytes),
    // Both ends count an exchange; an exchange is one initiator's.
    pushPullsPerNodeSecond: perNodeSecond(pushPulls / 2),
    suspicions: watch.suspicions - suspicionsBefore,
  };
  log(
    `  n=${n}: steady ${seconds.toFixed(0)} s: ${steady.datagramsPerNodeSecond.toFixed(2)} datagrams/node/s, ` +
      `${(steadyCost.wallMs / 1000).toFixed(0)} s wall`,
  );

  // ---- failure: crash one node (picked by the seed; not the first or the last joiner).
  const failMeter = meter(now);
  const victim = 1 + rollout.int(0, n - 2);
  watch.victim = `n${victim}`;
  const crashAt = now();
  cluster.crash(victim);
  const survivors = n - 1;
  await cluster.runUntil(
    () => {
      progress();
      return watch.victimDeadCount === survivors || overBudget();
    },
    settings.failureLimitMs,
    10,
  );
  const failCost = failMeter();
  const failureResult = watch.failure(victim, crashAt, survivors);
  log(
    `  n=${n}: crash of ${watch.victim}: first dead after ${(failureResult.firstDeadMs / 1000).toFixed(1)} s, ` +
      `${failureResult.survivorsDead}/${survivors} after ${(failureResult.allDeadMs / 1000).toFixed(1)} s ` +
      `(${(failCost.wallMs / 1000).toFixed(0)} s wall)`,
  );
  await cluster.close();
  return {
    ...base,
    ...heap(),
    drainMs,
    steady,
    failure: failureResult,
    cost: { join: joinCost, settle: settleCost, steady: steadyCost, failure: failCost },
    stopped,
  };
}
