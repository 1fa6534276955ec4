// The Lifeguard experiment: a share of the members handle their inbound datagrams late (each
// one 0.5–3 s late, as a process stalled by GC or starved of CPU reads its socket late). Over a
// long window, count how often members declare a node dead that has not failed, with plain
// SWIM (`lifeguard: false`) and with Lifeguard; a few healthy members really crash during the
// window, to show what either does to the detection of real failures.
import type { Member } from '@clusteros/membership';
import { type LinkConfig, latency, type Random, SeededRandom } from '@clusteros/sim';
import { nameOf, SimCluster, SlowInboundTransport } from './sim-cluster.js';

/** The experiment's set-up: 10% slow members, 3 crashes in the window, 60 s of warm-up. */
export const LIFEGUARD = {
  slowShare: 0.1,
  slowDelayMs: [500, 3_000] as [number, number],
  crashes: 3,
  warmupMs: 60_000,
};

/** The network of every Lifeguard run: a LAN, 0.2–1 ms one way, no loss. */
export const LIFEGUARD_LINK: LinkConfig = { latency: latency.uniform(0.2, 1) };

export interface LifeguardSettings {
  readonly n: number;
  readonly seed: number;
  readonly lifeguard: boolean;
  /** Share of members that are slow (rounded, at least 1). */
  readonly slowShare: number;
  /** Each inbound datagram of a slow member is handled this late (uniform, ms). */
  readonly slowDelayMs: readonly [number, number];
  /** The measured window (simulated ms), after the join and a warm-up. */
  readonly windowMs: number;
  /** Healthy members crashed during the window, at evenly spaced times. */
  readonly crashes: number;
  /** Simulated ms after the join before the window starts (the first push/pulls settle). */
  readonly warmupMs: number;
  readonly log: (line: string) => void;
}

export interface Detection {
  readonly victim: string;
  /** Crash → the first member declares it dead. */
  readonly firstDeadMs: number;
  /** Crash → every live member has it as dead (NaN if not within the window). */
  readonly allDeadMs: number;
}

export interface LifeguardResult {
  readonly n: number;
  readonly seed: number;
  readonly lifeguard: boolean;
  readonly slow: number;
  readonly windowMs: number;
  /** Suspicion timeouts (a member declaring a node dead) about nodes that had not crashed. */
  readonly falseDeclarations: number;
  /** … of which about one of the slow members, and about a normal member. */
  readonly falseAboutSlow: number;
  readonly falseAboutNormal: number;
  /** … of which declared by a slow member (its own suspicion timer ran out). */
  readonly falseBySlow: number;
  /** Members' marks of a live node as dead (every member that took the declaration up). */
  readonly falseDeadMarks: number;
  /** Suspicions of live nodes started or accepted, over all members. */
  readonly suspicionsOfLive: number;
  /** Refutations by live members. */
  readonly refutes: number;
  readonly detections: readonly Detection[];
  readonly wallMs: number;
}

export async function runLifeguard(settings: LifeguardSettings): Promise<LifeguardResult> {
  const { n, log } = settings;
  const wallStart = performance.now();
  const plan = new SimClusterPlan(settings);
  let slowOn = false;
  const [lo, hi] = settings.slowDelayMs;
  const declarations: { at: number; node: string; by: number }[] = [];
  const cluster = new SimCluster({
    seed: settings.seed,
    link: LIFEGUARD_LINK,
    tuning: { lifeguard: settings.lifeguard },
    log: (index, _level, message, fields) => {
      if (message === 'memberlist: suspicion expired, marking node dead')
        declarations.push({ at: cluster.clock.now(), node: String(fields.node), by: index });
    },
    wrapTransport: (index, transport, clock) => {
      if (!plan.slow.has(index)) return transport;
      const random = plan.random.fork(`slow:${index}`);
      return new SlowInboundTransport(transport, clock, () => (slowOn ? lo + random.next() * (hi - lo) : 0));
    },
  });
  const clock = cluster.clock;

  // Join: node i joins a random earlier node, one every 20 ms; then a warm-up.
  const joinRandom = plan.random.fork('join');
  await cluster.start(0);
  for (let i = 1; i < n; i++) {
    const node = await cluster.start(i);
    const seed = cluster.nodes[joinRandom.int(0, i)];
    const join: { outcome: 'pending' | 'done' | Error } = { outcome: 'pending' };
    node.ml.join([`${seed?.host}:7946`]).then(
      () => {
        join.outcome = 'done';
      },
      (error: Error) => {
        join.outcome = error;
      },
    );
    await cluster.runUntil(() => join.outcome !== 'pending', 10_000, 1);
    const outcome = join.outcome;
    if (outcome !== 'done') throw outcome === 'pending' ? new Error(`n${i}: join did not finish`) : outcome;
    await cluster.advance(20);
  }
  await cluster.runUntil(() => cluster.nodes.every((node) => node.ml.numMembers() === n), 120_000, 100);
  if (!cluster.nodes.every((node) => node.ml.numMembers() === n))
    throw new Error(`n=${n} seed ${settings.seed}: the cluster did not converge`);
  await cluster.advance(settings.warmupMs);

  // Window: slow members on, count false declarations, crash a few healthy members.
  const crashed = new Map<number, number>(); // index → crash time
  const deadSeen = new Map<string, Set<number>>(); // victim → members that have it dead
  const firstDead = new Map<string, number>();
  const allDead = new Map<string, number>();
  let falseDeadMarks = 0;
  let suspicionsOfLive = 0;
  const isCrashed = (name: string): boolean => crashed.has(Number(name.slice(1)));
  for (const node of cluster.nodes) {
    const ml = node.ml;
    ml.on('leave', (m: Member) => {
      if (m.state !== 'dead') return;
      if (!isCrashed(m.name)) {
        falseDeadMarks++;
        return;
      }
      const seen = deadSeen.get(m.name) ?? new Set<number>();
      deadSeen.set(m.name, seen);
      seen.add(node.index);
      if (!firstDead.has(m.name)) firstDead.set(m.name, clock.now());
      const live = cluster.nodes.filter((x) => !x.crashed).length;
      const liveSeen = [...seen].filter((i) => !cluster.nodes[i]?.crashed).length;
      if (liveSeen === live && !allDead.has(m.name)) allDead.set(m.name, clock.now());
    });
    ml.on('suspect', (m: Member) => {
      if (!isCrashed(m.name)) suspicionsOfLive++;
    });
  }
  const refutesBefore = cluster.nodes.reduce((sum, node) => sum + node.ml.stats().refutes, 0);
  const declarationsBefore = declarations.length;
  const windowStart = clock.now();
  slowOn = true;
  for (let c = 0; c < plan.victims.length; c++) {
    const victim = plan.victims[c] ?? 0;
    const at = ((c + 1) * settings.windowMs) / (plan.victims.length + 1);
    clock.setTimeout(() => {
      crashed.set(victim, clock.now());
      cluster.crash(victim);
    }, at);
  }
  let lastReport = performance.now();
  const step = 10_000;
  while (clock.now() - windowStart < settings.windowMs) {
    await cluster.advance(Math.min(step, settings.windowMs - (clock.now() - windowStart)));
    if (performance.now() - lastReport > 30_000) {
      lastReport = performance.now();
      log(
        `    n=${n} seed ${settings.seed} lifeguard ${settings.lifeguard ? 'on' : 'off'}: ` +
          `${((clock.now() - windowStart) / 60_000).toFixed(1)} of ${(settings.windowMs / 60_000).toFixed(0)} min`,
      );
    }
  }
  const window = declarations.slice(declarationsBefore);
  const falseOnes = window.filter((d) => {
    const index = Number(d.node.slice(1));
    const crashAt = crashed.get(index);
    return crashAt === undefined || d.at < crashAt;
  });
  const falseAboutSlow = falseOnes.filter((d) => plan.slow.has(Number(d.node.slice(1)))).length;
  const falseBySlow = falseOnes.filter((d) => plan.slow.has(d.by)).length;
  const refutes = cluster.nodes.reduce((sum, node) => sum + node.ml.stats().refutes, 0) - refutesBefore;
  const detections: Detection[] = plan.victims.map((index) => {
    const name = nameOf(index);
    const at = crashed.get(index) ?? Number.NaN;
    return {
      victim: name,
      firstDeadMs: (firstDead.get(name) ?? Number.NaN) - at,
      allDeadMs: (allDead.get(name) ?? Number.NaN) - at,
    };
  });
  await cluster.close();
  return {
    n,
    seed: settings.seed,
    lifeguard: settings.lifeguard,
    slow: plan.slow.size,
    windowMs: settings.windowMs,
    falseDeclarations: falseOnes.length,
    falseAboutSlow,
    falseAboutNormal: falseOnes.length - falseAboutSlow,
    falseBySlow,
    falseDeadMarks,
    suspicionsOfLive,
    refutes,
    detections,
    wallMs: performance.now() - wallStart,
  };
}

/** Which members are slow and which crash: fixed by the seed alone, equal for both modes. */
class SimClusterPlan {
  readonly random: Random;
  readonly slow = new Set<number>();
  readonly victims: number[] = [];

  constructor(settings: LifeguardSettings) {
    // Its own stream, so that the plan does not depend on anything the cluster draws.
    this.random = new SeededRandom(settings.seed).fork('plan');
    const order = this.random.shuffle(Array.from({ length: settings.n - 1 }, (_, i) => i + 1));
    const slowCount = Math.max(1, Math.round(settings.n * settings.slowShare));
    for (const index of order.slice(0, slowCount)) this.slow.add(index);
    this.victims.push(...order.slice(slowCount, slowCount + settings.crashes));
  }
}
