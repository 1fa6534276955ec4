// Write availability across a leadership change. Writers at fixed concurrency spread over all
// members (worker i starts at member i mod 3, as clients behind a load balancer would), each
// staying with its member while it answers and moving to the next member on any failure. In
// the middle of the phase a disruption happens (SIGKILL of the leader, or a planned transfer);
// we measure how long no write succeeded and how many requests failed.
import { performance } from 'node:perf_hooks';
import { type BenchMember, memberStatus, sleep } from './cluster.js';
import type { Failure, HttpClient } from './http-client.js';

/**
 * Pause after a failed request before trying the next member: the retry backoff of etcd's Go
 * client (clientv3 `defaultBackoffWaitBetween`, 25 ms). Without it a system that fails fast
 * (503 "no leader") would rack up thousands of failures while one that holds the request until
 * a leader exists would show a handful; with it, failure counts compare like for like.
 */
const RETRY_PAUSE_MS = 25;

/** How long after the disruption writes may take to come back before the phase gives up. */
const RECOVERY_LIMIT_MS = 30_000;

export interface DisruptionOptions {
  readonly members: readonly BenchMember[];
  readonly bodies: readonly Buffer[];
  readonly concurrency: number;
  /** Steady load before the disruption, and again after the first write that succeeds after it. */
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly timeoutMs: number;
  /** Performs the disruption; its returned promise ends when the disruption is done. */
  readonly disrupt: () => Promise<void>;
  /** The leader's member id before the disruption: we watch for the members to name another. */
  readonly oldLeaderId: string;
}

/** How often the members' status is polled for a new leader during the disruption. */
const LEADER_POLL_MS = 10;

export interface DisruptionResult {
  /**
   * The gap the disruption caused, ms: the longest time between two consecutive successful
   * writes among those intervals that overlap the disruption, from its start until writes
   * succeed both after a write sent after it succeeded and after a new leader was seen (a
   * write sent just after the event may still be committed by the old leader before it hands
   * over, so the first alone can end the window before the leader has changed).
   */
  readonly gapMs: number;
  /**
   * Longest time between two consecutive successful writes anywhere in the phase, ms: also
   * catches stalls before or after the disruption that have nothing to do with it.
   */
  readonly phaseGapMs: number;
  /** From the disruption's start to the first success of a write sent after it, ms. */
  readonly recoveryMs: number;
  /** How long `disrupt()` took (the kill until the process is reaped, or the transfer call), ms. */
  readonly disruptMs: number;
  /**
   * From the disruption's start until a member's `/v3/maintenance/status` names a leader other
   * than the old one, ms: the server-side view, free of the clients' 1 s deadline and retry pauses.
   */
  readonly newLeaderMs: number;
  readonly successes: number;
  readonly failures: number;
  readonly failuresBy: Readonly<Record<Failure, number>>;
  /** False if writes had not come back within the recovery limit. */
  readonly recovered: boolean;
}

export async function runDisruption(
  client: HttpClient,
  options: DisruptionOptions,
): Promise<DisruptionResult> {
  const { members, bodies, concurrency, timeoutMs } = options;
  let next = 0;
  let stop = false;
  // Completion times of successful writes, and the first success of a write sent after the disruption.
  const successes: number[] = [];
  let disruptedAt = Number.POSITIVE_INFINITY;
  let firstAfter = Number.POSITIVE_INFINITY;
  let signalRecovery: () => void = () => undefined;
  const recoveredPromise = new Promise<void>((done) => {
    signalRecovery = done;
  });
  const failuresBy: Record<Failure, number> = { timeout: 0, network: 0, status: 0 };

  const worker = async (index: number): Promise<void> => {
    let target = index % members.length;
    while (!stop) {
      const member = members[target];
      const body = bodies[next++ % bodies.length];
      if (member === undefined || body === undefined) throw new Error('no members or bodies');
      const sent = performance.now();
      const reply = await client.post(member.endpoint, '/v3/kv/put', body, timeoutMs);
      const done = performance.now();
      if (reply.failure === undefined) {
        successes.push(done);
        if (sent >= disruptedAt && done < firstAfter) {
          firstAfter = done;
          signalRecovery();
        }
      } else {
        failuresBy[reply.failure]++;
        target = (target + 1) % members.length;
        await sleep(RETRY_PAUSE_MS);
      }
    }
  };

  // Polls every member that is still running until one names a new leader; bounded in time.
  const watchLeader = async (): Promise<number> => {
    const deadline = disruptedAt + RECOVERY_LIMIT_MS;
    while (!stop && performance.now() < deadline) {
      const statuses = await Promise.all(
        members
          .filter((m) => m.child.isRunning())
          .map((m) => memberStatus(client, m.endpoint).catch(() => undefined)),
      );
      const seen = performance.now();
      if (statuses.some((s) => s?.leader !== undefined && s.leader !== options.oldLeaderId)) {
        return seen - disruptedAt;
      }
      await sleep(LEADER_POLL_MS);
    }
    return Number.NaN;
  };

  const started = performance.now();
  const running = Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  let disruptMs = Number.NaN;
  let recovered = false;
  let newLeader: Promise<number> = Promise.resolve(Number.NaN);
  try {
    await sleep(options.beforeMs);
    disruptedAt = performance.now();
    const disrupting = options.disrupt();
    newLeader = watchLeader();
    await disrupting;
    disruptMs = performance.now() - disruptedAt;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((done) => {
      timer = setTimeout(() => done('timeout'), RECOVERY_LIMIT_MS);
    });
    const outcome = await Promise.race([recoveredPromise.then(() => 'recovered' as const), limit]);
    clearTimeout(timer);
    recovered = outcome === 'recovered';
    if (recovered) await sleep(options.afterMs);
  } finally {
    stop = true;
    await running;
  }
  const newLeaderMs = await newLeader;

  successes.sort((a, b) => a - b);
  // The window the disruption is responsible for: its start until writes succeed under the new leader.
  const leaderSeen = disruptedAt + (Number.isNaN(newLeaderMs) ? 0 : newLeaderMs);
  const windowEnd = recovered ? Math.max(firstAfter, leaderSeen) : Number.POSITIVE_INFINITY;
  let gapMs = 0;
  let phaseGapMs = 0;
  let previous = started;
  for (const at of successes) {
    phaseGapMs = Math.max(phaseGapMs, at - previous);
    if (at >= disruptedAt && previous <= windowEnd) gapMs = Math.max(gapMs, at - previous);
    previous = at;
  }
  // If writes never came back, the gap runs to the end of the phase.
  if (!recovered) {
    gapMs = Math.max(gapMs, performance.now() - previous);
    phaseGapMs = Math.max(phaseGapMs, gapMs);
  }
  const failures = failuresBy.timeout + failuresBy.network + failuresBy.status;
  return {
    gapMs,
    phaseGapMs,
    recoveryMs: recovered ? firstAfter - disruptedAt : Number.NaN,
    disruptMs,
    newLeaderMs,
    successes: successes.length,
    failures,
    failuresBy,
    recovered,
  };
}
