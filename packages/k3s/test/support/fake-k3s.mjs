#!/usr/bin/env node
// A fake `k3s` executable for tests (no real k3s can run on CI hosts: K3S-NOTES §0/§7).
//
// What it does, like k3s:
// - `k3s server|agent` with the flags the adapter passes (`--flag value` and `--flag=value`,
//   `-flag` and `--flag`, k3s's short aliases -s -t -i -d -o -c); unknown flags are accepted.
// - requires a readable, non-empty `--token-file`; never prints the token;
// - server: writes `${data-dir}/server/token` (`K10<64 hex>::server:<token>`, 0600) and the admin
//   kubeconfig (`--write-kubeconfig`, mode `--write-kubeconfig-mode`) pointing at
//   $FAKE_K3S_KUBE_API with a bearer-token user; agents write neither;
// - server with embedded etcd (`--cluster-init`, `--server`, or existing data): member name
//   `<node-name>-<8 hex>` kept in `${data-dir}/server/db/etcd/name`; with FAKE_K3S_ETCD=1 it runs
//   a REAL etcd (/usr/bin/etcd) as its child on --node-ip: bootstrap a one-member cluster, restart
//   on existing data (`member/wal` exists; --cluster-init/--server are then ignored), or join as a
//   LEARNER through the JSON gateway of the --server host and promote itself. Without
//   FAKE_K3S_ETCD it only simulates the data dir (name file + member/wal);
// - when its etcd member is removed (etcd exits by itself, status 0, or prints "the member has
//   been permanently removed from the cluster") it prints k3s's two lines and exits 1; etcd
//   restarted on that stale data does the same at once (real etcd 3.4 replays its removal or
//   hears it from a peer, prints the message and exits 0), so it never rejoins until
//   `${data-dir}/server/db` is deleted;
// - registers its Node with $FAKE_K3S_KUBE_API (POST /api/v1/nodes, 409 → merge PATCH), retried
//   (bounded), never fatal;
// - SIGTERM/SIGINT: stops etcd (SIGTERM, SIGKILL after 10 s) and exits 0.
//
// Differences from k3s (on purpose): etcd is plain http; the JSON gateway is on the client URL
// (`http://<node-ip>:<client port>`) instead of https://127.0.0.1:2382; a joiner reads the member
// list from the etcd gateway of the --server host (k3s asks that server's supervisor); the token
// is checked against a hash the bootstrap server stores in etcd (key /fake-k3s/bootstrap/<hash>).
//
// Environment knobs:
//   FAKE_K3S_RECORD_DIR         append one JSON line per start to <dir>/<node-name>.jsonl:
//                               { argv, envKeys (names only), pid, mode, time }
//   FAKE_K3S_KUBE_API           base URL (http://127.0.0.1:<port>) of the test's fake API server
//   FAKE_K3S_KUBE_TOKEN         bearer token in the kubeconfig and on registration (default fake-k3s-admin)
//   FAKE_K3S_ETCD=1             run a real etcd (server mode)
//   FAKE_K3S_ETCD_BIN           etcd binary (default /usr/bin/etcd)
//   FAKE_K3S_ETCD_CLIENT_PORT   client/gateway port on --node-ip (default 2379), also used to reach the --server host
//   FAKE_K3S_ETCD_PEER_PORT     peer port on --node-ip (default 2380)
//   FAKE_K3S_ETCD_TIMING=k3s    raft heartbeat/election 500/5000 ms (default 50/250)
//   FAKE_K3S_ETCD_LOG=1         also copy etcd's output to stderr (it always goes to ${data-dir}/fake-k3s-etcd.log)
//   FAKE_K3S_PROMOTE_MS         learner self-promotion retry interval (default 500)
//   FAKE_K3S_JOIN_TIMEOUT_MS    bound on joining (member add retries, token check; default 60000)
//   FAKE_K3S_CRASH_AFTER_MS     exit 1 abruptly after that long (SIGKILLs its etcd first)
//   FAKE_K3S_FAIL_START=1       print an error and exit 1 at once
//   FAKE_K3S_IGNORE_SIGTERM=1   ignore SIGTERM (only SIGKILL or SIGINT stop it)
//   FAKE_K3S_REMOVE_AFTER_MS    without a real etcd: behave as if the member were removed after
//                               that long (the simulated db stays "removed" until wiped)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';

const VERSION = 'v1.31.4+k3s1';
const env = process.env;

// ---------------------------------------------------------------------------------------------
// logging, k3s style (logrus text format on stderr)

function log(level, message) {
  process.stderr.write(`time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(message)}\n`);
}

function fatal(message) {
  log('fatal', message);
  process.exit(1);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// arguments

const SHORT = { s: 'server', t: 'token', i: 'node-ip', d: 'data-dir', o: 'write-kubeconfig', c: 'config' };
const BOOLEAN = new Set([
  'cluster-init',
  'cluster-reset',
  'disable-network-policy',
  'disable-cloud-controller',
  'disable-kube-proxy',
  'disable-scheduler',
  'disable-helm-controller',
  'disable-apiserver',
  'disable-etcd',
  'disable-controller-manager',
  'secrets-encryption',
  'embedded-registry',
  'debug',
  'protect-kernel-defaults',
  'rootless',
  'prefer-bundled-bin',
  'selinux',
  'docker',
  'etcd-expose-metrics',
  'etcd-disable-snapshots',
  'flannel-ipv6-masq',
  'flannel-external-ip',
]);

const argv = process.argv.slice(2);
if (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version') {
  process.stdout.write(`k3s version ${VERSION} (fake)\ngo version go1.22.9\n`);
  process.exit(0);
}
const mode = argv[0];
if (mode !== 'server' && mode !== 'agent') {
  process.stderr.write(
    `Incorrect Usage: fake k3s supports 'server' and 'agent', got ${JSON.stringify(mode ?? '')}\n`,
  );
  process.exit(1);
}

const flags = new Map();
for (let i = 1; i < argv.length; i++) {
  const arg = argv[i];
  const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
  if (match === null || arg === '-' || arg === '--') {
    log('warning', `ignoring positional argument at ${i}`);
    continue;
  }
  const name = SHORT[match[1]] ?? match[1];
  let value = match[2];
  if (value === undefined) {
    if (BOOLEAN.has(name)) value = 'true';
    else {
      if (i + 1 >= argv.length) {
        process.stderr.write(`Incorrect Usage: flag needs an argument: -${match[1]}\n`);
        process.exit(1);
      }
      value = argv[++i];
    }
  }
  flags.set(name, [...(flags.get(name) ?? []), value]);
}
const flag = (name) => flags.get(name)?.at(-1);
const flagOn = (name) => flag(name) !== undefined && flag(name) !== 'false';

const nodeName = flag('node-name') ?? hostname().toLowerCase();
const nodeIp = flag('node-ip')?.split(',')[0] ?? '127.0.0.1';
const dataDir = flag('data-dir') ?? '/var/lib/rancher/k3s';
const serverUrl = flag('server');
const clusterInit = flagOn('cluster-init');

// ---------------------------------------------------------------------------------------------
// the record the tests read (argv, names of environment variables; never values)

if (env.FAKE_K3S_RECORD_DIR) {
  mkdirSync(env.FAKE_K3S_RECORD_DIR, { recursive: true });
  const record = {
    argv,
    envKeys: Object.keys(env).sort(),
    pid: process.pid,
    mode,
    time: new Date().toISOString(),
  };
  appendFileSync(join(env.FAKE_K3S_RECORD_DIR, `${nodeName}.jsonl`), `${JSON.stringify(record)}\n`);
}

log('info', `Starting k3s ${mode} ${VERSION} (fake, pid ${process.pid})`);

if (env.FAKE_K3S_FAIL_START === '1') fatal('Error: fake k3s start failure (FAKE_K3S_FAIL_START=1)');

const configFile = flag('config');
if (configFile !== undefined) {
  try {
    readFileSync(configFile);
  } catch (error) {
    fatal(`Error: open ${configFile}: ${error.code === 'ENOENT' ? 'no such file or directory' : error.code}`);
  }
}

const tokenFile = flag('token-file');
if (tokenFile === undefined)
  fatal('Error: --token-file is required (the fake reads the token from a file only)');
let token;
try {
  token = readFileSync(tokenFile, 'utf8').trim();
} catch (error) {
  fatal(`Error: failed to read token file ${tokenFile}: ${error.code ?? 'error'}`);
}
if (token === '') fatal(`Error: token file ${tokenFile} is empty`);
// A full token `K10<ca hash>::server:<secret>` carries the secret after the last ':'.
const secret = /^K10[0-9a-f]{64}::[^:]+:(.+)$/.exec(token)?.[1] ?? token;
const secretHash = createHash('sha256').update(`fake-k3s-ca:${secret}`).digest('hex');
token = undefined;

if (mode === 'agent' && serverUrl === undefined) fatal('Error: --server is required to start an agent');

// ---------------------------------------------------------------------------------------------
// files

function writeFileAtomic(path, content, mode) {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(temp, mode);
  renameSync(temp, path);
}

const serverDir = join(dataDir, 'server');
const dbDir = join(serverDir, 'db');
const etcdDir = join(dbDir, 'etcd');
const nameFile = join(etcdDir, 'name');
const walDir = join(etcdDir, 'member', 'wal');
const etcdPidFile = join(dbDir, 'etcd.pid');
const simulatedRemovedFile = join(etcdDir, 'fake-removed');

function hostPort(host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------------------------------------
// process lifetime

let stopping = false;
let etcdChild;
let etcdExited;

function removedExit() {
  log('error', 'the member has been permanently removed from the cluster');
  log('fatal', `data-dir used by this member must be removed: back up and delete ${dbDir} before rejoining`);
  process.exit(1);
}

async function stopEtcd() {
  if (etcdChild === undefined || etcdChild.exitCode !== null || etcdChild.signalCode !== null) return;
  etcdChild.kill('SIGTERM');
  const exited = await Promise.race([etcdExited.then(() => true), sleep(10_000).then(() => false)]);
  if (!exited) {
    log('warning', 'etcd did not stop within 10s; killing it');
    etcdChild.kill('SIGKILL');
    await Promise.race([etcdExited, sleep(5_000)]);
  }
}

async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log('info', `Received ${signal}, shutting down`);
  await stopEtcd();
  log('info', 'k3s stopped');
  process.exit(0);
}
process.on('SIGTERM', () => {
  // For supervisor tests of the SIGKILL escalation: a k3s stuck in shutdown.
  if (env.FAKE_K3S_IGNORE_SIGTERM === '1')
    log('info', 'Received SIGTERM, ignoring it (FAKE_K3S_IGNORE_SIGTERM=1)');
  else void shutdown('SIGTERM');
});
process.on('SIGINT', () => void shutdown('SIGINT'));
// Keep running until signalled, also when nothing else holds the event loop (agents, no etcd).
setInterval(() => {}, 1 << 30);

const crashAfter = Number(env.FAKE_K3S_CRASH_AFTER_MS);
if (env.FAKE_K3S_CRASH_AFTER_MS && Number.isFinite(crashAfter)) {
  setTimeout(() => {
    // Like a crash of the whole process tree: etcd gets no chance to stop cleanly.
    if (etcdChild !== undefined && etcdChild.exitCode === null) {
      etcdChild.kill('SIGKILL');
      rmSync(etcdPidFile, { force: true });
    }
    process.stderr.write('panic: fake k3s crash (FAKE_K3S_CRASH_AFTER_MS)\n');
    process.exit(1);
  }, crashAfter);
}

// ---------------------------------------------------------------------------------------------
// etcd gateway calls (plain http, JSON)

async function gateway(base, path, body, timeoutMs = 3_000) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { error: text };
  }
  return { status: response.status, json };
}

const b64 = (text) => Buffer.from(text).toString('base64');
const bootstrapKey = `/fake-k3s/bootstrap/${secretHash.slice(0, 16)}`;

// ---------------------------------------------------------------------------------------------
// embedded etcd

const clientPort = env.FAKE_K3S_ETCD_CLIENT_PORT ?? '2379';
const peerPort = env.FAKE_K3S_ETCD_PEER_PORT ?? '2380';
const peerUrl = `http://${hostPort(nodeIp, peerPort)}`;
const clientUrl = `http://${hostPort(nodeIp, clientPort)}`;
const [heartbeat, election] = env.FAKE_K3S_ETCD_TIMING === 'k3s' ? ['500', '5000'] : ['50', '250'];

function memberName() {
  if (existsSync(nameFile)) return readFileSync(nameFile, 'utf8').trim();
  const name = `${nodeName}-${randomBytes(4).toString('hex')}`;
  writeFileAtomic(nameFile, name, 0o600);
  return name;
}

function startEtcd(name, initialCluster, state) {
  mkdirSync(etcdDir, { recursive: true, mode: 0o700 });
  const args = [
    '--name',
    name,
    '--data-dir',
    etcdDir,
    '--listen-client-urls',
    clientUrl,
    '--advertise-client-urls',
    clientUrl,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    initialCluster,
    '--initial-cluster-state',
    state,
    '--heartbeat-interval',
    heartbeat,
    '--election-timeout',
    election,
    '--snapshot-count',
    '10000',
  ];
  if (state === 'new') args.push('--initial-cluster-token', `fake-k3s-${randomBytes(6).toString('hex')}`);
  // etcd reads ETCD_* variables as flags: none of the test host's may leak in.
  const etcdEnv = Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('ETCD')));
  const child = spawn(env.FAKE_K3S_ETCD_BIN ?? '/usr/bin/etcd', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: etcdEnv,
  });
  etcdChild = child;
  etcdExited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('error', (error) => fatal(`etcd exited: cannot start etcd: ${error.code ?? error.message}`));
  child.once('spawn', () => writeFileAtomic(etcdPidFile, `${child.pid}\n`, 0o600));
  const logPath = join(dataDir, 'fake-k3s-etcd.log');
  let removalSeen = false;
  let pending = '';
  const onChunk = (chunk) => {
    appendFileSync(logPath, chunk);
    if (env.FAKE_K3S_ETCD_LOG === '1') process.stderr.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!removalSeen && line.includes('the member has been permanently removed from the cluster')) {
        removalSeen = true;
        // etcd stops by itself right after this line; make sure it does.
        setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 2_000).unref();
      }
    }
  };
  child.stdout.on('data', onChunk);
  child.stderr.on('data', onChunk);
  etcdExited.then(({ code, signal }) => {
    rmSync(etcdPidFile, { force: true });
    if (stopping) return;
    // A removed member's etcd exits by itself with status 0 (K3S-NOTES §2.2), also when it is
    // restarted on the stale data.
    if (removalSeen || code === 0) removedExit();
    fatal(`etcd exited: ${code !== null ? `exit status ${code}` : `signal ${signal}`}`);
  });
  return child;
}

async function waitEtcdHealthy(limitMs) {
  const deadline = Date.now() + limitMs;
  let next = Date.now() + 5_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = await response.json();
      if (body.health === 'true') return;
    } catch {
      // not serving yet
    }
    if (Date.now() >= next) {
      log('info', 'Waiting for etcd server to become available');
      next = Date.now() + 5_000;
    }
    await sleep(100);
  }
  await stopEtcd();
  fatal(`etcd did not become healthy within ${limitMs}ms`);
}

function joinGateway() {
  const host = /^https?:\/\/(\[[^\]]+\]|[^:/]+)/.exec(serverUrl)?.[1];
  if (host === undefined) fatal(`Error: invalid server url ${serverUrl}`);
  return `http://${host.startsWith('[') ? `${host}:${clientPort}` : hostPort(host, clientPort)}`;
}

async function checkToken(gw, deadline) {
  // The bootstrap server stores a hash of the token's secret; a joiner with another token is refused.
  const tokenDeadline = Math.min(deadline, Date.now() + 1_000);
  for (;;) {
    try {
      const { status, json } = await gateway(gw, '/v3/kv/range', { key: b64(bootstrapKey) });
      if (status === 200 && Array.isArray(json.kvs) && json.kvs.length > 0) return;
      if (status === 200 && Date.now() >= tokenDeadline)
        fatal('Error: preparing server: failed to validate token: the token does not match this cluster');
    } catch {
      if (Date.now() >= deadline) fatal(`Error: preparing server: failed to contact ${serverUrl}`);
    }
    await sleep(250);
  }
}

async function joinEtcd(name) {
  const gw = joinGateway();
  const deadline = Date.now() + Number(env.FAKE_K3S_JOIN_TIMEOUT_MS ?? 60_000);
  await checkToken(gw, deadline);
  let lastWait = '';
  for (;;) {
    if (Date.now() >= deadline) fatal(`etcd cluster join failed: not within the bound (${lastWait})`);
    let list;
    try {
      list = await gateway(gw, '/v3/cluster/member/list', {});
    } catch (error) {
      lastWait = `member list: ${error.cause?.code ?? error.name}`;
      log('info', `Waiting to retrieve etcd cluster member list: ${lastWait}`);
      await sleep(500);
      continue;
    }
    if (list.status !== 200) {
      lastWait = `member list: ${list.json.message ?? list.status}`;
      await sleep(500);
      continue;
    }
    const cluster = [];
    let add = true;
    let selfId;
    const members = list.json.members ?? [];
    members.forEach((member, index) => {
      const host = /^https?:\/\/(\[[^\]]+\]|[^:/]+)/
        .exec(member.peerURLs?.[0] ?? '')?.[1]
        ?.replace(/^\[|\]$/g, '');
      let mname = member.name ?? '';
      if (mname === '' && host === nodeIp) mname = name;
      if (mname === name && host === nodeIp) {
        add = false;
        selfId = member.ID;
      }
      if (member.peerURLs?.length)
        cluster.push(`${mname === '' ? `unstarted-${index}` : mname}=${member.peerURLs[0]}`);
      const last = mname.lastIndexOf('-');
      const memberNode = last > 1 ? mname.slice(0, last) : mname;
      if (mname !== name && memberNode === nodeName) {
        rmSync(nameFile, { force: true });
        fatal('etcd cluster join failed: duplicate node name found, please use a unique name for this node');
      }
    });
    if (add) {
      log('info', `Adding member ${name}=${peerUrl} to etcd cluster [${cluster.join(' ')}]`);
      let added;
      try {
        added = await gateway(gw, '/v3/cluster/member/add', { peerURLs: [peerUrl], isLearner: true });
      } catch (error) {
        lastWait = `member add: ${error.cause?.code ?? error.name}`;
        await sleep(500);
        continue;
      }
      if (added.status !== 200) {
        const message = String(added.json.message ?? added.json.error ?? added.status);
        if (/unhealthy cluster|too many learner/i.test(message)) {
          lastWait = message;
          log('info', `Waiting for other members to finish joining etcd cluster: ${message}`);
          await sleep(500);
          continue;
        }
        fatal(`etcd cluster join failed: ${message}`);
      }
      selfId = added.json.member.ID;
      cluster.push(`${name}=${peerUrl}`);
    }
    log('info', `Starting etcd to join cluster with members [${cluster.join(' ')}]`);
    startEtcd(name, cluster.join(','), 'existing');
    void promoteSelf(gw, selfId, name);
    return;
  }
}

async function promoteSelf(gw, id, name) {
  // k3s promotes learners itself once they have caught up (its manageLearners loop).
  const every = Number(env.FAKE_K3S_PROMOTE_MS ?? 500);
  for (;;) {
    await sleep(every);
    if (stopping || etcdChild?.exitCode !== null) return;
    const endpoints = [gw];
    try {
      const { json } = await gateway(clientUrl, '/v3/cluster/member/list', {});
      for (const member of json.members ?? []) {
        if (member.ID === id && !member.isLearner) return;
        if (!member.isLearner && member.clientURLs?.[0] && member.ID !== id)
          endpoints.push(member.clientURLs[0]);
      }
    } catch {
      // our own etcd may not serve yet
    }
    for (const endpoint of new Set(endpoints)) {
      try {
        const { status, json } = await gateway(endpoint, '/v3/cluster/member/promote', { ID: id });
        if (status === 200) {
          log('info', `Promoted learner ${name} to voting member`);
          return;
        }
        const message = String(json.message ?? json.error ?? status);
        if (/member not found/.test(message)) return;
        if (/can only promote a learner member$/.test(message)) return;
        break; // not in sync yet: try again later
      } catch {
        // this endpoint is down; try the next one
      }
    }
  }
}

async function runEtcd(name) {
  if (existsSync(walDir)) {
    log('info', 'Starting etcd for existing cluster member');
    startEtcd(name, `${name}=${peerUrl}`, 'new');
  } else if (serverUrl !== undefined) {
    await joinEtcd(name);
  } else {
    log('info', 'Starting etcd for new cluster, cluster-reset=false');
    startEtcd(name, `${name}=${peerUrl}`, 'new');
  }
  await waitEtcdHealthy(env.FAKE_K3S_ETCD_TIMING === 'k3s' ? 120_000 : 60_000);
  if (serverUrl === undefined && !existsSync(join(dbDir, 'fake-k3s-bootstrapped'))) {
    const { status } = await gateway(clientUrl, '/v3/kv/put', { key: b64(bootstrapKey), value: b64('fake') });
    if (status !== 200) fatal('Error: failed to save bootstrap data to etcd');
    writeFileAtomic(join(dbDir, 'fake-k3s-bootstrapped'), '', 0o600);
  }
}

function simulateEtcd() {
  // No real etcd: the data dir looks like k3s's (name file, member/wal) so that restarts are
  // "on existing data", and FAKE_K3S_REMOVE_AFTER_MS plays a removal.
  if (existsSync(simulatedRemovedFile)) removedExit();
  mkdirSync(walDir, { recursive: true, mode: 0o700 });
  const after = Number(env.FAKE_K3S_REMOVE_AFTER_MS);
  if (env.FAKE_K3S_REMOVE_AFTER_MS && Number.isFinite(after))
    setTimeout(() => {
      writeFileAtomic(simulatedRemovedFile, '', 0o600);
      removedExit();
    }, after);
}

// ---------------------------------------------------------------------------------------------
// kubeconfig and Node registration

const kubeApi = env.FAKE_K3S_KUBE_API;
const kubeToken = env.FAKE_K3S_KUBE_TOKEN ?? 'fake-k3s-admin';

function writeKubeconfig() {
  const path = flag('write-kubeconfig') ?? '/etc/rancher/k3s/k3s.yaml';
  const mode = Number.parseInt(flag('write-kubeconfig-mode') ?? '0600', 8);
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    server: ${kubeApi ?? 'https://127.0.0.1:6443'}`,
    // Real k3s writes its CA here; the test's API is plain http, which @kubernetes/client-node
    // accepts only with TLS verification marked off.
    ...(kubeApi?.startsWith('http:') ? ['    insecure-skip-tls-verify: true'] : []),
    '  name: default',
    'contexts:',
    '- context:',
    '    cluster: default',
    '    user: default',
    '  name: default',
    'current-context: default',
    'preferences: {}',
    'users:',
    '- name: default',
    '  user:',
    `    token: ${kubeToken}`,
    '',
  ].join('\n');
  writeFileAtomic(path, yaml, Number.isFinite(mode) ? mode : 0o600);
  log('info', `Wrote kubeconfig ${path}`);
}

function nodeObject(member) {
  const labels = { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' };
  const annotations = {};
  const metadata = { name: nodeName, labels, annotations };
  if (mode === 'server') {
    labels['node-role.kubernetes.io/control-plane'] = 'true';
    labels['node-role.kubernetes.io/master'] = 'true';
    if (member !== undefined) {
      labels['node-role.kubernetes.io/etcd'] = 'true';
      annotations['etcd.k3s.cattle.io/node-name'] = member;
      annotations['etcd.k3s.cattle.io/node-address'] = nodeIp;
    }
    annotations['k3s.io/node-args'] = JSON.stringify(argv);
    metadata.finalizers = ['wrangler.cattle.io/managed-etcd-controller', 'wrangler.cattle.io/node'];
  } else {
    // an agent's Node carries only what the kubelet sets
    delete labels['kubernetes.io/os'];
    delete metadata.annotations;
  }
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata,
    spec: {},
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      addresses: [
        { type: 'InternalIP', address: nodeIp },
        { type: 'Hostname', address: nodeName },
      ],
      nodeInfo: { kubeletVersion: VERSION },
    },
  };
}

async function registerNode(member) {
  if (!kubeApi) return;
  const node = nodeObject(member);
  const headers = { authorization: `Bearer ${kubeToken}`, accept: 'application/json' };
  const deadline = Date.now() + 60_000;
  let delay = 200;
  for (let attempt = 1; Date.now() < deadline; attempt++) {
    try {
      const created = await fetch(`${kubeApi}/api/v1/nodes`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(node),
        signal: AbortSignal.timeout(5_000),
      });
      await created.arrayBuffer();
      if (created.status === 200 || created.status === 201) {
        log('info', `Registered node ${nodeName}`);
        return;
      }
      if (created.status === 409) {
        const patch = { metadata: { labels: node.metadata.labels } };
        if (node.metadata.annotations) patch.metadata.annotations = node.metadata.annotations;
        const patched = await fetch(`${kubeApi}/api/v1/nodes/${encodeURIComponent(nodeName)}`, {
          method: 'PATCH',
          headers: { ...headers, 'content-type': 'application/merge-patch+json' },
          body: JSON.stringify(patch),
          signal: AbortSignal.timeout(5_000),
        });
        await patched.arrayBuffer();
        if (patched.status === 200) {
          log('info', `Updated node ${nodeName} labels and annotations`);
          return;
        }
        log('warning', `Failed to update node ${nodeName}: status ${patched.status} (attempt ${attempt})`);
      } else
        log('warning', `Failed to register node ${nodeName}: status ${created.status} (attempt ${attempt})`);
    } catch (error) {
      log(
        'warning',
        `Failed to register node ${nodeName}: ${error.cause?.code ?? error.name} (attempt ${attempt})`,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 2_000);
  }
  log('error', `Gave up registering node ${nodeName}`);
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  if (mode === 'agent') {
    log('info', `Connecting to proxy url=${JSON.stringify(serverUrl)}`);
    void registerNode(undefined);
    log('info', 'k3s agent is up and running');
    return;
  }
  mkdirSync(serverDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(join(serverDir, 'token'), `K10${secretHash}::server:${secret}\n`, 0o600);
  const embedded = existsSync(walDir) || clusterInit || serverUrl !== undefined;
  let member;
  if (embedded) {
    if (existsSync(walDir) && (clusterInit || serverUrl !== undefined))
      log('info', 'etcd data exists: --cluster-init and --server are ignored');
    member = memberName();
    log('info', `Managed etcd cluster member name ${member}`);
    if (env.FAKE_K3S_ETCD === '1') await runEtcd(member);
    else simulateEtcd();
  } else {
    mkdirSync(dbDir, { recursive: true, mode: 0o700 });
    log('info', 'Configuring sqlite3 database connection pooling (fake: no datastore)');
  }
  writeKubeconfig();
  log('info', 'k3s is up and running');
  void registerNode(member);
}

main().catch((error) => fatal(`fake k3s: ${error?.message ?? error}`));
