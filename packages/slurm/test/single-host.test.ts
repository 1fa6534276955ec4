// Real daemons on this host: munged, slurmctld and slurmd started by the package's own start
// functions from a rendered slurm.conf and a generated munge key, in a private lab directory on
// free ports. Jobs run, their states and exit codes come back through the squeue --json parser,
// and slurmctld restarted under a running job keeps it. Every wait is bounded; the lab is torn
// down (jobs cancelled, daemons stopped by PID, directory removed) on success and failure.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, hostname, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SlurmClusterModel } from '../src/conf/model.js';
import { renderSlurmConf } from '../src/conf/render.js';
import { runSlurmCommand } from '../src/daemons/command.js';
import type { SlurmDaemon } from '../src/daemons/daemon.js';
import { SlurmDaemonError, startMunged, startSlurmctld, startSlurmd } from '../src/daemons/start.js';
import { waitUntil } from '../src/daemons/wait.js';
import { MungeKey, writeMungeKeyFile } from '../src/munge/key.js';
import {
  filterJobs,
  jobHasEnded,
  jobRuntimeSeconds,
  parseSqueueJson,
  type SlurmJobInfo,
} from '../src/parse/squeue.js';
import { freePortPair } from './support/ports.js';

/** The one-node lab's cluster model: everything under `lab`, on ports `base` and `base + 1`. */
function labModel(lab: string, base: number, controllerHost: string, cpus: number): SlurmClusterModel {
  return {
    clusterName: 'ci',
    controller: { host: controllerHost, address: '127.0.0.1' },
    nodes: [{ name: 'node1', address: '127.0.0.1', cpus, memoryBytes: totalmem() }],
    ports: { slurmctld: base, slurmd: base + 1 },
    paths: {
      stateSaveLocation: join(lab, 'state'),
      spoolDir: join(lab, 'spool', '%n'),
      logDir: join(lab, 'log'),
      runDir: join(lab, 'run'),
      mungeSocket: join(lab, 'run', 'munge.sock'),
    },
    processTracking: 'linuxproc',
  };
}

test('single host: daemons start, jobs complete or fail with their exit codes, slurmctld restarts under a running job', async () => {
  const lab = await mkdtemp(join(tmpdir(), 'clusteros-slurm-'));
  const daemons: SlurmDaemon[] = [];
  const slurmConf = join(lab, 'etc', 'slurm.conf');
  try {
    for (const dir of ['etc', 'munge', 'log', 'state', 'spool/node1', 'jobs'])
      await mkdir(join(lab, dir), { recursive: true, mode: 0o700 });
    // munged refuses a socket whose directory others cannot traverse (clients run as any user).
    await chmod(lab, 0o755);
    await mkdir(join(lab, 'run'), { mode: 0o755 });
    const base = await freePortPair();
    const conf = renderSlurmConf(
      labModel(lab, base, hostname().split('.')[0] as string, availableParallelism()),
    );
    await writeFile(slurmConf, conf, { mode: 0o644 });
    await writeMungeKeyFile(join(lab, 'munge', 'munge.key'), MungeKey.generate());

    const started = Date.now();
    daemons.push(
      await startMunged({
        keyFile: join(lab, 'munge', 'munge.key'),
        socket: join(lab, 'run', 'munge.sock'),
        dir: join(lab, 'munge'),
      }),
    );
    const ctldLog = join(lab, 'log', 'slurmctld.log');
    let ctld = await startSlurmctld(slurmConf, ctldLog, join(lab, 'log', 'slurmctld.out'));
    daemons.push(ctld);
    daemons.push(
      await startSlurmd(
        slurmConf,
        'node1',
        join(lab, 'log', 'slurmd-node1.log'),
        join(lab, 'log', 'slurmd.out'),
      ),
    );
    const upMs = Date.now() - started;
    assert.ok(upMs < 30_000, `up in ${upMs} ms`);

    const submit = async (script: string): Promise<number> => {
      const out = await runSlurmCommand(
        'sbatch',
        ['--parsable', '-o', join(lab, 'jobs', '%j.out'), '--wrap', script],
        { slurmConf },
      );
      const id = Number(out.stdout.trim().split(';')[0]);
      assert.ok(Number.isSafeInteger(id) && id > 0, `sbatch printed a job id: ${out.stdout}`);
      return id;
    };
    const jobs = async (): Promise<SlurmJobInfo[]> =>
      parseSqueueJson((await runSlurmCommand('squeue', ['--json'], { slurmConf })).stdout);
    const job = async (id: number): Promise<SlurmJobInfo | undefined> => filterJobs(await jobs(), [id])[0];

    const ok = await submit('sleep 1; echo finished');
    const failing = await submit('exit 3');
    const done = await waitUntil('both jobs finish', 60_000, async () => {
      const [a, b] = [await job(ok), await job(failing)];
      return a?.state === 'COMPLETED' && b?.state === 'FAILED' ? { a, b } : undefined;
    });
    assert.equal(done.a.exitCode, { code: 0, signal: 0 });
    assert.equal(done.b.exitCode, { code: 3, signal: 0 }, 'squeue raw wait status 768 decoded to exit 3');
    assert.ok(jobRuntimeSeconds(done.a, Date.now() / 1000) >= 1, 'the sleep took at least a second');
    assert.is((await readFile(join(lab, 'jobs', `${ok}.out`), 'utf8')).trim(), 'finished');

    // slurmctld stops and starts again while a job runs: the job keeps running and completes.
    const long = await submit('sleep 6; echo survived');
    await waitUntil('the long job runs', 30_000, async () =>
      (await job(long))?.state === 'RUNNING' ? true : undefined,
    );
    assert.is(await ctld.stop(), 0, 'slurmctld stops cleanly on SIGTERM');
    ctld = await startSlurmctld(slurmConf, ctldLog, join(lab, 'log', 'slurmctld.out'));
    daemons.push(ctld);
    const after = await waitUntil('the long job completes after the restart', 60_000, async () => {
      const j = await job(long);
      return j !== undefined && jobHasEnded(j.state) ? j : undefined;
    });
    assert.is(after.state, 'COMPLETED');
    assert.is((await readFile(join(lab, 'jobs', `${long}.out`), 'utf8')).trim(), 'survived');
  } finally {
    await runSlurmCommand('scancel', ['--full', '--quiet', '--user=root'], {
      slurmConf,
      timeoutMs: 5_000,
    }).catch(() => {});
    for (const daemon of daemons.reverse()) await daemon.stop(15_000);
    await rm(lab, { recursive: true, force: true });
  }
});

test('a daemon that cannot start is stopped and reported with the error lines of its log, quickly', async () => {
  const lab = await mkdtemp(join(tmpdir(), 'clusteros-slurm-bad-'));
  try {
    await mkdir(join(lab, 'munge'), { mode: 0o700 });
    await mkdir(join(lab, 'run'), { mode: 0o700 });
    await writeMungeKeyFile(join(lab, 'munge', 'munge.key'), MungeKey.generate());
    const started = Date.now();
    try {
      await startMunged({
        keyFile: join(lab, 'munge', 'munge.key'),
        socket: join(lab, 'run', 'munge.sock'),
        dir: join(lab, 'munge'),
      });
      assert.unreachable('munged cannot serve a socket others cannot reach');
    } catch (error) {
      assert.instance(error, SlurmDaemonError);
      assert.match((error as Error).message, /munged: .*exited \(1\).*Socket is inaccessible/);
      assert.ok((error as SlurmDaemonError).logErrors.length > 0);
    }
    assert.ok(Date.now() - started < 8_000, 'an exited daemon ends the wait at once');

    // slurmctld on a host that slurm.conf does not name as the controller refuses to run.
    await chmod(lab, 0o755);
    await chmod(join(lab, 'run'), 0o755);
    for (const dir of ['etc', 'log', 'state']) await mkdir(join(lab, dir), { mode: 0o700 });
    const munged = await startMunged({
      keyFile: join(lab, 'munge', 'munge.key'),
      socket: join(lab, 'run', 'munge.sock'),
      dir: join(lab, 'munge'),
    });
    try {
      const base = await freePortPair();
      const slurmConf = join(lab, 'etc', 'slurm.conf');
      await writeFile(slurmConf, renderSlurmConf(labModel(lab, base, 'not-this-host', 1)));
      try {
        await startSlurmctld(
          slurmConf,
          join(lab, 'log', 'slurmctld.log'),
          join(lab, 'log', 'slurmctld.out'),
          15_000,
        );
        assert.unreachable('slurmctld on a host that is not the controller');
      } catch (error) {
        assert.instance(error, SlurmDaemonError);
        assert.match((error as Error).message, /slurmctld: .*not a valid controller/);
      }

      // slurmd for a node slurm.conf does not list: reported from its stderr (its log file is
      // not open yet when it fails), quickly.
      const slurmdStarted = Date.now();
      try {
        await startSlurmd(
          slurmConf,
          'node9',
          join(lab, 'log', 'slurmd-node9.log'),
          join(lab, 'log', 'slurmd-node9.out'),
          15_000,
        );
        assert.unreachable('slurmd for a node missing from slurm.conf');
      } catch (error) {
        assert.instance(error, SlurmDaemonError);
        assert.match(
          (error as Error).message,
          /slurmd node9: .*(lookup failure for node "node9"|initialization failed)/,
        );
      }
      assert.ok(Date.now() - slurmdStarted < 10_000, 'an exited slurmd ends the wait at once');
    } finally {
      await munged.stop();
    }
  } finally {
    await rm(lab, { recursive: true, force: true });
  }
});

test.run();
