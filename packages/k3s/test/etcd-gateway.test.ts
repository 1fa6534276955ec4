// The etcd gateway client against a real 3-member etcd 3.4 cluster on loopback (free ports, data on
// tmpfs, short raft timings): list, learner add, promote, leadership transfer, remove, and etcd's
// refusals mapped to typed reasons (K3S-NOTES §2.2). A fake HTTP server covers what real etcd does
// not do on demand: hanging, oversized or malformed answers. Every wait is bounded; the cluster is
// torn down (its own PIDs killed, its directory removed) on success and failure.
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  EtcdGateway,
  type EtcdGatewayError,
  type EtcdGatewayErrorReason,
  type EtcdMember,
  isEtcdGatewayError,
  leaderOf,
  memberIdFromHex,
  memberIdToHex,
} from '../src/etcd/index.js';
import { EtcdCluster, freePorts, GiveUp, pollUntil, retryWhileUnhealthy } from './support/etcd-cluster.js';

/** Awaits `promise` and checks it rejects with an EtcdGatewayError of `reason`. */
async function rejectsWith(
  promise: Promise<unknown>,
  reason: EtcdGatewayErrorReason,
): Promise<EtcdGatewayError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) {
    throw new Error(`expected a '${reason}' rejection, got ${JSON.stringify(outcome.value)}`);
  }
  const { error } = outcome;
  assert.ok(isEtcdGatewayError(error), `not an EtcdGatewayError: ${String(error)}`);
  assert.is(error.reason, reason, error.message);
  return error;
}

// ---------------------------------------------------------------------------------------------
// A fake gateway: answers etcd never gives on demand.

const fake = suite('fake gateway');
const servers: { http?: HttpServer; tcp?: TcpServer; httpUrl: string; tcpUrl: string } = {
  httpUrl: '',
  tcpUrl: '',
};

fake.before(async () => {
  const http = createHttpServer((request, response) => {
    request.resume();
    const path = request.url ?? '';
    if (path.startsWith('/hang')) return; // never answers
    if (path.endsWith('/v3/cluster/member/list') && path.startsWith('/huge')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < 5 * 1024 * 1024) {
          sent += chunk.length;
          if (!response.write(chunk)) {
            response.once('drain', pump);
            return;
          }
        }
        response.end();
      };
      pump();
      return;
    }
    const bodies: Record<string, [number, string]> = {
      '/notjson/v3/cluster/member/list': [200, '{"members":['],
      '/numbers/v3/cluster/member/list': [200, '{"members":[{"ID":15575231784360974314,"name":"x"}]}'],
      '/v3/cluster/member/list': [
        503,
        '{"error":"etcdserver: unhealthy cluster","message":"etcdserver: unhealthy cluster","code":14}',
      ],
      '/v3/maintenance/status': [
        200,
        '{"header":{"member_id":"18446744073709551615"},"version":"3.5.9","dbSize":"20480","raftTerm":"3"}',
      ],
      '/health': [503, '{"health":"false","reason":"no leader"}'],
    };
    const [status, body] = bodies[path] ?? [404, 'Not Found'];
    response.writeHead(status, { 'content-type': status === 404 ? 'text/plain' : 'application/json' });
    response.end(body);
  });
  const tcp = createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.resume(); // read the request, or the socket never ends and close() waits forever
    socket.end('hello, this is not HTTP\r\n\r\n');
  });
  const listen = (server: HttpServer | TcpServer): Promise<number> =>
    new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      }),
    );
  servers.http = http;
  servers.tcp = tcp;
  servers.httpUrl = `http://127.0.0.1:${await listen(http)}`;
  servers.tcpUrl = `http://127.0.0.1:${await listen(tcp)}`;
});

fake.after(async () => {
  servers.http?.closeAllConnections();
  await Promise.all(
    [servers.http, servers.tcp].map(
      (server) => new Promise((resolve) => (server ? server.close(resolve) : resolve(0))),
    ),
  );
});

fake('an answer that never comes is a timeout, bounded by timeoutMs', async () => {
  const gateway = new EtcdGateway({ endpoint: `${servers.httpUrl}/hang`, timeoutMs: 300 });
  const started = Date.now();
  await rejectsWith(gateway.listMembers(), 'timeout');
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
});

fake('etcd error bodies map to reasons with status, grpc code and server message', async () => {
  const error = await rejectsWith(
    new EtcdGateway({ endpoint: servers.httpUrl }).listMembers(),
    'unhealthy-cluster',
  );
  assert.is(error.status, 503);
  assert.is(error.grpcCode, 14);
  assert.is(error.serverMessage, 'etcdserver: unhealthy cluster');
  assert.is(error.operation, 'POST /v3/cluster/member/list');
  assert.is(error.endpoint, servers.httpUrl);
});

fake(
  'malformed answers are bad-response: not JSON, ids as JSON numbers, oversized, plain 404, not HTTP',
  async () => {
    await rejectsWith(
      new EtcdGateway({ endpoint: `${servers.httpUrl}/notjson` }).listMembers(),
      'bad-response',
    );
    await rejectsWith(
      new EtcdGateway({ endpoint: `${servers.httpUrl}/numbers` }).listMembers(),
      'bad-response',
    );
    const huge = await rejectsWith(
      new EtcdGateway({ endpoint: `${servers.httpUrl}/huge` }).listMembers(),
      'bad-response',
    );
    assert.match(huge.message, /larger than 4194304 bytes/);
    const notFound = await rejectsWith(
      new EtcdGateway({ endpoint: servers.httpUrl }).removeMember('1'),
      'bad-response',
    );
    assert.is(notFound.status, 404);
    await rejectsWith(new EtcdGateway({ endpoint: servers.tcpUrl }).listMembers(), 'bad-response');
  },
);

fake('status and health: omitted fields take their defaults; an unhealthy answer is false', async () => {
  const gateway = new EtcdGateway({ endpoint: servers.httpUrl });
  assert.equal(await gateway.status(), {
    memberId: '18446744073709551615',
    leaderId: '0',
    raftTerm: '3',
    raftIndex: '0',
    version: '3.5.9',
    dbSize: 20480,
    isLearner: false,
  });
  assert.is(await gateway.health(), false);
});

fake('an aborted call rejects with the signal reason, not a gateway error', async () => {
  const gateway = new EtcdGateway({ endpoint: `${servers.httpUrl}/hang`, timeoutMs: 5000 });
  const controller = new AbortController();
  const call = gateway.listMembers(controller.signal);
  setTimeout(() => controller.abort(new Error('stop now')), 50);
  try {
    await call;
    assert.unreachable('should have been aborted');
  } catch (error) {
    assert.not.ok(isEtcdGatewayError(error));
    assert.is((error as Error).message, 'stop now');
  }
  const already = await gateway.listMembers(AbortSignal.abort()).catch((error: unknown) => error);
  assert.is((already as Error).name, 'AbortError');
});

fake('bad endpoints and bad ids are invalid-argument before anything is sent', async () => {
  for (const endpoint of [
    'not a url',
    'ftp://127.0.0.1:1',
    'http://user:pw@127.0.0.1:1',
    'http://127.0.0.1:1/?x=1',
  ]) {
    try {
      new EtcdGateway({ endpoint });
      assert.unreachable(endpoint);
    } catch (error) {
      assert.ok(isEtcdGatewayError(error) && error.reason === 'invalid-argument', String(error));
    }
  }
  assert.throws(
    () => new EtcdGateway({ endpoint: 'http://127.0.0.1:1', tls: { ca: '', cert: '', key: '' } }),
    (error: unknown) => isEtcdGatewayError(error) && error.reason === 'invalid-argument',
  );
  // Port 1 would give 'unreachable' if the id were sent.
  const gateway = new EtcdGateway({ endpoint: 'http://127.0.0.1:1' });
  for (const id of ['', '0', '-1', '1e3', '0x10', '007', '18446744073709551616', ' 1']) {
    await rejectsWith(gateway.removeMember(id), 'invalid-argument');
    await rejectsWith(gateway.promoteMember(id), 'invalid-argument');
    await rejectsWith(gateway.transferLeadership(id), 'invalid-argument');
  }
});

fake('nothing listening is unreachable', async () => {
  const [port] = await freePorts(1);
  const error = await rejectsWith(
    new EtcdGateway({ endpoint: `http://127.0.0.1:${port}` }).listMembers(),
    'unreachable',
  );
  assert.match(error.message, /ECONNREFUSED/);
  await rejectsWith(new EtcdGateway({ endpoint: `http://127.0.0.1:${port}` }).health(), 'unreachable');
});

fake.run();

// ---------------------------------------------------------------------------------------------
// A real cluster. The tests run in order and share it: each leaves the cluster as the next expects.

const real = suite('real etcd 3.4');
const lab: { cluster?: EtcdCluster; usedIds: Set<string> } = { usedIds: new Set() };

function cluster(): EtcdCluster {
  if (lab.cluster === undefined) throw new Error('the cluster did not start');
  return lab.cluster;
}

/** The harness name of `member` (by peer URL). */
function nameOf(member: EtcdMember): string {
  const name = cluster()
    .names()
    .find((n) => member.peerUrls.includes(cluster().peerUrl(n)));
  if (name === undefined) throw new Error(`no harness member for ${JSON.stringify(member)}`);
  return name;
}

async function etcdctl(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'etcdctl',
      [...args],
      { timeout: 10_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' } },
      (error, stdout, stderr) =>
        error ? reject(new Error(`etcdctl ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    );
  });
}

real.before(async () => {
  lab.cluster = await EtcdCluster.start({ size: 3 });
});

real.after(async () => {
  await lab.cluster?.teardown();
});

real(
  'list: three voters with their names, URLs and exact decimal ids; hex ids as etcdctl prints them',
  async () => {
    const c = cluster();
    const members = await c.gateway('e1').listMembers();
    assert.equal(members.map((m) => m.name).sort(), ['e1', 'e2', 'e3']);
    for (const member of members) {
      assert.equal(member.peerUrls, [c.peerUrl(member.name)]);
      assert.equal(member.clientUrls, [c.clientUrl(member.name)]);
      assert.is(member.isLearner, false);
      assert.match(member.id, /^[1-9][0-9]*$/);
      assert.is(member.hexId, memberIdToHex(member.id));
      assert.is(memberIdFromHex(member.hexId), member.id);
    }
    // `etcdctl member list`: `<hex>, started, <name>, <peer>, <client>, false` per line.
    const table = await etcdctl([`--endpoints=${c.clientUrl('e2')}`, 'member', 'list']);
    const rows = table
      .trim()
      .split('\n')
      .map((line) => line.split(', '));
    assert.is(rows.length, 3);
    for (const [hex, status, name] of rows) {
      const member = members.find((m) => m.name === name);
      assert.ok(member, `etcdctl lists ${name}`);
      assert.is(status, 'started');
      assert.is(hex, member.hexId);
      assert.is(memberIdFromHex(hex as string), member.id);
    }
    // The same answer from every member's gateway.
    for (const name of ['e2', 'e3']) {
      const other = await c.gateway(name).listMembers();
      assert.equal(other.map((m) => m.id).sort(), members.map((m) => m.id).sort());
    }
  },
);

real(
  'add a learner: refused as unhealthy-cluster for ~5 s after start, then accepted without a name',
  async () => {
    const c = cluster();
    // Whether the first attempt falls inside etcd's refusal window depends on timing; when it does,
    // it must map to 'unhealthy-cluster' (the harness's retry loop only retries that reason).
    const { member, refusals } = await c.addMember('e4', { learner: true, start: false });
    for (const refusal of refusals) {
      assert.is(refusal.reason, 'unhealthy-cluster');
      assert.is(refusal.status, 503);
      assert.is(refusal.grpcCode, 14);
      assert.is(refusal.serverMessage, 'etcdserver: unhealthy cluster');
    }
    assert.is(member.isLearner, true);
    assert.is(member.name, '');
    assert.equal(member.clientUrls, []);
    assert.equal(member.peerUrls, [c.peerUrl('e4')]);
    const listed = (await c.gateway('e1').listMembers()).find((m) => m.id === member.id);
    assert.equal(listed, member);
    // A second learner: etcd 3.4 allows one at a time. etcd checks that the member answering is
    // connected to every voter for the last 5 s before it counts learners, so on a loaded machine
    // this add can meet 'unhealthy-cluster' first; only the learner-count refusal is the point here.
    const [port] = await freePorts(1);
    const tooMany = await rejectsWith(
      retryWhileUnhealthy('second learner', () =>
        c.gateway('e2').addMember([`http://127.0.0.1:${port}`], { learner: true }),
      ),
      'refused',
    );
    assert.match(tooMany.serverMessage ?? '', /too many learner/);
  },
);

real('promote: learner-not-in-sync before the learner runs; promoted once it has started', async () => {
  const c = cluster();
  const learner = (await c.gateway('e1').listMembers()).find((m) => m.isLearner);
  assert.ok(learner);
  const early = await rejectsWith(c.gateway('e1').promoteMember(learner.id), 'learner-not-in-sync');
  assert.is(early.status, 412);
  assert.is(early.grpcCode, 9);
  await c.startMember('e4', { waitReady: false });
  await pollUntil(
    'promote e4',
    10_000,
    async () => {
      try {
        await c.gateway('e2').promoteMember(learner.id);
        return true;
      } catch (error) {
        if (isEtcdGatewayError(error) && error.reason === 'learner-not-in-sync') return undefined;
        throw error;
      }
    },
    25,
  );
  lab.usedIds.add(learner.id);
  await c.waitReady('e4');
  const promoted = (await c.gateway('e4').listMembers()).find((m) => m.id === learner.id);
  assert.equal(promoted, { ...learner, name: 'e4', clientUrls: [c.clientUrl('e4')], isLearner: false });
  // Promoting a voter is a different refusal.
  const voter = await rejectsWith(c.gateway('e1').promoteMember(learner.id), 'refused');
  assert.match(voter.serverMessage ?? '', /can only promote a learner member$/);
});

real('transfer leadership: not-leader from a follower; from the leader it moves', async () => {
  const c = cluster();
  const members = await c.gateway('e1').listMembers();
  const leader = leaderOf(members, await c.gateway('e1').status());
  assert.ok(leader, 'e1 knows a leader');
  // The target is a member whose id no earlier test sent back, so the last test checks one more id.
  const followers = members.filter((m) => m.id !== leader.id);
  const target = followers.find((m) => !lab.usedIds.has(m.id));
  const asked = followers.find((m) => m.id !== target?.id);
  assert.ok(asked && target);
  const refused = await rejectsWith(c.gateway(nameOf(asked)).transferLeadership(target.id), 'not-leader');
  assert.is(refused.status, 412);
  assert.is(refused.serverMessage, 'etcdserver: not leader');
  await rejectsWith(c.gateway(nameOf(leader)).transferLeadership('12345'), 'refused'); // bad leader transferee
  await c.gateway(nameOf(leader)).transferLeadership(target.id);
  lab.usedIds.add(target.id);
  // It returns once the transfer is done; every member learns of it within a heartbeat or two.
  for (const member of members) {
    await pollUntil(`${nameOf(member)} sees the new leader`, 5000, async () => {
      const status = await c.gateway(nameOf(member)).status();
      return status.leaderId === target.id ? true : undefined;
    });
  }
  const status = await c.gateway(nameOf(target)).status();
  assert.is(status.memberId, target.id);
  assert.is(status.leaderId, target.id);
  assert.is(status.version, '3.4.23');
  assert.ok(BigInt(status.raftTerm) >= 2n);
});

real('restart: a stopped follower comes back with the same id', async () => {
  const c = cluster();
  const members = await c.gateway('e1').listMembers();
  const leaderId = (await c.gateway('e1').status()).leaderId;
  const follower = members.find((m) => m.id !== leaderId);
  assert.ok(follower);
  await c.restart(nameOf(follower));
  const status = await c.gateway(nameOf(follower)).status();
  assert.is(status.memberId, follower.id);
  assert.is(await c.gateway(nameOf(follower)).health(), true);
});

real('remove a follower: its etcd exits by itself with status 0', async () => {
  const c = cluster();
  const leaderId = (await c.gateway('e1').status()).leaderId;
  const members = await c.gateway('e1').listMembers();
  const removable = members.filter((m) => m.id !== leaderId && m.name !== 'e1');
  const follower = removable.find((m) => !lab.usedIds.has(m.id)) ?? removable[0];
  assert.ok(follower);
  const name = nameOf(follower);
  // e4 joined and another member restarted less than 5 s ago: etcd refuses until they count as up.
  await retryWhileUnhealthy('remove a follower', () => c.gateway('e1').removeMember(follower.id));
  lab.usedIds.add(follower.id);
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    c.exited(name),
    new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 10_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(exit, { code: 0, signal: null }, c.output(name));
  const left = await c.gateway('e1').listMembers();
  assert.is(left.length, 3);
  assert.not.ok(left.some((m) => m.id === follower.id));
});

real(
  'refusals: unknown id → member-not-found, malformed peer URL → invalid-argument, taken URL → refused',
  async () => {
    const c = cluster();
    const ids = new Set((await c.gateway('e1').listMembers()).map((m) => m.id));
    let unknown = 1n;
    while (ids.has(unknown.toString())) unknown += 1n;
    const notFound = await rejectsWith(c.gateway('e1').removeMember(unknown.toString()), 'member-not-found');
    assert.is(notFound.status, 404);
    assert.is(notFound.grpcCode, 5);
    await rejectsWith(c.gateway('e1').promoteMember('18446744073709551615'), 'member-not-found');
    const invalid = await rejectsWith(
      c.gateway('e1').addMember(['not a url'], { learner: true }),
      'invalid-argument',
    );
    assert.is(invalid.status, 400);
    assert.is(invalid.grpcCode, 3);
    assert.is(invalid.serverMessage, 'etcdserver: given member URLs are invalid');
    // A member removed or restarted in the tests before counts as up only after 5 s; until then etcd
    // answers an add with 'unhealthy-cluster' before it looks at the URLs.
    const taken = await rejectsWith(
      retryWhileUnhealthy('add a taken URL', () =>
        c.gateway('e1').addMember([c.peerUrl('e1')], { learner: true }),
      ),
      'refused',
    );
    assert.match(taken.serverMessage ?? '', /Peer URLs already exists/);
  },
);

real(
  'a member down: add and removing an up member are refused; removing the down member is allowed',
  async () => {
    const c = cluster();
    const members = await c.gateway('e1').listMembers();
    const leaderId = (await c.gateway('e1').status()).leaderId;
    const candidates = members.filter((m) => m.id !== leaderId && m.name !== 'e1');
    const down = candidates.find((m) => !lab.usedIds.has(m.id)) ?? candidates[0];
    const up = members.find((m) => m.id !== leaderId && m.id !== down?.id);
    assert.ok(down && up);
    await c.kill(nameOf(down));
    // The leader notices at once (the peer connections reset); until it has, an add may still pass:
    // take such a learner out again and ask once more. A fresh peer URL per try: etcd derives member
    // ids from the URLs and the current second, and re-adding URLs within the second they were
    // removed is refused as "member not found".
    const refusal = await pollUntil('add refused while a member is down', 5000, async () => {
      const [port] = await freePorts(1);
      try {
        const added = await c.gateway('e1').addMember([`http://127.0.0.1:${port}`], { learner: true });
        await c.gateway('e1').removeMember(added.id);
        return undefined;
      } catch (error) {
        if (isEtcdGatewayError(error) && error.reason === 'unhealthy-cluster') return error;
        throw new GiveUp(String(error));
      }
    });
    assert.is(refusal.status, 503);
    const [port] = await freePorts(1);
    await rejectsWith(
      c.gateway('e1').addMember([`http://127.0.0.1:${port}`], { learner: false }),
      'unhealthy-cluster',
    );
    await rejectsWith(c.gateway('e1').removeMember(up.id), 'unhealthy-cluster');
    await c.gateway('e1').removeMember(down.id);
    lab.usedIds.add(down.id);
    const left = await c.gateway('e1').listMembers();
    assert.is(left.length, 2);
    assert.ok(left.some((m) => m.id === up.id));
  },
);

real('64-bit ids: every id etcd accepted back was exact, including those above 2^53', async () => {
  // Ids are random uint64s, so nearly all exceed 2^53; each one in usedIds went back to etcd as a
  // string and was accepted (promote, transfer, remove), which a rounded id would not have been.
  // The tests above prefer members whose id was not sent yet, but leadership may move between them,
  // so only two distinct ids are certain: the transfer target is never the promoted learner.
  assert.ok(lab.usedIds.size >= 2, `${lab.usedIds.size} ids used`);
  const above = [...lab.usedIds].filter((id) => BigInt(id) > 2n ** 53n);
  for (const id of lab.usedIds) {
    assert.is(BigInt(id).toString(), id);
    assert.is(memberIdFromHex(memberIdToHex(id)), id);
  }
  // Each random id is at most 2^53 with odds 1 in 2^11.
  if (above.length === 0) {
    console.log(`  (no id above 2^53 this run: odds 1 in 2^${11 * lab.usedIds.size})`);
  }
});

real.run();
