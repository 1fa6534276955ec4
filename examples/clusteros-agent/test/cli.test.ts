// The node-agent CLI's commands that need no agent process: `info` from a fixture config, and
// `status`, `handoff` and `leave` against a real dashboard server (fake providers) on loopback
// port 0. Exit codes, output, errors as one line, and the token never printed. One test runs the
// TS entry as a real child process to check that exit codes propagate.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type DashboardServer,
  type DashboardSources,
  type RoleInfo,
  StatusResponse,
  serveDashboard,
} from '@clusteros/dashboard';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CliIo, COMMANDS, main } from '../src/cli/main.js';
import { deriveClusterSecrets } from '../src/config/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..', '..');
const fixtures = join(here, 'fixtures', 'config');
const TOKEN = 'cli-test-token-5f2c9a7e1b3d';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(argv: readonly string[], fetchImpl?: CliIo['fetch']): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    ...(fetchImpl !== undefined ? { fetch: fetchImpl } : {}),
  });
  return { code, stdout, stderr };
}

/** A one-line message without a stack trace. */
function assertOneLine(text: string): void {
  assert.is(text.trimEnd().split('\n').length, 1, `expected one line, got ${JSON.stringify(text)}`);
  assert.not.match(text, /\n\s+at /);
  assert.ok(text.endsWith('\n'));
}

const role = (healthy: boolean, leader = false): RoleInfo => ({
  running: true,
  healthy,
  leader,
  since: null,
  detail: healthy ? 'ok' : 'health check failed: exit 1',
});

interface FakeOptions {
  readonly unhealthy?: boolean;
  /** Adds a role reported not-installed (its software is missing on the node). */
  readonly notInstalled?: boolean;
  readonly leadership?: 'leader' | 'none' | 'missing';
  readonly actions?: DashboardSources['actions'];
}

function fakeSources(options: FakeOptions = {}): DashboardSources {
  const leadership = options.leadership ?? 'leader';
  return {
    identity: {
      identity: () => ({ id: 'n1', name: 'alpha', cluster: 'lab', region: 'eu', datacenter: 'rack-1' }),
    },
    network: { network: () => ({ provider: 'tailscale', connected: true, ip: '100.64.0.1', peer_count: 2 }) },
    membership: {
      nodes: () =>
        (['n1', 'n2', 'n3'] as const).map((id, i) => ({
          id,
          name: id,
          roles: [],
          status: i === 2 ? ('suspect' as const) : ('alive' as const),
          addresses: { tailscale_ip: null, wireguard_ip: null, gossip: null },
          capabilities: null,
          tags: {},
          last_seen: null,
          joined_at: null,
        })),
    },
    ...(leadership === 'missing'
      ? {}
      : {
          leadership: {
            raft: () => ({ raft_leader: leadership === 'leader' ? 'n2' : null, is_leader: false, term: 7 }),
            leaders: () => [],
          },
        }),
    roles: {
      roles: () => ({
        'slurm-worker': role(true),
        'slurm-controller': role(options.unhealthy !== true, true),
        ...(options.notInstalled === true
          ? {
              'k3s-server': {
                running: false,
                healthy: false,
                leader: false,
                since: null,
                detail: 'not-installed: k3s not found',
              },
              'slurm-worker-next': {
                running: false,
                healthy: false,
                leader: false,
                since: null,
                detail:
                  'not-managed: slurmd, munged installed, but this agent version does not run the role yet',
              },
            }
          : {}),
      }),
    },
    ...(options.actions !== undefined ? { actions: options.actions } : {}),
  };
}

async function withDashboard<T>(
  options: FakeOptions,
  body: (server: DashboardServer) => Promise<T>,
  token: string = TOKEN,
): Promise<T> {
  const server = await serveDashboard({ sources: fakeSources(options), port: 0, host: '127.0.0.1', token });
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** A plain HTTP server on loopback answering every request with `handler`. */
async function withRawServer<T>(
  handler: Parameters<typeof createServer>[1],
  body: (url: string) => Promise<T>,
): Promise<T> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await body(`http://127.0.0.1:${port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function withTokenFile<T>(token: string, body: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cos-cli-'));
  try {
    const path = join(dir, 'token');
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    return await body(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// --- help and usage errors --------------------------------------------------------------------

test('--help and -h print the program usage listing every command, exit 0', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await run([flag]);
    assert.is(r.code, 0, flag);
    assert.is(r.stderr, '');
    assert.match(r.stdout, /^usage: node-agent <command>/);
    for (const name of ['start', 'demo', 'info', 'status', 'handoff', 'leave'])
      assert.match(r.stdout, new RegExp(`\\n  ${name} `));
  }
});

test('every command has --help and -h with its own usage, exit 0', async () => {
  assert.equal(Object.keys(COMMANDS), ['start', 'demo', 'info', 'status', 'handoff', 'leave']);
  for (const name of Object.keys(COMMANDS)) {
    for (const flag of ['--help', '-h']) {
      const r = await run([name, flag]);
      assert.is(r.code, 0, `${name} ${flag}`);
      assert.is(r.stderr, '');
      assert.ok(r.stdout.startsWith(`usage: node-agent ${name}`), r.stdout);
      assert.match(r.stdout, /Exit status:/);
    }
  }
  // help wins over otherwise bad arguments
  const r = await run(['status', '--bogus', '--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /--timeout MS/);
});

test('no command, an unknown command or a flag before the command: one line, exit 2', async () => {
  const none = await run([]);
  assert.is(none.code, 2);
  assertOneLine(none.stderr);
  assert.match(none.stderr, /missing command/);
  for (const name of ['stauts', 'stop']) {
    const r = await run([name, '--config', 'x.yaml']);
    assert.is(r.code, 2, name);
    assert.is(r.stdout, '');
    assertOneLine(r.stderr);
    assert.match(r.stderr, new RegExp(`unknown command "${name}"`));
    assert.match(r.stderr, /commands: start, demo, info, status, handoff, leave/);
  }
  const flag = await run(['--json', 'status']);
  assert.is(flag.code, 2);
  assert.match(flag.stderr, /unknown flag "--json"/);
});

test('unknown flags and bad values are one-line errors naming the problem, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['status', '--bogus'], /unknown flag "--bogus"/],
    [['status', '--api=http://127.0.0.1:9090', '--verbose'], /unknown flag "--verbose"/],
    [['status', '--timeout', 'soon'], /--timeout must be a whole number of milliseconds/],
    [['status', '--timeout', '0'], /--timeout must be/],
    [['status', '--timeout'], /--timeout needs a value/],
    [['status', '--api', 'ftp://127.0.0.1'], /--api must be an http:\/\/ or https:\/\/ URL/],
    [['status', '--api', 'not a url'], /--api must be a URL/],
    [['status', '--api', 'http://user:pw@127.0.0.1:9090'], /--api must not contain credentials/],
    [['status', '--json=yes'], /--json takes no value/],
    [['status', 'extra'], /unexpected argument "extra"/],
    [['info', '--config', 'a.yaml', '--config', 'b.yaml'], /--config given twice/],
    [['handoff', '--to', 'n2'], /missing ROLE/],
    [['handoff', 'slurm-controller'], /--to NODE is required/],
    [['handoff', 'Bad_Role', '--to', 'n2'], /ROLE must be a role name/],
    [['handoff', 'slurm-controller', '--to', 'n2', '--token-file', 't', '--config', 'c'], /not both/],
    [['leave', 'now'], /unexpected argument "now"/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await run(argv, () => Promise.reject(new Error('must not be called')));
    assert.is(r.code, 2, argv.join(' '));
    assert.is(r.stdout, '', argv.join(' '));
    assertOneLine(r.stderr);
    assert.match(r.stderr, pattern, argv.join(' '));
  }
});

// --- status -----------------------------------------------------------------------------------

test('status: healthy node prints node, network, leadership, roles and discovery, exit 0', async () => {
  await withDashboard({}, async (server) => {
    const r = await run(['status', '--api', server.url]);
    assert.is(r.stderr, '');
    assert.is(r.code, 0, r.stdout);
    for (const part of ['NODE', 'NETWORK', 'LEADERSHIP', 'ROLES', 'DISCOVERY'])
      assert.match(r.stdout, new RegExp(`^${part}$`, 'm'));
    assert.match(r.stdout, /name\s+alpha/);
    assert.match(r.stdout, /cluster\s+lab/);
    assert.match(r.stdout, /ip\s+100\.64\.0\.1/);
    assert.match(r.stdout, /raft leader\s+n2/);
    assert.match(r.stdout, /term\s+7/);
    assert.match(r.stdout, /ROLE\s+RUNNING\s+HEALTHY\s+LEADER\s+DETAIL/);
    assert.match(r.stdout, /slurm-controller\s+yes\s+yes\s+yes\s+ok/);
    assert.match(r.stdout, /slurm-worker\s+yes\s+yes\s+no\s+ok/);
    assert.match(r.stdout, /members\s+3/);
    assert.match(r.stdout, /suspect\s+1/);
    assert.match(r.stdout, /status: healthy\n$/);
  });
});

test('status: an unhealthy role is degraded, exit 1, naming the role', async () => {
  await withDashboard({ unhealthy: true }, async (server) => {
    const r = await run(['status', '--api', `${server.url}/`]);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stdout, /slurm-controller\s+yes\s+no\s+yes\s+health check failed/);
    assert.match(r.stdout, /status: degraded \(role slurm-controller unhealthy\)/);
  });
});

test('status: leadership unavailable, or Raft without a leader, is degraded, exit 1', async () => {
  await withDashboard({ leadership: 'missing' }, async (server) => {
    const r = await run(['status', '--api', server.url]);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stdout, /LEADERSHIP\n\s+unavailable/);
    assert.match(r.stdout, /status: degraded \(leadership unavailable\)/);
  });
  await withDashboard({ leadership: 'none' }, async (server) => {
    const r = await run(['status', '--api', server.url]);
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stdout, /raft leader\s+none/);
    assert.match(r.stdout, /status: degraded \(Raft has no leader\)/);
  });
});

test('status --json prints exactly the API body (and keeps the exit code)', async () => {
  await withDashboard({ unhealthy: true }, async (server) => {
    const body = await (await fetch(`${server.url}/api/v1/status`)).text();
    const r = await run(['status', '--json', '--api', server.url]);
    assert.is(r.code, 1);
    assert.is(r.stdout.trimEnd(), body.trimEnd());
    const parsed = StatusResponse.safeParse(JSON.parse(r.stdout));
    assert.ok(parsed.success);
  });
  await withDashboard({}, async (server) => {
    const r = await run(['status', `--api=${server.url}`, '--json']);
    assert.is(r.code, 0);
    assert.equal(JSON.parse(r.stdout), await (await fetch(`${server.url}/api/v1/status`)).json());
  });
});

test('status: server down is exit 2 with a one-line message', async () => {
  const server = await serveDashboard({ sources: fakeSources(), port: 0, host: '127.0.0.1' });
  const url = server.url;
  await server.close();
  const r = await run(['status', '--api', url]);
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assertOneLine(r.stderr);
  assert.match(
    r.stderr,
    /^node-agent status: cannot reach the agent at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/status \(ECONNREFUSED\)/,
  );
});

test('status: garbage JSON, a wrong shape or an HTTP error is exit 2 with a one-line message', async () => {
  const answers: [number, string, RegExp][] = [
    [200, '{"node": {"id": ', /is not JSON/],
    [200, '<html>hello</html>', /is not JSON/],
    [200, '{"hello": "world"}', /is not a valid status \(node\)/],
    [500, '{"error":{"code":"internal","message":"boom"}}', /answered HTTP 500/],
  ];
  for (const [status, body, pattern] of answers) {
    await withRawServer(
      (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      },
      async (url) => {
        const r = await run(['status', '--api', url]);
        assert.is(r.code, 2, body);
        assert.is(r.stdout, '');
        assertOneLine(r.stderr);
        assert.match(r.stderr, pattern);
      },
    );
  }
});

test('status: an agent that never answers is exit 2 after --timeout', async () => {
  await withRawServer(
    () => {
      // never answers
    },
    async (url) => {
      const started = Date.now();
      const r = await run(['status', '--api', url, '--timeout', '200']);
      const took = Date.now() - started;
      assert.is(r.code, 2);
      assertOneLine(r.stderr);
      assert.match(r.stderr, /no answer from .* within 200 ms/);
      assert.ok(took >= 150 && took < 5000, `took ${took} ms`);
    },
  );
});

// --- handoff and leave ------------------------------------------------------------------------

interface Sent {
  readonly url: string;
  readonly method: string | undefined;
  readonly authorization: string | null;
  readonly body: unknown;
}

function recordingFetch(sent: Sent[]): NonNullable<CliIo['fetch']> {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    sent.push({
      url: input,
      method: init?.method,
      authorization: headers.get('authorization'),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body,
    });
    return fetch(input, init);
  };
}

test('handoff sends POST /api/v1/roles/{role}/handoff with the bearer token, prints the result, never the token', async () => {
  const calls: [string, string][] = [];
  const actions = {
    handoff: async (r: string, to: string) => {
      calls.push([r, to]);
      return { fencing_token: 18 };
    },
  };
  await withDashboard({ actions }, async (server) => {
    await withTokenFile(TOKEN, async (tokenFile) => {
      const sent: Sent[] = [];
      const r = await run(
        ['handoff', 'slurm-controller', '--to', 'n2', '--api', server.url, '--token-file', tokenFile],
        recordingFetch(sent),
      );
      assert.is(r.stderr, '');
      assert.is(r.code, 0);
      assert.equal(calls, [['slurm-controller', 'n2']]);
      assert.equal(sent, [
        {
          url: `${server.url}/api/v1/roles/slurm-controller/handoff`,
          method: 'POST',
          authorization: `Bearer ${TOKEN}`,
          body: { to: 'n2' },
        },
      ]);
      assert.match(r.stdout, /handoff of slurm-controller to n2: done/);
      assert.match(r.stdout, /fencing_token\s+18/);
      assert.not.ok(r.stdout.includes(TOKEN) || r.stderr.includes(TOKEN));

      const json = await run([
        'handoff',
        'slurm-controller',
        '--to=n3',
        '--json',
        '--api',
        server.url,
        '--token-file',
        tokenFile,
      ]);
      assert.is(json.code, 0);
      assert.equal(JSON.parse(json.stdout), {
        ok: true,
        detail: { role: 'slurm-controller', to: 'n3', fencing_token: 18 },
      });
    });
  });
});

test("leave sends POST /api/v1/leave with the token from the config's dashboard.token_file", async () => {
  const configToken = readFileSync(join(fixtures, 'secrets', 'dashboard.token'), 'utf8').trim();
  let left = 0;
  await withDashboard(
    {
      actions: {
        leave: async () => {
          left++;
        },
      },
    },
    async (server) => {
      const sent: Sent[] = [];
      const r = await run(
        ['leave', '--api', server.url, '--config', join(fixtures, 'full.yaml')],
        recordingFetch(sent),
      );
      assert.is(r.stderr, '');
      assert.is(r.code, 0);
      assert.is(left, 1);
      assert.is(sent.length, 1);
      assert.is(sent[0]?.url, `${server.url}/api/v1/leave`);
      assert.is(sent[0]?.method, 'POST');
      assert.is(sent[0]?.authorization, `Bearer ${configToken}`);
      assert.match(r.stdout, /leaving/);
      assert.not.ok(r.stdout.includes(configToken) || r.stderr.includes(configToken));
    },
    configToken,
  );
});

test('an API refusal is exit 1 with its message; a wrong token is refused too; the token is never printed', async () => {
  const actions = {
    handoff: async (_role: string, to: string): Promise<Record<string, string>> => {
      throw new Error(`node ${to} is not alive`);
    },
  };
  await withDashboard({ actions }, async (server) => {
    await withTokenFile(TOKEN, async (tokenFile) => {
      const r = await run([
        'handoff',
        'slurm-controller',
        '--to',
        'n9',
        '--api',
        server.url,
        '--token-file',
        tokenFile,
      ]);
      assert.is(r.code, 1);
      assert.is(r.stdout, '');
      assertOneLine(r.stderr);
      assert.match(r.stderr, /refused \(HTTP 409 action_failed\): node n9 is not alive/);
      assert.not.ok(r.stderr.includes(TOKEN));
    });
    const wrong = 'wrong-token-0000000000000000';
    await withTokenFile(wrong, async (tokenFile) => {
      const r = await run(['leave', '--api', server.url, '--token-file', tokenFile]);
      assert.is(r.code, 1);
      assertOneLine(r.stderr);
      assert.match(r.stderr, /refused \(HTTP 401 unauthorized\)/);
      assert.not.ok(r.stderr.includes(wrong) || r.stdout.includes(wrong));
    });
  });
  // An agent that echoes the token back in its message: it is scrubbed before printing.
  await withRawServer(
    (req, res) => {
      res.writeHead(409, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 'action_failed', message: `no: ${req.headers.authorization}` } }),
      );
    },
    async (url) => {
      await withTokenFile(TOKEN, async (tokenFile) => {
        const r = await run(['leave', '--api', url, '--token-file', tokenFile]);
        assert.is(r.code, 1);
        assert.match(r.stderr, /no: Bearer \[redacted\]/);
        assert.not.ok(r.stderr.includes(TOKEN));
      });
    },
  );
});

test('handoff/leave: unreachable agent, unreadable token file or a config without token: exit 2', async () => {
  const server = await serveDashboard({ sources: fakeSources(), port: 0, host: '127.0.0.1' });
  const url = server.url;
  await server.close();
  await withTokenFile(TOKEN, async (tokenFile) => {
    const r = await run(['leave', '--api', url, '--token-file', tokenFile]);
    assert.is(r.code, 2);
    assertOneLine(r.stderr);
    assert.match(r.stderr, /cannot reach the agent .*ECONNREFUSED/);
    assert.not.ok(r.stderr.includes(TOKEN));
  });
  const missing = await run(['leave', '--api', url, '--token-file', join(fixtures, 'no-such-token')]);
  assert.is(missing.code, 2);
  assertOneLine(missing.stderr);
  assert.match(missing.stderr, /cannot read --token-file .*no-such-token.* \(ENOENT\)/);
  const noToken = await run(['leave', '--api', url, '--config', join(fixtures, 'minimal.yaml')]);
  assert.is(noToken.code, 2);
  assertOneLine(noToken.stderr);
  assert.match(noToken.stderr, /sets no dashboard\.token_file/);
  await withTokenFile('short', async (tokenFile) => {
    const r = await run(['leave', '--api', url, '--token-file', tokenFile]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /holds no token of at least 16 characters/);
    assert.not.match(r.stderr, /short/);
  });
});

// --- info -------------------------------------------------------------------------------------

test('info prints identity, the cluster fingerprint (never the key), addresses and capabilities', async () => {
  const key = readFileSync(join(fixtures, 'secrets', 'cluster.key'), 'utf8').trim();
  const fingerprint = deriveClusterSecrets(key).fingerprint;
  const config = join(fixtures, 'full.yaml');
  const r = await run(['info', '--config', config]);
  assert.is(r.stderr, '');
  assert.is(r.code, 0);
  assert.match(r.stdout, new RegExp(`fingerprint\\s+${fingerprint}\\n`));
  assert.not.ok(r.stdout.includes(key));
  assert.match(r.stdout, /name\s+node-a/);
  assert.match(r.stdout, /name\s+prod-eu\n\s+region\s+eu-west\n\s+datacenter\s+dc-2/);
  assert.match(r.stdout, /bind\s+0\.0\.0\.0/);
  assert.match(r.stdout, /advertise\s+node-a\.tailnet\.example/);
  assert.match(r.stdout, /gossip port\s+8946/);
  assert.match(r.stdout, /raft port\s+8947/);
  assert.match(r.stdout, /cpu cores\s+\d+/);
  assert.match(r.stdout, new RegExp(`arch\\s+${process.arch}`));

  const json = await run(['info', '--json', '--config', config]);
  assert.is(json.code, 0);
  assert.not.ok(json.stdout.includes(key));
  const report = JSON.parse(json.stdout);
  assert.equal(report.cluster, { name: 'prod-eu', region: 'eu-west', datacenter: 'dc-2', fingerprint });
  assert.equal(report.network, {
    provider: 'tailscale',
    bind: '0.0.0.0',
    advertise: 'node-a.tailnet.example',
    gossip_port: 8946,
    raft_port: 8947,
    seeds: ['node-b.tailnet.example:8946', '10.0.0.3:8946', '[fd7a:115c:a1e0::1]:8946'],
  });
  assert.equal(report.dashboard, { bind: '127.0.0.1', port: 9191 });
  assert.is(report.node.name, 'node-a');
  assert.is(report.capabilities.arch, process.arch);
  assert.ok(report.capabilities.cpu_cores >= 1 && report.capabilities.ram_bytes > 0);
  assert.ok(Array.isArray(report.capabilities.gpus));

  // the inline key of minimal.yaml stays out too
  const minimal = await run(['info', '--config', join(fixtures, 'minimal.yaml')]);
  assert.is(minimal.code, 0);
  assert.not.ok(minimal.stdout.includes('test-only-inline-key-0123456789abcdef'));
  assert.ok(
    minimal.stdout.includes(deriveClusterSecrets('test-only-inline-key-0123456789abcdef').fingerprint),
  );
});

test('info with a missing or invalid config is exit 2 naming the problem', async () => {
  const r = await run(['info', '--config', join(fixtures, 'no-such.yaml')]);
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /no-such\.yaml/);
  assert.match(r.stderr, /ENOENT/);
  assert.not.match(r.stderr, /\n\s+at /);
});

// --- the real entry point ---------------------------------------------------------------------

function runChild(argv: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@clusteros/source', '--import', 'tsx', join(here, '..', 'src', 'cli.ts'), ...argv],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node-agent ${argv.join(' ')} did not exit within 30 s`));
    }, 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

test('status: a role whose software is not installed is listed but leaves the node healthy', async () => {
  await withDashboard({ notInstalled: true }, async (server) => {
    const r = await run(['status', '--api', server.url]);
    assert.is(r.code, 0, r.stdout);
    assert.match(r.stdout, /k3s-server\s+no\s+no\s+no\s+not-installed: k3s not found/);
    assert.match(r.stdout, /slurm-worker-next\s+no\s+no\s+no\s+not-managed: slurmd/);
    assert.match(r.stdout, /status: healthy/);
  });
  // Control: an unhealthy role that is installed still makes the node degraded.
  await withDashboard({ notInstalled: true, unhealthy: true }, async (server) => {
    const r = await run(['status', '--api', server.url]);
    assert.is(r.code, 1);
    assert.match(r.stdout, /role slurm-controller unhealthy/);
    assert.not.match(r.stdout, /role k3s-server unhealthy/);
    assert.not.match(r.stdout, /role slurm-worker-next unhealthy/);
  });
});

test("status and leave: --config supplies the dashboard address (and leave's token)", async () => {
  let calls: string[] = [];
  const actions: DashboardSources['actions'] = {
    leave: async () => {
      calls.push('leave');
    },
  };
  await withDashboard({ actions }, async (server) => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-config-api-'));
    try {
      await writeFile(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
      const config = join(dir, 'agent.yaml');
      await writeFile(
        config,
        `cluster:\n  name: dev\n  auth_key: test-only-inline-key-0123456789abcdef\ndashboard:\n  bind: 127.0.0.1\n  port: ${server.address.port}\n  token_file: token\n`,
      );
      const status = await run(['status', '--config', config]);
      assert.is(status.code, 0, status.stderr);
      assert.match(status.stdout, /status: healthy/);
      calls = [];
      const leave = await run(['leave', '--config', config]);
      assert.is(leave.code, 0, leave.stderr);
      assert.equal(calls, ['leave'], 'the leave reached the configured dashboard');
      assert.not.match(leave.stdout + leave.stderr, new RegExp(TOKEN));
      const both = await run(['status', '--config', config, '--api', server.url]);
      assert.is(both.code, 2);
      assertOneLine(both.stderr);
      assert.match(both.stderr, /give --api or --config, not both/);
      const broken = await run(['status', '--config', join(dir, 'missing.yaml')]);
      assert.is(broken.code, 2);
      assertOneLine(broken.stderr);
      assert.match(broken.stderr, /invalid configuration .*missing\.yaml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('start and demo: bad flags and values are one line with exit 2, before anything starts', async () => {
  const cases: [string[], RegExp][] = [
    [['start', '--bogus'], /unknown flag "--bogus"/],
    [['start', '--log-level', 'loud'], /--log-level must be one of debug, info, warn, error, got "loud"/],
    [['start', 'extra'], /unexpected argument "extra"/],
    [['start', '--config'], /--config needs a value/],
    [['demo', '--nodes', '0'], /--nodes must be from 1 to 9, got 0/],
    [['demo', '--nodes', '10'], /--nodes must be from 1 to 9, got 10/],
    [['demo', '--nodes', 'three'], /--nodes must be a whole number, got "three"/],
    [['demo', '--port', '80'], /--port must be from 1024/],
    [['demo', '--port', '8000', '--gossip-port', '8001'], /ranges overlap/],
    [['demo', '--duration', '-1'], /--duration needs a value|--duration must be a whole number/],
    [['demo', '--bogus'], /unknown flag "--bogus"/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    assert.is(r.code, 2, argv.join(' '));
    assert.is(r.stdout, '', argv.join(' '));
    assertOneLine(r.stderr);
    assert.match(r.stderr, message, argv.join(' '));
  }
});

test('start: a config that does not load names the file and each problem, exit 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'agent-start-'));
  try {
    const missing = await run(['start', '--config', join(dir, 'nope.yaml')]);
    assert.is(missing.code, 2);
    assert.match(
      missing.stderr,
      /^node-agent start: invalid configuration .*nope\.yaml:\n {2}cannot read the file \(ENOENT\)\n$/,
    );
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'cluster:\n  name: x\n  auth_key: short\n');
    const invalid = await run(['start', '--config', bad]);
    assert.is(invalid.code, 2);
    assert.match(invalid.stderr, /cluster\.auth_key/);
    assert.not.match(invalid.stderr, /\n\s+at /, 'no stack trace');
    assert.not.match(invalid.stderr, /short/, 'the bad key is not echoed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the TS entry runs as a child process and its exit codes propagate', async () => {
  await withDashboard({ unhealthy: true }, async (server) => {
    const [degraded, unknown, help] = await Promise.all([
      runChild(['status', '--api', server.url]),
      runChild(['stat']),
      runChild(['--help']),
    ]);
    assert.is(degraded.code, 1, degraded.stderr);
    assert.match(degraded.stdout, /status: degraded/);
    assert.is(unknown.code, 2);
    assert.is(unknown.stdout, '');
    assertOneLine(unknown.stderr);
    assert.match(unknown.stderr, /unknown command "stat"/);
    assert.is(help.code, 0);
    assert.match(help.stdout, /^usage: node-agent/);
  });
});

test.run();
