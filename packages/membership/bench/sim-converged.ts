// Large clusters from a converged start: N members whose views are built directly (every member
// already knows every other, as after a completed rollout), then one more node joins, the
// cluster runs undisturbed, and one member crashes. At N = 10,000 a rollout from scratch does not
// fit (N views of N private records, about 77 GiB) and would cost N² deliveries; here the N
// views share one frozen record per member (`NodeTable.own` gives a member a private copy
// before it changes one), so memory grows with the N² table slots only. Everything after the
// build is the real runtime on the simulated network, as in sim-scale.ts.
import { lanConfig, pushPullScale } from '@clusteros/membership';
import { type ClusterNode, SimCluster } from './sim-cluster.js';
import { type FailureResult, liveHeap, meter, type PhaseCost, SCALE_LINK, Watch } from './sim-scale.js';

export interface ConvergedSettings {
  readonly n: number;
  readonly seed: number;
  /** Simulated ms of the undisturbed window whose traffic is counted. */
  readonly steadyMs: number;
  /** Limits of the join and the failure phase (simulated ms). */
  readonly phaseLimitMs: number;
  readonly log: (line: string) => void;
}

export interface ConvergedResult {
  readonly n: number;
  readonly seed: number;
  /** Wall time to start N members and fill their views. */
  readonly buildWallMs: number;
  /** The joiner: its join call's duration, and when half and all of the N members had it. */
  readonly join: {
    readonly callMs: number;
    readonly halfKnowMs: number;
    readonly allKnowMs: number;
    readonly knownBy: number;
    /** Members the joiner itself knows when everybody has it. */
    readonly joinerKnows: number;
  };
  /** The first wave of push/pulls (one per member, whole views): size of one exchange. */
  readonly pushPull: {
    readonly exchanges: number;
    /** TCP bytes of one exchange, both directions. */
    readonly bytesPerExchange: number;
    /** memberlist's push/pull interval scaled for N + 1 members (pushPullScale). */
    readonly intervalMs: number;
    readonly waveCost: PhaseCost;
  };
  readonly steady: {
    readonly seconds: number;
    readonly datagramsPerNodeSecond: number;
    readonly datagramBytesPerNodeSecond: number;
    readonly streamBytesPerNodeSecond: number;
    readonly pushPullsPerNodeMinute: number;
    readonly suspicions: number;
  };
  readonly failure: FailureResult;
  /** Suspicions and dead declarations of live members over the whole run. */
  readonly falseSuspicions: number;
  readonly falseDeaths: number;
  readonly cost: { readonly join: PhaseCost; readonly steady: PhaseCost; readonly failure: PhaseCost };
  /** Live JS heap (after a full collection) once the views were built. */
  readonly heapBytes: number;
  readonly wallMs: number;
}

/**
 * Gives every started member a view of all the others: one frozen record per member, shared
 * by every view, inserted at a random place of each member's probe order.
 */
function buildViews(nodes: readonly ClusterNode[]): void {
  const shared = nodes.map((node) => {
    const own = node.ml.table.get(node.name);
    if (own === undefined) throw new Error(`${node.name} has no record of itself`);
    return Object.freeze({ ...own });
  });
  for (const node of nodes) {
    const table = node.ml.table;
    for (const record of shared) if (record.name !== node.name) table.add(record);
  }
}

export async function runConverged(settings: ConvergedSettings): Promise<ConvergedResult> {
  const { n, log } = settings;
  const wallStart = performance.now();
  const cluster = new SimCluster({ seed: settings.seed, link: SCALE_LINK });
  const now = (): number => cluster.clock.now();
  const plan = cluster.random.fork('converged');
  // n members plus the joiner, watched from the start (the build itself emits no events).
  const watch = new Watch(n + 1, now);
  for (let i = 0; i < n; i++) {
    const node = await cluster.start(i);
    watch.attach(node);
    if (i % 1000 === 999) log(`  n=${n}: started ${i + 1} members`);
  }
  buildViews(cluster.nodes.slice(0, n));
  for (let i = 0; i < n; i++) watch.known[i] = n - 1;
  watch.knownTotal = n * (n - 1);
  const heapBytes = liveHeap();
  const buildWallMs = performance.now() - wallStart;
  log(
    `  n=${n}: views built in ${(buildWallMs / 1000).toFixed(0)} s, heap ${(heapBytes / 2 ** 30).toFixed(2)} GiB`,
  );
  // Every member schedules its first push/pull at a random point of the unscaled interval
  // after its start, and only later ones at the interval scaled for N: let that first wave
  // pass before anything is measured (as sim-scale.ts waits for it after a rollout). Its
  // exchanges, each of a whole view, give the size of a push/pull at this N.
  const waveBefore = cluster.network.stats();
  const pushPulls = (): number => cluster.nodes.reduce((sum, node) => sum + node.ml.stats().pushPulls, 0);
  const waveMeter = meter(now);
  await cluster.advance(lanConfig().pushPullIntervalMs + 5_000);
  const waveCost = waveMeter();
  // Both ends count an exchange.
  const waveExchanges = pushPulls() / 2;
  const pushPull = {
    exchanges: waveExchanges,
    bytesPerExchange:
      (cluster.network.stats().streams.bytes - waveBefore.streams.bytes) / Math.max(1, waveExchanges),
    intervalMs: pushPullScale(lanConfig().pushPullIntervalMs, n + 1),
    waveCost,
  };
  log(
    `  n=${n}: first push/pulls done (${((performance.now() - wallStart) / 1000).toFixed(0)} s wall so far)`,
  );

  // ---- one more node joins through a random member.
  const joinMeter = meter(now);
  const joiner = await cluster.start(n);
  watch.attach(joiner);
  watch.target = joiner.name;
  const seedMember = cluster.nodes[plan.int(0, n)] as ClusterNode;
  const joinStart = now();
  let joinedAt = Number.NaN;
  let joinError: Error | undefined;
  joiner.ml.join([`${seedMember.host}:7946`]).then(
    () => {
      joinedAt = now();
    },
    (error: Error) => {
      joinError = error;
    },
  );
  let halfAt = Number.NaN;
  await cluster.runUntil(
    () => {
      if (Number.isNaN(halfAt) && watch.targetKnownBy >= n / 2) halfAt = now();
      return (watch.targetKnownBy >= n && !Number.isNaN(joinedAt)) || joinError !== undefined;
    },
    settings.phaseLimitMs,
    10,
  );
  if (joinError !== undefined) throw joinError;
  const joinCost = joinMeter();
  const join = {
    callMs: joinedAt - joinStart,
    halfKnowMs: halfAt - joinStart,
    allKnowMs: watch.targetKnownBy >= n ? watch.targetKnownAt - joinStart : Number.NaN,
    knownBy: watch.targetKnownBy,
    joinerKnows: watch.known[n] ?? 0,
  };
  log(
    `  n=${n}: joiner known by ${join.knownBy}/${n} after ${(join.allKnowMs / 1000).toFixed(2)} s ` +
      `(${(joinCost.wallMs / 1000).toFixed(0)} s wall)`,
  );

  // ---- steady state: traffic over a window with nothing happening.
  const steadyMeter = meter(now);
  const total = n + 1;
  const suspicionsBefore = watch.suspicions;
  const before = cluster.network.stats();
  const pushPullsBefore = pushPulls();
  await cluster.advance(settings.steadyMs);
  const steadyCost = steadyMeter();
  const after = cluster.network.stats();
  const seconds = steadyCost.simMs / 1000;
  const perNodeSecond = (value: number): number => value / total / seconds;
  const steady = {
    seconds,
    datagramsPerNodeSecond: perNodeSecond(after.datagrams.sent - before.datagrams.sent),
    datagramBytesPerNodeSecond: perNodeSecond(after.bytes.sent - before.bytes.sent),
    streamBytesPerNodeSecond: perNodeSecond(after.streams.bytes - before.streams.bytes),
    // Both ends count an exchange; an exchange is one initiator's.
    pushPullsPerNodeMinute: perNodeSecond((pushPulls() - pushPullsBefore) / 2) * 60,
    suspicions: watch.suspicions - suspicionsBefore,
  };
  log(
    `  n=${n}: steady ${seconds.toFixed(0)} s: ${steady.datagramsPerNodeSecond.toFixed(2)} datagrams/node/s ` +
      `(${(steadyCost.wallMs / 1000).toFixed(0)} s wall)`,
  );

  // ---- failure: crash one of the original members, drawn by the seed.
  const failMeter = meter(now);
  const victim = plan.int(0, n);
  watch.victim = `n${victim}`;
  const crashAt = now();
  cluster.crash(victim);
  const survivors = total - 1;
  await cluster.runUntil(() => watch.victimDeadCount >= survivors, settings.phaseLimitMs, 10);
  const failCost = failMeter();
  const failure = watch.failure(victim, crashAt, survivors);
  log(
    `  n=${n}: crash of ${failure.victim}: every survivor has it dead after ` +
      `${(failure.allDeadMs / 1000).toFixed(1)} s (${(failCost.wallMs / 1000).toFixed(0)} s wall)`,
  );
  await cluster.close();
  return {
    n,
    seed: settings.seed,
    buildWallMs,
    join,
    pushPull,
    steady,
    failure,
    falseSuspicions: watch.suspicions,
    falseDeaths: watch.deaths,
    cost: { join: joinCost, steady: steadyCost, failure: failCost },
    heapBytes,
    wallMs: performance.now() - wallStart,
  };
}
