// nodeListChanged: a changed set of NodeName lines (or MaxNodeCount) needs a slurmctld restart;
// `scontrol reconfigure` alone makes slurmctld exit (SLURM-NOTES gotcha 2, §4c).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SlurmClusterModel } from '../src/conf/model.js';
import { nodeListChanged, renderSlurmConf } from '../src/conf/render.js';
import { dynamicNodes, fullModel, tailnetGpu } from './support/conf-models.js';
import { withValue } from './support/set-path.js';

const GiB = 1024 * 1024 * 1024;

test('the same node list is no change, whatever the node order or the other settings', () => {
  assert.not.ok(nodeListChanged(tailnetGpu, tailnetGpu));
  assert.not.ok(nodeListChanged(tailnetGpu, { ...tailnetGpu, nodes: [...tailnetGpu.nodes].reverse() }));
  const otherwise: SlurmClusterModel = {
    ...tailnetGpu,
    controller: { host: 'ctl2', address: 'slurmctl' },
    partitions: [{ name: 'everything', nodes: 'ALL' }],
    debug: { slurmctld: 'debug3' },
    processTracking: 'linuxproc',
    ports: { slurmctld: 1000, slurmd: 1001 },
  };
  assert.not.ok(nodeListChanged(tailnetGpu, otherwise));
  // Memory that rounds to the same RealMemory writes the same line.
  assert.not.ok(
    nodeListChanged(tailnetGpu, withValue(tailnetGpu, ['nodes', 1, 'memoryBytes'], 32 * GiB + 1)),
  );
  // Device files only change gres.conf, not the NodeName line.
  assert.not.ok(
    nodeListChanged(
      tailnetGpu,
      withValue(tailnetGpu, ['nodes', 0, 'gpus', 'files'], ['/dev/nvidia2', '/dev/nvidia3']),
    ),
  );
});

test('any change to a NodeName line is a change', () => {
  const changed: SlurmClusterModel[] = [
    {
      ...tailnetGpu,
      nodes: [...tailnetGpu.nodes, { name: 'cpu3', address: '100.64.0.14', cpus: 4, memoryBytes: 8 * GiB }],
    },
    { ...tailnetGpu, nodes: tailnetGpu.nodes.slice(1), partitions: [{ name: 'all', nodes: 'ALL' }] },
    withValue(tailnetGpu, ['nodes', 1, 'address'], '100.64.0.99'),
    withValue(tailnetGpu, ['nodes', 1, 'cpus'], 9),
    withValue(tailnetGpu, ['nodes', 1, 'memoryBytes'], 16 * GiB),
    withValue(tailnetGpu, ['nodes', 1, 'gpus'], { count: 1, files: ['/dev/nvidia0'] }),
    withValue(tailnetGpu, ['nodes', 0, 'gpus'], { type: 'a100', count: 1, files: ['/dev/nvidia0'] }),
    withValue(tailnetGpu, ['nodes', 0, 'gpus', 'type'], 'h100'),
  ];
  changed.forEach((after, i) => {
    assert.ok(nodeListChanged(tailnetGpu, after), `change ${i}`);
    assert.ok(nodeListChanged(after, tailnetGpu), `change ${i} reversed`);
  });
  // A rename, with the partitions following it.
  const renamed = withValue(
    withValue(tailnetGpu, ['nodes', 2, 'name'], 'cpu9'),
    ['partitions', 0, 'nodes', 0],
    'cpu9',
  );
  assert.ok(nodeListChanged(tailnetGpu, renamed));
});

test('adding, changing or removing MaxNodeCount is a change', () => {
  assert.ok(nodeListChanged(dynamicNodes, withValue(dynamicNodes, ['maxNodeCount'], 64)));
  assert.ok(nodeListChanged(dynamicNodes, withValue(dynamicNodes, ['maxNodeCount'], undefined)));
  assert.ok(nodeListChanged(withValue(dynamicNodes, ['maxNodeCount'], undefined), dynamicNodes));
});

test('rendered text compares like its model; comments, blank lines and spacing do not count', () => {
  const text = renderSlurmConf(fullModel);
  assert.not.ok(nodeListChanged(fullModel, text));
  assert.not.ok(nodeListChanged(text, fullModel));
  const noisy = text
    .split('\n')
    .map((line) => (line.startsWith('NodeName=') ? `  ${line.replaceAll(' ', '   ')}   # a comment` : line))
    .join('\r\n');
  assert.not.ok(nodeListChanged(noisy, fullModel));
  assert.ok(nodeListChanged(text.replace('CPUs=2', 'CPUs=4'), fullModel));
  assert.ok(
    nodeListChanged(`${text}# NodeName=n9 is only a comment\nNodeName=n9 NodeAddr=10.0.0.9\n`, fullModel),
  );
  assert.not.ok(nodeListChanged(`${text}# NodeName=n9 is only a comment\n`, fullModel));
});

test('a hand-written file from the notes: node added, and key case ignored', () => {
  const notes = [
    'ClusterName=netlab',
    'SlurmctldHost=ctl1(10.77.0.10)',
    'NodeName=n1 NodeAddr=10.77.0.12 CPUs=2 RealMemory=1000 State=UNKNOWN',
    'NodeName=n2 NodeAddr=10.77.0.13 CPUs=2 RealMemory=1000 State=UNKNOWN',
    'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
  ].join('\n');
  const added = `${notes}\nNodeName=n3 NodeAddr=10.77.0.14 CPUs=2 RealMemory=1000 State=UNKNOWN\n`;
  assert.ok(nodeListChanged(notes, added));
  assert.ok(nodeListChanged(notes, notes.replace('MaxTime=INFINITE', 'MaxTime=INFINITE\nmaxnodecount=32')));
  assert.not.ok(nodeListChanged(notes, notes.replace('PartitionName=debug', 'PartitionName=main')));
  assert.not.ok(nodeListChanged(notes, `${notes}\n\n`));
});

test.run();
