// The agent's config: a full file (fixtures/config/full.yaml, every value set, key and token in
// files next to it) and a minimal one (defaults filled in); then every kind of bad file, each
// asserting that the ConfigError names the offending field's dotted path (and line:column where
// the YAML has one). fast-check properties: a random auth key never appears in any ConfigError
// (message, issues, JSON) of a broken config containing it, nor in String/JSON/inspect of a
// loaded config. Last, the secrets derived from the key: a pinned HKDF vector, determinism,
// distinctness, and that the fingerprint does not reveal the key.
import { hkdfSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type AgentConfig,
  ConfigError,
  deriveClusterSecrets,
  HKDF_LABELS,
  HKDF_SALT,
  isConfigError,
  loadConfig,
  MAX_CONFIG_BYTES,
  parseConfig,
  parseHostPort,
  Secret,
} from '../src/config/index.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/config/', import.meta.url));
const KEY = 'test-only-inline-key-0123456789abcdef';
const SOURCE = '/etc/clusteros/agent.yaml';

/** The ConfigError `fn` throws (fails the test when it throws anything else or nothing). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(isConfigError(error), `expected a ConfigError, got ${String(error)}`);
    assert.instance(error, ConfigError);
    return error as ConfigError;
  }
  assert.unreachable('expected a ConfigError');
  throw new Error('unreachable');
}

/** Parses `text` (with an inline key unless it has a cluster section) and returns the error. */
function parseError(text: string, readFile?: (path: string) => string): ConfigError {
  return configError(() => parseConfig(text, { source: SOURCE, ...(readFile ? { readFile } : {}) }));
}

/** `cluster:` section with the inline test key, plus `rest`. */
const withCluster = (rest: string) => `cluster:\n  name: dev\n  auth_key: ${KEY}\n${rest}`;

/** Asserts the error has an issue at `path` whose message matches, and the message shows both. */
function hasIssue(error: ConfigError, path: string, message: RegExp | string): void {
  const issue = error.issues.find(
    (i) =>
      i.path === path &&
      (typeof message === 'string' ? i.message.includes(message) : message.test(i.message)),
  );
  assert.ok(issue, `no issue ${path}: ${String(message)} in:\n${error.message}`);
  assert.ok(error.message.includes(`${path === '' ? '' : `${path}: `}${issue.message}`), error.message);
}

test('the full fixture: every value as written, files resolved next to the config', async () => {
  const config = await loadConfig(join(FIXTURES, 'full.yaml'));
  const { auth_key, ...cluster } = config.cluster;
  assert.equal(cluster, {
    name: 'prod-eu',
    region: 'eu-west',
    datacenter: 'dc-2',
    auth_key_file: resolve(FIXTURES, 'secrets/cluster.key'),
  });
  assert.is(auth_key.reveal(), 'test-only-cluster-key-0123456789abcdefXYZ'); // trailing newline trimmed
  assert.equal(config.node, { name: 'node-a', tags: { rack: 'r12', gpu: 'true', 'team/owner': 'infra' } });
  assert.equal(config.network, {
    provider: 'tailscale',
    bind: '0.0.0.0',
    advertise: 'node-a.tailnet.example',
    gossip_port: 8946,
    raft_port: 8947,
    seeds: ['node-b.tailnet.example:8946', '10.0.0.3:8946', '[fd7a:115c:a1e0::1]:8946'],
  });
  assert.equal(config.roles, { enabled: ['ingress', 'scheduler'], preferences: { priority: 10 } });
  assert.equal(config.raft, { voters: 5, election_timeout_ms: 2000, heartbeat_ms: 200 });
  const { token, ...dashboard } = config.dashboard;
  assert.equal(dashboard, {
    port: 9191,
    bind: '127.0.0.1',
    token_file: resolve(FIXTURES, 'secrets/dashboard.token'),
  });
  assert.is(token?.reveal(), 'test-only-dashboard-token-0123');
  assert.equal(config.merge, { enabled: true, approval: 'auto' });
  assert.equal(config.slurm, {
    cluster_name: 'prod-eu',
    controller_alias: 'slurmctl-eu',
    process_tracking: 'cgroup',
    slurmctld_port: 16817,
    slurmd_port: 16818,
  });
  assert.is(config.data_dir, resolve(FIXTURES, 'state'));
});

test('the minimal fixture: every default filled in', async () => {
  const config = await loadConfig(join(FIXTURES, 'minimal.yaml'));
  assert.is(config.cluster.auth_key.reveal(), KEY);
  const plain = JSON.parse(JSON.stringify(config)) as unknown;
  assert.equal(plain, {
    cluster: { name: 'dev', region: 'default', datacenter: 'default', auth_key: '[redacted]' },
    node: { name: hostname(), tags: {} },
    network: { provider: 'static', bind: '127.0.0.1', gossip_port: 7946, raft_port: 7947, seeds: [] },
    roles: { enabled: [], preferences: { priority: 0 } },
    raft: { voters: 3, election_timeout_ms: 1000, heartbeat_ms: 100 },
    dashboard: { port: 9090, bind: '127.0.0.1' },
    merge: { enabled: false, approval: 'manual' },
    slurm: {
      cluster_name: 'clusteros',
      controller_alias: 'slurmctl',
      process_tracking: 'auto',
      slurmctld_port: 6817,
      slurmd_port: 6818,
    },
    k3s: {
      servers: 3,
      data_dir: '/var/lib/rancher/k3s',
      binary: 'k3s',
      network: 'flannel',
      flannel_iface: 'tailscale0',
      tls_san: [],
      handoff_timeout_s: 600,
    },
    data_dir: '/var/lib/clusteros',
  });
  assert.not.ok('token' in config.dashboard);
});

test('slurm.accounting: a host or host:port; anything else is refused with the field named', () => {
  for (const value of ['db1', 'db1.example.org:6819', '10.0.0.5:16819'])
    assert.is(
      parseConfig(withCluster(`slurm:\n  accounting: ${value}\n`), { source: SOURCE }).slurm.accounting,
      value,
    );
  assert.is(parseConfig(withCluster(''), { source: SOURCE }).slurm.accounting, undefined);
  for (const bad of ['"db 1"', '"db1:99999"', '"a;b"']) {
    const error = parseError(withCluster(`slurm:\n  accounting: ${bad}\n`));
    assert.ok(
      error.issues.some((i) => i.path === 'slurm.accounting'),
      error.message,
    );
  }
  const upper = parseError(withCluster('slurm:\n  cluster_name: Prod\n'));
  assert.match(upper.message, /slurm\.cluster_name: expected a SLURM cluster name/);
});

test('k3s: servers 1, 3 or 5; cni only with a named CNI; bad values name the field', () => {
  const cni = parseConfig(withCluster('k3s:\n  servers: 5\n  network: cni\n  cni: cilium\n'), {
    source: SOURCE,
  }).k3s;
  assert.equal([cni.servers, cni.network, cni.cni], [5, 'cni', 'cilium']);
  const cases: [string, string, RegExp][] = [
    ['k3s:\n  servers: 2\n', 'k3s.servers', /expected 1, 3 or 5/],
    ['k3s:\n  network: cni\n', 'k3s.cni', /Tailscale is not a CNI/],
    ['k3s:\n  flannel_iface: "eth0; rm"\n', 'k3s.flannel_iface', /network interface name/],
    ['k3s:\n  tls_san: ["a b"]\n', 'k3s.tls_san[0]', /host name or IP address/],
    ['k3s:\n  handoff_timeout_s: 5\n', 'k3s.handoff_timeout_s', /from 30 to 3600/],
    ['k3s:\n  token: abc\n', 'k3s.token', /unknown key/],
  ];
  for (const [yaml, field, message] of cases) {
    const error = parseError(withCluster(yaml));
    assert.ok(
      error.issues.some((i) => i.path === field),
      `${field}: ${error.message}`,
    );
    assert.match(error.message, message);
  }
});

test('dashboard.bind follows network.bind unless set; empty sections take defaults', () => {
  const config = parseConfig(withCluster('network:\n  bind: 10.1.2.3\nroles: {}\nmerge: {}\n'), {
    source: SOURCE,
  });
  assert.is(config.dashboard.bind, '10.1.2.3');
  assert.equal(config.roles, { enabled: [], preferences: { priority: 0 } });
  const own = parseConfig(withCluster('network: {bind: 10.1.2.3}\ndashboard: {bind: "::1"}\n'), {
    source: SOURCE,
  });
  assert.is(own.dashboard.bind, '::1');
});

test('YAML syntax errors: file:line:column, no source excerpt', () => {
  const error = parseError(`cluster:\n  name: dev\n  auth_key: ${KEY}\nraft:\n  voters: [3\n`);
  assert.ok(error.issues.length >= 1);
  const first = error.issues[0];
  assert.ok(first?.line !== undefined && first.column !== undefined);
  assert.match(error.message, /YAML syntax error/);
  assert.match(error.message, new RegExp(`${SOURCE}:\\d+:\\d+: `));
  const tabs = parseError('cluster:\n\tname: dev\n');
  assert.match(tabs.message, /agent\.yaml:2:1: YAML syntax error/);
  const compact = parseError(`cluster:\n  name: dev\n  auth_key: ${KEY}: x\n`);
  assert.match(compact.message, /agent\.yaml:3:\d+: YAML syntax error/);
  assert.not.ok(compact.message.includes(KEY));
});

test('the top level must be a mapping', () => {
  hasIssue(parseError('- a\n- b\n'), '', 'expected a mapping of settings at the top level, got a list');
  hasIssue(parseError('just words\n'), '', 'got a string');
  hasIssue(parseError(''), '', 'got nothing');
  hasIssue(parseError('# only a comment\n'), '', 'got nothing');
});

test('unknown keys are errors, named by their full path', () => {
  const error = parseError(withCluster('network:\n  gosip_port: 7000\nclustre: {}\n'));
  hasIssue(error, 'network.gosip_port', 'unknown key');
  hasIssue(error, 'clustre', 'unknown key');
  assert.match(error.message, /agent\.yaml:5:3: network\.gosip_port: unknown key/);
  hasIssue(
    parseError(withCluster('roles:\n  preferences: {priority: 1, weight: 2}\n')),
    'roles.preferences.weight',
    'unknown key',
  );
  hasIssue(parseError(`cluster: {name: dev, auth_key: ${KEY}, zone: a}`), 'cluster.zone', 'unknown key');
});

test('wrong types name the field, what was expected and what was found', () => {
  hasIssue(
    parseError(withCluster('raft: {voters: "3"}\n')),
    'raft.voters',
    'expected an odd number from 1 to 7, got "3"',
  );
  // YAML 1.2: `yes` is a string, not a boolean.
  hasIssue(
    parseError(withCluster('merge: {enabled: yes}\n')),
    'merge.enabled',
    'expected true or false, got "yes"',
  );
  hasIssue(
    parseError(withCluster('network: {seeds: "a:1"}\n')),
    'network.seeds',
    'expected a list of host:port seeds, got "a:1"',
  );
  hasIssue(
    parseError(withCluster('node: {tags: [a]}\n')),
    'node.tags',
    'expected a mapping of tag names to strings, got a list',
  );
  hasIssue(
    parseError(withCluster('node: {tags: {rack: 12}}\n')),
    'node.tags.rack',
    'expected a tag value (a string), got 12',
  );
  hasIssue(
    parseError(withCluster('network: {provider: wireguard}\n')),
    'network.provider',
    `expected 'tailscale' or 'static', got "wireguard"`,
  );
  hasIssue(
    parseError(withCluster('merge: {approval: sometimes}\n')),
    'merge.approval',
    `expected 'manual' or 'auto'`,
  );
  hasIssue(parseError(withCluster('raft: 3\n')), 'raft', 'expected a mapping, got 3');
  hasIssue(parseError(withCluster('dashboard:\n')), 'dashboard', 'expected a mapping, got null');
  hasIssue(
    parseError(withCluster('network: {bind: localhost}\n')),
    'network.bind',
    'expected an IPv4 or IPv6 address, got "localhost"',
  );
  hasIssue(
    parseError(withCluster('roles: {enabled: [Ingress]}\n')),
    'roles.enabled[0]',
    'expected a role name',
  );
  hasIssue(parseError(withCluster('roles: {enabled: [a, a]}\n')), 'roles.enabled', 'without duplicates');
  hasIssue(
    parseError('cluster: {auth_key: 12345678901234567890123456789012345}\n'),
    'cluster.name',
    'got nothing',
  );
  hasIssue(
    parseError(`cluster: {name: "bad name", auth_key: ${KEY}}\n`),
    'cluster.name',
    'expected a name of 1 to 63',
  );
  hasIssue(
    parseError('cluster: {name: dev, auth_key: 123456789012345678901234567890123456}\n'),
    'cluster.auth_key',
    'got a number',
  );
  hasIssue(
    parseError(withCluster('network: {seeds: [a:1, nohost, "[::1]:99999", 5]}\n')),
    'network.seeds[1]',
    'expected a seed as host:port',
  );
  hasIssue(
    parseError(withCluster('network: {seeds: ["[::1]:99999"]}\n')),
    'network.seeds[0]',
    'got "[::1]:99999"',
  );
  hasIssue(
    parseError(withCluster('network: {advertise: "10.0.0.1:7946"}\n')),
    'network.advertise',
    'without a port',
  );
  hasIssue(
    parseError(withCluster('node: {tags: {"bad key": x}}\n')),
    'node.tags.bad key',
    'expected a tag name',
  );
});

test('out-of-range values', () => {
  for (const voters of [0, 2, 4, 8, 9, -1, 3.5]) {
    hasIssue(
      parseError(withCluster(`raft: {voters: ${voters}}\n`)),
      'raft.voters',
      `raft.voters: expected an odd number from 1 to 7, got ${voters}`.slice('raft.voters: '.length),
    );
  }
  hasIssue(
    parseError(withCluster('raft: {election_timeout_ms: 50}\n')),
    'raft.election_timeout_ms',
    'expected an integer from 100 to 60000, got 50',
  );
  hasIssue(
    parseError(withCluster('raft: {election_timeout_ms: 1000, heartbeat_ms: 600}\n')),
    'raft.heartbeat_ms',
    'expected at most half of raft.election_timeout_ms (500)',
  );
  hasIssue(
    parseError(withCluster('network: {gossip_port: 70000}\n')),
    'network.gossip_port',
    'expected a port number from 1 to 65535, got 70000',
  );
  hasIssue(parseError(withCluster('dashboard: {port: 0}\n')), 'dashboard.port', 'got 0');
  hasIssue(
    parseError(withCluster('network: {gossip_port: 7000, raft_port: 7000}\n')),
    'network.raft_port',
    'other than network.gossip_port',
  );
  hasIssue(
    parseError(withCluster('dashboard: {port: 7946}\n')),
    'dashboard.port',
    'other than network.gossip_port',
  );
  hasIssue(
    parseError(withCluster('roles: {preferences: {priority: 5000}}\n')),
    'roles.preferences.priority',
    'got 5000',
  );
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v']));
  hasIssue(
    parseError(withCluster(`node: {tags: ${JSON.stringify(many)}}\n`)),
    'node.tags',
    'expected at most 16 tags',
  );
  hasIssue(
    parseError(withCluster(`node: {tags: {k: "${'v'.repeat(65)}"}}\n`)),
    'node.tags.k',
    'expected a tag value of at most 64',
  );
});

test('several problems are all reported, each on its own line', () => {
  const error = parseError(
    withCluster('raft: {voters: 4}\nnetwork: {gossip_port: x}\nmerge: {enabled: 1}\n'),
  );
  assert.is(error.issues.length, 3);
  assert.is(error.message.split('\n').length, 4);
  assert.match(error.message, /\(3 problems\)/);
});

test('exactly one of auth_key and auth_key_file; keys at least 32 characters', () => {
  hasIssue(
    parseError('cluster: {name: dev}\n'),
    'cluster',
    'expected exactly one of cluster.auth_key and cluster.auth_key_file, got neither',
  );
  const both = parseError(`cluster: {name: dev, auth_key: ${KEY}, auth_key_file: k}\n`);
  hasIssue(both, 'cluster.auth_key_file', 'got both');
  assert.not.ok(both.message.includes(KEY));
  const short = 'short-key-0123456789';
  const shortError = parseError(`cluster: {name: dev, auth_key: ${short}}\n`);
  hasIssue(shortError, 'cluster.auth_key', 'expected a key of at least 32 characters, got a string');
  assert.not.ok(shortError.message.includes(short));
  const shortFile = parseError('cluster: {name: dev, auth_key_file: k}\n', () => `${short}\n`);
  hasIssue(shortFile, 'cluster.auth_key_file', 'expected a file holding a key of at least 32 characters');
  assert.not.ok(shortFile.message.includes(short));
});

test('auth_key_file and token_file: missing, short, resolved relative to the config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
  try {
    writeFileSync(join(dir, 'agent.yaml'), 'cluster: {name: dev, auth_key_file: missing.key}\n');
    const missing = await loadConfig(join(dir, 'agent.yaml')).then(
      () => assert.unreachable('loaded a config whose key file is missing'),
      (error: unknown) => error,
    );
    assert.ok(isConfigError(missing));
    hasIssue(missing, 'cluster.auth_key_file', `cannot read ${join(dir, 'missing.key')} (ENOENT)`);

    writeFileSync(join(dir, 'k'), `  ${KEY}\n\n`, { mode: 0o600 });
    writeFileSync(join(dir, 't'), 'too-short\n', { mode: 0o600 });
    writeFileSync(
      join(dir, 'agent.yaml'),
      'cluster: {name: dev, auth_key_file: k}\ndashboard: {token_file: t}\n',
    );
    const short = await loadConfig(join(dir, 'agent.yaml')).catch((error: unknown) => error);
    assert.ok(isConfigError(short));
    hasIssue(short, 'dashboard.token_file', 'expected a file holding a token of at least 16 characters');
    assert.not.ok(short.message.includes('too-short'));

    writeFileSync(
      join(dir, 'agent.yaml'),
      `cluster: {name: dev, auth_key_file: ${join(dir, 'k')}}\ndata_dir: /srv/x\n`,
    );
    const ok = await loadConfig(join(dir, 'agent.yaml'));
    assert.is(ok.cluster.auth_key.reveal(), KEY);
    assert.is(ok.data_dir, '/srv/x');
    // parseConfig resolves against baseDir (or the source's directory) and uses readFile.
    const seen: string[] = [];
    const viaReader = parseConfig('cluster: {name: dev, auth_key_file: sub/k}\n', {
      source: '<inline>',
      baseDir: '/opt/agent',
      readFile: (path) => {
        seen.push(path);
        return Buffer.from(KEY);
      },
    });
    assert.equal(seen, ['/opt/agent/sub/k']);
    assert.is(viaReader.cluster.auth_key.reveal(), KEY);
    hasIssue(
      parseError('cluster: {name: dev, auth_key_file: k}\n', () => 'x'.repeat(70_000)),
      'cluster.auth_key_file',
      'expected a file of at most 65536 bytes',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('oversized files are refused before parsing', async () => {
  const big = withCluster(`# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
  hasIssue(parseError(big), '', `expected a file of at most ${MAX_CONFIG_BYTES} bytes`);
  const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
  try {
    writeFileSync(join(dir, 'agent.yaml'), big);
    const error = await loadConfig(join(dir, 'agent.yaml')).catch((e: unknown) => e);
    assert.ok(isConfigError(error));
    hasIssue(error, '', 'expected a file of at most');
    const nothing = await loadConfig(join(dir, 'nope.yaml')).catch((e: unknown) => e);
    assert.ok(isConfigError(nothing));
    hasIssue(nothing, '', 'cannot read the file (ENOENT)');
    const directory = await loadConfig(dir).catch((e: unknown) => e);
    assert.ok(isConfigError(directory));
    hasIssue(directory, '', 'expected a regular file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('duplicate keys are named by path, with both lines', () => {
  const error = parseError(`cluster:\n  name: dev\n  auth_key: ${KEY}\n  auth_key: ${KEY}\n`);
  hasIssue(error, 'cluster.auth_key', 'expected each key once, got a duplicate key (first at line 3)');
  assert.match(error.message, /agent\.yaml:4:3: cluster\.auth_key: /);
  assert.not.ok(error.message.includes(KEY));
  hasIssue(parseError(withCluster('raft: {voters: 3}\nraft: {voters: 5}\n')), 'raft', 'duplicate key');
  hasIssue(parseError(withCluster('node:\n  tags:\n    a: x\n    a: y\n')), 'node.tags.a', 'duplicate key');
});

test('alias bombs and multiple documents are refused', () => {
  const laughs = [
    'a: &a [x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  ].join('\n');
  const started = Date.now();
  const bomb = parseError(withCluster(`${laughs}\n`));
  assert.ok(Date.now() - started < 2000, 'the alias bomb took too long to refuse');
  hasIssue(bomb, 'b[0]', 'expected YAML aliases to expand to at most 16 nodes');
  assert.match(bomb.message, /agent\.yaml:5:\d+: /);
  // A few aliases are fine (and then checked like anything else).
  const ok = parseConfig(withCluster('network: {bind: &b 10.0.0.1}\ndashboard: {bind: *b}\n'), {
    source: SOURCE,
  });
  assert.is(ok.dashboard.bind, '10.0.0.1');
  hasIssue(
    parseError(`${withCluster('')}---\nraft: {voters: 3}\n`),
    '',
    'expected a single YAML document, got several',
  );
  hasIssue(parseError(withCluster('? [a, b]\n: c\n')), '', 'expected plain keys');
});

test('ConfigError: literal name, guard, issues', () => {
  const error = parseError(withCluster('raft: {voters: 4}\n'));
  assert.is(error.name, 'ConfigError');
  assert.is(ConfigError.name, 'ConfigError');
  assert.is(error.source, SOURCE);
  assert.equal(error.issues, [
    { path: 'raft.voters', message: 'expected an odd number from 1 to 7, got 4', line: 4, column: 16 },
  ]);
  assert.is(
    error.message,
    `invalid configuration ${SOURCE}:\n  ${SOURCE}:4:16: raft.voters: expected an odd number from 1 to 7, got 4`,
  );
  assert.ok(isConfigError({ name: 'ConfigError' }));
  assert.not.ok(isConfigError(new Error('x')));
  assert.not.ok(isConfigError(null));
  assert.not.ok(isConfigError('ConfigError'));
});

test('parseHostPort', () => {
  assert.equal(parseHostPort('a.example:1'), { host: 'a.example', port: 1 });
  assert.equal(parseHostPort('[::1]:7946'), { host: '::1', port: 7946 });
  for (const bad of ['a', ':1', 'a:0', 'a:65536', '::1:7946', '[a.b]:1', 'a b:1', 'a:1:2', '[::1]'])
    assert.is(parseHostPort(bad), undefined, bad);
});

// ---- secrets never leak ---------------------------------------------------------------------

const keyChars = fc.constantFrom(
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.'.split(''),
);
// A letter and a digit, as any real key or token has: a plain word can appear in an error's
// dump without anything having leaked (one run drew the key "property", which the stack trace
// in `inspect(error)` contains as part of fast-check's file paths).
const keyOf = (min: number, max: number) =>
  fc
    .string({ unit: keyChars, minLength: min, maxLength: max })
    .filter((k) => /[A-Za-z]/.test(k) && /[0-9]/.test(k) && !/^[-.]/.test(k) && !/[-.]$/.test(k));

/** Broken configs that contain `key` somewhere, and a reader for key files. */
const brokenConfigs: ((key: string) => string)[] = [
  (k) => `cluster:\n  name: dev\n  auth_key: ${k}\nraft:\n  voters: 4\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: "${k}"\nnetwork: {seeds: ["${k}"], gossip_port: x}\n`,
  (k) =>
    `cluster:\n  name: dev\n  auth_key: ${k}\nnode: {tags: {k: "${k}${k}${k}"}}\nroles: {enabled: ["${k}"]}\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: ${k}: oops\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: "${k}\n`,
  (k) => `cluster:\n\tauth_key: ${k}\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: ${k}\n  auth_key: ${k}\n`,
  (k) => `cluster:\n  name: dev\n  authkey: ${k}\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: ${k}\n  auth_key_file: ${k}\n`,
  (k) => `cluster: {name: dev, auth_key: ${k}, region: [${k}]}\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: ${k}\ndashboard: {bind: "${k}", port: 99999}\n`,
  (k) => `cluster:\n  name: "${k}"\n  auth_key: '${k}'\n  datacenter: "${k} x"\n`,
  (k) => `- cluster:\n    auth_key: ${k}\n`,
  (k) => `cluster:\n  name: dev\n  auth_key: ${k.slice(0, 20)}\n`,
];

function assertNoSecret(error: ConfigError, key: string): void {
  const dumps = [
    error.message,
    String(error),
    JSON.stringify(error),
    JSON.stringify(error.issues),
    inspect(error),
  ];
  for (const dump of dumps) assert.not.ok(dump.includes(key), `the key leaked:\n${dump}`);
}

test('property: an auth key never appears in any ConfigError of a broken config', () => {
  fc.assert(
    fc.property(keyOf(20, 80), fc.integer({ min: 0, max: brokenConfigs.length - 1 }), (key, which) => {
      const text = (brokenConfigs[which] as (k: string) => string)(key);
      const error = parseError(text, () => key);
      assertNoSecret(error, key);
      if (which === 13) assertNoSecret(error, key.slice(0, 20));
    }),
    { numRuns: 400 },
  );
});

test('property: keys and tokens read from files never appear in errors', () => {
  fc.assert(
    fc.property(keyOf(8, 31), keyOf(8, 15), (key, token) => {
      const files: Record<string, string> = { '/c/k': key, '/c/t': token };
      const read = (path: string): string => {
        const text = files[path];
        if (text === undefined) throw Object.assign(new Error(`no ${path}`), { code: 'ENOENT' });
        return text;
      };
      const error = configError(() =>
        parseConfig('cluster: {name: dev, auth_key_file: k}\ndashboard: {token_file: t}\n', {
          source: '/c/agent.yaml',
          readFile: read,
        }),
      );
      assert.is(error.issues.length, 2);
      assertNoSecret(error, key);
      assertNoSecret(error, token);
    }),
    { numRuns: 200 },
  );
});

test('property: a loaded config never prints its secrets', () => {
  fc.assert(
    fc.property(keyOf(32, 100), keyOf(16, 40), (key, token) => {
      const config: AgentConfig = parseConfig(
        `cluster:\n  name: dev\n  auth_key: "${key}"\ndashboard: {token_file: t}\n`,
        { source: '/c/agent.yaml', readFile: () => `${token}\n` },
      );
      assert.is(config.cluster.auth_key.reveal(), key);
      assert.is(config.dashboard.token?.reveal(), token);
      const dumps = [
        String(config),
        JSON.stringify(config),
        inspect(config, { depth: null, showHidden: true }),
        `${config.cluster.auth_key}`,
        String(config.dashboard.token),
        JSON.stringify(config.cluster),
        inspect(config.cluster.auth_key, { showHidden: true }),
        Object.keys(config.cluster.auth_key).join(','),
      ];
      for (const dump of dumps) {
        assert.not.ok(dump.includes(key), `the key leaked: ${dump}`);
        assert.not.ok(dump.includes(token), `the token leaked: ${dump}`);
      }
    }),
    { numRuns: 100 },
  );
});

// ---- derived cluster secrets ------------------------------------------------------------------

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

test('derived secrets: a pinned vector (changing it splits existing clusters)', () => {
  const s = deriveClusterSecrets(new Secret(KEY));
  assert.is(s.fingerprint, '14bb3d23ffb48566a91c5aa2a52f0f06');
  assert.is(hex(s.keyringKey.reveal()), '8aedb9100be19eccdd2f42470b04972cbf560d866dfe355601855f027034e738');
  assert.is(hex(s.raftKey.reveal()), '57bb9743ea4a593ffe62dc011879edd381a9089115247720b3dbfa5f7c046276');
  // ...and it is plain RFC 5869 HKDF-SHA256 with the documented salt and labels.
  const ref = (label: string, n: number) => hex(new Uint8Array(hkdfSync('sha256', KEY, HKDF_SALT, label, n)));
  assert.is(s.fingerprint, ref(HKDF_LABELS.fingerprint, 16));
  assert.is(hex(s.raftKey.reveal()), ref(HKDF_LABELS.raft, 32));
  assert.not.ok(JSON.stringify(s).includes(hex(s.keyringKey.reveal())));
  assert.throws(() => deriveClusterSecrets(''), /non-empty/);
});

test('property: derived secrets are deterministic, distinct, per key, and hide the key', () => {
  fc.assert(
    fc.property(keyOf(32, 80), keyOf(32, 80), (a, b) => {
      const x = deriveClusterSecrets(a);
      const again = deriveClusterSecrets(new Secret(a));
      assert.is(again.fingerprint, x.fingerprint);
      assert.is(hex(again.keyringKey.reveal()), hex(x.keyringKey.reveal()));
      assert.is(hex(again.raftKey.reveal()), hex(x.raftKey.reveal()));
      assert.match(x.fingerprint, /^[0-9a-f]{32}$/);
      assert.is(x.keyringKey.reveal().length, 32);
      assert.is(x.raftKey.reveal().length, 32);
      const all = [x.fingerprint, hex(x.keyringKey.reveal()), hex(x.raftKey.reveal())];
      assert.is(new Set(all).size, 3);
      assert.not.ok(all[1]?.startsWith(x.fingerprint) || all[2]?.startsWith(x.fingerprint));
      // The fingerprint is not the key, nor a piece of it in any obvious encoding.
      const keyHex = Buffer.from(a).toString('hex');
      assert.not.ok(keyHex.includes(x.fingerprint.slice(0, 16)));
      assert.not.ok(x.fingerprint.includes(keyHex.slice(0, 16)));
      assert.not.ok(a.includes(x.fingerprint.slice(0, 8)));
      if (a !== b) {
        const y = deriveClusterSecrets(b);
        assert.is.not(y.fingerprint, x.fingerprint);
        assert.is.not(hex(y.keyringKey.reveal()), hex(x.keyringKey.reveal()));
        assert.is.not(hex(y.raftKey.reveal()), hex(x.raftKey.reveal()));
      }
    }),
    { numRuns: 200 },
  );
});

test.run();
