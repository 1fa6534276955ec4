// raft-kv as real processes on loopback: 3 and 5 members under a write/read/cas load, the leader
// SIGKILLed and restarted mid-load. No acknowledged write may be lost and the whole history,
// including final reads of every key, must be linearizable. Needs `npm run build`.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkLinearizability,
  type KvOperation,
} from '../../../packages/raft/test/support/linearizability.js';
import {
  b64,
  CLI,
  eventually,
  type ProcessCluster,
  post,
  startProcessCluster,
  unb64,
} from './support/processes.js';

const KEYS = ['a', 'b', 'c'];

async function leaderOf(cluster: ProcessCluster): Promise<string | undefined> {
  for (const member of cluster.members) {
    if (member.process === undefined) continue;
    try {
      const { body } = await post(`${member.clientUrl}/v3/maintenance/status`, {}, 500);
      const header = body.header as { member_id: string } | undefined;
      if (body.leader !== undefined && body.leader === header?.member_id) return member.id;
    } catch {}
  }
  return undefined;
}

/**
 * "not leader" answers come from a member that refused before proposing anything, so the write
 * certainly did not happen; every other failure may have happened and stays in the history.
 */
function definitelyNotApplied(status: number, body: Record<string, unknown>): boolean {
  return status !== 200 && typeof body.error === 'string' && body.error.includes('not leader');
}

async function load(cluster: ProcessCluster, client: number, until: () => boolean, history: KvOperation[]) {
  let n = 0;
  let seq = 0;
  while (!until()) {
    const running = cluster.members.filter((m) => m.process !== undefined);
    const member = running[(client + n) % running.length];
    if (member === undefined) continue;
    const key = KEYS[(n * 7 + client) % KEYS.length] ?? 'a';
    const value = `c${client}-${n}`;
    const kind = n % 3;
    n++;
    seq++;
    const call = performance.now();
    try {
      if (kind === 0) {
        const { status, body } = await post(`${member.clientUrl}/v3/kv/range`, { key: b64(key) });
        if (status !== 200) continue; // a failed read changed nothing
        const kvs = body.kvs as { value?: string }[] | undefined;
        const found = kvs?.[0];
        history.push({
          client,
          call,
          return: performance.now(),
          input: { op: 'get', key },
          output: { value: found === undefined ? null : unb64(found.value ?? '') },
        });
      } else if (kind === 1) {
        const { status, body } = await post(`${member.clientUrl}/v3/kv/put`, {
          key: b64(key),
          value: b64(value),
        });
        if (definitelyNotApplied(status, body)) continue;
        history.push({
          client,
          call,
          return: status === 200 ? performance.now() : undefined,
          input: { op: 'put', key, value },
          output: {},
        });
      } else {
        const expected = `c${(client + 1) % 3}-${Math.max(0, n - 3)}`;
        const { status, body } = await post(`${member.clientUrl}/v3/kv/txn`, {
          compare: [{ key: b64(key), target: 'VALUE', result: 'EQUAL', value: b64(expected) }],
          success: [{ request_put: { key: b64(key), value: b64(value) } }],
        });
        if (definitelyNotApplied(status, body)) continue;
        if (status === 200) {
          history.push({
            client,
            call,
            return: performance.now(),
            input: { op: 'cas', key, value, expected },
            output: { ok: body.succeeded === true },
          });
        } else {
          history.push({ client, call, return: undefined, input: { op: 'put', key, value }, output: {} });
        }
      }
    } catch {
      // Timed out or connection refused (the member was killed): the write may or may not have happened.
      if (kind !== 0)
        history.push({ client, call, return: undefined, input: { op: 'put', key, value }, output: {} });
    }
    void seq;
  }
}

async function scenario(size: number): Promise<void> {
  const cluster = await startProcessCluster(size);
  try {
    await eventually(async () => (await leaderOf(cluster)) !== undefined, 15_000, 'a leader is elected');
    const history: KvOperation[] = [];
    let stop = false;
    const clients = [0, 1, 2, 3].map((c) => load(cluster, c, () => stop, history));
    const acknowledgedBefore = () =>
      history.filter((op) => op.input.op === 'put' && op.return !== undefined).length;
    await eventually(async () => acknowledgedBefore() >= 30, 15_000, '30 acknowledged writes');

    const victim = await leaderOf(cluster);
    assert.ok(victim, 'a leader to kill');
    await cluster.kill(victim as string, 'SIGKILL');
    const before = acknowledgedBefore();
    await eventually(
      async () => {
        const leader = await leaderOf(cluster);
        return leader !== undefined && leader !== victim;
      },
      15_000,
      'a new leader after SIGKILL',
    );
    await eventually(
      async () => acknowledgedBefore() >= before + 20,
      15_000,
      'writes resume under the new leader',
    );
    await cluster.start(victim as string);
    await eventually(
      async () => acknowledgedBefore() >= before + 40,
      15_000,
      'writes continue after the restart',
    );
    stop = true;
    await Promise.all(clients);

    // Final reads of every key through every member: acknowledged writes must all be there.
    for (const member of cluster.members) {
      for (const key of KEYS) {
        // A member that just restarted may not know the leader yet (503): retry, as clients do.
        await eventually(
          async () => {
            const call = performance.now();
            const { status, body } = await post(`${member.clientUrl}/v3/kv/range`, { key: b64(key) }, 5_000);
            if (status !== 200) return false;
            const found = (body.kvs as { value?: string }[] | undefined)?.[0];
            history.push({
              client: `final-${member.id}`,
              call,
              return: performance.now(),
              input: { op: 'get', key },
              output: { value: found === undefined ? null : unb64(found.value ?? '') },
            });
            return true;
          },
          10_000,
          `a final read of ${key} on ${member.id}`,
        );
      }
    }
    const verdict = checkLinearizability(history, { maxSteps: 20_000_000 });
    assert.ok(
      verdict.ok === true,
      `history of ${history.length} ops: ${JSON.stringify(verdict).slice(0, 1500)}`,
    );
  } finally {
    await cluster.stop();
  }
}

test('3 members: SIGKILL the leader under load, restart it; nothing acknowledged is lost', async () => {
  await scenario(3);
});

test('5 members: SIGKILL the leader under load, restart it; nothing acknowledged is lost', async () => {
  await scenario(5);
});

test('SIGTERM stops a member cleanly and it rejoins with its data', async () => {
  const cluster = await startProcessCluster(3);
  try {
    await eventually(async () => (await leaderOf(cluster)) !== undefined, 15_000, 'a leader is elected');
    const first = cluster.members[0];
    assert.ok(first);
    await eventually(
      async () =>
        (await post(`${first.clientUrl}/v3/kv/put`, { key: b64('durable'), value: b64('yes') })).status ===
        200,
      10_000,
      'a write',
    );
    // The serving line says the warm-up (on by default) ran before serving, and how long it took.
    for (const member of cluster.members)
      assert.match(member.output, /"msg":"raft-kv serving".*"warmUpMs":\d+/);
    const child = first.process;
    const exit = new Promise<number | null>((done) => child?.once('exit', (code) => done(code)));
    await cluster.kill(first.id, 'SIGTERM');
    assert.is(await exit, 0);
    assert.match(first.output, 'raft-kv stopped');
    await cluster.start(first.id);
    await eventually(
      async () => {
        const { body } = await post(`${first.clientUrl}/v3/kv/range`, { key: b64('durable') });
        return unb64((body.kvs as { value: string }[] | undefined)?.[0]?.value ?? '') === 'yes';
      },
      10_000,
      'the write is readable after the restart',
    );
  } finally {
    await cluster.stop();
  }
});

test("a second raft-kv on a member's --data-dir exits at once, naming the member that has it", async () => {
  const cluster = await startProcessCluster(3);
  try {
    const first = cluster.members[0];
    assert.ok(first?.process?.pid);
    await eventually(
      async () =>
        (await post(`${first.clientUrl}/v3/kv/put`, { key: b64('kept'), value: b64('1') })).status === 200,
      15_000,
      'a write',
    );
    // The same member again on other ports, as a second supervisor or a careless operator would.
    const peers = cluster.members.map((m) => `${m.id}=${m.peerAddress}`).join(',');
    const args = [
      CLI,
      ...['--id', first.id, '--peers', peers, '--data-dir', first.dataDir],
      ...[
        '--listen-client',
        `127.0.0.1:${await freePort()}`,
        '--listen-peer',
        `127.0.0.1:${await freePort()}`,
      ],
      ...['--cluster-key-file', join(cluster.root, 'cluster.key')],
    ];
    const { code, output } = await new Promise<{ code: number | null; output: string }>((done) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        done({ code: exitCode, output: text });
      });
    });
    assert.is(code, 1, output);
    assert.ok(
      output.startsWith(
        `raft-kv: DiskLockedError: folder ${JSON.stringify(first.dataDir)} is in use by process ${first.process.pid} `,
      ),
      output,
    );
    assert.not.match(output, 'serving');
    // The member that has the folder goes on serving, its data whole.
    const { body } = await post(`${first.clientUrl}/v3/kv/range`, { key: b64('kept') });
    assert.is(unb64((body.kvs as { value: string }[] | undefined)?.[0]?.value ?? ''), '1');
  } finally {
    await cluster.stop();
  }
});

test.run();
