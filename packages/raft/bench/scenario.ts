// One run of one system: start a fresh 3-member cluster, check it answers correctly, record c=1
// writes straight after the start (cold), warm the processes up unrecorded, then the phases in a
// fixed order — writes at concurrency 1/16/64 and linearizable reads at 64 against the
// leader, a planned leadership transfer under load (to a member that has never led), a few more
// transfers back and forth between the two members that have now both led, and last (it leaves
// 2 members) a SIGKILL of the leader under load — then stop it and delete its data.

import { killChild } from './children.js';
import {
  type BenchCluster,
  type BenchMember,
  findLeader,
  type RaftTimings,
  type SystemName,
} from './cluster.js';
import { type DisruptionResult, runDisruption } from './disruption.js';
import { startEtcdCluster } from './etcd.js';
import { type HttpClient, postJson } from './http-client.js';
import { type LoadResult, runLoad } from './load.js';
import { startRaftKvCluster } from './raft-kv.js';
import type { Workload } from './workload.js';

export interface ScenarioSettings {
  readonly timings: RaftTimings;
  readonly warmupMs: number;
  readonly durationMs: number;
  /**
   * Unrecorded c=16 writes after the cold phase and before the measured phases, so that the
   * measured phases see processes in their steady state: V8 compiles raft-kv's hot paths with its
   * optimizing compiler only after they have run for a few thousand requests.
   */
  readonly processWarmupMs: number;
  /** Per-request deadline in the disruption phases. */
  readonly disruptionTimeoutMs: number;
  readonly disruptionConcurrency: number;
  /** Transfers after the first one, each with steady load this long before and after it. */
  readonly repeatTransfers: number;
  readonly repeatWindowMs: number;
  /** Progress lines (stderr), so that a long run can be followed. */
  readonly log: (line: string) => void;
}

export interface SystemRun {
  readonly system: SystemName;
  readonly startupMs: number;
  /** c=1 writes for one phase length straight after the start, without any warm-up. */
  readonly cold: LoadResult;
  readonly writes: { readonly c1: LoadResult; readonly c16: LoadResult; readonly c64: LoadResult };
  readonly reads: LoadResult;
  /** The first transfer of the cluster's life: to a follower that has never led. */
  readonly transfer: TransferResult;
  /**
   * The transfers after it, back and forth between the first leader and the first target (both
   * have led by then), each a shorter disruption phase of its own.
   */
  readonly repeatTransfers: readonly TransferResult[];
  readonly failover: DisruptionResult;
}

export type TransferResult = DisruptionResult & { readonly leaderMovedToTarget: boolean };

/** Load phases are not about failures: a generous deadline only keeps every loop bounded. */
const LOAD_TIMEOUT_MS = 5_000;

function firstKv(answer: Record<string, unknown>): Record<string, unknown> | undefined {
  const kvs = answer.kvs;
  if (!Array.isArray(kvs)) return undefined;
  const first: unknown = kvs[0];
  return typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : undefined;
}

/** A put on the leader must be visible to a linearizable read on a follower, byte for byte. */
async function checkCorrectness(
  client: HttpClient,
  cluster: BenchCluster,
  workload: Workload,
): Promise<void> {
  const leader = await findLeader(client, cluster);
  const follower = cluster.members.find((m) => m !== leader);
  const key = workload.keys[0];
  const value = workload.values[0];
  const body = workload.putBodies[0];
  if (follower === undefined || key === undefined || value === undefined || body === undefined) {
    throw new Error('need a follower and a workload');
  }
  const put = await postJson(client, leader.endpoint, '/v3/kv/put', JSON.parse(body.toString()));
  if (typeof put.header !== 'object')
    throw new Error(`${cluster.system}: put answered ${JSON.stringify(put)}`);
  const read = await postJson(client, follower.endpoint, '/v3/kv/range', { key: key.toString('base64') });
  const kv = firstKv(read);
  if (kv?.value !== value.toString('base64')) {
    throw new Error(`${cluster.system}: read after write returned ${JSON.stringify(read).slice(0, 300)}`);
  }
}

async function transferPhase(
  client: HttpClient,
  cluster: BenchCluster,
  workload: Workload,
  settings: ScenarioSettings,
  prefer: readonly BenchMember[],
  windowMs: number,
): Promise<TransferResult> {
  const leader = await findLeader(client, cluster);
  // The first preferred member that does not lead now, else any follower.
  const target = [...prefer, ...cluster.members].find((m) => m !== leader);
  if (target === undefined) throw new Error('no follower to transfer to');
  const result = await runDisruption(client, {
    members: cluster.members,
    bodies: workload.putBodies,
    concurrency: settings.disruptionConcurrency,
    beforeMs: windowMs,
    afterMs: windowMs,
    timeoutMs: settings.disruptionTimeoutMs,
    oldLeaderId: leader.memberId,
    disrupt: async () => {
      // Sent to the leader, as etcd requires; both systems answer once the target leads.
      await postJson(
        client,
        leader.endpoint,
        '/v3/maintenance/transfer-leadership',
        { targetID: target.memberId },
        10_000,
      );
    },
  });
  const after = await findLeader(client, cluster);
  return { ...result, leaderMovedToTarget: after === target };
}

async function failoverPhase(
  client: HttpClient,
  cluster: BenchCluster,
  workload: Workload,
  settings: ScenarioSettings,
): Promise<DisruptionResult> {
  const leader: BenchMember = await findLeader(client, cluster);
  const result = await runDisruption(client, {
    members: cluster.members,
    bodies: workload.putBodies,
    concurrency: settings.disruptionConcurrency,
    beforeMs: settings.durationMs,
    afterMs: settings.durationMs,
    timeoutMs: settings.disruptionTimeoutMs,
    oldLeaderId: leader.memberId,
    disrupt: () => killChild(leader.child),
  });
  // The two survivors must have elected one of themselves.
  const next = await findLeader(client, cluster);
  if (next === leader) throw new Error(`${cluster.system}: the killed leader still leads`);
  return result;
}

/**
 * Average cores used by everything else on the machine (not the servers, not the load generator)
 * over the four load phases of a run: how much the run was disturbed by other work.
 */
export function noiseCores(run: SystemRun): number {
  const phases = [run.writes.c1, run.writes.c16, run.writes.c64, run.reads];
  const other = phases.reduce((sum, p) => sum + p.cpu.other, 0);
  const seconds = phases.reduce((sum, p) => sum + p.seconds, 0);
  return other / seconds;
}

export async function runSystem(
  system: SystemName,
  client: HttpClient,
  workload: Workload,
  settings: ScenarioSettings,
): Promise<SystemRun> {
  const cluster =
    system === 'etcd'
      ? await startEtcdCluster(client, settings.timings)
      : await startRaftKvCluster(client, settings.timings);
  try {
    await checkCorrectness(client, cluster, workload);
    const serverPids = cluster.members.map((m) => m.child.pid);
    const load = async (
      path: string,
      bodies: readonly Buffer[],
      concurrency: number,
      window = { warmupMs: settings.warmupMs, durationMs: settings.durationMs },
    ): Promise<LoadResult> => {
      // Looked up before every phase: the load goes to whoever leads now.
      const leader = await findLeader(client, cluster);
      return runLoad(client, {
        endpoint: leader.endpoint,
        path,
        bodies,
        concurrency,
        warmupMs: window.warmupMs,
        durationMs: window.durationMs,
        timeoutMs: LOAD_TIMEOUT_MS,
        serverPids,
        targetPid: leader.child.pid,
      });
    };
    const show = (what: string, r: LoadResult): void =>
      settings.log(
        `  ${system} ${what}: ${r.throughput.toFixed(0)} ops/s, p50 ${r.latency.p50.toFixed(2)} ms, ` +
          `p99 ${r.latency.p99.toFixed(2)} ms, max ${r.latency.max.toFixed(1)} ms, failed ${r.failures}, ` +
          `CPU (cores) servers ${(r.cpu.servers / r.seconds).toFixed(2)} client ${(r.cpu.client / r.seconds).toFixed(2)} ` +
          `other ${(r.cpu.other / r.seconds).toFixed(2)}; leader ${(r.cpu.leader / r.seconds).toFixed(2)}, ` +
          `its busiest thread ${(r.cpu.leaderBusiestThread / r.seconds).toFixed(2)}`,
      );
    const showDisruption = (what: string, r: DisruptionResult): void =>
      settings.log(
        `  ${system} ${what}: gap ${r.gapMs.toFixed(0)} ms (in the phase ${r.phaseGapMs.toFixed(0)} ms), new leader seen after ${r.newLeaderMs.toFixed(0)} ms, ` +
          `first success after ${r.recoveryMs.toFixed(0)} ms, ` +
          `failed ${r.failures} ${JSON.stringify(r.failuresBy)}, call ${r.disruptMs.toFixed(0)} ms`,
      );
    settings.log(`  ${system} started in ${cluster.startupMs.toFixed(0)} ms`);
    const cold = await load('/v3/kv/put', workload.putBodies, 1, {
      warmupMs: 0,
      durationMs: settings.durationMs,
    });
    show('writes c=1 straight after the start', cold);
    await load('/v3/kv/put', workload.putBodies, 16, { warmupMs: 0, durationMs: settings.processWarmupMs });
    const c1 = await load('/v3/kv/put', workload.putBodies, 1);
    show('writes c=1', c1);
    const c16 = await load('/v3/kv/put', workload.putBodies, 16);
    show('writes c=16', c16);
    const c64 = await load('/v3/kv/put', workload.putBodies, 64);
    show('writes c=64', c64);
    const reads = await load('/v3/kv/range', workload.rangeBodies, 64);
    show('reads c=64', reads);
    const firstLeader = await findLeader(client, cluster);
    const transfer = await transferPhase(client, cluster, workload, settings, [], settings.durationMs);
    showDisruption(`transfer (to target: ${transfer.leaderMovedToTarget})`, transfer);
    const firstTarget = await findLeader(client, cluster);
    // Back and forth between the two members that have both led (whichever does not lead now).
    const pair = [firstLeader, firstTarget];
    const repeatTransfers: TransferResult[] = [];
    for (let i = 0; i < settings.repeatTransfers; i++) {
      const again = await transferPhase(client, cluster, workload, settings, pair, settings.repeatWindowMs);
      showDisruption(`repeat transfer ${i + 1} (to target: ${again.leaderMovedToTarget})`, again);
      repeatTransfers.push(again);
    }
    const failover = await failoverPhase(client, cluster, workload, settings);
    showDisruption('failover', failover);
    return {
      system,
      startupMs: cluster.startupMs,
      cold,
      writes: { c1, c16, c64 },
      reads,
      transfer,
      repeatTransfers,
      failover,
    };
  } finally {
    await cluster.stop();
  }
}
