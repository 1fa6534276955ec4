// @clusteros/roles with real processes: three control-plane nodes (test/process-node/main.ts, one
// OS process each: Raft over authenticated TCP on 127.0.0.1, FileStorage on disk, a RoleManager)
// run the singleton role `job-server`, a real child HTTP server per holder. A client in this
// process talks HTTP to the nodes' job ports, so the assertions are about what a client of the
// role sees: (a) exactly one server answers, with its holder's fencing token; (b) a planned
// handoff under load never has two tokens answering at once, moves to a larger token and leaves
// only a short gap; (c) after SIGKILL of the holder another node serves within about 2 × TTL and
// the killed node's child is gone; (d) SIGTERM hands the role over before the process exits.
// Every wait is bounded (support/process-cluster.ts); each test starts its own cluster.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  changeover,
  getJob,
  type Holder,
  JobClient,
  type NodeProcess,
  ProcessCluster,
  pollUntil,
  processGone,
  within,
} from './support/process-cluster.js';

const TTL_MS = 2_000;
/** Start-up of three tsx processes and the first election, on a loaded 2-core box. */
const HOLDER_LIMIT_MS = 60_000;
/** Slack on top of 2 × TTL for the SIGKILL failover on a loaded 2-core CI box. */
const FAILOVER_SLACK_MS = 3_000;

/** Runs `body` against a fresh three-node cluster and always stops it. */
async function withCluster(body: (cluster: ProcessCluster, holder: Holder) => Promise<void>): Promise<void> {
  const cluster = await ProcessCluster.start({ size: 3, ttlMs: TTL_MS });
  try {
    const holder = await cluster.waitForHolder(HOLDER_LIMIT_MS);
    await body(cluster, holder);
  } catch (error) {
    (error as Error).message += cluster.stderrTails();
    throw error;
  } finally {
    await cluster.stop();
  }
}

/** No node lost the role by letting its lease run out (that would mean renewals stalled). */
function noExpiredLeases(cluster: ProcessCluster): void {
  for (const node of cluster.nodes) {
    const expired = node.eventsNamed('leader-lost').filter((event) => event.reason === 'expired');
    assert.equal(expired, [], `${node.id} lost a lease by expiry`);
  }
}

function other(cluster: ProcessCluster, not: NodeProcess): NodeProcess {
  const node = cluster.running().find((n) => n !== not);
  if (node === undefined) throw new Error('no other running node');
  return node;
}

async function waitGone(pid: number, what: string): Promise<void> {
  await pollUntil(() => (processGone(pid) ? true : undefined), 5_000, `${what} (pid ${pid}) to be gone`, 10);
}

test('exactly one node runs the job-server child, and it answers with its fencing token', async () => {
  await withCluster(async (cluster, holder) => {
    // Every node agrees on the holder and its token (their replicas may lag a moment: poll).
    await pollUntil(
      async () => {
        const reports = await Promise.all(cluster.nodes.map((node) => node.status()));
        const agree = reports.every((report) => {
          const leader = (report.leaders as { role: string; nodeId: unknown; fencingToken: unknown }[]).find(
            (l) => l.role === 'job-server',
          );
          return leader?.nodeId === holder.node.id && leader.fencingToken === holder.token;
        });
        return agree ? true : undefined;
      },
      10_000,
      'every node to report the same holder and token',
    );
    // Exactly one node has a child; the others have none and refuse connections on their ports.
    for (const node of cluster.nodes) {
      const status = await node.status();
      const child = status.child as { pid: number; mode: string; token: number; alive: boolean } | null;
      const statuses = status.statuses as { role: string; leader: boolean; fencingToken?: number }[];
      if (node === holder.node) {
        assert.ok(child?.alive === true, `${node.id} (the holder) runs a child`);
        assert.is(child?.pid, holder.childPid);
        assert.is(child?.mode, 'serving');
        assert.is(child?.token, holder.token);
        assert.is(statuses[0]?.leader, true);
        assert.is(statuses[0]?.fencingToken, holder.token);
        assert.is(processGone(holder.childPid), false, 'the holder child process exists');
      } else {
        assert.is(child, null, `${node.id} runs no job-server child`);
        assert.is(status.acting, false);
        const answer = await getJob(node.jobPort, 2_000);
        assert.is(answer.status, 0, `${node.id}'s job port does not answer`);
      }
    }
    // A stream of requests to all three ports: every answer comes from the holder, with its token.
    const client = new JobClient(
      cluster.nodes.map((node) => node.jobPort),
      { pauseMs: 1, maxMs: 30_000 },
    );
    try {
      await client.waitFor((answers) => answers.length >= 200, 20_000, '200 answers');
    } finally {
      await client.stop();
    }
    const tokens = new Set(client.answers.map((answer) => answer.token));
    const nodes = new Set(client.answers.map((answer) => answer.node));
    assert.equal([...tokens], [holder.token]);
    assert.equal([...nodes], [holder.node.id]);
    const served = client.answers.map((answer) => answer.served ?? 0);
    assert.ok(
      served.every((count, i) => i === 0 || count > (served[i - 1] ?? 0)),
      'one server counted every request',
    );
    noExpiredLeases(cluster);
  });
});

test('a planned handoff under load: no two tokens at once, a larger token, a short gap', async () => {
  await withCluster(async (cluster, holder) => {
    const target = other(cluster, holder.node);
    const client = new JobClient(
      cluster.nodes.map((node) => node.jobPort),
      { pauseMs: 1, maxMs: 60_000 },
    );
    let result: Awaited<ReturnType<NodeProcess['transfer']>>;
    try {
      await client.waitFor(
        (answers) => answers.filter((answer) => answer.token === holder.token).length >= 50,
        20_000,
        '50 answers from the holder',
      );
      result = await holder.node.transfer(target.id, 10_000);
      const newToken = result.fencingToken;
      await client.waitFor(
        (answers) => answers.filter((answer) => answer.token === newToken).length >= 50,
        10_000,
        '50 answers from the new holder',
      );
    } finally {
      await client.stop();
    }
    assert.is(result.from, holder.node.id);
    assert.is(result.to, target.id);
    assert.ok(result.fencingToken > holder.token, `new token ${result.fencingToken} > ${holder.token}`);

    const seen = changeover(client.answers, holder.token, result.fencingToken);
    assert.is(seen.strangers, 0, 'only the old and the new token answered');
    assert.ok(seen.lastOld >= 0 && seen.firstNew >= 0, 'both holders answered');
    assert.is(seen.oldAfterNew, 0, 'no old answer after the first new one');
    assert.ok(seen.lastOld < seen.firstNew, 'every old answer came before the first new one');
    for (const answer of client.answers.slice(seen.firstNew)) assert.is(answer.node, target.id);
    assert.ok(seen.gapMs < 1_000, `client-observed gap ${seen.gapMs.toFixed(1)} ms < 1000 ms`);

    await holder.node.waitFor(
      (event) => event.event === 'handoff-completed' && event.to === target.id,
      10_000,
      'handoff-completed',
    );
    await target.waitFor((event) => event.event === 'handoff-accepted', 10_000, 'handoff-accepted');
    await waitGone(holder.childPid, 'the old holder child');
    const now = await cluster.waitForHolder(10_000);
    assert.is(now.node, target);
    assert.is(now.token, result.fencingToken);
    noExpiredLeases(cluster);
  });
});

test('SIGKILL of the holder: another node serves within 2 x TTL, the killed child is gone', async () => {
  await withCluster(async (cluster, holder) => {
    const client = new JobClient(
      cluster.nodes.map((node) => node.jobPort),
      { pauseMs: 1, maxMs: 60_000 },
    );
    let newToken = 0;
    let failoverMs = Number.NaN;
    try {
      await client.waitFor((answers) => answers.length >= 20, 20_000, '20 answers before the kill');
      const killedAt = performance.now();
      holder.node.signal('SIGKILL');
      const limit = 2 * TTL_MS + FAILOVER_SLACK_MS;
      await client.waitFor(
        (answers) => answers.some((answer) => (answer.token ?? 0) > holder.token),
        limit + 2_000,
        'an answer from a new holder',
      );
      const first = client.answers.find((answer) => (answer.token ?? 0) > holder.token);
      newToken = first?.token ?? 0;
      failoverMs = (first?.receivedAt ?? Number.NaN) - killedAt;
      assert.ok(
        failoverMs < limit,
        `new holder answered ${failoverMs.toFixed(0)} ms after SIGKILL (< ${limit})`,
      );
      assert.ok(first?.node !== holder.node.id, 'the new holder is another node');
    } finally {
      await client.stop();
    }
    const exit = await within(holder.node.exited, 10_000, 'the killed node to exit');
    assert.is(exit.signal, 'SIGKILL');
    await waitGone(holder.childPid, "the killed node's job-server child");

    const seen = changeover(client.answers, holder.token, newToken);
    assert.is(seen.strangers, 0);
    assert.is(seen.oldAfterNew, 0, 'the killed holder child never answered after the new one');
    const now = await cluster.waitForHolder(10_000);
    assert.is(now.token, newToken);
    assert.ok(now.node !== holder.node);
  });
});

test('SIGTERM of the holder hands the role over before the process exits', async () => {
  await withCluster(async (cluster, holder) => {
    const client = new JobClient(
      cluster.nodes.map((node) => node.jobPort),
      { pauseMs: 1, maxMs: 60_000 },
    );
    let completed: Awaited<ReturnType<NodeProcess['waitFor']>>;
    try {
      await client.waitFor((answers) => answers.length >= 20, 20_000, '20 answers before SIGTERM');
      holder.node.signal('SIGTERM');
      completed = await holder.node.waitFor(
        (event) => event.event === 'handoff-completed',
        30_000,
        'handoff-completed after SIGTERM',
      );
      const exit = await within(holder.node.exited, 30_000, 'the SIGTERMed node to exit');
      assert.equal(exit, { code: 0, signal: null }, 'graceful exit with code 0');
      const to = String(completed.to);
      await client.waitFor(
        (answers) => answers.some((answer) => answer.node === to && (answer.token ?? 0) > holder.token),
        10_000,
        'an answer from the new holder',
      );
    } finally {
      await client.stop();
    }
    const log = holder.node.log.map((event) => event.event);
    const completedAt = log.indexOf('handoff-completed');
    const shutdownAt = log.lastIndexOf('shutdown');
    assert.ok(completedAt >= 0 && shutdownAt > completedAt, 'handoff completed before the shutdown line');
    assert.is(holder.node.log[shutdownAt]?.error, undefined, 'no error on shutdown');
    assert.ok(completed.to !== holder.node.id);
    await waitGone(holder.childPid, 'the old holder child');

    const now = await cluster.waitForHolder(10_000, { notToken: holder.token });
    assert.is(now.node.id, completed.to);
    assert.ok(now.token > holder.token);
    const seen = changeover(client.answers, holder.token, now.token);
    assert.is(seen.strangers, 0);
    assert.is(seen.oldAfterNew, 0, 'no old answer after the first new one');
    noExpiredLeases(cluster);
  });
});

test.run();
