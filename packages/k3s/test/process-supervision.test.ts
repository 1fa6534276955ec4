// K3sProcess driving the fake k3s (test/support/fake-k3s.mjs): start with the token only in its
// file, stop (expected) and crash (unexpected), SIGKILL escalation, not installed; then, with a
// REAL etcd under two fake servers on loopback: bootstrap, a learner join and self-promotion, the
// joiner's removal (k3s's two lines, exit, `removed`), a restart on the stale db that is removed
// again at once, and a fresh join after wipeServerDb.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildK3sArgs,
  etcdInitialized,
  isK3sConfigError,
  isK3sProcessError,
  type K3sArgsInput,
  type K3sExitInfo,
  K3sProcess,
  K3sToken,
  wipeServerDb,
  writeEmptyConfigFile,
  writeTokenFile,
} from '../src/process/index.js';
import {
  FAKE_K3S_PATH,
  freeEtcdPorts,
  gatewayPost,
  installFakeK3s,
  killOrphanEtcd,
  listMembers,
  loopbackAddresses,
  pathWith,
  readFakeK3sRecords,
  until,
} from './support/k3s-fake.js';

const ETCD_BIN = '/usr/bin/etcd';

// ---------------------------------------------------------------------------------------------
// lab: a temp dir (tmpfs when there is one: etcd fsyncs), processes and data dirs to clean up

interface Lab {
  readonly dir: string;
  readonly recordDir: string;
  readonly token: K3sToken;
  readonly processes: K3sProcess[];
  readonly dataDirs: string[];
}

async function withLab(body: (lab: Lab) => Promise<void>): Promise<void> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(base, 'k3s-process-'));
  const lab: Lab = {
    dir,
    recordDir: join(dir, 'records'),
    token: K3sToken.generate(),
    processes: [],
    dataDirs: [],
  };
  try {
    await body(lab);
  } finally {
    for (const p of lab.processes) await p.stop().catch(() => {});
    for (const dataDir of lab.dataDirs) await killOrphanEtcd(dataDir).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

interface NodeFiles {
  readonly dataDir: string;
  readonly tokenFile: string;
  readonly configFile: string;
  readonly kubeconfigPath: string;
  readonly logFile: string;
}

async function nodeFiles(lab: Lab, name: string): Promise<NodeFiles> {
  const own = join(lab.dir, name, 'own');
  const files = {
    dataDir: join(lab.dir, name, 'data'),
    tokenFile: join(own, 'token'),
    configFile: join(own, 'config.yaml'),
    kubeconfigPath: join(own, 'kubeconfig.yaml'),
    logFile: join(own, 'k3s.log'),
  };
  await writeTokenFile(files.tokenFile, lab.token);
  await writeEmptyConfigFile(files.configFile);
  lab.dataDirs.push(files.dataDir);
  return files;
}

function argsFor(
  files: NodeFiles,
  input: Partial<K3sArgsInput> & Pick<K3sArgsInput, 'mode' | 'nodeName' | 'nodeIp'>,
) {
  return buildK3sArgs({
    bootstrap: false,
    dataDir: files.dataDir,
    tokenFile: files.tokenFile,
    configFile: files.configFile,
    kubeconfigPath: files.kubeconfigPath,
    network: { kind: 'flannel' },
    ...input,
  });
}

async function startFake(
  lab: Lab,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { logFile?: string; stopTimeoutMs?: number; recentLines?: number } = {},
): Promise<K3sProcess> {
  const p = await K3sProcess.start({
    binary: FAKE_K3S_PATH,
    args,
    env: { ...process.env, FAKE_K3S_RECORD_DIR: lab.recordDir, ...env },
    stopTimeoutMs: options.stopTimeoutMs ?? 15_000,
    ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
    ...(options.recentLines === undefined ? {} : { recentLines: options.recentLines }),
  });
  lab.processes.push(p);
  return p;
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the first line matching `pattern`; rejects at once if the process exits first, or after `ms`. */
function waitForLine(p: K3sProcess, pattern: RegExp, ms: number): Promise<string> {
  const seen = p.recentLines().find((line) => pattern.test(line));
  if (seen !== undefined) return Promise.resolve(seen);
  const tail = () => p.recentLines().slice(-6).join(' | ');
  return new Promise((resolve, reject) => {
    const done = (error: Error | undefined, line?: string) => {
      clearTimeout(timer);
      p.off('line', onLine);
      if (error) reject(error);
      else resolve(line as string);
    };
    const onLine = (line: string) => {
      if (pattern.test(line)) done(undefined, line);
    };
    const timer = setTimeout(() => done(new Error(`no line ${pattern} within ${ms} ms: ${tail()}`)), ms);
    p.on('line', onLine);
    void p.exited.then((info) =>
      done(new Error(`exited (${JSON.stringify(info)}) before ${pattern}: ${tail()}`)),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// a minimal Kubernetes API that records what the fake registers

interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown> | undefined;
}

function bodyOf(request: ApiRequest | undefined): Record<string, unknown> {
  const body = request?.body;
  if (body === undefined) throw new Error('no such request, or one without a body');
  return body;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

async function withFakeApi(body: (url: string, requests: ApiRequest[]) => Promise<void>): Promise<void> {
  const requests: ApiRequest[] = [];
  const nodes = new Set<string>();
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const parsed = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body: parsed,
      });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/api/v1/nodes') {
        const name = String((parsed?.metadata as { name?: unknown } | undefined)?.name);
        if (nodes.has(name)) {
          res.statusCode = 409;
          res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409 }));
          return;
        }
        nodes.add(name);
        res.statusCode = 201;
        res.end(text);
        return;
      }
      if (req.method === 'PATCH' && req.url?.startsWith('/api/v1/nodes/')) {
        res.statusCode = 200;
        res.end('{}');
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', reason: 'NotFound', code: 404 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

// ---------------------------------------------------------------------------------------------

test('start: argv recorded exactly, the token only in its file; server files written; stop → exit 0 expected', async () => {
  await withFakeApi(async (api, requests) => {
    await withLab(async (lab) => {
      const files = await nodeFiles(lab, 'node-a');
      const args = argsFor(files, {
        mode: 'server',
        bootstrap: true,
        nodeName: 'node-a',
        nodeIp: '127.0.0.1',
        tlsSans: ['node-a.tail1234.ts.net'],
      });
      const secret = lab.token.reveal();
      const logged: string[] = [];
      const logger = {
        info: (fields: object, message: string) => logged.push(`${message} ${JSON.stringify(fields)}`),
        warn: (fields: object, message: string) => logged.push(`${message} ${JSON.stringify(fields)}`),
      };
      const p = await K3sProcess.start({
        binary: FAKE_K3S_PATH,
        args,
        // K3S_* variables would be read by k3s as flags (a token, another server): never passed.
        env: {
          ...process.env,
          FAKE_K3S_RECORD_DIR: lab.recordDir,
          FAKE_K3S_KUBE_API: api,
          K3S_TOKEN: secret,
          K3S_URL: 'https://10.0.0.1:6443',
        },
        logFile: files.logFile,
        logger,
      });
      lab.processes.push(p);
      assert.is(p.mode, 'server');
      assert.ok(p.pid > 1 && p.running());
      await waitForLine(p, /k3s is up and running/, 10_000);

      const [record, ...more] = await readFakeK3sRecords(lab.recordDir, 'node-a');
      assert.is(more.length, 0);
      assert.equal(record?.argv, args);
      assert.is(record?.pid, p.pid);
      assert.not.ok(record?.envKeys.includes('K3S_TOKEN'));
      assert.not.ok(record?.envKeys.includes('K3S_URL'));
      assert.ok(record?.envKeys.includes('FAKE_K3S_KUBE_API'));
      assert.not.ok(args.some((arg) => arg.includes(secret)));
      assert.ok(args.includes('--token-file'));
      assert.is(await readFile(files.tokenFile, 'utf8'), secret);
      assert.is((await stat(files.tokenFile)).mode & 0o777, 0o600);

      const serverToken = join(files.dataDir, 'server', 'token');
      assert.match(await readFile(serverToken, 'utf8'), new RegExp(`^K10[0-9a-f]{64}::server:${secret}\\n$`));
      assert.is((await stat(serverToken)).mode & 0o777, 0o600);
      assert.is((await stat(files.kubeconfigPath)).mode & 0o777, 0o600);
      const kubeconfig = await readFile(files.kubeconfigPath, 'utf8');
      assert.ok(kubeconfig.includes(`server: ${api}`), kubeconfig);
      assert.not.ok(kubeconfig.includes(secret));

      const created = await until('node registered', 10_000, () =>
        requests.find((r) => r.method === 'POST' && r.path === '/api/v1/nodes'),
      );
      const metadata = created.body?.metadata as {
        name: string;
        labels: Record<string, string>;
        annotations: Record<string, string>;
        finalizers: string[];
      };
      assert.is(metadata.name, 'node-a');
      for (const role of ['control-plane', 'etcd', 'master'])
        assert.is(metadata.labels[`node-role.kubernetes.io/${role}`], 'true', role);
      assert.match(metadata.annotations['etcd.k3s.cattle.io/node-name'] ?? '', /^node-a-[0-9a-f]{8}$/);
      assert.is(metadata.annotations['etcd.k3s.cattle.io/node-address'], '127.0.0.1');
      assert.equal(metadata.finalizers, [
        'wrangler.cattle.io/managed-etcd-controller',
        'wrangler.cattle.io/node',
      ]);
      const conditions = (bodyOf(created).status as { conditions: { type: string; status: string }[] })
        .conditions;
      assert.ok(conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
      assert.is(
        await readFile(join(files.dataDir, 'server', 'db', 'etcd', 'name'), 'utf8'),
        metadata.annotations['etcd.k3s.cattle.io/node-name'],
      );

      let exits = 0;
      p.on('exit', () => {
        exits += 1;
      });
      const info = await p.stop();
      assert.equal(info, { code: 0, signal: null, removed: false, expected: true });
      assert.is(await p.stop(), info, 'stop is idempotent');
      assert.not.ok(p.running());
      assert.is(exits, 1);

      // Nothing the supervisor or the fake printed or logged carries the token.
      const log = await readFile(files.logFile, 'utf8');
      assert.match(log, /k3s is up and running/);
      for (const text of [log, p.recentLines().join('\n'), logged.join('\n'), JSON.stringify(record)])
        assert.not.ok(text.includes(secret));
      assert.ok(
        logged.some((line) => line.includes('K3S_TOKEN') && line.includes('K3S_URL')),
        logged.join('\n'),
      );
    });
  });
});

test('agent: registers with only the hostname label; a second start patches (409 → merge patch)', async () => {
  await withFakeApi(async (api, requests) => {
    await withLab(async (lab) => {
      const files = await nodeFiles(lab, 'node-c');
      const args = argsFor(files, {
        mode: 'agent',
        joinUrl: 'https://127.0.0.1:6443',
        nodeName: 'node-c',
        nodeIp: '127.0.0.3',
      });
      for (let round = 0; round < 2; round++) {
        const p = await startFake(lab, args, { FAKE_K3S_KUBE_API: api });
        assert.is(p.mode, 'agent');
        await waitForLine(p, round === 0 ? /Registered node node-c/ : /Updated node node-c/, 10_000);
        assert.is((await p.stop()).code, 0);
      }
      const [post, conflict, patch] = requests;
      assert.equal((bodyOf(post).metadata as { labels: unknown }).labels, {
        'kubernetes.io/hostname': 'node-c',
      });
      assert.is((bodyOf(post).metadata as { finalizers?: unknown }).finalizers, undefined);
      assert.is(post?.authorization, 'Bearer fake-k3s-admin');
      assert.is(conflict?.method, 'POST');
      assert.is(patch?.method, 'PATCH');
      assert.is(patch?.path, '/api/v1/nodes/node-c');
      assert.is(patch?.contentType, 'application/merge-patch+json');
      assert.not.ok(existsSync(files.kubeconfigPath), 'agents write no kubeconfig');
      assert.not.ok(existsSync(join(files.dataDir, 'server', 'token')));
      assert.is((await readFakeK3sRecords(lab.recordDir, 'node-c')).length, 2);
    });
  });
});

test('crash (FAKE_K3S_CRASH_AFTER_MS) → exit event, not expected; stop() afterwards reports that exit', async () => {
  await withLab(async (lab) => {
    const files = await nodeFiles(lab, 'node-a');
    const p = await startFake(
      lab,
      argsFor(files, { mode: 'server', bootstrap: true, nodeName: 'node-a', nodeIp: '127.0.0.1' }),
      {
        FAKE_K3S_CRASH_AFTER_MS: '300',
      },
    );
    const exit = new Promise<K3sExitInfo>((resolve) => p.once('exit', resolve));
    const info = await within('crash exit', 10_000, exit);
    assert.equal(info, { code: 1, signal: null, removed: false, expected: false });
    assert.ok(p.recentLines().some((line) => line.includes('panic: fake k3s crash')));
    assert.is(await p.stop(), info);
  });
});

test('a start failure exits 1 at once, with the error among the recent lines (bounded ring)', async () => {
  await withLab(async (lab) => {
    const files = await nodeFiles(lab, 'node-a');
    const args = argsFor(files, { mode: 'server', bootstrap: true, nodeName: 'node-a', nodeIp: '127.0.0.1' });
    const p = await startFake(lab, args, { FAKE_K3S_FAIL_START: '1' }, { recentLines: 2 });
    const info = await within('failed start', 10_000, p.exited);
    assert.equal(info, { code: 1, signal: null, removed: false, expected: false });
    const lines = p.recentLines();
    assert.is(lines.length, 2);
    assert.match(lines.join('\n'), /FAKE_K3S_FAIL_START/);
  });
});

test('stop escalates to SIGKILL (of the k3s PID) when SIGTERM is ignored', async () => {
  await withLab(async (lab) => {
    const files = await nodeFiles(lab, 'node-c');
    const args = argsFor(files, {
      mode: 'agent',
      joinUrl: 'https://127.0.0.1:6443',
      nodeName: 'node-c',
      nodeIp: '127.0.0.3',
    });
    const p = await startFake(lab, args, { FAKE_K3S_IGNORE_SIGTERM: '1' }, { stopTimeoutMs: 300 });
    await waitForLine(p, /is up and running/, 10_000);
    const started = Date.now();
    const info = await within('stop', 10_000, p.stop());
    assert.equal(info, { code: null, signal: 'SIGKILL', removed: false, expected: true });
    assert.ok(Date.now() - started >= 300);
    assert.ok(p.recentLines().some((line) => line.includes('ignoring it')));
  });
});

test('not installed → K3sProcessError not-installed; not executable → spawn-failed; token on argv → refused before spawning', async () => {
  await withLab(async (lab) => {
    for (const binary of [join(lab.dir, 'no-such-k3s'), 'k3s-not-installed-anywhere']) {
      try {
        await K3sProcess.start({ binary, args: ['agent'] });
        assert.unreachable(binary);
      } catch (error) {
        assert.ok(isK3sProcessError(error), String(error));
        assert.is(error.reason, 'not-installed');
        assert.is(error.code, 'ENOENT');
      }
    }
    const plain = join(lab.dir, 'k3s');
    await writeFile(plain, '#!/bin/sh\n');
    await chmod(plain, 0o644);
    try {
      await K3sProcess.start({ binary: plain, args: ['agent'] });
      assert.unreachable('not executable');
    } catch (error) {
      assert.ok(isK3sProcessError(error), String(error));
      assert.is(error.reason, 'spawn-failed');
    }
    for (const binary of ['', FAKE_K3S_PATH]) {
      try {
        await K3sProcess.start({ binary, args: binary === '' ? ['agent'] : ['agent', 'nul\0byte'] });
        assert.unreachable(`binary ${JSON.stringify(binary)}`);
      } catch (error) {
        assert.ok(isK3sProcessError(error), String(error));
        assert.is(error.reason, 'spawn-failed');
      }
    }
    for (const args of [['agent', '--token', 'abc'], ['server', '-t', 'abc'], ['etcd-snapshot']]) {
      try {
        await K3sProcess.start({ binary: FAKE_K3S_PATH, args, env: { FAKE_K3S_RECORD_DIR: lab.recordDir } });
        assert.unreachable(args.join(' '));
      } catch (error) {
        assert.ok(isK3sConfigError(error), String(error));
        assert.not.ok(error.message.includes('abc'));
      }
    }
    assert.not.ok(existsSync(lab.recordDir), 'nothing was started');
  });
});

test('`k3s` found on PATH through a bin dir with the fake', async () => {
  await withLab(async (lab) => {
    const bin = await installFakeK3s(join(lab.dir, 'bin'));
    const files = await nodeFiles(lab, 'node-c');
    const args = argsFor(files, {
      mode: 'agent',
      joinUrl: 'https://127.0.0.1:6443',
      nodeName: 'node-c',
      nodeIp: '127.0.0.3',
    });
    const env = { ...process.env, PATH: pathWith(bin), FAKE_K3S_RECORD_DIR: lab.recordDir };
    const p = await K3sProcess.start({ binary: 'k3s', args, env });
    lab.processes.push(p);
    await waitForLine(p, /is up and running/, 10_000);
    assert.is((await p.stop()).code, 0);
    assert.equal((await readFakeK3sRecords(lab.recordDir, 'node-c'))[0]?.argv, args);
  });
});

test('simulated removal (no etcd): `removed`, then removed again on the stale db until wipeServerDb', async () => {
  await withLab(async (lab) => {
    const files = await nodeFiles(lab, 'node-b');
    const args = argsFor(files, {
      mode: 'server',
      joinUrl: 'https://127.0.0.1:6443',
      nodeName: 'node-b',
      nodeIp: '127.0.0.2',
    });
    const first = await startFake(lab, args, { FAKE_K3S_REMOVE_AFTER_MS: '300' });
    const removed = new Promise<void>((resolve) => first.once('removed', resolve));
    const info = await within('removal exit', 10_000, first.exited);
    await within('removed event', 1_000, removed);
    assert.equal(info, { code: 1, signal: null, removed: true, expected: false });
    assert.ok(first.removedFromEtcd());
    assert.ok(await etcdInitialized(files.dataDir));

    const again = await startFake(lab, args, {});
    assert.equal(await within('stale restart', 10_000, again.exited), {
      code: 1,
      signal: null,
      removed: true,
      expected: false,
    });

    await wipeServerDb(files.dataDir);
    const fresh = await startFake(lab, args, {});
    await waitForLine(fresh, /k3s is up and running/, 10_000);
    assert.equal(await fresh.stop(), { code: 0, signal: null, removed: false, expected: true });
  });
});

// ---------------------------------------------------------------------------------------------
// real etcd under the fake servers

const etcdTest = existsSync(ETCD_BIN) ? test : test.skip;

async function health(gateway: string): Promise<true | undefined> {
  const response = await fetch(`${gateway}/health`, { signal: AbortSignal.timeout(1_000) });
  return ((await response.json()) as { health?: string }).health === 'true' ? true : undefined;
}

etcdTest(
  'etcd: bootstrap, learner join + promotion, removal → removed exit, stale restart removed again, wipe → fresh join',
  async () => {
    await withLab(async (lab) => {
      const [ipA, ipB] = loopbackAddresses(2) as [string, string];
      const ports = await freeEtcdPorts([ipA, ipB]);
      const gwA = `http://${ipA}:${ports.client}`;
      const env = {
        FAKE_K3S_ETCD: '1',
        FAKE_K3S_ETCD_CLIENT_PORT: String(ports.client),
        FAKE_K3S_ETCD_PEER_PORT: String(ports.peer),
        FAKE_K3S_PROMOTE_MS: '200',
      };
      const filesA = await nodeFiles(lab, 'node-a');
      const filesB = await nodeFiles(lab, 'node-b');
      const argsA = argsFor(filesA, { mode: 'server', bootstrap: true, nodeName: 'node-a', nodeIp: ipA });
      const argsB = argsFor(filesB, {
        mode: 'server',
        joinUrl: `https://${ipA}:6443`,
        nodeName: 'node-b',
        nodeIp: ipB,
      });

      // A bootstraps a one-member cluster.
      const a = await startFake(lab, argsA, env);
      await until('A healthy', 20_000, () => health(gwA));
      assert.ok(await etcdInitialized(filesA.dataDir));
      // One CI run found no pid file here (ENOENT) under heavy load, not reproduced since: if it
      // recurs, the failure carries what the fake and its etcd said.
      const pidText = await readFile(join(filesA.dataDir, 'server', 'db', 'etcd.pid'), 'utf8').catch(
        async (error: unknown) => {
          const etcdLog = await readFile(join(filesA.dataDir, 'fake-k3s-etcd.log'), 'utf8').catch(() => '');
          throw new Error(
            `no etcd.pid once A was healthy (${String(error)})\nfake k3s:\n${a.recentLines().join('\n')}\netcd (last 3000 chars):\n${etcdLog.slice(-3000)}`,
          );
        },
      );
      const etcdPidA = Number(pidText);
      assert.is((await readFile(`/proc/${etcdPidA}/comm`, 'utf8')).trim(), 'etcd');

      // B joins as a learner and promotes itself: two voters.
      const b = await startFake(lab, argsB, env);
      const members = await until('two voters', 20_000, async () => {
        const list = await listMembers(gwA);
        return list.length === 2 && list.every((m) => m.isLearner !== true && m.name) ? list : undefined;
      });
      assert.ok(b.recentLines().some((line) => /Adding member node-b-[0-9a-f]{8}=/.test(line)));
      await waitForLine(b, /Promoted learner node-b-[0-9a-f]{8} to voting member/, 10_000);
      const memberB = members.find((m) => m.name?.startsWith('node-b-'));
      assert.match(memberB?.name ?? '', /^node-b-[0-9a-f]{8}$/);
      assert.equal(memberB?.peerURLs, [`http://${ipB}:${ports.peer}`]);
      assert.is(await readFile(join(filesB.dataDir, 'server', 'db', 'etcd', 'name'), 'utf8'), memberB?.name);

      // Removing B through the gateway: B's etcd exits, the fake prints k3s's lines and exits 1.
      const removedEvent = new Promise<void>((resolve) => b.once('removed', resolve));
      await until(
        'B removed (etcd refuses for ~5 s after a member connects)',
        20_000,
        async () => {
          const { status, json } = await gatewayPost(gwA, '/v3/cluster/member/remove', { ID: memberB?.ID });
          if (status === 200) return true;
          if (status === 503) return undefined;
          throw new Error(`remove: HTTP ${status} ${JSON.stringify(json)}`);
        },
        200,
      );
      const infoB = await within('B exit after removal', 10_000, b.exited);
      await within('removed event', 1_000, removedEvent);
      assert.equal(infoB, { code: 1, signal: null, removed: true, expected: false });
      const tail = b.recentLines().join('\n');
      assert.match(tail, /the member has been permanently removed from the cluster/);
      assert.match(tail, /data-dir used by this member must be removed/);
      assert.not.ok(existsSync(join(filesB.dataDir, 'server', 'db', 'etcd.pid')), 'etcd of B is gone');
      assert.equal(
        (await listMembers(gwA)).map((m) => m.name),
        [members.find((m) => m.name?.startsWith('node-a-'))?.name],
      );

      // Restarting on the stale db: etcd replays its removal and exits; never rejoins.
      assert.ok(await etcdInitialized(filesB.dataDir));
      const stale = await startFake(lab, argsB, env);
      const staleInfo = await within('stale restart exit', 15_000, stale.exited);
      assert.equal(staleInfo, { code: 1, signal: null, removed: true, expected: false });
      assert.ok(stale.recentLines().some((line) => /etcd data exists/.test(line)));
      assert.is((await listMembers(gwA)).length, 1);

      // After wipeServerDb it joins again, as a fresh member with a new name.
      await wipeServerDb(filesB.dataDir);
      assert.not.ok(await etcdInitialized(filesB.dataDir));
      const fresh = await startFake(lab, argsB, env);
      const rejoined = await until('B rejoined as a voter', 20_000, async () => {
        const list = await listMembers(gwA);
        const own = list.find((m) => m.name?.startsWith('node-b-'));
        return list.length === 2 && own !== undefined && own.isLearner !== true ? own : undefined;
      });
      assert.is.not(rejoined.name, memberB?.name);
      assert.is.not(rejoined.ID, memberB?.ID);
      await waitForLine(fresh, /Promoted learner/, 10_000);

      // Every start of B had the same argv and no token on it.
      const records = await readFakeK3sRecords(lab.recordDir, 'node-b');
      assert.is(records.length, 3);
      for (const record of records) {
        assert.equal(record.argv, argsB);
        assert.not.ok(JSON.stringify(record).includes(lab.token.reveal()));
      }

      assert.equal(await fresh.stop(), { code: 0, signal: null, removed: false, expected: true });
      assert.equal(await a.stop(), { code: 0, signal: null, removed: false, expected: true });
      await until('etcd of A gone with it', 5_000, () =>
        existsSync(`/proc/${etcdPidA}`) ? undefined : true,
      );
    });
  },
);

etcdTest(
  'etcd: a wrong token and a duplicate node name are refused; a SIGKILLed k3s leaves its etcd, killed by PID',
  async () => {
    await withLab(async (lab) => {
      const [ipA, ipB, ipC] = loopbackAddresses(3) as [string, string, string];
      const ports = await freeEtcdPorts([ipA, ipB, ipC]);
      const gwA = `http://${ipA}:${ports.client}`;
      const env = {
        FAKE_K3S_ETCD: '1',
        FAKE_K3S_ETCD_CLIENT_PORT: String(ports.client),
        FAKE_K3S_ETCD_PEER_PORT: String(ports.peer),
      };
      const filesA = await nodeFiles(lab, 'node-a');
      // SIGTERM ignored and a short stop timeout: stop() ends in SIGKILL of the fake's PID only.
      const a = await startFake(
        lab,
        argsFor(filesA, { mode: 'server', bootstrap: true, nodeName: 'node-a', nodeIp: ipA }),
        { ...env, FAKE_K3S_IGNORE_SIGTERM: '1' },
        { stopTimeoutMs: 200 },
      );
      await until('A healthy', 20_000, () => health(gwA));
      const joinUrl = `https://${ipA}:6443`;

      // Another token: the join is refused before any member is added.
      const filesB = await nodeFiles(lab, 'node-b');
      await writeTokenFile(filesB.tokenFile, K3sToken.generate());
      const wrong = await startFake(
        lab,
        argsFor(filesB, { mode: 'server', joinUrl, nodeName: 'node-b', nodeIp: ipB }),
        env,
      );
      assert.is((await within('wrong-token exit', 15_000, wrong.exited)).code, 1);
      assert.match(wrong.recentLines().join('\n'), /failed to validate token/);

      // Another server named like an existing member: k3s refuses the duplicate node name.
      const filesC = await nodeFiles(lab, 'node-c');
      const duplicate = await startFake(
        lab,
        argsFor(filesC, { mode: 'server', joinUrl, nodeName: 'node-a', nodeIp: ipC }),
        env,
      );
      assert.is((await within('duplicate exit', 15_000, duplicate.exited)).code, 1);
      assert.match(duplicate.recentLines().join('\n'), /duplicate node name found/);
      assert.is((await listMembers(gwA)).length, 1);

      // SIGKILL reaches the fake's PID only: its etcd child is orphaned, as k3s's children would be.
      const etcdPid = Number(await readFile(join(filesA.dataDir, 'server', 'db', 'etcd.pid'), 'utf8'));
      assert.equal(await a.stop(), { code: null, signal: 'SIGKILL', removed: false, expected: true });
      assert.is((await readFile(`/proc/${etcdPid}/comm`, 'utf8')).trim(), 'etcd');
      assert.is(await killOrphanEtcd(filesA.dataDir), etcdPid);
      assert.not.ok(existsSync(`/proc/${etcdPid}`));
    });
  },
);

test.run();
