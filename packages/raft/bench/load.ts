// A closed-loop load phase against one endpoint: `concurrency` workers, each sending its next
// request as soon as its previous one is answered, for a fixed time. A short unrecorded warm-up
// first opens the keep-alive connections and lets both JITs (V8 in raft-kv and in the load
// generator) settle, so the recorded window measures steady state.
import { performance } from 'node:perf_hooks';
import { sleep } from './cluster.js';
import { type CpuUse, cpuMeter } from './cpu.js';
import type { Endpoint, HttpClient } from './http-client.js';
import { type LatencySummary, summarize } from './stats.js';

/** Pause after a failed request, so a fast-failing server cannot turn a worker into a busy loop. */
const FAILURE_PAUSE_MS = 25;

export interface LoadOptions {
  readonly endpoint: Endpoint;
  readonly path: string;
  readonly bodies: readonly Buffer[];
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly timeoutMs: number;
  /** Server processes whose CPU time is charged to this phase. */
  readonly serverPids: readonly number[];
  /** The process serving `endpoint` (the leader), whose threads are measured too. */
  readonly targetPid: number;
}

export interface LoadResult {
  readonly concurrency: number;
  readonly successes: number;
  readonly failures: number;
  readonly seconds: number;
  /** Successful requests per second. */
  readonly throughput: number;
  /** Latency of successful requests, ms. */
  readonly latency: LatencySummary;
  /** CPU seconds used during the recorded window by the servers, the load generator and the rest. */
  readonly cpu: CpuUse;
}

export async function runLoad(client: HttpClient, options: LoadOptions): Promise<LoadResult> {
  const { endpoint, path, bodies, concurrency, timeoutMs } = options;
  let next = 0;
  const latencies: number[] = [];
  let failures = 0;

  const worker = async (until: number, record: boolean): Promise<void> => {
    while (performance.now() < until) {
      const body = bodies[next++ % bodies.length];
      if (body === undefined) throw new Error('no request bodies');
      const sent = performance.now();
      const reply = await client.post(endpoint, path, body, timeoutMs);
      const took = performance.now() - sent;
      if (reply.failure === undefined) {
        if (record) latencies.push(took);
      } else {
        if (record) failures++;
        await sleep(FAILURE_PAUSE_MS);
      }
    }
  };
  const workers = async (until: number, record: boolean): Promise<void> => {
    await Promise.all(Array.from({ length: concurrency }, () => worker(until, record)));
  };

  await workers(performance.now() + options.warmupMs, false);
  const meter = cpuMeter(options.serverPids, options.targetPid);
  const started = performance.now();
  // Requests in flight at the deadline are waited for and counted, so the window is
  // [start, last answer] and no answered request is dropped from the statistics.
  await workers(started + options.durationMs, true);
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter();
  return {
    concurrency,
    successes: latencies.length,
    failures,
    seconds,
    throughput: latencies.length / seconds,
    latency: summarize(latencies),
    cpu,
  };
}
