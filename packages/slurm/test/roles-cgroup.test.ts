// Process tracking: `detectProcessTracking` reads what a host offers (cgroup v1 hierarchies, or
// v2 with systemd), and on this host — cgroup v1, as on the CI machines — the roles run SLURM in
// cgroup mode for real: cgroup.conf is written next to slurm.conf, and a job's memory request
// becomes the limit of its own memory cgroup while it runs.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeRef } from '@clusteros/roles';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectProcessTracking } from '../src/conf/detect-tracking.js';
import { runSlurmCommand } from '../src/daemons/command.js';
import { waitUntil } from '../src/daemons/wait.js';
import { filterJobs, parseSqueueJson } from '../src/parse/squeue.js';
import { SlurmControllerRole } from '../src/roles/controller-role.js';
import { SlurmNodeRuntime } from '../src/roles/node-runtime.js';
import { SlurmWorkerRole } from '../src/roles/worker-role.js';
import { endRoleLab, MemoryStore, makeRoleLab, roleContext, SELF } from './support/role-harness.js';

test('detection: v1 needs freezer, memory, cpuset and devices; v2 needs cpuset, memory and systemd', async () => {
  const root = await mkdtemp(join(tmpdir(), 'clusteros-cgroup-probe-'));
  try {
    const v1 = join(root, 'v1');
    for (const c of ['freezer', 'memory', 'cpuset', 'devices']) {
      await mkdir(join(v1, c), { recursive: true });
      await writeFile(join(v1, c, 'tasks'), '');
    }
    assert.is(await detectProcessTracking({ cgroupRoot: v1 }), 'cgroup');
    await rm(join(v1, 'freezer', 'tasks'));
    assert.is(await detectProcessTracking({ cgroupRoot: v1 }), 'linuxproc', 'no freezer hierarchy mounted');

    const v2 = join(root, 'v2');
    const systemd = join(root, 'systemd');
    await mkdir(v2);
    await mkdir(systemd);
    await writeFile(join(v2, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    assert.is(await detectProcessTracking({ cgroupRoot: v2, systemdMarker: systemd }), 'cgroup');
    assert.is(
      await detectProcessTracking({ cgroupRoot: v2, systemdMarker: join(root, 'none') }),
      'linuxproc',
      'v2 without systemd',
    );
    await writeFile(join(v2, 'cgroup.controllers'), 'cpu io pids\n');
    assert.is(await detectProcessTracking({ cgroupRoot: v2, systemdMarker: systemd }), 'linuxproc');
    assert.is(await detectProcessTracking({ cgroupRoot: join(root, 'missing') }), 'linuxproc');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** The directory of job `id`'s cgroup under `hierarchy`, searched a few levels deep. */
async function jobCgroup(hierarchy: string, id: number, depth = 4): Promise<string | undefined> {
  if (depth === 0) return undefined;
  const entries = await readdir(hierarchy, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(hierarchy, entry.name);
    if (entry.name === `job_${id}`) return path;
    const found = await jobCgroup(path, id, depth - 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

test('cgroup mode on this host: cgroup.conf written, a job confined to the memory it asked for', async () => {
  assert.is(await detectProcessTracking(), 'cgroup', 'this host offers cgroup v1 (as the CI machines do)');
  const { lab, layout } = await makeRoleLab('cgroup');
  const store = new MemoryStore();
  const runtime = new SlurmNodeRuntime({ nodeId: 'node1', store, layout });
  const worker = new SlurmWorkerRole({ runtime });
  const controller = new SlurmControllerRole({ runtime });
  const members = (): NodeRef[] => [SELF];
  const workerCtx = roleContext('slurm-worker', SELF, members);
  const controllerCtx = roleContext('slurm-controller', SELF, members, 3);
  const slurmConf = layout.confFile;
  try {
    await controller.start(controllerCtx);
    await worker.start(workerCtx);
    assert.match(await readFile(slurmConf, 'utf8'), /^ProctrackType=proctrack\/cgroup$/m);
    assert.match(await readFile(join(lab, 'etc', 'cgroup.conf'), 'utf8'), /^ConstrainRAMSpace=yes$/m);
    await waitUntil('slurmd running', 60_000, async () =>
      worker.slurmdPid !== undefined && (await worker.health()).healthy ? true : undefined,
    );
    const out = await runSlurmCommand(
      'sbatch',
      ['--parsable', '--mem=64', '-o', join(lab, 'jobs', '%j.out'), '--wrap', 'sleep 20'],
      { slurmConf },
    );
    const id = Number(out.stdout.trim().split(';')[0]);
    await waitUntil('the job runs', 30_000, async () => {
      const jobs = parseSqueueJson((await runSlurmCommand('squeue', ['--json'], { slurmConf })).stdout);
      return filterJobs(jobs, [id])[0]?.state === 'RUNNING' ? true : undefined;
    });
    const cgroup = await waitUntil('the job has a memory cgroup', 10_000, () =>
      jobCgroup('/sys/fs/cgroup/memory', id),
    );
    // slurmstepd creates the job's cgroup before it writes the limit into it (one CI run read
    // the kernel's 'no limit' in between): wait, bounded, until a limit is set, then check it.
    const unlimited = 2 ** 62;
    const limit = await waitUntil('the job cgroup has a memory limit', 10_000, async () => {
      const value = Number((await readFile(join(cgroup, 'memory.limit_in_bytes'), 'utf8')).trim());
      return value < unlimited ? value : undefined;
    });
    assert.is(limit, 64 * 1024 * 1024, 'the job cannot use more memory than it asked for');
    assert.equal([...workerCtx.failures, ...controllerCtx.failures], []);
  } finally {
    await endRoleLab(lab, slurmConf, [
      () => worker.stop(workerCtx, 'shutdown'),
      () => controller.stop(controllerCtx, 'shutdown'),
    ]);
  }
});

test.run();
