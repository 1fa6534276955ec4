// Members to SLURM nodes: only alive slurm-worker members, under their own ids, sorted, with
// GPUs as device files; members that cannot be nodes are reported, not renamed; the result
// renders into a valid slurm.conf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type SlurmMember, slurmNodesFromMembers } from '../src/cluster/nodes.js';
import { renderGresConf, renderSlurmConf } from '../src/conf/render.js';

const GiB = 1024 ** 3;
const member = (id: string, over: Partial<SlurmMember> = {}): SlurmMember => ({
  id,
  address: `100.64.0.${id.length + 10}`,
  alive: true,
  roles: ['slurm-worker'],
  cpuCores: 4,
  ramBytes: 8 * GiB,
  gpus: 0,
  ...over,
});

test('alive slurm-worker members become nodes, sorted by name, with their resources', () => {
  const { nodes, skipped } = slurmNodesFromMembers([
    member('node-b', { address: '100.64.0.2', cpuCores: 8 }),
    member('node-a', { address: '100.64.0.1', gpus: 2 }),
    member('node-dead', { alive: false }),
    member('node-other', { roles: ['k3s-agent'] }),
  ]);
  assert.equal(skipped, []);
  assert.equal(
    nodes.map((n) => [n.name, n.address, n.cpus]),
    [
      ['node-a', '100.64.0.1', 4],
      ['node-b', '100.64.0.2', 8],
    ],
  );
  assert.equal(nodes[0]?.gpus, { count: 2, files: ['/dev/nvidia0', '/dev/nvidia1'] });
  assert.is(nodes[1]?.gpus, undefined);
});

test('members that cannot be SLURM nodes are skipped with a reason, never renamed', () => {
  const { nodes, skipped } = slurmNodesFromMembers([
    member('ok-1'),
    member('bad.name'),
    member('OK-1', { address: '100.64.0.99' }),
    member('no-caps', { cpuCores: 0 }),
    member('nan-ram', { ramBytes: Number.NaN }),
  ]);
  assert.equal(
    nodes.map((n) => n.name),
    ['OK-1'],
    'sorted byte-wise, the first of two case-twins wins',
  );
  assert.equal(skipped.map((s) => s.id).sort(), ['bad.name', 'nan-ram', 'no-caps', 'ok-1']);
  assert.match(skipped.find((s) => s.id === 'ok-1')?.reason ?? '', /same name/);
  assert.match(skipped.find((s) => s.id === 'bad.name')?.reason ?? '', /not a valid SLURM node name/);
});

test('the selection renders into slurm.conf and gres.conf', () => {
  const { nodes } = slurmNodesFromMembers([
    member('gpu-1', { gpus: 1, address: '100.64.0.21' }),
    member('cpu-1', { address: '100.64.0.22' }),
  ]);
  const model = {
    clusterName: 'lab',
    controller: { host: 'cpu-1', address: 'slurmctl' },
    nodes,
    paths: {
      stateSaveLocation: '/var/lib/clusteros/slurm/state',
      spoolDir: '/var/lib/clusteros/slurm/spool/%n',
      logDir: '/var/log/clusteros/slurm',
      runDir: '/run/clusteros/slurm',
      mungeSocket: '/run/clusteros/munge/munge.sock',
    },
    processTracking: 'cgroup' as const,
  };
  const conf = renderSlurmConf(model).split('\n');
  assert.ok(conf.some((l) => l.startsWith('NodeName=cpu-1 NodeAddr=')));
  assert.ok(conf.some((l) => l.startsWith('NodeName=gpu-1 ') && l.includes('Gres=gpu:1')));
  assert.match(renderGresConf(model), /NodeName=gpu-1 Name=gpu File=\/dev\/nvidia0/);
});

test.run();
