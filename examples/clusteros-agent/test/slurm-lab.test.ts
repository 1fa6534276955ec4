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
import { readFile, stat } from 'node:fs/promises';
import { jobRuntimeSeconds } from '@clusteros/slurm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LabHost } from './support/netns-lab.js';
import {
  api,
  controllerSeenFrom,
  jobState,
  readProbe,
  SlurmAgentLab,
  sinfo,
  startProbe,
  submit,
  until,
  waitEnded,
  waitRunning,
} from './support/slurm-agent-lab.js';

const NAMES = ['n1', 'n2', 'n3'] as const;

test('three agents on namespace hosts: SLURM up, handoff, host crash, worker join/leave, wrong munge key', async () => {
  const env = await SlurmAgentLab.create(NAMES);
  const { lab } = env;
  try {
    const hosts = NAMES.map((name) => env.host(name));
    const [h1] = hosts as [LabHost, LabHost, LabHost];
    for (const name of NAMES) env.startAgent(name);

    // 1. One controller, three idle nodes, the alias everywhere.
    const holder = await until(
      'a SLURM controller answers on every host',
      90_000,
      async () => {
        env.agentsAlive();
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
        const nodes = await sinfo(h1);
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
      const mode = (await stat(host.path('/etc/munge/munge.key'))).mode & 0o777;
      assert.is(mode, 0o400, `${host.name}: munge key file is private`);
    }

    // 2. Planned handoff with a job running on a third node.
    const target = hosts.find((h) => h.name !== holder) as LabHost;
    const worker = hosts.find((h) => h.name !== holder && h.name !== target.name) as LabHost;
    const job = await submit(worker, worker.name, 'sleep 20; echo done');
    await waitRunning(worker, job);
    const probe = startProbe(worker, 60);
    await until('the probe has samples', 10_000, async () =>
      (await readFile(probe.pingLog, 'utf8').catch(() => '')).length > 0 ? true : undefined,
    );
    await env.handoff(holder, 'slurm-controller', target.name);
    await until('the new controller answers on the worker', 30_000, async () =>
      (await controllerSeenFrom(worker)) === target.name ? true : undefined,
    );
    const done = await waitEnded(worker, job);
    const probed = await readProbe(probe);
    assert.is(done.state, 'COMPLETED');
    assert.equal(done.exitCode, { code: 0, signal: 0 });
    const runtime = jobRuntimeSeconds(done, Date.now() / 1000);
    assert.ok(runtime >= 20 && runtime <= 21, `run time ${runtime} s is the job's own`);
    assert.is((await readFile(worker.path(`/var/log/slurm/job-${job}.out`), 'utf8')).trim(), 'done');
    console.log(
      `handoff ${holder} -> ${target.name}: controller unanswered for ${probed.outageMs} ms; ${probed.squeueCalls} squeue calls, ${probed.failed.length} failed`,
    );
    for (const failure of probed.failed)
      console.error(
        `failed squeue: ${failure}\n${await env.logsAround(Number(failure.split(' ')[0]), 2_000)}`,
      );
    assert.equal(probed.failed, [], 'no squeue call failed during the handoff');
    assert.ok(probed.outageMs < 10_000, `controller back within 10 s (was ${probed.outageMs} ms)`);
    for (const host of hosts)
      assert.match(
        await readFile(host.path('/etc/hosts'), 'utf8'),
        new RegExp(`^${target.ip.replaceAll('.', '\\.')}\\s+slurmctl$`, 'm'),
        `${host.name} follows the alias`,
      );

    // The dashboard of any node shows SLURM: the controller, the nodes, and the finished job.
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
    await waitRunning(survivor, longJob);
    // Two state-shipping intervals and SLURM's own state-save lag (SLURM-NOTES §6.6).
    await waitRunning(survivor, longJob, 8);
    const crashAt = Date.now();
    await lab.crash(crashed.name);
    env.release(crashed.name);
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
    const survived = await waitEnded(survivor, longJob);
    assert.is(survived.state, 'COMPLETED', 'the job survived the controller crash');
    assert.is((await readFile(runsOn.path(`/var/log/slurm/job-${longJob}.out`), 'utf8')).trim(), 'survived');
    assert.ok(recoveredMs < 5_000 + 2_000 + 5_000, `controller back in ${recoveredMs} ms`);

    // 4. A worker joins and leaves while a job runs elsewhere: the job is not disturbed.
    await env.addHost('n4');
    const steadyJob = await submit(survivor, runsOn.name, 'sleep 30; echo steady');
    await waitRunning(survivor, steadyJob);
    const joinAt = Date.now();
    const n4Agent = env.startAgent('n4');
    await until(
      'n4 is an idle SLURM node',
      90_000,
      async () => {
        env.agentsAlive();
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
    env.release('n4');
    n4Agent.kill('SIGTERM');
    assert.is(await n4Agent.exited, 0, 'n4 agent stops cleanly');
    await until(
      'n4 removed from SLURM after draining',
      60_000,
      async () => ((await sinfo(survivor)).some((n) => n.name === 'n4') ? undefined : true),
      500,
    );
    const steady = await waitEnded(survivor, steadyJob);
    assert.is(steady.state, 'COMPLETED', 'adding and removing a worker did not disturb the running job');
    const steadyRuntime = jobRuntimeSeconds(steady, Date.now() / 1000);
    assert.ok(steadyRuntime >= 30 && steadyRuntime <= 31, `steady job ran ${steadyRuntime} s`);

    // 5. A worker whose munged runs another key: the controller rejects it (SLURM's own error
    //    in its log); the node's agent takes munged back with the cluster key and the node is idle.
    const victim = runsOn;
    const controllerHost = lab.host((await controllerSeenFrom(survivor)) as string);
    const victimAgent = env.release(victim.name);
    // Only the agent's own process: its munged and slurmd stay, as after a crash of the agent.
    await victim.run(['pkill', '-KILL', '-f', 'cli.ts start']);
    await victimAgent?.exited;
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
    env.startAgent(victim.name);
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
    console.error(await env.warnings());
    throw error;
  } finally {
    await env.teardown();
  }
});

test.run();
