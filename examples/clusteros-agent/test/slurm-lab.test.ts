// SLURM on three hosts, run by real agents: each host is a set of Linux namespaces made by the
// test (own address on a private bridge, host name, process table, and private copies of the
// Debian SLURM/munge paths and of /etc/hosts), each runs `node-agent start` with the roles
// cluster-coordinator, slurm-controller and slurm-worker. Nothing is faked: munged, slurmctld
// and slurmd are Debian's, started by the roles.
//
// 1. The agents form a cluster; one node holds slurm-controller; all three slurmds are up and
//    every node's /etc/hosts points the controller alias at the holder.
// 2. Planned handoff with a job running: the job completes with its true run time; a probe on
//    a worker measures how long the controller did not answer; no squeue call fails.
// 3. The holder's host crashes (every process on it killed) with a job running on another
//    node: a new holder starts from the shipped state and the job completes.
//
// Every wait is bounded; the lab (namespaces, processes, files) is torn down however the test
// ends.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  jobHasEnded,
  jobRuntimeSeconds,
  parseScontrolPing,
  parseSinfoJson,
  parseSqueueJson,
} from '@clusteros/slurm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { type LabHost, type LabProcess, NetnsLab } from './support/netns-lab.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'src', 'cli.ts');
// Commands run with the host's root as their working directory: name the loader by its path.
const NODE = [
  process.execPath,
  '--conditions=@clusteros/source',
  '--import',
  import.meta.resolve('tsx'),
  cli,
];
const NAMES = ['n1', 'n2', 'n3'] as const;

/** An agent process ended: no wait can succeed any more. */
class AgentExited extends Error {}

async function until<T>(
  what: string,
  limitMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof AgentExited) throw error;
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what}: not within ${limitMs} ms${last === undefined ? '' : ` (last: ${String(last)})`}`);
}

/** The controller as `scontrol ping` on `host` sees it: the UP controller's host name, or null. */
async function controllerSeenFrom(host: LabHost): Promise<string | null> {
  const ping = await host.run(['scontrol', 'ping'], { timeoutMs: 10_000 });
  const up = parseScontrolPing(ping.stdout).find((c) => c.state === 'UP');
  return up?.controller ?? null;
}

async function squeue(host: LabHost) {
  const out = await host.run(['squeue', '--json'], { timeoutMs: 30_000 });
  if (out.code !== 0) throw new Error(`squeue: ${out.stderr.trim()}`);
  return parseSqueueJson(out.stdout);
}

async function submit(host: LabHost, node: string, script: string): Promise<number> {
  const out = await host.run(
    ['sbatch', '--parsable', '-w', node, '-o', '/var/log/slurm/job-%j.out', '--wrap', script],
    {
      timeoutMs: 30_000,
    },
  );
  const id = Number(out.stdout.trim().split(';')[0]);
  if (out.code !== 0 || !Number.isSafeInteger(id)) throw new Error(`sbatch: ${out.stderr.trim()}`);
  return id;
}

async function jobState(host: LabHost, id: number) {
  return (await squeue(host)).find((j) => j.id === id);
}

/**
 * A probe on `host`: `scontrol ping` every 50 ms with a timestamp, and `squeue` every 200 ms
 * with its exit code, for at most `seconds`, into two files under the host's log directory.
 */
function startProbe(
  host: LabHost,
  seconds: number,
): { process: LabProcess; pingLog: string; squeueLog: string } {
  const script = `
    end=$(( $(date +%s) + ${seconds} ))
    ( while [ "$(date +%s)" -lt "$end" ]; do
        t=$(date +%s%3N); timeout 30 squeue -h >/dev/null 2>&1; echo "$t $? $(( $(date +%s%3N) - t ))" >> /var/log/slurm/probe-squeue.txt; sleep 0.2
      done ) &
    while [ "$(date +%s)" -lt "$end" ]; do
      t=$(date +%s%3N); scontrol ping >/dev/null 2>&1; echo "$t $?" >> /var/log/slurm/probe-ping.txt; sleep 0.05
    done
    wait`;
  const process = host.spawn(['bash', '-c', script], { logFile: host.path('/var/log/slurm/probe.out') });
  return {
    process,
    pingLog: host.path('/var/log/slurm/probe-ping.txt'),
    squeueLog: host.path('/var/log/slurm/probe-squeue.txt'),
  };
}

/** The longest stretch (ms) in which `scontrol ping` failed, from the first failure to the next success. */
function longestOutage(pingLog: string): number {
  let longest = 0;
  let downSince: number | undefined;
  for (const line of pingLog.trim().split('\n')) {
    const [t, code] = line.split(' ').map(Number);
    if (t === undefined || code === undefined) continue;
    if (code !== 0) downSince ??= t;
    else if (downSince !== undefined) {
      longest = Math.max(longest, t - downSince);
      downSince = undefined;
    }
  }
  return longest;
}

test('three agents on namespace hosts: SLURM comes up, a handoff and a host crash keep running jobs', async () => {
  const lab = await NetnsLab.create();
  const agents = new Map<string, LabProcess>();
  try {
    const hosts: LabHost[] = [];
    for (const name of NAMES) hosts.push(await lab.addHost(name));
    const [h1] = hosts as [LabHost, LabHost, LabHost];
    const shared = join(lab.base, 'agents');
    await mkdir(shared, { recursive: true });
    await writeFile(join(shared, 'cluster.key'), `${'k'.repeat(20)}-${Date.now()}-lab-cluster-key\n`, {
      mode: 0o600,
    });
    await writeFile(join(shared, 'dashboard.token'), 'lab-dashboard-token-0123456789\n', { mode: 0o600 });
    for (const host of hosts) {
      const config = {
        cluster: { name: 'lab', auth_key_file: 'cluster.key' },
        node: { name: host.name },
        network: { provider: 'static', bind: host.ip, seeds: [`${h1.ip}:7946`] },
        roles: { enabled: ['cluster-coordinator', 'slurm-controller', 'slurm-worker'] },
        dashboard: { bind: host.ip, token_file: 'dashboard.token' },
        slurm: { cluster_name: 'lab' },
        data_dir: '/var/lib/clusteros/data',
      };
      await writeFile(join(shared, `${host.name}.yaml`), stringify(config), { mode: 0o600 });
    }
    const startAgent = (host: LabHost): void => {
      agents.set(
        host.name,
        host.spawn([...NODE, 'start', '--config', join(shared, `${host.name}.yaml`)], {
          logFile: join(shared, `${host.name}.log`),
        }),
      );
    };
    for (const host of hosts) startAgent(host);
    const exitedAgents = new Set<string>();
    for (const [name, agent] of agents) void agent.exited.then(() => exitedAgents.add(name));
    const agentsAlive = (): void => {
      const gone = [...exitedAgents].filter((name) => agents.has(name));
      if (gone.length > 0) throw new AgentExited(`agent(s) exited: ${gone.join(', ')}`);
    };

    // 1. One controller, three idle nodes, the alias everywhere.
    const holder = await until(
      'a SLURM controller answers on every host',
      90_000,
      async () => {
        agentsAlive();
        const seen = await Promise.all(hosts.map(controllerSeenFrom));
        return seen.every((s) => s !== null && s === seen[0]) ? (seen[0] as string) : undefined;
      },
      500,
    );
    const holderHost = lab.host(holder);
    await until(
      'all three nodes idle',
      60_000,
      async () => {
        const out = await h1.run(['sinfo', '--json'], { timeoutMs: 20_000 });
        const nodes = parseSinfoJson(out.stdout);
        return nodes.length === 3 && nodes.every((n) => n.state === 'idle') ? true : undefined;
      },
      500,
    );
    for (const host of hosts) {
      const hostsFile = await readFile(host.path('/etc/hosts'), 'utf8');
      assert.match(
        hostsFile,
        new RegExp(`^${holderHost.ip.replaceAll('.', '\\.')}\\s+slurmctl$`, 'm'),
        `${host.name} points slurmctl at ${holder}`,
      );
      const mode =
        (await import('node:fs/promises').then((fs) => fs.stat(host.path('/etc/munge/munge.key')))).mode &
        0o777;
      assert.is(mode, 0o400, `${host.name}: munge key file is private`);
    }

    // 2. Planned handoff with a job running on a third node.
    const target = hosts.find((h) => h.name !== holder) as LabHost;
    const worker = hosts.find((h) => h.name !== holder && h.name !== target.name) as LabHost;
    const job = await submit(worker, worker.name, 'sleep 20; echo done');
    await until('the job runs', 30_000, async () =>
      (await jobState(worker, job))?.state === 'RUNNING' ? true : undefined,
    );
    const probe = startProbe(worker, 60);
    await until('the probe has samples', 10_000, async () =>
      (await readFile(probe.pingLog, 'utf8').catch(() => '')).length > 0 ? true : undefined,
    );
    const handoff = await holderHost.run(
      [
        ...NODE,
        'handoff',
        'slurm-controller',
        '--to',
        target.name,
        '--config',
        join(shared, `${holder}.yaml`),
      ],
      { timeoutMs: 60_000 },
    );
    assert.is(handoff.code, 0, `handoff: ${handoff.stdout}${handoff.stderr}`);
    await until('the new controller answers on the worker', 30_000, async () =>
      (await controllerSeenFrom(worker)) === target.name ? true : undefined,
    );
    const done = await until(
      'the job completes',
      90_000,
      async () => {
        const j = await jobState(worker, job);
        return j !== undefined && jobHasEnded(j.state) ? j : undefined;
      },
      500,
    );
    probe.process.kill('SIGKILL');
    await probe.process.exited;
    assert.is(done.state, 'COMPLETED');
    assert.equal(done.exitCode, { code: 0, signal: 0 });
    const runtime = jobRuntimeSeconds(done, Date.now() / 1000);
    assert.ok(runtime >= 20 && runtime <= 21, `run time ${runtime} s is the job's own`);
    assert.is((await readFile(worker.path(`/var/log/slurm/job-${job}.out`), 'utf8')).trim(), 'done');
    const outage = longestOutage(await readFile(probe.pingLog, 'utf8'));
    const squeueCalls = (await readFile(probe.squeueLog, 'utf8')).trim().split('\n');
    const failed = squeueCalls.filter((line) => line.split(' ')[1] !== '0');
    console.log(
      `handoff ${holder} -> ${target.name}: controller unanswered for ${outage} ms; ${squeueCalls.length} squeue calls, ${failed.length} failed`,
    );
    assert.equal(failed, [], 'no squeue call failed during the handoff');
    assert.ok(outage < 10_000, `controller back within 10 s (was ${outage} ms)`);
    for (const host of hosts)
      assert.match(
        await readFile(host.path('/etc/hosts'), 'utf8'),
        new RegExp(`^${target.ip.replaceAll('.', '\\.')}\\s+slurmctl$`, 'm'),
        `${host.name} follows the alias`,
      );

    // The dashboard of any node shows SLURM: the controller, the nodes, and the finished job.
    const api = async <T>(host: LabHost, path: string): Promise<T> => {
      const out = await host.run(
        [
          process.execPath,
          '-e',
          `fetch('http://${host.ip}:9090${path}').then((r) => r.text()).then((t) => process.stdout.write(t))`,
        ],
        { timeoutMs: 20_000 },
      );
      return JSON.parse(out.stdout) as T;
    };
    const services = await api<{
      slurm: { controller: string; worker: boolean; nodes_in_partition: number };
    }>(worker, '/api/v1/services');
    assert.equal(services.slurm, {
      controller: target.name,
      worker: true,
      nodes_in_partition: 3,
      queued_jobs: 0,
    });
    const jobs = await api<{ slurm: { jobs: { id: string; state: string; runtime_s: number }[] } }>(
      worker,
      '/api/v1/jobs',
    );
    const listed = jobs.slurm.jobs.find((j) => j.id === String(job));
    assert.equal(
      listed && [listed.state, listed.runtime_s],
      ['COMPLETED', runtime],
      'the dashboard lists the job',
    );
    const status = await api<{ services: Record<string, { state: string }> }>(target, '/api/v1/status');
    for (const service of ['munged', 'slurmd', 'slurmctld'])
      assert.is(status.services[service]?.state, 'running', `${target.name} runs ${service}`);

    // 3. Crash of the holder's host with a job running on another node.
    const crashed = target;
    const survivor = hosts.find((h) => h.name !== crashed.name) as LabHost;
    const runsOn = hosts.find((h) => h.name !== crashed.name && h.name !== survivor.name) as LabHost;
    const longJob = await submit(survivor, runsOn.name, 'sleep 25; echo survived');
    await until('the long job runs', 30_000, async () =>
      (await jobState(survivor, longJob))?.state === 'RUNNING' ? true : undefined,
    );
    // Two state-shipping intervals and SLURM's own state-save lag (SLURM-NOTES §6.6).
    await until(
      'the job has run 8 s',
      20_000,
      async () => {
        const j = await jobState(survivor, longJob);
        return j !== undefined && jobRuntimeSeconds(j, Date.now() / 1000) >= 8 ? true : undefined;
      },
      500,
    );
    const crashAt = Date.now();
    await lab.crash(crashed.name);
    agents.delete(crashed.name);
    const newHolder = await until(
      'a new controller answers',
      60_000,
      async () => {
        const seen = await controllerSeenFrom(survivor);
        return seen !== null && seen !== crashed.name ? seen : undefined;
      },
      100,
    );
    const recoveredMs = Date.now() - crashAt;
    console.log(`crash of ${crashed.name}: ${newHolder} answers after ${recoveredMs} ms`);
    const survived = await until(
      'the long job completes after the crash',
      90_000,
      async () => {
        const j = await jobState(survivor, longJob);
        return j !== undefined && jobHasEnded(j.state) ? j : undefined;
      },
      500,
    );
    assert.is(survived.state, 'COMPLETED', 'the job survived the controller crash');
    assert.is((await readFile(runsOn.path(`/var/log/slurm/job-${longJob}.out`), 'utf8')).trim(), 'survived');
    assert.ok(recoveredMs < 5_000 + 2_000 + 5_000, `controller back in ${recoveredMs} ms`);
  } catch (error) {
    for (const name of NAMES) {
      const log = await readFile(join(lab.base, 'agents', `${name}.log`), 'utf8').catch(() => '');
      const lines = log
        .split('\n')
        .filter((l) => /"level":(40|50)|error|warn/i.test(l))
        .slice(-15);
      if (lines.length > 0) console.error(`--- ${name} warnings:\n${lines.join('\n')}`);
    }
    throw error;
  } finally {
    for (const agent of agents.values()) agent.kill('SIGKILL');
    await lab.teardown();
  }
});

test.run();
