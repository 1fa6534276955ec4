// The slurm-controller and slurm-worker roles on real daemons on this host, driven the way the
// role manager drives them: the first controller creates the munge key in the store, publishes
// the controller record, the worker follows it (slurm.conf, alias, acknowledgement) and starts
// slurmd; a job runs; the controller ships its state; a handoff to a second controller instance
// (the same host plays both ends: slurmctld must run on the host slurm.conf names) keeps a
// running job, which completes with its true run time. Every wait is bounded; the lab is torn
// down on success and failure.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeRef } from '@clusteros/roles';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSlurmCommand } from '../src/daemons/command.js';
import { waitUntil } from '../src/daemons/wait.js';
import { MungeKey, mungeKeyFileIsPrivate } from '../src/munge/key.js';
import { filterJobs, jobHasEnded, jobRuntimeSeconds, parseSqueueJson } from '../src/parse/squeue.js';
import { SlurmControllerRole } from '../src/roles/controller-role.js';
import { SlurmNodeRuntime } from '../src/roles/node-runtime.js';
import { decodeShippedState } from '../src/roles/shipped-state.js';
import { decodeControllerRecord, SLURM_STORE_KEYS } from '../src/roles/store.js';
import { SlurmWorkerRole } from '../src/roles/worker-role.js';
import { readSlurmOverview } from '../src/status/overview.js';
import { endRoleLab, MemoryStore, makeRoleLab, roleContext, SELF as self } from './support/role-harness.js';

test('roles on one host: key, record, slurmd, a job, state shipping, and a handoff that keeps a running job', async () => {
  const { lab, layout } = await makeRoleLab('linuxproc');
  const store = new MemoryStore();
  const runtime = new SlurmNodeRuntime({ nodeId: 'node1', store, layout });
  const worker = new SlurmWorkerRole({ runtime });
  const first = new SlurmControllerRole({ runtime, shipEveryMs: 300 });
  const second = new SlurmControllerRole({ runtime, shipEveryMs: 300 });
  const members = (): NodeRef[] => [self];
  const workerCtx = roleContext('slurm-worker', self, members);
  const firstCtx = roleContext('slurm-controller', self, members, 7);
  const secondCtx = roleContext('slurm-controller', self, members, 8);
  const slurmConf = layout.confFile;
  const squeue = async () =>
    parseSqueueJson((await runSlurmCommand('squeue', ['--json'], { slurmConf })).stdout);
  try {
    // The worker cannot start before the cluster has a munge key; the controller creates it.
    try {
      await worker.start(workerCtx);
      assert.unreachable('no munge key yet');
    } catch (error) {
      assert.is((error as { reason?: string }).reason, 'no-munge-key');
    }
    await first.start(firstCtx);
    const key = store.get(SLURM_STORE_KEYS.mungeKey);
    assert.is(key?.byteLength, 1024, 'the first controller created a 1,024-byte munge key');
    assert.ok(await mungeKeyFileIsPrivate(layout.mungeKeyFile), 'key file written 0400');
    const record = decodeControllerRecord(store.get(SLURM_STORE_KEYS.controller) as Uint8Array);
    assert.equal(
      {
        token: record.token,
        seq: record.seq,
        node: record.node,
        address: record.address,
        nodes: record.nodes.map((n) => n.name),
      },
      { token: 7, seq: 0, node: 'node1', address: '127.0.0.1', nodes: ['node1'] },
    );
    const conf = await readFile(slurmConf, 'utf8');
    // gres.conf sits next to slurm.conf (no GPUs here: only its header); no cgroup.conf with linuxproc.
    assert.match(
      await readFile(join(lab, 'etc', 'gres.conf'), 'utf8'),
      /^# gres\.conf of the SLURM cluster "roles"/,
    );
    await readFile(join(lab, 'etc', 'cgroup.conf')).then(
      () => assert.unreachable('no cgroup.conf with linuxproc'),
      (error: NodeJS.ErrnoException) => assert.is(error.code, 'ENOENT'),
    );
    assert.match(conf, new RegExp(`SlurmctldHost=${record.host}\\(localhost\\)`));
    assert.match(await readFile(layout.hostsFile, 'utf8'), /127\.0\.0\.1\s+localhost/);
    assert.is(new TextDecoder().decode(store.get(`${SLURM_STORE_KEYS.ackPrefix}node1`)), '7.0');

    await worker.start(workerCtx);
    await waitUntil('slurmd running', 60_000, async () =>
      (await worker.health()).healthy && worker.status().detail.startsWith('slurmd pid') ? true : undefined,
    );
    assert.ok((await first.health()).healthy);

    const submit = async (script: string): Promise<number> => {
      const out = await runSlurmCommand(
        'sbatch',
        ['--parsable', '-o', join(lab, 'jobs', '%j.out'), '--wrap', script],
        { slurmConf },
      );
      return Number(out.stdout.trim().split(';')[0]);
    };
    const job = await submit('sleep 8; echo survived');
    await waitUntil('the job runs', 30_000, async () =>
      filterJobs(await squeue(), [job])[0]?.state === 'RUNNING' ? true : undefined,
    );

    // State shipping: a copy from this holder arrives in the store.
    const shipped = await waitUntil('a state copy shipped', 10_000, async () => {
      const bytes = store.get(SLURM_STORE_KEYS.state);
      return bytes === undefined ? undefined : decodeShippedState(bytes);
    });
    assert.equal(
      [shipped.header.node, shipped.header.token, shipped.header.reason],
      ['node1', 7, 'periodic'],
    );

    // Handoff: prepare on the old holder, accept + start on the new one.
    const started = Date.now();
    const handoff = await first.prepareHandoff(firstCtx, self);
    assert.ok(handoff.data.byteLength < 200, 'the handoff carries a checksum, not the state');
    await second.acceptHandoff(secondCtx, handoff);
    assert.ok((await second.health()).healthy, 'warm after accept');
    await first.completeHandoff(firstCtx);
    await first.stop(firstCtx, 'handed-off');
    await second.start(secondCtx);
    const unavailableMs = Date.now() - started;
    assert.ok(unavailableMs < 10_000, `controller back in ${unavailableMs} ms`);
    if (process.env.TEST_VERBOSE) console.log(`handoff: controller unavailable for ${unavailableMs} ms`);
    const after = decodeControllerRecord(store.get(SLURM_STORE_KEYS.controller) as Uint8Array);
    assert.is(after.token, 8, 'the new holder published its record');
    assert.is(decodeShippedState(store.get(SLURM_STORE_KEYS.state) as Uint8Array).header.reason, 'handoff');

    const done = await waitUntil('the job completes after the handoff', 60_000, async () => {
      const j = filterJobs(await squeue(), [job])[0];
      return j !== undefined && jobHasEnded(j.state) ? j : undefined;
    });
    assert.is(done.state, 'COMPLETED');
    assert.equal(done.exitCode, { code: 0, signal: 0 });
    assert.is((await readFile(join(lab, 'jobs', `${job}.out`), 'utf8')).trim(), 'survived');

    // Status and jobs as the dashboard reads them.
    const overview = await readSlurmOverview({ slurmConf });
    assert.is(overview.controllerUp, true);
    assert.equal(
      overview.nodes.map((n) => n.name),
      ['node1'],
    );
    const listed = overview.jobs.find((j) => j.id === String(job));
    assert.equal(listed && [listed.state, listed.user], ['COMPLETED', 'root']);
    // Whole seconds of start and end: an 8 s job shows 8 or 9, as squeue's own TIME column does.
    assert.ok(
      listed !== undefined && listed.runtimeSeconds >= 8 && listed.runtimeSeconds <= 9,
      `${listed?.runtimeSeconds} s`,
    );
    assert.is(
      listed?.runtimeSeconds,
      jobRuntimeSeconds(done, Date.now() / 1000),
      'the same run time as squeue --json',
    );

    // Key rotation: a new key in the store reaches the key file and munged; jobs run with it.
    const mungedBefore = runtime.status().mungePid;
    const rotated = MungeKey.generate();
    await store.put(SLURM_STORE_KEYS.mungeKey, rotated.bytes());
    await waitUntil('munged restarted with the new key', 10_000, async () => {
      const onDisk = await readFile(layout.mungeKeyFile);
      const pid = runtime.status().mungePid;
      return Buffer.from(rotated.bytes()).equals(onDisk) && pid !== undefined && pid !== mungedBefore
        ? true
        : undefined;
    });
    const afterRotation = await submit('echo rotated');
    await waitUntil('a job completes with the new key', 60_000, async () => {
      const j = filterJobs(await squeue(), [afterRotation])[0];
      return j !== undefined && jobHasEnded(j.state) ? j : undefined;
    }).then((j) => assert.is(j.state, 'COMPLETED'));

    // A key file changed behind the runtime's back is put back within its check interval.
    await writeFile(layout.mungeKeyFile, new Uint8Array(1024).fill(7));
    await waitUntil('the key file repaired', 15_000, async () =>
      Buffer.from(rotated.bytes()).equals(await readFile(layout.mungeKeyFile)) ? true : undefined,
    );
    assert.ok(runtime.status().keyRepairs >= 1);
    assert.equal([...workerCtx.failures, ...firstCtx.failures, ...secondCtx.failures], []);
  } finally {
    await endRoleLab(lab, slurmConf, [
      () => worker.stop(workerCtx, 'shutdown'),
      () => first.stop(firstCtx, 'shutdown'),
      () => second.stop(secondCtx, 'shutdown'),
    ]);
  }
});

test.run();
