// Member ids, the gateway answer decoder, error mapping and the member/node matching, without etcd:
// ids convert exactly between decimal and hex (through BigInt, never a JS number) and anything that
// is not a uint64 is rejected; arbitrary bytes or JSON given to the decoder end in a value of the
// documented shape or an EtcdGatewayError, never anything else.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeAddedMember,
  decodeHealth,
  decodeMembers,
  decodeReply,
  decodeStatus,
  type GatewayCall,
} from '../src/etcd/decode.js';
import { reasonForGrpcError } from '../src/etcd/error-mapping.js';
import * as etcd from '../src/etcd/index.js';
import {
  EtcdGatewayError,
  type EtcdMember,
  EtcdMemberIdError,
  hasPeerHost,
  isEtcdGatewayError,
  isEtcdMemberIdError,
  isK3sMemberName,
  isMemberId,
  isMemberOf,
  leaderOf,
  memberIdFromHex,
  memberIdToHex,
} from '../src/etcd/index.js';

const UINT64_MAX = (1n << 64n) - 1n;
const call: GatewayCall = { operation: 'POST /v3/cluster/member/list', endpoint: 'http://127.0.0.1:2379' };
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Runs `run`; null when it threw an EtcdMemberIdError, which is the only error allowed. */
function idAttempt<T>(run: () => T): T | null {
  try {
    return run();
  } catch (error) {
    if (error instanceof EtcdMemberIdError && isEtcdMemberIdError(error)) return null;
    throw error;
  }
}

/** Runs `run`; null when it threw an EtcdGatewayError, which is the only error allowed. */
function gatewayAttempt<T>(run: () => T): T | null {
  try {
    return run();
  } catch (error) {
    if (error instanceof EtcdGatewayError && isEtcdGatewayError(error)) return null;
    throw error;
  }
}

const memberIds = fc.bigInt({ min: 1n, max: UINT64_MAX });
const above2to53 = fc.bigInt({ min: 2n ** 53n + 1n, max: UINT64_MAX });

test('ids: decimal → hex → decimal is exact for every uint64 but 0', () => {
  fc.assert(
    fc.property(memberIds, (value) => {
      const id = value.toString();
      const hex = memberIdToHex(id);
      assert.match(hex, /^[1-9a-f][0-9a-f]{0,15}$/); // etcdctl's %x: lowercase, no padding
      assert.is(BigInt(`0x${hex}`), value);
      assert.is(memberIdFromHex(hex), id);
      assert.is(memberIdFromHex(hex.toUpperCase()), id);
      assert.is(memberIdFromHex(hex.padStart(16, '0')), id);
      assert.ok(isMemberId(id));
    }),
    { numRuns: 2000 },
  );
  assert.is(memberIdToHex('18446744073709551615'), 'ffffffffffffffff');
  assert.is(memberIdFromHex('ffffffffffffffff'), '18446744073709551615');
  assert.is(memberIdToHex('1'), '1');
  // From K3S-NOTES §2.2: etcdctl's table and the gateway's decimal of the same members.
  assert.is(memberIdFromHex('d82656c9693597ea'), '15575231784360974314');
  assert.is(memberIdToHex('15575231784360974314'), 'd82656c9693597ea');
  assert.is(memberIdFromHex('355746e3283d0da'), '240226171776913626');
});

test('ids: above 2^53 nothing is rounded (a JS number would be)', () => {
  fc.assert(
    fc.property(above2to53, (value) => {
      const id = value.toString();
      assert.is(memberIdFromHex(memberIdToHex(id)), id);
      // The decoder keeps the gateway's string as it is.
      const body = utf8(`{"members":[{"ID":"${id}","name":"n","peerURLs":["http://10.0.0.1:2380"]}]}`);
      const [member] = decodeMembers(call, decodeReply(call, { status: 200, body }));
      assert.is(member?.id, id);
      assert.is(member?.hexId, value.toString(16));
    }),
    { numRuns: 500 },
  );
  // The hazard itself: the number JSON.parse makes of this id names a different member.
  assert.is.not(BigInt(Number('15575231784360974314')), 15575231784360974314n);
});

test('ids: anything that is not a canonical uint64 is rejected with EtcdMemberIdError', () => {
  for (const bad of [
    '',
    '0',
    '00',
    '01',
    '-1',
    '+1',
    ' 1',
    '1 ',
    '1.0',
    '1e3',
    '0x1f',
    '18446744073709551616',
    '99999999999999999999',
    '١٢',
  ]) {
    assert.is(
      idAttempt(() => memberIdToHex(bad)),
      null,
      bad,
    );
    assert.not.ok(isMemberId(bad), bad);
  }
  for (const bad of ['', '0', '0000', 'g', '0x1f', '-1', ' 1', '10000000000000000', 'fffffffffffffffff']) {
    assert.is(
      idAttempt(() => memberIdFromHex(bad)),
      null,
      bad,
    );
  }
  const error = idAttempt(() => {
    try {
      memberIdToHex('18446744073709551616');
    } catch (e) {
      return e;
    }
    return undefined;
  });
  assert.ok(isEtcdMemberIdError(error));
  assert.is((error as EtcdMemberIdError).reason, 'range');
  assert.is((error as EtcdMemberIdError).name, 'EtcdMemberIdError');
  fc.assert(
    fc.property(fc.string({ maxLength: 30 }), (text) => {
      const hex = idAttempt(() => memberIdToHex(text));
      const canonical = /^[1-9][0-9]{0,19}$/.test(text) && BigInt(text) <= UINT64_MAX;
      assert.is(hex !== null, canonical, text);
      assert.is(isMemberId(text), canonical, text);
      const decimal = idAttempt(() => memberIdFromHex(text));
      const hexLike = /^[0-9a-fA-F]{1,16}$/.test(text) && BigInt(`0x${text}`) !== 0n;
      assert.is(decimal !== null, hexLike, text);
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.bigInt({ min: UINT64_MAX + 1n, max: UINT64_MAX * 1000n }), (value) => {
      assert.is(
        idAttempt(() => memberIdToHex(value.toString())),
        null,
      );
    }),
  );
});

test('decoder: arbitrary bytes with any status give an EtcdGatewayError or a well-formed value', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 100, max: 599 }), (body, status) => {
      checkAllDecoders(status, body);
    }),
    { numRuns: 2000 },
  );
});

test('decoder: arbitrary JSON, and member-shaped JSON with wrong field types, never throws anything else', () => {
  const anyJson = fc.jsonValue({ maxDepth: 4 });
  const wild = fc.oneof(anyJson, fc.constantFrom(undefined, null, '', '0', '1', 1, 2 ** 64, true, [], {}));
  const memberLike = fc.record(
    {
      ID: fc.oneof(memberIds.map(String), wild),
      name: wild,
      peerURLs: wild,
      clientURLs: wild,
      isLearner: wild,
    },
    { requiredKeys: [] },
  );
  const bodyLike = fc.record(
    {
      header: fc.oneof(
        fc.record({ member_id: fc.oneof(memberIds.map(String), wild) }, { requiredKeys: [] }),
        wild,
      ),
      members: fc.oneof(fc.array(memberLike, { maxLength: 4 }), wild),
      member: fc.oneof(memberLike, wild),
      leader: wild,
      raftTerm: wild,
      raftIndex: wild,
      dbSize: wild,
      version: wild,
      isLearner: wild,
      health: wild,
      code: fc.oneof(fc.integer({ min: -2, max: 20 }), wild),
      message: wild,
      error: wild,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(
      fc.oneof(anyJson, bodyLike),
      fc.constantFrom(200, 201, 400, 404, 412, 500, 503),
      (json, status) => {
        const text = JSON.stringify(json) ?? 'undefined';
        checkAllDecoders(status, utf8(text));
      },
    ),
    { numRuns: 3000 },
  );
});

/** Every decoder on one answer: a value of the documented shape, or an EtcdGatewayError. */
function checkAllDecoders(status: number, body: Uint8Array): void {
  const reply = { status, body };
  const object = gatewayAttempt(() => decodeReply(call, reply));
  if (object !== null) {
    assert.ok(status >= 200 && status < 300);
    const members = gatewayAttempt(() => decodeMembers(call, object));
    if (members !== null) for (const member of members) checkMember(member);
    const added = gatewayAttempt(() => decodeAddedMember(call, object));
    if (added !== null) checkMember(added);
    const status_ = gatewayAttempt(() => decodeStatus(call, object));
    if (status_ !== null) {
      assert.ok(isMemberId(status_.memberId));
      for (const value of [status_.leaderId, status_.raftTerm, status_.raftIndex])
        assert.match(value, /^(0|[1-9][0-9]*)$/);
      assert.ok(Number.isSafeInteger(status_.dbSize) && status_.dbSize >= 0);
      assert.type(status_.version, 'string');
      assert.type(status_.isLearner, 'boolean');
    }
  }
  const health = gatewayAttempt(() => decodeHealth(call, reply));
  if (health !== null) assert.type(health, 'boolean');
}

function checkMember(member: EtcdMember): void {
  assert.equal(Object.keys(member).sort(), ['clientUrls', 'hexId', 'id', 'isLearner', 'name', 'peerUrls']);
  assert.ok(isMemberId(member.id));
  assert.is(member.hexId, memberIdToHex(member.id));
  assert.type(member.name, 'string');
  assert.type(member.isLearner, 'boolean');
  for (const url of [...member.peerUrls, ...member.clientUrls]) assert.type(url, 'string');
}

test('decoder: members with omitted default fields get the defaults', () => {
  const body = utf8(
    '{"header":{"cluster_id":"1","member_id":"2"},"members":[{"ID":"240226171776913626","peerURLs":["http://127.0.0.1:41390"],"isLearner":true},{"ID":"17010963214147749224","name":"p1","peerURLs":["http://127.0.0.1:41380"],"clientURLs":["http://127.0.0.1:41379"]}]}',
  );
  assert.equal(decodeMembers(call, decodeReply(call, { status: 200, body })), [
    {
      id: '240226171776913626',
      hexId: '355746e3283d0da',
      name: '',
      peerUrls: ['http://127.0.0.1:41390'],
      clientUrls: [],
      isLearner: true,
    },
    {
      id: '17010963214147749224',
      hexId: 'ec1314ea52838568',
      name: 'p1',
      peerUrls: ['http://127.0.0.1:41380'],
      clientUrls: ['http://127.0.0.1:41379'],
      isLearner: false,
    },
  ]);
  // An own "__proto__" key is data, not a prototype, and does not stand in for missing fields.
  const proto = utf8('{"members":[{"__proto__":{"name":"x"},"ID":"5"}]}');
  assert.equal(decodeMembers(call, decodeReply(call, { status: 200, body: proto }))[0]?.name, '');
  for (const bad of [
    '{"members":[{"ID":"5"},{"ID":"5"}]}', // the same id twice
    '{"members":[{"ID":"0"}]}',
    '{"members":[{"ID":5}]}',
    '{"members":[{"ID":"5","isLearner":"true"}]}',
    '{"members":[{"ID":"5","peerURLs":"http://x"}]}',
    '{"members":{}}',
  ]) {
    const error = gatewayAttempt(() =>
      decodeMembers(call, decodeReply(call, { status: 200, body: utf8(bad) })),
    );
    assert.is(error, null, bad);
  }
});

test('error mapping: the table measured on etcd 3.4.23', () => {
  const cases: [number, number, string, etcd.EtcdGatewayErrorReason][] = [
    [503, 14, 'etcdserver: unhealthy cluster', 'unhealthy-cluster'],
    [503, 14, 'etcdserver: no leader', 'unhealthy-cluster'],
    [
      412,
      9,
      'etcdserver: can only promote a learner member which is in sync with leader',
      'learner-not-in-sync',
    ],
    [412, 9, 'etcdserver: can only promote a learner member', 'refused'],
    [412, 9, 'etcdserver: not leader', 'not-leader'],
    [412, 9, 'etcdserver: bad leader transferee', 'refused'],
    [412, 9, 'etcdserver: Peer URLs already exists', 'refused'],
    [412, 9, 'etcdserver: too many learner members in cluster', 'refused'],
    [404, 5, 'etcdserver: member not found', 'member-not-found'],
    [400, 3, 'etcdserver: given member URLs are invalid', 'invalid-argument'],
    [
      400,
      3,
      'json: cannot unmarshal number -2871512289348577302 into Go value of type uint64',
      'invalid-argument',
    ],
    [401, 16, 'etcdserver: user name is empty', 'refused'],
    [500, 2, 'something else', 'refused'],
  ];
  for (const [status, code, message, reason] of cases) {
    const body = utf8(JSON.stringify({ error: message, message, code }));
    try {
      decodeReply(call, { status, body });
      assert.unreachable(message);
    } catch (error) {
      assert.ok(isEtcdGatewayError(error), String(error));
      assert.is(error.reason, reason, message);
      assert.is(error.status, status);
      assert.is(error.grpcCode, code);
      assert.is(error.serverMessage, message);
      assert.is(error.operation, call.operation);
      assert.is(error.endpoint, call.endpoint);
      assert.ok(error.message.includes(message));
    }
    assert.is(reasonForGrpcError(code, message), reason);
  }
  // etcd's message is untrusted: no control characters reach the error, and it is cut short.
  const nasty = `etcdserver: x\n2026-01-01 FAKE LOG LINE\u0000${'y'.repeat(500)}`;
  try {
    decodeReply(call, { status: 412, body: utf8(JSON.stringify({ message: nasty, code: 9 })) });
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(isEtcdGatewayError(e), String(e));
    assert.not.match(e.serverMessage ?? '', /\p{Cc}/u);
    assert.ok((e.serverMessage ?? '').length <= 201);
  }
});

test('EtcdGatewayError: name, fields, message; the guard works across package copies', () => {
  const cause = new Error('ECONNREFUSED');
  const error = new EtcdGatewayError('unreachable', 'cannot reach etcd', {
    operation: 'GET /health',
    endpoint: 'http://127.0.0.1:1',
    cause,
  });
  assert.is(error.name, 'EtcdGatewayError');
  assert.is(EtcdGatewayError.name, 'EtcdGatewayError');
  assert.is(error.message, 'etcd gateway GET /health at http://127.0.0.1:1: cannot reach etcd');
  assert.is(error.cause, cause);
  assert.is(error.status, undefined);
  assert.ok(isEtcdGatewayError(error));
  const fromOtherCopy = Object.assign(new Error('m'), {
    name: 'EtcdGatewayError',
    reason: 'timeout',
    detail: 'd',
  });
  assert.ok(isEtcdGatewayError(fromOtherCopy));
  for (const other of [new Error('x'), { name: 'EtcdGatewayError' }, null, 'EtcdGatewayError', 1]) {
    assert.not.ok(isEtcdGatewayError(other));
  }
});

const member = (name: string, peerUrls: string[]): EtcdMember => ({
  id: '1',
  hexId: '1',
  name,
  peerUrls,
  clientUrls: [],
  isLearner: false,
});

test('isMemberOf: exactly `<node>-<8 hex>`, and the peer host when given (IPv6 with or without brackets)', () => {
  const m = member('server1-1a2b3c4d', ['https://100.64.1.2:2380']);
  assert.ok(isMemberOf(m, 'server1'));
  assert.ok(isMemberOf(m, 'server1', '100.64.1.2'));
  assert.not.ok(isMemberOf(m, 'server1', '100.64.1.20'));
  assert.not.ok(isMemberOf(m, 'server'));
  assert.not.ok(isMemberOf(m, 'server1-1a2b3c4d'));
  assert.not.ok(isMemberOf(member('server1-1A2B3C4D', []), 'server1'));
  assert.not.ok(isMemberOf(member('server1-1a2b3c4', []), 'server1'));
  assert.not.ok(isMemberOf(member('server1-1a2b3c4de', []), 'server1'));
  assert.not.ok(isMemberOf(member('server1_1a2b3c4d', []), 'server1'));
  assert.not.ok(isMemberOf(member('', ['https://100.64.1.2:2380']), 'server1', '100.64.1.2'));
  assert.not.ok(isMemberOf(member('-1a2b3c4d', []), ''));
  // Node names are not patterns.
  assert.ok(isMemberOf(member('a.b-00000000', []), 'a.b'));
  assert.not.ok(isMemberOf(member('axb-00000000', []), 'a.b'));
  const v6 = member('n-deadbeef', ['https://[fd7a:115c:a1e0::1]:2380']);
  assert.ok(isMemberOf(v6, 'n', 'fd7a:115c:a1e0::1'));
  assert.ok(isMemberOf(v6, 'n', '[fd7a:115c:a1e0::1]'));
  assert.ok(isMemberOf(v6, 'n', 'FD7A:115C:A1E0:0:0:0:0:1'));
  assert.not.ok(isMemberOf(v6, 'n', 'fd7a:115c:a1e0::2'));
  assert.ok(hasPeerHost(member('', ['not a url', 'http://Host.Example:2380']), 'host.example'));
  for (const address of ['', '[]', 'a b', 'x/y', 'fe80::1%eth0']) {
    assert.not.ok(hasPeerHost(member('', ['http://10.0.0.1:2380']), address), address);
  }
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,30}$/),
      fc.stringMatching(/^[0-9a-f]{8}$/),
      fc.string({ maxLength: 12 }),
      (node, suffix, other) => {
        assert.ok(isK3sMemberName(`${node}-${suffix}`, node));
        if (other !== node) assert.not.ok(isK3sMemberName(`${other}-${suffix}`, node));
      },
    ),
    { numRuns: 500 },
  );
});

test('leaderOf: the member status names, if listed', () => {
  const members = [
    { ...member('a', []), id: '10' },
    { ...member('b', []), id: '11' },
  ];
  const status = {
    memberId: '10',
    leaderId: '11',
    raftTerm: '2',
    raftIndex: '9',
    version: '',
    dbSize: 0,
    isLearner: false,
  };
  assert.is(leaderOf(members, status)?.name, 'b');
  assert.is(leaderOf(members, { ...status, leaderId: '0' }), undefined);
  assert.is(leaderOf(members, { ...status, leaderId: '12' }), undefined);
});

test('the etcd index exports the public API', () => {
  for (const name of [
    'EtcdGateway',
    'EtcdGatewayError',
    'isEtcdGatewayError',
    'EtcdMemberIdError',
    'isEtcdMemberIdError',
    'EtcdCredentialsError',
    'isEtcdCredentialsError',
    'memberIdFromHex',
    'memberIdToHex',
    'isMemberId',
    'isMemberOf',
    'isK3sMemberName',
    'hasPeerHost',
    'leaderOf',
    'k3sEtcdGatewayOptions',
    'k3sEtcdCertificatePaths',
    'K3S_ETCD_GATEWAY_ENDPOINT',
    'ETCD_GATEWAY_MAX_RESPONSE_BYTES',
  ]) {
    assert.ok(name in etcd, name);
  }
  assert.is(etcd.K3S_ETCD_GATEWAY_ENDPOINT, 'https://127.0.0.1:2382');
  assert.is(etcd.ETCD_GATEWAY_MAX_RESPONSE_BYTES, 4 * 1024 * 1024);
});

test.run();
