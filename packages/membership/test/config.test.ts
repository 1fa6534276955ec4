// memberlist's presets, copied by hand from config.go (memberlist 0.2.2: DefaultLANConfig,
// DefaultWANConfig, DefaultLocalConfig) in milliseconds, and the validation of options:
// every bad value is a ConfigError naming the option.
import { Simulation } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type ConfigError,
  isConfigError,
  lanConfig,
  localConfig,
  META_MAX_SIZE,
  Memberlist,
  type MemberlistOptions,
  type MemberlistTuning,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  validateTuning,
  wanConfig,
} from '../src/index.js';
import { resolveOptions } from '../src/runtime/options.js';

/** config.go DefaultLANConfig, field by field. */
const GO_LAN: MemberlistTuning = {
  protocolVersion: 2, // ProtocolVersion2Compatible
  tcpTimeoutMs: 10_000, // TCPTimeout 10 s
  indirectChecks: 3,
  retransmitMult: 4,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  pushPullIntervalMs: 30_000,
  probeTimeoutMs: 500,
  probeIntervalMs: 1_000,
  disableTcpPings: false,
  awarenessMaxMultiplier: 8,
  gossipNodes: 3,
  gossipIntervalMs: 200,
  gossipToTheDeadTimeMs: 30_000,
  gossipVerifyIncoming: true,
  gossipVerifyOutgoing: true,
  enableCompression: true,
  udpBufferSize: 1_400,
  deadNodeReclaimTimeMs: 0, // not set in DefaultLANConfig: the zero value, never reclaim
  lifeguard: true, // not a memberlist option: memberlist always runs Lifeguard
  answerStaleAccusations: true, // a ClusterOS extension; false is memberlist's behaviour
  pingSuspectBeforeDeath: true, // a ClusterOS extension; false is memberlist's behaviour
  restartRefutedSuspicions: true, // a ClusterOS extension; false is memberlist's behaviour
};

/** config.go DefaultWANConfig: DefaultLANConfig with these changes. */
const GO_WAN: MemberlistTuning = {
  ...GO_LAN,
  tcpTimeoutMs: 30_000,
  suspicionMult: 6,
  pushPullIntervalMs: 60_000,
  probeTimeoutMs: 3_000,
  probeIntervalMs: 5_000,
  gossipNodes: 4,
  gossipIntervalMs: 500,
  gossipToTheDeadTimeMs: 60_000,
};

/** config.go DefaultLocalConfig: DefaultLANConfig with these changes. */
const GO_LOCAL: MemberlistTuning = {
  ...GO_LAN,
  tcpTimeoutMs: 1_000,
  indirectChecks: 1,
  retransmitMult: 2,
  suspicionMult: 3,
  pushPullIntervalMs: 15_000,
  probeTimeoutMs: 200,
  probeIntervalMs: 1_000,
  gossipIntervalMs: 100,
  gossipToTheDeadTimeMs: 15_000,
};

test('presets equal memberlist’s DefaultLANConfig, DefaultWANConfig and DefaultLocalConfig', () => {
  assert.equal(lanConfig(), GO_LAN);
  assert.equal(wanConfig(), GO_WAN);
  assert.equal(localConfig(), GO_LOCAL);
  // Fresh objects each time: callers may spread and change them.
  const first = lanConfig();
  assert.ok(first !== lanConfig());
});

test('constants: protocol versions 1..5 and 512 bytes of metadata (memberlist 0.2.2)', () => {
  assert.is(PROTOCOL_VERSION_MIN, 1);
  assert.is(PROTOCOL_VERSION_MAX, 5);
  assert.is(META_MAX_SIZE, 512);
});

test('the presets pass validation, which returns a frozen copy', () => {
  for (const preset of [lanConfig(), wanConfig(), localConfig()]) {
    const checked = validateTuning(preset);
    assert.equal(checked, preset);
    assert.ok(Object.isFrozen(checked));
    assert.ok(checked !== preset);
  }
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(isConfigError(error), `expected ConfigError, got ${String(error)}`);
    return error as ConfigError;
  }
  assert.unreachable('expected a ConfigError');
  throw new Error('unreachable');
}

test('bad tuning values are ConfigErrors naming the option', () => {
  const cases: [keyof MemberlistTuning, unknown][] = [
    ['tcpTimeoutMs', 0],
    ['tcpTimeoutMs', -1],
    ['retransmitMult', Number.NaN],
    ['suspicionMult', 0],
    ['suspicionMaxTimeoutMult', Number.POSITIVE_INFINITY],
    ['probeTimeoutMs', '500'],
    ['probeIntervalMs', 0],
    ['awarenessMaxMultiplier', 0],
    ['indirectChecks', -1],
    ['pushPullIntervalMs', -5],
    ['gossipNodes', Number.NaN],
    ['gossipIntervalMs', -1],
    ['gossipToTheDeadTimeMs', undefined],
    ['deadNodeReclaimTimeMs', -1],
    ['disableTcpPings', 'no'],
    ['gossipVerifyIncoming', 1],
    ['gossipVerifyOutgoing', null],
    ['enableCompression', undefined],
    ['lifeguard', 0],
    ['answerStaleAccusations', 'yes'],
    ['protocolVersion', 0],
    ['protocolVersion', 6],
    ['protocolVersion', 2.5],
    ['udpBufferSize', 255],
    ['udpBufferSize', 65_001],
    ['udpBufferSize', 1400.5],
  ];
  for (const [option, value] of cases) {
    const error = configError(() => validateTuning({ ...lanConfig(), [option]: value } as MemberlistTuning));
    assert.is(error.option, option, `${option} = ${String(value)}`);
    assert.ok(error.message.includes(option), error.message);
  }
  // Zero is fine where memberlist uses it to disable something.
  for (const option of ['indirectChecks', 'pushPullIntervalMs', 'gossipNodes', 'gossipIntervalMs'] as const)
    validateTuning({ ...lanConfig(), [option]: 0 });
  // The probe timeout cannot exceed the probe interval.
  assert.is(
    configError(() => validateTuning({ ...lanConfig(), probeTimeoutMs: 1_001 })).option,
    'probeTimeoutMs',
  );
  validateTuning({ ...lanConfig(), probeTimeoutMs: 1_000 });
});

const base: MemberlistOptions = { name: 'n0', bindAddr: '10.0.0.1' };

test('bad options are ConfigErrors naming the option; secrets are not echoed', () => {
  const cases: [string, Partial<Record<keyof MemberlistOptions, unknown>>][] = [
    ['name', { name: '' }],
    ['name', { name: 'x'.repeat(256) }],
    ['name', { name: 7 }],
    ['bindAddr', { bindAddr: '' }],
    ['bindPort', { bindPort: -1 }],
    ['bindPort', { bindPort: 65_536 }],
    ['bindPort', { bindPort: 1.5 }],
    ['advertiseAddr', { advertiseAddr: 'example.com' }],
    ['advertisePort', { advertisePort: 70_000 }],
    ['meta', { meta: new Uint8Array(META_MAX_SIZE + 1) }],
    ['meta', { meta: 'text' }],
    ['delegateVersions.min', { delegateVersions: { min: -1, max: 1, cur: 0 } }],
    ['delegateVersions.max', { delegateVersions: { min: 0, max: 256, cur: 0 } }],
    ['delegateVersions.cur', { delegateVersions: { min: 0, max: 1, cur: 0.5 } }],
    ['delegateVersions', { delegateVersions: { min: 2, max: 5, cur: 1 } }],
    ['probeIntervalMs', { probeIntervalMs: -1 }],
    ['protocolVersion', { protocolVersion: 9 }],
  ];
  for (const [option, patch] of cases) {
    const error = configError(() => resolveOptions({ ...base, ...patch } as MemberlistOptions));
    assert.is(error.option, option, JSON.stringify(patch));
  }
  const key = new Uint8Array(Buffer.from('0123456789abcdefXYZ')); // 19 bytes: not a valid AES key
  const error = configError(() => resolveOptions({ ...base, secretKey: key }));
  assert.is(error.option, 'secretKey');
  assert.not.ok(error.message.includes('0123456789abcdef'), error.message);
  assert.not.ok(error.message.includes('30313233'), error.message);
});

test('options resolve to LAN defaults with overrides on top', () => {
  const resolved = resolveOptions({ ...base, probeIntervalMs: 2_000, meta: Uint8Array.of(1) });
  assert.equal(resolved.tuning, { ...lanConfig(), probeIntervalMs: 2_000 });
  assert.is(resolved.bindPort, 7946);
  assert.equal([...resolved.meta], [1]);
  assert.equal(resolved.delegateVersions, { min: 0, max: 0, cur: 0 });
  assert.not.ok(resolved.keyring.enabled);
  assert.ok(resolveOptions({ ...base, secretKey: new Uint8Array(16) }).keyring.enabled);
  // Defaults: loopback, so nothing listens on a public interface unless asked.
  assert.is(resolveOptions({ name: 'x' }).bindAddr, '127.0.0.1');
});

test('create rejects with ConfigError for bad options, and for a host name it cannot advertise', async () => {
  const sim = new Simulation({ seed: 1 });
  const node = sim.addNode('10.0.0.1');
  await node.start();
  const named = sim.addNode('not-an-ip');
  await named.start();
  const attempt = async (options: MemberlistOptions): Promise<ConfigError> => {
    let outcome: unknown;
    let settled = false;
    Memberlist.create(options).then(
      () => {
        settled = true;
      },
      (error: unknown) => {
        outcome = error;
        settled = true;
      },
    );
    await sim.runUntil(() => settled, 1_000);
    assert.ok(isConfigError(outcome), `expected ConfigError, got ${String(outcome)}`);
    return outcome as ConfigError;
  };
  const sim0 = { network: node.network, clock: node.clock, random: node.random };
  assert.is((await attempt({ ...base, ...sim0, gossipNodes: -1 })).option, 'gossipNodes');
  const simNamed = { network: named.network, clock: named.clock, random: named.random };
  assert.is((await attempt({ name: 'n1', bindAddr: 'not-an-ip', ...simNamed })).option, 'advertiseAddr');
  // The failed create released its port: a good one can bind it now.
  let ml: Memberlist | undefined;
  Memberlist.create({ name: 'n1', bindAddr: 'not-an-ip', advertiseAddr: '10.9.9.9', ...simNamed }).then(
    (m) => {
      ml = m;
    },
  );
  await sim.runUntil(() => ml !== undefined, 1_000);
  assert.is(ml?.localNode.addr, '10.9.9.9');
  await ml?.shutdown();
});

test.run();
