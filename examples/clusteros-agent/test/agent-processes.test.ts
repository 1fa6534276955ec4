// A real 3-node cluster: three `node-agent start` processes on 127.0.0.1, started by the same
// code as `node-agent demo` (LocalCluster), each with its own data dir, gossip, Raft and
// dashboard ports. Every wait polls the agents' dashboards with a deadline.
//
// 1. They find each other, elect one Raft leader and one cluster-coordinator holder, and every
//    dashboard answers with the same view; `node-agent status` prints the leader; SLURM and k3s
//    roles show as not-installed (or not-managed), never running; the SLURM roles are not enabled
//    (they run real daemons at the host's paths; slurm-lab.test.ts runs them on namespace hosts).
// 2. SIGKILL the Raft leader: the other two elect a new one; restarted with its data dir, the
//    killed node rejoins.
// 3. SIGTERM the coordinator holder: the role moves to another node before the process exits
//    (exit 0); restarted with its data dir, the node rejoins.

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LeaderInfo, NodeInfo, ServiceInfo, StatusResponse } from '@clusteros/dashboard';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findExecutable } from '../src/agent/catalog.js';
import { COORDINATOR_ROLE } from '../src/agent/coordinator-role.js';
import { main } from '../src/cli/main.js';
import { LocalCluster } from '../src/demo/local-cluster.js';
import { until } from './support/until.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'src', 'cli.ts');
const COMMAND = [process.execPath, '--conditions=@clusteros/source', '--import', 'tsx', cli];

/** Whether TCP (and UDP, for gossip) port `port` on 127.0.0.1 is free now. */
async function portFree(port: number, udp: boolean): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  if (!tcp || !udp) return tcp;
  return new Promise<boolean>((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/**
 * The first port the kernel hands out as the local port of outgoing connections. A port from
 * there on that is free now may be taken by any connect() a moment later: an agent's Raft
 * transport connects to its peers before the agent binds its dashboard port.
 */
async function ephemeralStart(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const low = Number(range.trim().split(/\s+/)[0]);
  return Number.isSafeInteger(low) && low > 21_000 ? low : 32_768;
}

/**
 * A base port with `count` free consecutive ports after it, all below the ephemeral range (tries
 * random bases, bounded).
 */
async function freeRange(count: number, udp: boolean, avoid: readonly number[] = []): Promise<number> {
  const span = (await ephemeralStart()) - 20_000 - count;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor((Math.random() * span) / 2) * 2;
    if (avoid.some((p) => p >= base && p < base + count)) continue;
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p, udp);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports found`);
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return undefined;
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

interface View {
  readonly alive: number;
  readonly leader: string | null;
  readonly term: number;
  readonly holder: string | null;
  readonly token: number | null;
}

async function view(url: string): Promise<View | undefined> {
  const status = await getJson<StatusResponse>(`${url}/api/v1/status`);
  const leaders = await getJson<{ leaders: LeaderInfo[] }>(`${url}/api/v1/leaders`);
  if (status === undefined || leaders === undefined || !Array.isArray(leaders.leaders)) return undefined;
  const discovery = status.discovery as { alive?: number };
  const leadership = status.leadership as { raft_leader?: string | null; term?: number };
  const coordinator = leaders.leaders.find((l) => l.role === COORDINATOR_ROLE);
  return {
    alive: discovery.alive ?? 0,
    leader: leadership.raft_leader ?? null,
    term: leadership.term ?? 0,
    holder: coordinator?.node_id ?? null,
    token: coordinator?.fencing_token ?? null,
  };
}

/** The view every running node agrees on: all see `expectAlive` members, one leader, one holder. */
function agreement(cluster: LocalCluster, names: readonly string[], expectAlive: number) {
  return async (): Promise<View | undefined> => {
    const views = await Promise.all(names.map((name) => view(cluster.node(name).url)));
    const first = views[0];
    if (first === undefined || first.leader === null || first.holder === null) return undefined;
    for (const v of views) {
      if (v === undefined || v.alive !== expectAlive) return undefined;
      if (v.leader !== first.leader || v.holder !== first.holder) return undefined;
    }
    return first;
  };
}

/** The value of an unlabelled gauge in node `url`'s `/metrics`, or undefined. */
async function metric(url: string, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  } catch {
    return undefined;
  }
}

async function cliStatus(url: string): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const code = await main(['status', '--api', url], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => {} },
  });
  return { code, stdout };
}

/** Runs `command` to its end (killed after `limitMs`), with its exit code and stderr. */
async function runToExit(
  command: readonly string[],
  limitMs: number,
): Promise<{ code: number | null; stderr: string }> {
  const [file, ...args] = command;
  const child = spawn(file as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stderr };
}

const names = ['node-1', 'node-2', 'node-3'];

test('agent processes: a 3-node loopback cluster forms, survives a killed leader, and hands roles off on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-agent-test-'));
  const basePort = await freeRange(3, false);
  const gossipBase = await freeRange(6, true, [basePort, basePort + 1, basePort + 2]);
  const cluster = new LocalCluster({ nodes: 3, dir, basePort, gossipBase, command: COMMAND });
  try {
    await cluster.prepare();
    cluster.startAll();

    // 1. The cluster forms and every dashboard agrees.
    const formed = await until(
      'all three agree on members, leader and holder',
      90_000,
      agreement(cluster, names, 3),
    );
    // Node 1 founded the cluster alone; the autopilot added the others as learners and promoted
    // them up to raft.voters (3). Every member's view of the configuration says so.
    await until('three Raft voters and no learners on every node', 30_000, async () => {
      for (const name of names) {
        const url = cluster.node(name).url;
        if ((await metric(url, 'clusteros_raft_voters')) !== 3) return undefined;
        if ((await metric(url, 'clusteros_raft_learners')) !== 0) return undefined;
      }
      return true;
    });
    const founderLog = await readFile(cluster.node('node-1').log, 'utf8');
    assert.match(founderLog, /founded a new cluster/, 'node-1 founded the cluster');
    for (const name of ['node-2', 'node-3'])
      assert.match(await readFile(cluster.node(name).log, 'utf8'), /"how":"joining"/, `${name} joined it`);
    for (const name of names) {
      const url = cluster.node(name).url;
      const nodes = await getJson<{ nodes: NodeInfo[] }>(`${url}/api/v1/nodes`);
      assert.equal(nodes?.nodes.map((n) => n.id).sort(), names, `${name} lists the three nodes`);
      const status = (await getJson<StatusResponse>(`${url}/api/v1/status`)) as StatusResponse;
      const roles = status.roles as Record<string, { running: boolean; detail: string }>;
      for (const role of ['slurm-controller', 'slurm-worker'])
        assert.is(roles[role], undefined, `${name}: the demo does not enable ${role}`);
      const k3s = await findExecutable('k3s');
      for (const role of ['k3s-server', 'k3s-agent']) {
        if (k3s !== null) {
          assert.is(roles[role], undefined, `${name}: the demo leaves ${role} off where k3s is installed`);
          continue;
        }
        assert.is(roles[role]?.running, false, `${name}: ${role} never shows as running`);
        assert.match(roles[role]?.detail ?? '', /^not-installed/, `${name}: ${role} says why`);
      }
      const services = status.services as Record<string, ServiceInfo>;
      const slurmctld = await findExecutable('slurmctld');
      assert.is(
        services.slurmctld?.state,
        slurmctld === null ? 'not-installed' : 'stopped',
        `${name}: slurmctld reported honestly`,
      );
      for (const path of ['/api/v1/cluster', '/api/v1/services', '/healthz', '/readyz', '/metrics']) {
        const response = await fetch(`${url}${path}`);
        assert.is(response.status, 200, `${name} answers ${path}`);
        await response.arrayBuffer();
      }
    }
    // A second agent on node-1's config, and so its data dir, stops at once, naming node-1.
    const first = cluster.node('node-1');
    const second = await runToExit([...COMMAND, 'start', '--config', first.config], 60_000);
    assert.is(second.code, 2, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`^node-agent start: data_dir: folder "[^"]+" is in use by process ${first.process?.pid} `),
    );
    assert.not.match(await readFile(first.log, 'utf8'), /"level":(50|60)/, 'node-1 did not notice it');

    const printed = await cliStatus(cluster.node(names[0] as string).url);
    assert.is(printed.code, 0, `status is healthy:\n${printed.stdout}`);
    assert.match(printed.stdout, new RegExp(`\\b${formed.leader}\\b`), 'status prints the Raft leader');

    // 2. SIGKILL the Raft leader: the other two elect a new leader; it rejoins on restart.
    const killed = formed.leader as string;
    cluster.signal(killed, 'SIGKILL');
    await cluster.node(killed).exited;
    const rest = names.filter((n) => n !== killed);
    const afterKill = await until('a new Raft leader among the other two', 30_000, async () => {
      const views = await Promise.all(rest.map((n) => view(cluster.node(n).url)));
      const leader = views[0]?.leader;
      if (leader === null || leader === undefined || leader === killed) return undefined;
      return views.every((v) => v?.leader === leader) ? (views[0] as View) : undefined;
    });
    assert.ok(afterKill.term > formed.term, 'the new leader was elected in a later term');
    cluster.start(killed);
    const rejoined = await until(`${killed} rejoins with its data dir`, 60_000, agreement(cluster, names, 3));
    const killedLog = await readFile(cluster.node(killed).log, 'utf8');
    assert.match(killedLog, /restarted from the data dir/, 'the killed node restarted from its Raft state');
    assert.not.match(killedLog.split('restarted from the data dir')[1] ?? '', /founded a new cluster/);

    // 3. SIGTERM the coordinator holder: the role moves before the process exits.
    const holder = rejoined.holder as string;
    const others = names.filter((n) => n !== holder);
    let movedAt: number | undefined;
    let newHolder: string | null = null;
    let newToken: number | null = null;
    let exitedAt: number | undefined;
    const exit = cluster.stop(holder).then((code) => {
      exitedAt = Date.now();
      return code;
    });
    await until('the coordinator role moves to another node', 60_000, async () => {
      const v = await view(cluster.node(others[0] as string).url);
      if (v?.holder !== null && v?.holder !== undefined && v.holder !== holder) {
        movedAt = Date.now();
        newHolder = v.holder;
        newToken = v.token;
        return true;
      }
      return exitedAt === undefined ? undefined : false;
    });
    const code = await exit;
    assert.is(code, 0, 'the SIGTERM-ed agent exits 0');
    assert.ok(movedAt !== undefined, 'the role moved');
    assert.ok((movedAt as number) <= (exitedAt as number), 'the role moved before the process exited');
    assert.ok(others.includes(newHolder as unknown as string), 'the new holder is one of the others');
    assert.ok((newToken ?? 0) > (rejoined.token ?? 0), 'the new holder acts with a larger fencing token');
    const holderLog = await readFile(cluster.node(holder).log, 'utf8');
    assert.not.match(holderLog, /"level":(50|60)/, 'no error logged during the graceful stop');

    cluster.start(holder);
    const final = await until(`${holder} rejoins after SIGTERM`, 60_000, agreement(cluster, names, 3));
    assert.ok(final.holder !== null);
    assert.match(
      await readFile(cluster.node(holder).log, 'utf8'),
      /restarted from the data dir/,
      'the stopped node restarted from its Raft state',
    );
  } catch (error) {
    // What each node logged at warn or above, and its last lines: the failure's story.
    for (const node of cluster.nodes) {
      const lines = (await readFile(node.log, 'utf8').catch(() => '')).split('\n');
      const notable = lines.filter((l) => /"level":(40|50|60)/.test(l)).slice(-15);
      process.stderr.write(
        `--- ${node.name} (warnings)\n${notable.join('\n')}\n--- ${node.name} (last lines)\n${lines.slice(-12).join('\n')}\n`,
      );
    }
    throw error;
  } finally {
    await cluster.stopAll(70_000);
    if (process.env.KEEP_AGENT_TEST_DIR === undefined) await rm(dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dir}\n`);
  }
});

test('agent processes: a fourth node stays a learner; a voter that leaves (node-agent leave) is replaced by it and removed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-agent-test-'));
  const basePort = await freeRange(4, false);
  const gossipBase = await freeRange(8, true, [basePort, basePort + 1, basePort + 2, basePort + 3]);
  const cluster = new LocalCluster({ nodes: 4, dir, basePort, gossipBase, command: COMMAND, voters: 3 });
  const four = ['node-1', 'node-2', 'node-3', 'node-4'];
  try {
    await cluster.prepare();
    cluster.startAll();
    const formed = await until('four nodes agree', 90_000, agreement(cluster, four, 4));
    await until('three voters and one learner on every node', 30_000, async () => {
      for (const name of four) {
        const url = cluster.node(name).url;
        if ((await metric(url, 'clusteros_raft_voters')) !== 3) return undefined;
        if ((await metric(url, 'clusteros_raft_learners')) !== 1) return undefined;
      }
      return true;
    });
    // The voters are the first three promoted; node-4 (last in order) is the learner. Ask a
    // voter that is not the Raft leader to leave, through the dashboard action as an operator would.
    const leaving = ['node-2', 'node-3'].find((n) => n !== formed.leader) as string;
    let stdout = '';
    let stderr = '';
    const code = await main(
      ['leave', '--api', cluster.node(leaving).url, '--token-file', cluster.tokenFile],
      {
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
      },
    );
    assert.is(code, 0, `leave accepted: ${stdout}${stderr}`);
    const exitCode = await until(`${leaving} exits after leave`, 70_000, async () =>
      cluster.running(leaving) ? undefined : await cluster.node(leaving).exited,
    );
    assert.is(exitCode, 0, `${leaving} exits 0`);
    const rest = four.filter((n) => n !== leaving);
    await until('the learner replaced the leaving voter on every remaining node', 30_000, async () => {
      for (const name of rest) {
        const url = cluster.node(name).url;
        if ((await metric(url, 'clusteros_raft_voters')) !== 3) return undefined;
        if ((await metric(url, 'clusteros_raft_learners')) !== 0) return undefined;
      }
      return true;
    });
    const leaderLog = (await Promise.all(rest.map((n) => readFile(cluster.node(n).log, 'utf8')))).join('\n');
    assert.match(leaderLog, /"step":"promote","member":"node-4"/, 'node-4 was promoted');
    assert.match(leaderLog, new RegExp(`"step":"remove","member":"${leaving}"`), `${leaving} was removed`);
    // The three that remain still agree on a leader and elect nothing new for the change.
    await until('the remaining three agree', 30_000, agreement(cluster, rest, 3));
  } finally {
    await cluster.stopAll(70_000);
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
