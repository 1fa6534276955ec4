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
// 4. A fourth host joins (controlled slurmctld restart) and leaves (drained, removed) while a
//    job runs elsewhere; the job completes with its true run time.
// 5. A worker's agent dies and its munged is replaced by one with another key: slurmctld logs
//    SLURM's own "Protocol authentication error"; the restarted agent takes munged back with the
//    cluster key and the node runs jobs again.
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
/** Every address a lab host gets (in order of creation), n4 included. */
const SEED_IPS = ['10.77.0.10', '10.77.0.11', '10.77.0.12', '10.77.0.13'];

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

test('three agents on namespace hosts: SLURM up, handoff, host crash, worker join/leave, wrong munge key', async () => {
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
    const writeConfig = async (host: LabHost): Promise<void> => {
      const config = {
        cluster: { name: 'lab', auth_key_file: 'cluster.key' },
        node: { name: host.name },
        network: { provider: 'static', bind: host.ip, seeds: SEED_IPS.map((ip) => `${ip}:7946`) },
        roles: { enabled: ['cluster-coordinator', 'slurm-controller', 'slurm-worker'] },
        dashboard: { bind: host.ip, token_file: 'dashboard.token' },
        slurm: { cluster_name: 'lab' },
        data_dir: '/var/lib/clusteros/data',
      };
      await writeFile(join(shared, `${host.name}.yaml`), stringify(config), { mode: 0o600 });
    };
    for (const host of hosts) await writeConfig(host);
    const exitedAgents = new Set<LabProcess>();
    const startAgent = (host: LabHost): LabProcess => {
      const agent = host.spawn([...NODE, 'start', '--config', join(shared, `${host.name}.yaml`)], {
        logFile: join(shared, `${host.name}.log`),
      });
      agents.set(host.name, agent);
      void agent.exited.then(() => exitedAgents.add(agent));
      return agent;
    };
    for (const host of hosts) startAgent(host);
    const agentsAlive = (): void => {
      const gone = [...agents].filter(([, agent]) => exitedAgents.has(agent)).map(([name]) => name);
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

    // 4. A worker joins and leaves while a job runs elsewhere: the job is not disturbed.
    const sinfo = async (host: LabHost) =>
      parseSinfoJson((await host.run(['sinfo', '--json'], { timeoutMs: 20_000 })).stdout);
    const n4 = await lab.addHost('n4');
    await writeConfig(n4);
    const steadyJob = await submit(survivor, runsOn.name, 'sleep 30; echo steady');
    await until('the steady job runs', 30_000, async () =>
      (await jobState(survivor, steadyJob))?.state === 'RUNNING' ? true : undefined,
    );
    const joinAt = Date.now();
    const n4Agent = startAgent(n4);
    await until(
      'n4 is an idle SLURM node',
      90_000,
      async () => {
        agentsAlive();
        return (await sinfo(survivor)).find((n) => n.name === 'n4')?.state === 'idle' ? true : undefined;
      },
      500,
    );
    console.log(`worker n4 joined: idle ${Date.now() - joinAt} ms after its agent started`);
    const submittedToN4 = await submit(survivor, 'n4', 'echo on-n4');
    await until('a job runs on n4', 30_000, async () =>
      (await jobState(survivor, submittedToN4))?.state === 'COMPLETED' ? true : undefined,
    );
    assert.is(
      (await jobState(survivor, steadyJob))?.state,
      'RUNNING',
      'adding a worker did not disturb the running job',
    );
    agents.delete('n4');
    n4Agent.kill('SIGTERM');
    assert.is(await n4Agent.exited, 0, 'n4 agent stops cleanly');
    await until(
      'n4 removed from SLURM after draining',
      60_000,
      async () => ((await sinfo(survivor)).some((n) => n.name === 'n4') ? undefined : true),
      500,
    );
    const steady = await until(
      'the steady job completes',
      60_000,
      async () => {
        const j = await jobState(survivor, steadyJob);
        return j !== undefined && jobHasEnded(j.state) ? j : undefined;
      },
      500,
    );
    assert.is(steady.state, 'COMPLETED', 'adding and removing a worker did not disturb the running job');
    const steadyRuntime = jobRuntimeSeconds(steady, Date.now() / 1000);
    assert.ok(steadyRuntime >= 30 && steadyRuntime <= 31, `steady job ran ${steadyRuntime} s`);

    // 5. A worker whose munged runs another key: the controller rejects it (SLURM's own error
    //    in its log); the node's agent takes munged back with the cluster key and the node is idle.
    const victim = runsOn;
    const controllerHost = lab.host((await controllerSeenFrom(survivor)) as string);
    const victimAgent = agents.get(victim.name) as LabProcess;
    agents.delete(victim.name);
    // Only the agent's own process: its munged and slurmd stay, as after a crash of the agent.
    await victim.run(['pkill', '-KILL', '-f', 'cli.ts start']);
    await victimAgent.exited;
    // The agent's munged and slurmd outlive it; replace munged with one that has another key.
    const rogue = await victim.run(
      [
        'bash',
        '-c',
        [
          'kill $(cat /var/lib/munge/munged.pid)',
          'for i in $(seq 1 50); do [ -e /proc/$(cat /var/lib/munge/munged.pid)/comm ] || break; sleep 0.1; done',
          'dd if=/dev/urandom of=/etc/munge/wrong.key bs=1024 count=1 status=none && chmod 0400 /etc/munge/wrong.key',
          'munged --key-file=/etc/munge/wrong.key --socket=/run/munge/munge.socket.2 --pid-file=/var/lib/munge/munged.pid --log-file=/var/lib/munge/rogue.log --seed-file=/var/lib/munge/rogue.seed',
          'scontrol reconfigure || true',
        ].join(' && '),
      ],
      { timeoutMs: 30_000 },
    );
    assert.is(rogue.code, 0, `rogue munged: ${rogue.stderr}`);
    await victim.run(['bash', '-c', 'kill -HUP $(cat /run/slurmd.pid 2>/dev/null) 2>/dev/null; true']);
    if (process.env.LAB_DEBUG) {
      const r = await victim.run(
        [
          'bash',
          '-c',
          'cat /var/lib/munge/munged.pid; ps -e -o pid,comm; scontrol ping; munge -n | unmunge | head -3; tail -5 /var/log/slurm/slurmd-*.log',
        ],
        { timeoutMs: 30_000 },
      );
      console.log(r.stdout, r.stderr, rogue.stdout, rogue.stderr);
      console.log(
        (await readFile(controllerHost.path('/var/log/slurm/slurmctld.log'), 'utf8'))
          .split('\n')
          .slice(-15)
          .join('\n'),
      );
    }
    const rejected = await until(
      "the controller rejects the node's credentials",
      60_000,
      async () => {
        const log = await readFile(controllerHost.path('/var/log/slurm/slurmctld.log'), 'utf8').catch(
          () => '',
        );
        return log.split('\n').find((line) => /authentication error/i.test(line));
      },
      500,
    );
    console.log(`wrong key on ${victim.name}: slurmctld logged "${rejected.slice(0, 120)}"`);
    startAgent(victim);
    await until(
      `${victim.name} idle again with the cluster key`,
      90_000,
      async () => {
        // Its credentials are accepted again (scontrol ping from it answers UP), its agent runs
        // slurmd and calls the worker healthy, and SLURM has it idle.
        if ((await controllerSeenFrom(victim)) === null) return undefined;
        const status = await api<{
          services: Record<string, { state: string }>;
          roles: Record<string, { healthy: boolean }>;
        }>(victim, '/api/v1/status');
        if (status.services.slurmd?.state !== 'running' || status.roles['slurm-worker']?.healthy !== true)
          return undefined;
        const node = (await sinfo(survivor)).find((n) => n.name === victim.name);
        return node?.state === 'idle' ? true : undefined;
      },
      500,
    );
    const clusterKey = await readFile(survivor.path('/etc/munge/munge.key'));
    assert.ok(
      clusterKey.equals(await readFile(victim.path('/etc/munge/munge.key'))),
      'the victim runs the cluster key again',
    );
    const afterRepair = await submit(survivor, victim.name, 'echo repaired');
    await until('a job runs on the repaired node', 30_000, async () => {
      const j = await jobState(survivor, afterRepair);
      if (j?.state === 'COMPLETED') return true;
      throw new Error(`job ${afterRepair} is ${j?.state} (${j?.reason}) on ${j?.nodes}`);
    }).catch(async (error: unknown) => {
      const r = await victim.run(
        ['bash', '-c', 'ps -e -o pid,comm; tail -20 /var/log/slurm/slurmd-*.log; sinfo -N -l'],
        { timeoutMs: 30_000 },
      );
      console.error(r.stdout);
      throw error;
    });
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
