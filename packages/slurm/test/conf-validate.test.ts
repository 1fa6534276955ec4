// Model validation: every value that would go into a file is checked, and the error names the
// field (a path into the model) so the adapter can report what is wrong.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SlurmClusterModel } from '../src/conf/model.js';
import { renderCgroupConf, renderGresConf, renderSlurmConf } from '../src/conf/render.js';
import { isSlurmConfigError, SlurmConfigError, validateSlurmClusterModel } from '../src/conf/validate.js';
import { fullModel, tailnetGpu } from './support/conf-models.js';
import { fieldName, type PathStep, withValue } from './support/set-path.js';

/** Asserts that `model` is refused with a SlurmConfigError naming `field`, by every renderer. */
function refused(model: unknown, field: string): void {
  for (const render of [validateSlurmClusterModel, renderSlurmConf, renderGresConf, renderCgroupConf]) {
    try {
      render(model as SlurmClusterModel);
    } catch (error) {
      assert.ok(error instanceof SlurmConfigError, `expected a SlurmConfigError, got ${String(error)}`);
      assert.ok(isSlurmConfigError(error));
      assert.is(error.field, field, error.message);
      assert.ok(error.message.includes(field), error.message);
      continue;
    }
    assert.unreachable(`${render.name} accepted a model with a bad ${field}`);
  }
}

const bad: [path: PathStep[], values: unknown[], field?: string][] = [
  [['clusterName'], ['', 'Prod', 'a b', 'x'.repeat(64), '-x', 'a.b', 'a\nb', 7, undefined]],
  [['controller'], [null, 'ctl1', []]],
  [
    ['controller', 'host'],
    ['', 'ctl 1', '-ctl', 'ctl.example', 'c'.repeat(64), 'ctl(x)', undefined],
  ],
  [
    ['controller', 'address'],
    [
      '',
      '10.0.0.256',
      '010.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      'fe80::1',
      '[::1]',
      'bad_host',
      'a..b',
      '-a.b',
      'host.123',
      'h'.repeat(64),
      `${'a.'.repeat(127)}a`,
      '10.0.0.1 ',
      null,
    ],
  ],
  [['nodes'], [[], {}, 'g1', undefined]],
  [
    ['nodes', 0],
    [null, 'g1'],
  ],
  [
    ['nodes', 0, 'name'],
    ['ALL', 'all', 'DEFAULT', 'g.1', 'g[1-2]', 'g,1', 'g 1', '', 'g'.repeat(64), 1],
  ],
  [['nodes', 1, 'name'], ['G1', 'g1'], 'nodes[1].name'],
  [['nodes', 1, 'address'], ['10.0.0.3'], 'nodes[1].address'],
  [['nodes', 2, 'address'], ['G2.Example.NET'], 'nodes[2].address'],
  [
    ['nodes', 0, 'address'],
    ['', '10.0.0.1/24', 'x y', undefined],
  ],
  [
    ['nodes', 0, 'cpus'],
    [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2', 65_536, undefined],
  ],
  [
    ['nodes', 0, 'memoryBytes'],
    [0, -1, 0.5, 2 ** 53, '1G', undefined],
  ],
  [
    ['nodes', 0, 'gpus'],
    [null, 2, []],
  ],
  [['nodes', 0, 'gpus', 'count'], [0, 1.5, '2', undefined], 'nodes[0].gpus.count'],
  [
    ['nodes', 0, 'gpus', 'type'],
    ['', 'a100:2', 'a,b', 'a b', '.x', 7],
  ],
  [
    ['nodes', 0, 'gpus', 'files'],
    [undefined, [], ['/dev/nvidia0'], '/dev/nvidia0', ['/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia2']],
  ],
  [
    ['nodes', 0, 'gpus', 'files', 1],
    ['dev/nvidia1', '/dev/nvidia0', '/dev/nvidia 1', '/dev/nvidia[1]', '/dev/nvidia1/', 1],
  ],
  [['partitions'], [[], {}, 'ALL']],
  [
    ['partitions', 0, 'name'],
    ['DEFAULT', 'default', 'a b', '', 'p'.repeat(64), null],
  ],
  [['partitions', 1, 'name'], ['cpu', 'CPU'], 'partitions[1].name'],
  [
    ['partitions', 0, 'nodes'],
    [[], 'all', 'n1', null],
  ],
  [
    ['partitions', 1, 'nodes', 1],
    ['g3', 'G2', 'g1', 'ALL', 2],
  ],
  [
    ['partitions', 1, 'default'],
    [true, 'yes'],
  ],
  [
    ['partitions', 0, 'maxTimeMinutes'],
    [0, -5, 1.5, 'INFINITE', 2 ** 31],
  ],
  [['ports'], [null, 6817]],
  [
    ['ports', 'slurmctld'],
    [0, 65_536, 1.5, '6817', undefined],
  ],
  [
    ['ports', 'slurmd'],
    [7817, 0, -1],
  ],
  [['paths'], [undefined, null, '/var']],
  [
    ['paths', 'stateSaveLocation'],
    [
      '',
      '/',
      'var/lib/slurm',
      './state',
      '/var/lib/slurm/',
      '/var//lib',
      '/var/./lib',
      '/var/../lib',
      '/var/lib slurm',
      '/var/lib\nNodeName=evil',
      '/var/lib#x',
      '/var/lib/"x"',
      '/var/lib\\',
      '/var/lib,x',
      '/var/lib=x',
      '/var/lib/%n',
      '/var/lib/%h',
      `/${'x'.repeat(1024)}`,
      undefined,
    ],
  ],
  [
    ['paths', 'spoolDir'],
    ['/var/spool/%n/%n', '/var/spool/%h', '/var/spool/%', 'spool/%n'],
  ],
  [
    ['paths', 'logDir'],
    ['/var/log/%n', 'log', '/var/log/'],
  ],
  [
    ['paths', 'runDir'],
    ['/run/', 'run', '/run x'],
  ],
  [
    ['paths', 'mungeSocket'],
    [`/run/${'m'.repeat(103)}`, 'munge.sock', '/run/munge sock'],
  ],
  [['processTracking'], ['cgroups', 'none', '', undefined, 1]],
  [['users'], [null, 'root']],
  [
    ['users', 'slurmUser'],
    ['', 'root user', '1root', 'r'.repeat(33), 'root\n', undefined],
  ],
  [
    ['users', 'slurmdUser'],
    ['-root', 'ro#ot'],
  ],
  [['maxNodeCount'], [0, 2, -1, 1.5, '16']],
  [['configless'], ['yes', 1, null]],
  [['defaultMemoryPerCpuMiB'], [0, -1, 1.5, '1024']],
  [['debug'], [null, 'info']],
  [
    ['debug', 'slurmd'],
    ['trace', 'INFO', '', null],
  ],
  [['debug', 'slurmctld'], ['debug6']],
  [['timeouts'], [null, 30]],
  [
    ['timeouts', 'slurmdSeconds'],
    [0, 65_536, 1.5],
  ],
  [
    ['timeouts', 'slurmctldSeconds'],
    [-1, '10'],
  ],
  [['accounting'], [null, 'db']],
  [
    ['accounting', 'host'],
    ['', 'db host', 'db_1', undefined],
  ],
  [
    ['accounting', 'port'],
    [0, 70_000, '6819'],
  ],
];

for (const [path, values, field] of bad) {
  const name = field ?? fieldName(path);
  test(`a bad ${fieldName(path)} is refused, naming ${name}`, () => {
    for (const value of values) refused(withValue(fullModel, path, value), name);
  });
}

test('a model that is not an object is refused, naming model', () => {
  for (const value of [null, undefined, 'model', 42, []]) refused(value, 'model');
});

test('the full model is accepted, and so are edge values', () => {
  validateSlurmClusterModel(fullModel);
  validateSlurmClusterModel(tailnetGpu);
  const accepted: [PathStep[], unknown][] = [
    [['clusterName'], 'a'.repeat(63)],
    [['clusterName'], '0_x-1'],
    [['controller', 'host'], 'C'.repeat(63)],
    [['controller', 'host'], '_ctl'],
    [['controller', 'address'], '10.0.0.1'],
    [['controller', 'address'], '255.255.255.255'],
    [['controller', 'address'], 'localhost'],
    [['controller', 'address'], `${'a'.repeat(63)}.example`],
    [['nodes', 2, 'address'], '0.0.0.1'],
    [['nodes', 2, 'cpus'], 65_535],
    [['nodes', 2, 'memoryBytes'], 1],
    [['paths', 'spoolDir'], '/var/spool/slurmd-%n'],
    [['paths', 'mungeSocket'], `/run/${'m'.repeat(102)}`],
    [['paths', 'stateSaveLocation'], '/srv/slurm@x/state+1.d'],
    [['ports', 'slurmctld'], 65_535],
    [['partitions', 0, 'nodes'], 'ALL'],
    [['partitions', 0, 'default'], false],
    [['maxNodeCount'], 3],
    [['users', 'slurmUser'], '_slurm.svc-1'],
  ];
  const renamed = withValue(withValue(fullModel, ['partitions'], undefined), ['nodes', 2, 'name'], 'N_1-x');
  assert.ok(renderSlurmConf(renamed).includes('\nNodeName=N_1-x NodeAddr=10.0.0.1 '));
  for (const [path, value] of accepted) {
    const model = withValue(fullModel, path, value);
    validateSlurmClusterModel(model);
    const text = renderSlurmConf(model);
    if (typeof value === 'string')
      assert.ok(text.includes(value), `${fieldName(path)}=${value} is written as given`);
  }
});

test('the controller may be one of the nodes: same address, same name', () => {
  const single = withValue(fullModel, ['controller', 'address'], '10.0.0.1');
  assert.ok(renderSlurmConf(single).includes('SlurmctldHost=ctl1(10.0.0.1)'));
  // In ClusterOS the holder of slurm-controller also runs slurmd under its host name.
  const holder = withValue(fullModel, ['controller', 'host'], 'n1');
  const text = renderSlurmConf(holder);
  assert.ok(text.includes('SlurmctldHost=n1('), 'the controller is named after the node');
  assert.ok(
    text.split('\n').some((line) => line.startsWith('NodeName=n1 ')),
    'and n1 is still a node',
  );
});

test('without a default partition the first one is the default', () => {
  const model = withValue(fullModel, ['partitions', 0, 'default'], undefined);
  const lines = renderSlurmConf(model).split('\n');
  assert.ok(lines.includes('PartitionName=cpu Nodes=n1 Default=YES MaxTime=30 State=UP'));
  assert.ok(lines.includes('PartitionName=gpu Nodes=g1,g2 Default=NO MaxTime=INFINITE State=UP'));
});

test('the error message quotes a rejected string on one line', () => {
  try {
    validateSlurmClusterModel(withValue(fullModel, ['nodes', 0, 'address'], 'evil\nNodeName=x'));
    assert.unreachable('accepted');
  } catch (error) {
    assert.ok(isSlurmConfigError(error));
    assert.is(error.name, 'SlurmConfigError');
    assert.not.ok(error.message.includes('\n'), error.message);
    assert.ok(error.message.includes('"evil\\nNodeName=x"'), error.message);
  }
  assert.not.ok(isSlurmConfigError(new Error('x')));
  assert.not.ok(isSlurmConfigError(null));
});

test.run();
