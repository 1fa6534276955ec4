// The smaller pieces of the renderer: GPU device lists, the daemon file names the adapter needs,
// the dynamic node --conf argument, and what cgroup.conf holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SlurmClusterModel } from '../src/conf/model.js';
import {
  renderCgroupConf,
  renderDynamicNodeConf,
  renderGresConf,
  renderSlurmConf,
  slurmDaemonFiles,
} from '../src/conf/render.js';
import { SlurmConfigError } from '../src/conf/validate.js';
import { ciSingleHost, fullModel, tailnetGpu } from './support/conf-models.js';
import { withValue } from './support/set-path.js';

const GiB = 1024 * 1024 * 1024;

function fieldOf(body: () => unknown): string {
  try {
    body();
  } catch (error) {
    if (error instanceof SlurmConfigError) return error.field;
    throw error;
  }
  assert.unreachable('no SlurmConfigError');
  return '';
}

function gresLine(files: string[]): string {
  const model = withValue(
    withValue(fullModel, ['nodes', 0, 'gpus', 'files'], files),
    ['nodes', 0, 'gpus', 'count'],
    files.length,
  );
  const line = renderGresConf(model)
    .split('\n')
    .find((l) => l.startsWith('NodeName=g1 '));
  return line ?? '';
}

test('GPU device files: consecutive numbers become a range, anything else a list in order', () => {
  const cases: [string[], string][] = [
    [['/dev/nvidia0'], '/dev/nvidia0'],
    [['/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia2', '/dev/nvidia3'], '/dev/nvidia[0-3]'],
    [['/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia3'], '/dev/nvidia[0-1,3]'],
    [['/dev/nvidia2', '/dev/nvidia5', '/dev/nvidia6', '/dev/nvidia8'], '/dev/nvidia[2,5-6,8]'],
    [['/dev/nvidia9', '/dev/nvidia10', '/dev/nvidia11'], '/dev/nvidia[9-11]'],
    [['/dev/nvidia1', '/dev/nvidia0'], '/dev/nvidia1,/dev/nvidia0'],
    [['/dev/nvidia0', '/dev/dri/card1'], '/dev/nvidia0,/dev/dri/card1'],
    [['/dev/x01', '/dev/x02'], '/dev/x0[1-2]'],
    [['/dev/gpu', '/dev/gpu2'], '/dev/gpu,/dev/gpu2'],
  ];
  for (const [files, expected] of cases)
    assert.is(gresLine(files), `NodeName=g1 Name=gpu Type=v100 File=${expected}`, files.join(' '));
});

test('gres.conf: no Type= for untyped GPUs, only the header without GPUs', () => {
  const gres = renderGresConf(fullModel).split('\n');
  assert.ok(gres.includes('NodeName=g2 Name=gpu File=/dev/nvidia0'));
  assert.ok(
    renderSlurmConf(fullModel).includes(
      'NodeName=g2 NodeAddr=g2.example.net CPUs=8 RealMemory=14745 Gres=gpu:1 State=UNKNOWN',
    ),
  );
  assert.is(
    renderGresConf(ciSingleHost)
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#')).length,
    0,
  );
});

test('cgroup.conf confines devices only when the cluster has GPUs', () => {
  assert.ok(renderCgroupConf(tailnetGpu).includes('\nConstrainDevices=yes\n'));
  const noGpus: SlurmClusterModel = {
    ...tailnetGpu,
    nodes: tailnetGpu.nodes.slice(1),
    partitions: [{ name: 'all', nodes: 'ALL' }],
  };
  const text = renderCgroupConf(noGpus);
  assert.not.ok(text.includes('ConstrainDevices'));
  for (const key of [
    'CgroupPlugin=autodetect',
    'ConstrainCores=yes',
    'ConstrainRAMSpace=yes',
    'IgnoreSystemdOnFailure=yes',
  ])
    assert.ok(text.includes(`\n${key}\n`), key);
});

test('DefMemPerCPU defaults to the smallest RealMemory per CPU', () => {
  // cpu1: 7372 MiB / 4 CPUs = 1843; cpu2: 29491 / 8 = 3686; gpu1: 58982 / 16 = 3686.
  assert.ok(renderSlurmConf(tailnetGpu).includes('\nDefMemPerCPU=1843\n'));
  assert.ok(renderSlurmConf(fullModel).includes('\nDefMemPerCPU=1024\n'));
  const tiny = withValue(ciSingleHost, ['nodes', 0, 'memoryBytes'], 1);
  assert.ok(renderSlurmConf(tiny).includes('\nDefMemPerCPU=1\n'));
});

test('slurmDaemonFiles: the files of slurmctld and of one slurmd, %n replaced', () => {
  assert.equal(slurmDaemonFiles(ciSingleHost.paths, 'node1'), {
    slurmctldPidFile: '/tmp/clusteros-slurm-lab/run/slurmctld.pid',
    slurmctldLogFile: '/tmp/clusteros-slurm-lab/log/slurmctld.log',
    slurmdPidFile: '/tmp/clusteros-slurm-lab/run/slurmd-node1.pid',
    slurmdLogFile: '/tmp/clusteros-slurm-lab/log/slurmd-node1.log',
    slurmdSpoolDir: '/tmp/clusteros-slurm-lab/spool/node1',
  });
  assert.equal(slurmDaemonFiles(tailnetGpu.paths, 'gpu1'), {
    slurmctldPidFile: '/run/slurmctld.pid',
    slurmctldLogFile: '/var/log/slurm/slurmctld.log',
    slurmdPidFile: '/run/slurmd-gpu1.pid',
    slurmdLogFile: '/var/log/slurm/slurmd-gpu1.log',
    slurmdSpoolDir: '/var/lib/slurm/slurmd',
  });
  // The templates are the ones slurm.conf names.
  const conf = renderSlurmConf(ciSingleHost);
  assert.ok(conf.includes('\nSlurmdPidFile=/tmp/clusteros-slurm-lab/run/slurmd-%n.pid\n'));
  assert.ok(conf.includes('\nSlurmdLogFile=/tmp/clusteros-slurm-lab/log/slurmd-%n.log\n'));
  assert.is(
    fieldOf(() => slurmDaemonFiles(ciSingleHost.paths, 'node 1')),
    'nodeName',
  );
  assert.is(
    fieldOf(() => slurmDaemonFiles(ciSingleHost.paths, 'ALL')),
    'nodeName',
  );
  assert.is(
    fieldOf(() => slurmDaemonFiles({ ...ciSingleHost.paths, runDir: 'run' }, 'node1')),
    'paths.runDir',
  );
});

test('renderDynamicNodeConf: the slurmd -Z --conf argument, with the same memory headroom', () => {
  assert.is(renderDynamicNodeConf({ cpus: 2, memoryBytes: 4 * GiB }), 'CPUs=2 RealMemory=3584');
  assert.is(renderDynamicNodeConf({ cpus: 64, memoryBytes: 24 * GiB }), 'CPUs=64 RealMemory=22118');
  assert.is(
    fieldOf(() => renderDynamicNodeConf({ cpus: 0, memoryBytes: GiB })),
    'node.cpus',
  );
  assert.is(
    fieldOf(() => renderDynamicNodeConf({ cpus: 2, memoryBytes: -1 })),
    'node.memoryBytes',
  );
});

test('holes in arrays are refused, not skipped', () => {
  const holes = (length: number, values: Record<number, unknown>): unknown[] => {
    const array: unknown[] = new Array(length);
    for (const [i, v] of Object.entries(values)) array[Number(i)] = v;
    return array;
  };
  const nodes = holes(2, { 0: fullModel.nodes[2] });
  assert.is(
    fieldOf(() => renderSlurmConf({ ...fullModel, nodes, partitions: undefined } as never)),
    'nodes[1]',
  );
  const files = holes(2, { 0: '/dev/nvidia0' });
  assert.is(
    fieldOf(() => renderGresConf(withValue(fullModel, ['nodes', 0, 'gpus', 'files'], files))),
    'nodes[0].gpus.files[1]',
  );
  const refs = holes(2, { 1: 'g1' });
  assert.is(
    fieldOf(() => renderSlurmConf(withValue(fullModel, ['partitions', 1, 'nodes'], refs))),
    'partitions[1].nodes[0]',
  );
});

test.run();
