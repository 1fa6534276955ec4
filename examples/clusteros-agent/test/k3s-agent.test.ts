// A real `node-agent start` process with the k3s roles: the Raft KV holds the token and the
// cluster record, the agent's `k3s-server` holder bootstraps k3s (the fake `k3s` of
// @clusteros/k3s's tests, running a real etcd member, registering its Node with a fake
// Kubernetes API), and the dashboard shows k3s in services and status. SIGTERM stops k3s with the
// agent, which exits 0.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { K3sService } from '@clusteros/dashboard';
import { freePort } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { FakeKubeApi } from '../../../packages/k3s/test/support/fake-kube-api.js';
import { AgentExited, until } from './support/until.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'src', 'cli.ts');
const FAKE_K3S = join(here, '..', '..', '..', 'packages', 'k3s', 'test', 'support', 'fake-k3s.mjs');
const KEY = 'test-only-cluster-key-0123456789abcdefXYZ';

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.ok ? ((await response.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('node-agent start runs k3s through the k3s roles, shows it on the dashboard, and stops it on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-k3s-agent-'));
  const api = await FakeKubeApi.start({});
  const [gossip, raftPort, dashboard, etcdClient, etcdPeer] = await Promise.all(
    [1, 2, 3, 4, 5].map(() => freePort()),
  );
  await writeFile(join(dir, 'cluster.key'), KEY, { mode: 0o600 });
  const config = {
    cluster: { name: 'k3s-test', auth_key_file: 'cluster.key' },
    node: { name: 'k3s-1' },
    network: { provider: 'static', bind: '127.0.0.1', gossip_port: gossip, raft_port: raftPort },
    roles: { enabled: ['cluster-coordinator', 'k3s-server', 'k3s-agent'] },
    raft: { voters: 1 },
    dashboard: { port: dashboard, bind: '127.0.0.1' },
    k3s: { servers: 1, data_dir: join(dir, 'k3s'), binary: FAKE_K3S },
    data_dir: join(dir, 'data'),
  };
  const configFile = join(dir, 'agent.yaml');
  await writeFile(configFile, stringify(config), { mode: 0o600 });
  let output = '';
  const agent = spawn(
    process.execPath,
    ['--conditions=@clusteros/source', '--import', 'tsx', cli, 'start', '--config', configFile],
    {
      env: {
        ...process.env,
        FAKE_K3S_ETCD: '1',
        FAKE_K3S_KUBE_API: api.url,
        FAKE_K3S_RECORD_DIR: join(dir, 'records'),
        FAKE_K3S_ETCD_CLIENT_PORT: String(etcdClient),
        FAKE_K3S_ETCD_PEER_PORT: String(etcdPeer),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  agent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  agent.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  const url = `http://127.0.0.1:${dashboard}`;
  let k3sPid: number | undefined;
  try {
    const services = await until('the dashboard shows k3s with its node', 90_000, async () => {
      if (ended) throw new AgentExited(`the agent exited:\n${output.slice(-3_000)}`);
      const body = await getJson<{ k3s: K3sService }>(`${url}/api/v1/services`);
      return body?.k3s.server === 'k3s-1' && body.k3s.node_count === 1 ? body.k3s : undefined;
    });
    assert.is(services.agent, true);
    assert.equal(
      [services.server_state, services.agent_state, services.servers],
      ['running', 'stopped', ['k3s-1']],
    );
    assert.is(services.ready_node_count, 1);
    type Status = {
      services: Record<string, { state: string; detail?: string }>;
      roles: Record<string, { running: boolean; leader: boolean; detail: string }>;
    };
    // The primary reports itself once its k3s server answers and the record says initialized.
    const status = await until('k3s-server held and running here', 30_000, async () => {
      const now = await getJson<Status>(`${url}/api/v1/status`);
      return now?.roles['k3s-server']?.leader === true ? now : undefined;
    });
    assert.is(status.services.k3s?.state, 'running');
    assert.is(status.roles['k3s-agent']?.running, true);
    k3sPid = Number(/pid (\d+)/.exec(status.services.k3s?.detail ?? '')?.[1]);
    assert.ok(Number.isSafeInteger(k3sPid) && alive(k3sPid), 'k3s runs');

    const [start] = (await readFile(join(dir, 'records', 'k3s-1.jsonl'), 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { argv: string[]; envKeys: string[] });
    const argv = start?.argv ?? [];
    assert.ok(argv.includes('--cluster-init'), argv.join(' '));
    assert.equal(argv.slice(argv.indexOf('--node-ip'), argv.indexOf('--node-ip') + 2), [
      '--node-ip',
      '127.0.0.1',
    ]);
    assert.ok(argv.includes('--token-file'));
    assert.not.ok(
      argv.some((arg) => arg === '--token' || arg.startsWith('--token=')),
      'no token on argv',
    );
    const token = (await readFile(join(dir, 'k3s', 'clusteros', 'token'), 'utf8')).trim();
    assert.ok(token.length >= 32);
    assert.not.ok(output.includes(token), 'the token is never logged');
    const page = await fetch(`${url}/api/v1/status`).then((r) => r.text());
    assert.not.ok(page.includes(token), 'the token is never on the dashboard');

    agent.kill('SIGTERM');
    // Bounded: a timer that does not keep the test process alive once the agent has exited.
    const bound = new Promise((resolve) => setTimeout(() => resolve('timeout'), 60_000).unref());
    const code = await Promise.race([exited, bound]);
    assert.is(code, 0, output.slice(-3_000));
    assert.not.ok(alive(k3sPid), 'k3s stopped with the agent');
  } finally {
    if (!ended) agent.kill('SIGKILL');
    if (k3sPid !== undefined && alive(k3sPid)) process.kill(k3sPid, 'SIGKILL');
    const etcdPid = Number.parseInt(
      (await readFile(join(dir, 'k3s', 'server', 'db', 'etcd.pid'), 'utf8').catch(() => '')).trim(),
      10,
    );
    if (Number.isSafeInteger(etcdPid) && etcdPid > 1 && alive(etcdPid)) process.kill(etcdPid, 'SIGKILL');
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
