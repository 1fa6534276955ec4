// The k3s command line: golden argv for each role shape, every refusal (with its reason and
// field), and the property that the token never reaches argv or an error message.
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildK3sArgs,
  checkExtraArgs,
  isK3sConfigError,
  type K3sArgsInput,
  type K3sConfigError,
  type K3sConfigErrorReason,
  K3sToken,
} from '../src/process/index.js';

const SERVER: K3sArgsInput = {
  mode: 'server',
  bootstrap: true,
  nodeName: 'node-a',
  nodeIp: '100.64.0.1',
  tlsSans: ['node-a.tail1234.ts.net'],
  dataDir: '/var/lib/clusteros/k3s',
  tokenFile: '/var/lib/clusteros/k3s-adapter/token',
  kubeconfigPath: '/var/lib/clusteros/k3s-adapter/kubeconfig.yaml',
  network: { kind: 'flannel' },
};

const JOINER: K3sArgsInput = {
  ...SERVER,
  bootstrap: false,
  joinUrl: 'https://100.64.0.1:6443',
  nodeName: 'node-b',
  nodeIp: '100.64.0.2',
  tlsSans: [],
};

const AGENT: K3sArgsInput = {
  mode: 'agent',
  bootstrap: false,
  joinUrl: 'https://100.64.0.1:6443',
  nodeName: 'node-c',
  nodeIp: '100.64.0.3',
  dataDir: '/var/lib/clusteros/k3s',
  tokenFile: '/var/lib/clusteros/k3s-adapter/token',
  kubeconfigPath: '/var/lib/clusteros/k3s-adapter/kubeconfig.yaml',
  network: { kind: 'flannel' },
};

// ---------------------------------------------------------------------------------------------
// goldens

test('golden: bootstrapping server, flannel on tailscale0, MagicDNS SAN', () => {
  assert.equal(buildK3sArgs(SERVER), [
    'server',
    '--config',
    '/var/lib/clusteros/k3s/clusteros-k3s.yaml',
    '--data-dir',
    '/var/lib/clusteros/k3s',
    '--node-name',
    'node-a',
    '--node-ip',
    '100.64.0.1',
    '--advertise-address',
    '100.64.0.1',
    '--cluster-init',
    '--token-file',
    '/var/lib/clusteros/k3s-adapter/token',
    '--tls-san',
    'node-a.tail1234.ts.net',
    '--write-kubeconfig',
    '/var/lib/clusteros/k3s-adapter/kubeconfig.yaml',
    '--write-kubeconfig-mode',
    '0600',
    '--flannel-iface',
    'tailscale0',
  ]);
});

test('golden: joining server, no SANs, its own config file, CNI mode', () => {
  assert.equal(
    buildK3sArgs({
      ...JOINER,
      configFile: '/etc/clusteros/k3s.yaml',
      network: { kind: 'cni', cni: 'cilium' },
    }),
    [
      'server',
      '--config',
      '/etc/clusteros/k3s.yaml',
      '--data-dir',
      '/var/lib/clusteros/k3s',
      '--node-name',
      'node-b',
      '--node-ip',
      '100.64.0.2',
      '--advertise-address',
      '100.64.0.2',
      '--server',
      'https://100.64.0.1:6443',
      '--token-file',
      '/var/lib/clusteros/k3s-adapter/token',
      '--write-kubeconfig',
      '/var/lib/clusteros/k3s-adapter/kubeconfig.yaml',
      '--write-kubeconfig-mode',
      '0600',
      '--flannel-backend=none',
      '--disable-network-policy',
    ],
  );
});

test('golden: agent with flannel on a named interface, extra args last', () => {
  assert.equal(
    buildK3sArgs({
      ...AGENT,
      network: { kind: 'flannel', iface: 'ts1' },
      extraArgs: ['--node-label', 'zone=a', '--kubelet-arg=max-pods=50'],
    }),
    [
      'agent',
      '--config',
      '/var/lib/clusteros/k3s/clusteros-k3s.yaml',
      '--data-dir',
      '/var/lib/clusteros/k3s',
      '--node-name',
      'node-c',
      '--node-ip',
      '100.64.0.3',
      '--server',
      'https://100.64.0.1:6443',
      '--token-file',
      '/var/lib/clusteros/k3s-adapter/token',
      '--flannel-iface',
      'ts1',
      '--node-label',
      'zone=a',
      '--kubelet-arg=max-pods=50',
    ],
  );
});

test('golden: agent in CNI mode gets no networking flag (flannel-backend is a server flag)', () => {
  assert.equal(buildK3sArgs({ ...AGENT, network: { kind: 'cni', cni: 'calico' } }), [
    'agent',
    '--config',
    '/var/lib/clusteros/k3s/clusteros-k3s.yaml',
    '--data-dir',
    '/var/lib/clusteros/k3s',
    '--node-name',
    'node-c',
    '--node-ip',
    '100.64.0.3',
    '--server',
    'https://100.64.0.1:6443',
    '--token-file',
    '/var/lib/clusteros/k3s-adapter/token',
  ]);
});

test('golden: server with several SANs (DNS, IPv4, IPv6; duplicates dropped) and its own advertise address', () => {
  const args = buildK3sArgs({
    ...SERVER,
    advertiseAddress: '100.64.0.9',
    tlsSans: [
      'node-a.tail1234.ts.net',
      'k3s.example.org',
      '100.64.0.1',
      'fd7a:115c:a1e0::1',
      'k3s.example.org',
    ],
  });
  assert.equal(args.slice(9, 12), ['--advertise-address', '100.64.0.9', '--cluster-init']);
  assert.equal(
    args.filter((_, i) => args[i - 1] === '--tls-san'),
    ['node-a.tail1234.ts.net', 'k3s.example.org', '100.64.0.1', 'fd7a:115c:a1e0::1'],
  );
});

test('agents ignore the server-only fields', () => {
  const plain = buildK3sArgs(AGENT);
  assert.equal(
    buildK3sArgs({
      ...AGENT,
      tlsSans: ['x.example'],
      advertiseAddress: '100.64.0.8',
      kubeconfigPath: 'relative',
    }),
    plain,
  );
  for (const flag of ['--tls-san', '--advertise-address', '--write-kubeconfig', '--cluster-init'])
    assert.not.ok(plain.includes(flag), flag);
});

test('the join URL is normalized: trailing slash dropped; IPv6 and DNS hosts kept', () => {
  const server = (joinUrl: string) => {
    const args = buildK3sArgs({ ...JOINER, joinUrl });
    return args[args.indexOf('--server') + 1];
  };
  assert.is(server('https://100.64.0.1:6443/'), 'https://100.64.0.1:6443');
  assert.is(server('https://[fd7a:115c:a1e0::1]:6443'), 'https://[fd7a:115c:a1e0::1]:6443');
  assert.is(server('https://node-a.tail1234.ts.net:6443'), 'https://node-a.tail1234.ts.net:6443');
});

test('the same input always gives the same argv', () => {
  assert.equal(buildK3sArgs(SERVER), buildK3sArgs({ ...SERVER }));
  assert.equal(buildK3sArgs(JOINER), buildK3sArgs(structuredClone(JOINER)));
});

// ---------------------------------------------------------------------------------------------
// refusals

function refused(
  input: unknown,
  reason: K3sConfigErrorReason,
  field: string,
  message?: RegExp,
): K3sConfigError {
  try {
    buildK3sArgs(input as K3sArgsInput);
  } catch (error) {
    assert.ok(isK3sConfigError(error), `not a K3sConfigError: ${String(error)}`);
    const e = error as K3sConfigError;
    assert.is(e.name, 'K3sConfigError');
    assert.is(e.reason, reason, `${e.message}`);
    assert.is(e.field, field, e.message);
    if (message !== undefined) assert.match(e.message, message);
    return e;
  }
  assert.unreachable(`accepted: ${JSON.stringify(input)}`);
  throw new Error('unreachable');
}

const SECRET = 'S3KRET-token-value-0123456789';

test('token-ish extra arguments are refused and never echoed', () => {
  const forms: string[][] = [
    [`--token=${SECRET}`],
    ['--token', SECRET],
    ['-t', SECRET],
    [`-t${SECRET}`],
    [`-t=${SECRET}`],
    [`--t=${SECRET}`],
    [`-token=${SECRET}`],
    [`--TOKEN=${SECRET}`],
    [`--agent-token=${SECRET}`],
    [`--vpn-auth=name=tailscale,joinKey=${SECRET}`],
    [`--etcd-s3-secret-key=${SECRET}`],
    [`--etcd-s3-access-key=${SECRET}`],
    [`--etcd-s3-session-token=${SECRET}`],
  ];
  for (const form of forms) {
    const e = refused(
      { ...SERVER, extraArgs: ['--disable=traefik', ...form] },
      'token-on-command-line',
      'extraArgs[1]',
    );
    assert.not.ok(e.message.includes(SECRET), e.message);
    assert.match(e.message, /token file|--token-file/);
  }
});

test('flags the adapter owns are refused as extra arguments, naming the flag', () => {
  const owned: [string, string][] = [
    ['--server=https://100.64.0.5:6443', 'server'],
    ['-s', 's'],
    ['--cluster-init', 'cluster-init'],
    ['--cluster-reset', 'cluster-reset'],
    ['--cluster-reset-restore-path=/x', 'cluster-reset-restore-path'],
    ['--node-ip=100.64.0.5', 'node-ip'],
    ['-node-ip=100.64.0.5', 'node-ip'],
    ['-i', 'i'],
    ['--advertise-address=100.64.0.5', 'advertise-address'],
    ['--node-name=other', 'node-name'],
    ['--data-dir=/x', 'data-dir'],
    ['-d', 'd'],
    ['--write-kubeconfig=/x', 'write-kubeconfig'],
    ['-o', 'o'],
    ['--write-kubeconfig-mode=0644', 'write-kubeconfig-mode'],
    ['--config=/etc/rancher/k3s/config.yaml', 'config'],
    ['-c', 'c'],
    ['--tls-san=x.example', 'tls-san'],
    ['--flannel-backend=vxlan', 'flannel-backend'],
    ['--flannel-iface=eth0', 'flannel-iface'],
    ['--disable-network-policy', 'disable-network-policy'],
    ['--datastore-endpoint=mysql://x', 'datastore-endpoint'],
    ['--token-file', 'token-file'],
    ['--token-file=/tmp/other', 'token-file'],
    ['-token-file=/tmp/other', 'token-file'],
    ['--agent-token-file=/tmp/x', 'agent-token-file'],
    ['--vpn-auth-file=/tmp/x', 'vpn-auth-file'],
  ];
  for (const [arg, name] of owned) {
    const e = refused({ ...AGENT, extraArgs: [arg] }, 'flag-not-allowed', 'extraArgs[0]');
    assert.ok(
      e.message.includes(`${name.length === 1 ? '-' : '--'}${name} is set by the adapter`),
      e.message,
    );
  }
});

test('ordinary extra arguments pass through unchanged', () => {
  const extra = [
    '--disable=traefik',
    '--disable',
    'servicelb',
    '--kube-apiserver-arg=audit-log-path=/var/log/audit.log',
    '--node-label',
    'zone=a',
    '--node-external-ip=100.64.0.1',
    '--tls-san-security',
  ];
  const args = buildK3sArgs({ ...SERVER, extraArgs: extra });
  assert.equal(args.slice(-extra.length), extra);
  assert.equal(checkExtraArgs(undefined), []);
});

test('IPv6 node and advertise addresses are refused: these roles take the Tailscale IPv4', () => {
  refused({ ...SERVER, nodeIp: 'fd7a:115c:a1e0::1' }, 'ipv6-unsupported', 'nodeIp', /Tailscale IPv4/);
  refused({ ...SERVER, nodeIp: '[fd7a:115c:a1e0::1]' }, 'ipv6-unsupported', 'nodeIp');
  refused({ ...SERVER, advertiseAddress: '::1' }, 'ipv6-unsupported', 'advertiseAddress');
  for (const bad of ['100.64.0', '100.64.0.256', '100.064.0.1', 'node-a', ' 100.64.0.1'])
    refused({ ...SERVER, nodeIp: bad }, 'invalid-value', 'nodeIp');
  refused({ ...SERVER, nodeIp: '' }, 'missing-field', 'nodeIp');
});

test('node names must be lowercase RFC 1123 names of at most 63 characters', () => {
  for (const bad of ['Node-A', '-a', 'a-', 'a_b', 'a..b', '.a', 'a.', 'node a', 'a'.repeat(64), 'ü'])
    refused({ ...SERVER, nodeName: bad }, 'invalid-value', 'nodeName');
  refused({ ...SERVER, nodeName: '' }, 'missing-field', 'nodeName');
  for (const good of ['a', '0', 'a.b', 'node-1.example', 'a'.repeat(63)])
    assert.ok(buildK3sArgs({ ...SERVER, nodeName: good }).includes(good), good);
});

test('bad join URLs are refused', () => {
  for (const bad of [
    'http://100.64.0.1:6443',
    'https://100.64.0.1',
    'https://100.64.0.1:0',
    'https://100.64.0.1:65536',
    'https://100.64.0.1:06443',
    'https://100.64.1:6443',
    'https://user@100.64.0.1:6443',
    'https://100.64.0.1:6443/path',
    'https://100.64.0.1:6443?x=1',
    'https://100.64.0.1:6443#x',
    'https://[fe80::1:6443',
    'https://[not-v6]:6443',
    'https://fd7a::1:6443',
    'https://host_name:6443',
    ' https://100.64.0.1:6443',
    'HTTPS://100.64.0.1:6443',
  ])
    refused({ ...JOINER, joinUrl: bad }, 'invalid-value', 'joinUrl');
  const { joinUrl: _, ...noUrl } = JOINER;
  refused(noUrl, 'missing-field', 'joinUrl');
  refused({ ...AGENT, joinUrl: undefined }, 'missing-field', 'joinUrl');
});

test('bootstrap conflicts: with a join URL, or on an agent', () => {
  refused({ ...SERVER, joinUrl: 'https://100.64.0.2:6443' }, 'conflict', 'joinUrl');
  refused({ ...AGENT, bootstrap: true }, 'conflict', 'bootstrap');
});

test('CNI mode without a CNI name is refused: Tailscale is not a CNI', () => {
  refused(
    { ...SERVER, network: { kind: 'cni' } },
    'cni-required',
    'network.cni',
    /Tailscale is not a CNI: with no CNI nodes stay NotReady/,
  );
  refused({ ...AGENT, network: { kind: 'cni', cni: '' } }, 'cni-required', 'network.cni');
  refused({ ...SERVER, network: { kind: 'cni', cni: 'Cilium!' } }, 'invalid-value', 'network.cni');
  refused({ ...SERVER, network: { kind: 'calico' } }, 'invalid-value', 'network.kind');
  refused({ ...SERVER, network: undefined }, 'missing-field', 'network');
  refused(
    { ...SERVER, network: { kind: 'flannel', iface: 'x'.repeat(16) } },
    'invalid-value',
    'network.iface',
  );
  refused({ ...SERVER, network: { kind: 'flannel', iface: 'eth/0' } }, 'invalid-value', 'network.iface');
});

test('bad TLS SANs, relative paths and a bad mode are refused', () => {
  refused({ ...SERVER, tlsSans: ['ok.example', 'bad_name'] }, 'invalid-value', 'tlsSans[1]');
  refused({ ...SERVER, tlsSans: ['node-a.tail1234.ts.net.'] }, 'invalid-value', 'tlsSans[0]', /trailing dot/);
  refused({ ...SERVER, tlsSans: [''] }, 'missing-field', 'tlsSans[0]');
  refused({ ...SERVER, dataDir: 'var/lib/k3s' }, 'invalid-value', 'dataDir');
  refused({ ...SERVER, tokenFile: './token' }, 'invalid-value', 'tokenFile');
  refused({ ...SERVER, kubeconfigPath: 'k.yaml' }, 'invalid-value', 'kubeconfigPath');
  refused({ ...SERVER, configFile: 'c.yaml' }, 'invalid-value', 'configFile');
  refused({ ...SERVER, tokenFile: '/tmp/a\nb' }, 'invalid-value', 'tokenFile');
  refused({ ...SERVER, mode: 'etcd' }, 'invalid-value', 'mode');
  refused({ ...SERVER, extraArgs: ['ok', 7] }, 'invalid-value', 'extraArgs[1]');
});

// ---------------------------------------------------------------------------------------------
// the token never reaches argv

const nodeName = fc
  .array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), { minLength: 1, maxLength: 20 })
  .map((chars) => chars.join(''));
const safeExtra = fc.constantFrom<string[]>(
  ['--disable=traefik'],
  ['--node-label', 'zone=a'],
  ['--kubelet-arg=max-pods=50'],
  ['--node-external-ip=100.64.0.1'],
);

test('property: a generated token never appears in argv; smuggling it in is refused without echoing it', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.constantFrom<'server' | 'agent'>('server', 'agent'),
      fc.boolean(),
      nodeName,
      fc.ipV4(),
      fc.array(safeExtra, { maxLength: 3 }),
      fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }),
      (bytes, mode, bootstrapWish, name, ip, extras, smuggleForm) => {
        const token = K3sToken.generate(() => bytes).reveal();
        const bootstrap = mode === 'server' && bootstrapWish;
        const smuggle = [
          [`--token=${token}`],
          ['--token', token],
          ['-t', token],
          [`-t${token}`],
          [`--agent-token=${token}`],
          [`--vpn-auth=name=tailscale,joinKey=${token}`],
          [`-token=${token}`],
          [`--t=${token}`],
        ];
        const extraArgs = extras.flat();
        if (smuggleForm !== undefined) extraArgs.push(...(smuggle[smuggleForm] as string[]));
        const input: K3sArgsInput = {
          ...(mode === 'server' ? SERVER : AGENT),
          mode,
          bootstrap,
          ...(bootstrap ? {} : { joinUrl: 'https://100.64.0.1:6443' }),
          nodeName: name,
          nodeIp: ip,
          extraArgs,
        };
        if (bootstrap) delete (input as { joinUrl?: string }).joinUrl;
        try {
          const argv = buildK3sArgs(input);
          assert.is(smuggleForm, undefined, 'a smuggled token was accepted');
          assert.not.ok(
            argv.some((arg) => arg.includes(token)),
            'token on argv',
          );
          assert.ok(argv.includes('--token-file'));
        } catch (error) {
          if (!isK3sConfigError(error)) throw error;
          assert.ok(smuggleForm !== undefined, error.message);
          assert.is(error.reason, 'token-on-command-line');
          assert.not.ok(error.message.includes(token), 'token in the error message');
        }
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
