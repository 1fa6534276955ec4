// Network providers: the static provider's fixed addresses, and the Tailscale provider against a
// fake tailscaled LocalAPI (a node:http server on a unix socket this test creates in a temp dir,
// enforcing tailscaled's Host/Origin rule) serving recorded real-format status documents, plus the
// `tailscale status --json` fallback through a fake CLI script. Waits are synchronised on request
// counts, never on sleeps; every ready() has a short deadline.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  isNetworkNotReadyError,
  type NetworkLogger,
  NetworkNotReadyError,
  type NetworkProvider,
} from '../src/network/provider.js';
import { StaticNetworkProvider } from '../src/network/static.js';
import {
  isTailscaleIPv4,
  isTailscaleStatusError,
  LOCALAPI_HOST,
  parseTailscaleStatus,
  type TailscaleNetworkOptions,
  TailscaleNetworkProvider,
  TailscaleStatusError,
} from '../src/network/tailscale.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/tailscale/', import.meta.url));
const fixturePath = (name: string): string => join(FIXTURES, name);
const fixture = (name: string): Promise<string> => readFile(fixturePath(name), 'utf8');
/** The MagicDNS name of this node in every fixture (tailscaled prints it with a trailing dot). */
const DNS = 'ikuai-1.tail1fb5f0.ts.net';

// A pino logger satisfies the provider's logger interface (checked by the compiler).
export const pinoIsALogger: NetworkLogger = pino({ enabled: false });

interface LogLine {
  level: 'info' | 'warn' | 'debug' | 'error';
  obj: object;
  msg: string;
}
function captureLogger(): NetworkLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj, msg });
    };
  return { lines, info: at('info'), warn: at('warn'), debug: at('debug'), error: at('error') };
}

interface FakeTailscaled {
  socketPath: string;
  requests: number;
  seen: IncomingMessage[];
  close(): Promise<void>;
}

type Answer = { status: number; body: string };

/** A fake tailscaled LocalAPI on a unix socket; `answer(n)` gives the n-th (1-based) status answer. */
async function fakeTailscaled(
  dir: string,
  answer: (n: number) => Answer | Promise<Answer>,
): Promise<FakeTailscaled> {
  const socketPath = join(dir, 'tailscaled.sock');
  const fake: FakeTailscaled = { socketPath, requests: 0, seen: [], close: async () => {} };
  const server: Server = createServer(async (req, res) => {
    fake.seen.push(req);
    // tailscaled's validHost rule: Host must be local-tailscaled.sock (or empty), no Origin/Referer.
    const host = req.headers.host ?? '';
    if ((host !== '' && host !== LOCALAPI_HOST) || req.headers.origin || req.headers.referer) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('invalid localapi request\n');
      return;
    }
    if (req.method !== 'GET' || req.url !== '/localapi/v0/status') {
      res.writeHead(404).end('not found\n');
      return;
    }
    fake.requests += 1;
    const a = await answer(fake.requests);
    res
      .writeHead(a.status, { 'content-type': 'application/json', 'tailscale-version': '1.76.1' })
      .end(a.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/** Runs `body` with a fresh temp dir, removed afterwards. */
async function inTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cos-net-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes an executable fake `tailscale` that checks its argv and prints `fixtureName` (or fails). */
async function fakeCli(dir: string, script: string): Promise<string> {
  const path = join(dir, 'tailscale');
  await writeFile(path, `#!/bin/sh\n${script}\n`);
  await chmod(path, 0o755);
  return path;
}
const printFixture = (name: string): string =>
  `if [ "$1" != status ] || [ "$2" != --json ]; then echo "unexpected args: $*" >&2; exit 2; fi\ncat '${fixturePath(name)}'`;

const fast = (extra: TailscaleNetworkOptions): TailscaleNetworkOptions => ({
  minBackoffMs: 5,
  maxBackoffMs: 20,
  readyTimeoutMs: 3000,
  requestTimeoutMs: 2000,
  cliTimeoutMs: 5000,
  ...extra,
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
/** Like {@link rejection}, for a function that may throw synchronously. */
const rejectionSync = (fn: () => Promise<unknown>): Promise<unknown> => rejection(fn());

// ---------------------------------------------------------------------------------------------
// Parsing

test('parses the real capture: IPv4 by family, self and peers', async () => {
  const s = parseTailscaleStatus(await fixture('running.json'));
  assert.is(s.backendState, 'Running');
  assert.is(s.ipv4, '100.104.58.51');
  assert.is(s.selfHostName, 'iKuai');
  // DNSName ends with a dot in tailscaled's JSON; k3s gets it as a --tls-san without the dot.
  assert.is(s.selfDnsName, 'ikuai-1.tail1fb5f0.ts.net');
  assert.is(s.selfOnline, true);
  assert.equal(s.selfIps, ['100.104.58.51', 'fd7a:115c:a1e0::ef01:3a34']);
  assert.equal(s.peers, [
    { hostName: 'iStoreOS', ips: ['100.103.182.58', 'fd7a:115c:a1e0::f01:b63a'], online: true },
  ]);
});

test('Tailscale IPv4 range is 100.64.0.0/10', () => {
  for (const ip of ['100.64.0.1', '100.104.58.51', '100.127.255.254']) assert.ok(isTailscaleIPv4(ip), ip);
  for (const ip of ['100.63.255.255', '100.128.0.1', '10.0.0.1', 'fd7a:115c:a1e0::1', 'x']) {
    assert.not.ok(isTailscaleIPv4(ip), ip);
  }
});

test('malformed and wrong-shape documents are typed errors naming the problem', async () => {
  const e1 = await rejectionSync(async () => parseTailscaleStatus(await fixture('malformed.json')));
  assert.ok(isTailscaleStatusError(e1));
  assert.is((e1 as TailscaleStatusError).kind, 'malformed');
  assert.match((e1 as Error).message, /not valid JSON/);
  const e2 = await rejectionSync(async () => parseTailscaleStatus(await fixture('wrong-shape.json')));
  assert.ok(e2 instanceof TailscaleStatusError);
  assert.match((e2 as Error).message, /Peer\.nodekey:[0-9a-f]+\.HostName/);
  for (const text of [
    'null',
    '[]',
    '{"BackendState":7}',
    '{"BackendState":"Running","Self":{"HostName":"a","TailscaleIPs":["nope"]}}',
  ]) {
    const e = await rejectionSync(async () => parseTailscaleStatus(text));
    assert.ok(isTailscaleStatusError(e), text);
  }
});

// ---------------------------------------------------------------------------------------------
// LocalAPI over the unix socket

test('LocalAPI: IP, peers (online and offline) and connected state; sends the LocalAPI Host', () =>
  inTemp(async (dir) => {
    const body = await fixture('running-offline-peer.json');
    const ts = await fakeTailscaled(dir, () => ({ status: 200, body }));
    try {
      const p = new TailscaleNetworkProvider(fast({ socketPath: ts.socketPath, cliFallback: false }));
      assert.equal(p.state(), { provider: 'tailscale', connected: false, ip: null, peerCount: 0 });
      const peers = await p.peers();
      assert.equal(peers, [
        { hostName: 'gpu-box', ips: ['fd7a:115c:a1e0::a01:2b3c', '100.90.11.60'], online: false },
        { hostName: 'iStoreOS', ips: ['100.103.182.58', 'fd7a:115c:a1e0::f01:b63a'], online: true },
      ]);
      assert.equal(p.state(), {
        provider: 'tailscale',
        connected: true,
        ip: '100.104.58.51',
        peerCount: 2,
        dnsName: DNS,
      });
      assert.is(ts.seen[0]?.headers.host, LOCALAPI_HOST);
      assert.is(ts.requests, 1);
    } finally {
      await ts.close();
    }
  }));

test('ready() resolves at once when Running, with one line logged', () =>
  inTemp(async (dir) => {
    const body = await fixture('running.json');
    const ts = await fakeTailscaled(dir, () => ({ status: 200, body }));
    const log = captureLogger();
    try {
      const p = new TailscaleNetworkProvider(fast({ socketPath: ts.socketPath, logger: log }));
      const state = await p.ready();
      assert.equal(state, {
        provider: 'tailscale',
        connected: true,
        ip: '100.104.58.51',
        peerCount: 1,
        dnsName: DNS,
      });
      assert.is(ts.requests, 1);
      assert.equal(
        log.lines.map((l) => [l.level, l.msg]),
        [['info', 'tailscale is Running: this node is 100.104.58.51']],
      );
    } finally {
      await ts.close();
    }
  }));

test('ready() waits while Starting and resolves once Running (switch after 3 requests), one log line per wait', () =>
  inTemp(async (dir) => {
    const starting = await fixture('starting.json');
    const running = await fixture('running.json');
    const ts = await fakeTailscaled(dir, (n) => ({ status: 200, body: n <= 3 ? starting : running }));
    const log = captureLogger();
    try {
      const p = new TailscaleNetworkProvider(fast({ socketPath: ts.socketPath, logger: log }));
      const state = await p.ready();
      assert.is(state.connected, true);
      assert.is(state.ip, '100.104.58.51');
      assert.is(ts.requests, 4);
      const waits = log.lines.filter((l) => l.msg.startsWith('waiting for tailscale'));
      assert.is(waits.length, 3);
      for (const w of waits) {
        assert.is(w.level, 'info');
        assert.match(w.msg, /BackendState is Starting .*retrying in \d+ms/);
        assert.is((w.obj as { backendState: string }).backendState, 'Starting');
      }
      // Bounded backoff: 5, 10, 20 (capped at maxBackoffMs).
      assert.equal(
        waits.map((w) => (w.obj as { retryInMs: number }).retryInMs),
        [5, 10, 20],
      );
    } finally {
      await ts.close();
    }
  }));

test('NeedsLogin: disconnected, no IP; ready() hits the deadline with a clear error and never logs the AuthURL', () =>
  inTemp(async (dir) => {
    const body = await fixture('needs-login.json');
    const ts = await fakeTailscaled(dir, () => ({ status: 200, body }));
    const log = captureLogger();
    try {
      const p = new TailscaleNetworkProvider(
        fast({ socketPath: ts.socketPath, logger: log, readyTimeoutMs: 150, maxBackoffMs: 30 }),
      );
      const status = await p.status();
      assert.is(status.backendState, 'NeedsLogin');
      assert.is(status.ipv4, null);
      assert.equal(status.peers, []);
      assert.equal(p.state(), {
        provider: 'tailscale',
        connected: false,
        ip: null,
        peerCount: 0,
        dnsName: DNS,
      });

      const started = Date.now();
      const err = await rejection(p.ready());
      assert.ok(Date.now() - started < 2000, 'deadline bounded the wait');
      assert.ok(err instanceof NetworkNotReadyError);
      assert.ok(isNetworkNotReadyError(err));
      const e = err as NetworkNotReadyError;
      assert.is(e.name, 'NetworkNotReadyError');
      assert.is(e.reason, 'deadline');
      assert.is(e.provider, 'tailscale');
      assert.is(e.lastState, 'NeedsLogin');
      assert.match(e.message, /not ready within 150ms: BackendState stayed NeedsLogin .*tailscale up/);
      assert.ok(ts.requests >= 2);
      const logged = JSON.stringify(log.lines);
      assert.not.match(logged, /login\.tailscale\.com/);
      assert.ok(log.lines.some((l) => l.level === 'error' && l.msg === e.message));
    } finally {
      await ts.close();
    }
  }));

test('ready() honours an AbortSignal aborted mid-wait, and one aborted before the call', () =>
  inTemp(async (dir) => {
    const starting = await fixture('starting.json');
    const controller = new AbortController();
    const ts = await fakeTailscaled(dir, (n) => {
      if (n === 2) controller.abort(new Error('agent shutting down'));
      return { status: 200, body: starting };
    });
    try {
      const p = new TailscaleNetworkProvider(fast({ socketPath: ts.socketPath, readyTimeoutMs: 10_000 }));
      const started = Date.now();
      const err = await rejection(p.ready(controller.signal));
      assert.ok(Date.now() - started < 5000);
      assert.ok(isNetworkNotReadyError(err));
      assert.is((err as NetworkNotReadyError).reason, 'aborted');
      assert.match((err as Error).message, /aborted/);
      assert.is(ts.requests, 2);

      const before = ts.requests;
      const err2 = await rejection(p.ready(AbortSignal.abort()));
      assert.is((err2 as NetworkNotReadyError).reason, 'aborted');
      assert.is(ts.requests, before, 'no request once already aborted');
    } finally {
      await ts.close();
    }
  }));

test('malformed JSON from the LocalAPI: typed errors, no retry loop, no crash', () =>
  inTemp(async (dir) => {
    const body = await fixture('malformed.json');
    const ts = await fakeTailscaled(dir, () => ({ status: 200, body }));
    const log = captureLogger();
    try {
      const p = new TailscaleNetworkProvider(fast({ socketPath: ts.socketPath, logger: log }));
      const e1 = await rejection(p.peers());
      assert.ok(isTailscaleStatusError(e1));
      assert.is((e1 as TailscaleStatusError).kind, 'malformed');
      const e2 = await rejection(p.ready());
      assert.ok(isNetworkNotReadyError(e2));
      assert.is((e2 as NetworkNotReadyError).reason, 'invalid-status');
      assert.ok(isTailscaleStatusError((e2 as Error).cause));
      assert.is(ts.requests, 2, 'malformed status is not retried');
    } finally {
      await ts.close();
    }
  }));

test('a LocalAPI refusal (HTTP 403) is an unavailable error naming the status and body', () =>
  inTemp(async (dir) => {
    const ts = await fakeTailscaled(dir, () => ({ status: 403, body: 'status access denied\n' }));
    try {
      const p = new TailscaleNetworkProvider(fast({ socketPath: ts.socketPath, cliFallback: false }));
      const e = await rejection(p.status());
      assert.ok(isTailscaleStatusError(e));
      assert.is((e as TailscaleStatusError).kind, 'unavailable');
      assert.match((e as Error).message, /HTTP 403: status access denied/);
    } finally {
      await ts.close();
    }
  }));

// ---------------------------------------------------------------------------------------------
// CLI fallback and missing pieces

test('CLI fallback: no socket, a fake `tailscale status --json` prints the capture', () =>
  inTemp(async (dir) => {
    const cliPath = await fakeCli(dir, printFixture('running-offline-peer.json'));
    const log = captureLogger();
    const p = new TailscaleNetworkProvider(
      fast({ socketPath: join(dir, 'absent.sock'), cliPath, logger: log }),
    );
    const state = await p.ready();
    assert.equal(state, {
      provider: 'tailscale',
      connected: true,
      ip: '100.104.58.51',
      peerCount: 2,
      dnsName: DNS,
    });
    const peers = await p.peers();
    assert.equal(
      peers.map((x) => [x.hostName, x.online]),
      [
        ['gpu-box', false],
        ['iStoreOS', true],
      ],
    );
    assert.ok(log.lines.some((l) => l.level === 'debug' && /absent\.sock.*ENOENT.*trying/.test(l.msg)));
  }));

test('CLI fallback failing (exit 1 + stderr) reports both failures', () =>
  inTemp(async (dir) => {
    const cliPath = await fakeCli(
      dir,
      'echo "failed to connect to local tailscaled; it doesn\'t appear to be running" >&2\nexit 1',
    );
    const p = new TailscaleNetworkProvider(fast({ socketPath: join(dir, 'absent.sock'), cliPath }));
    const e = await rejection(p.status());
    assert.ok(isTailscaleStatusError(e));
    assert.match((e as Error).message, /absent\.sock.*ENOENT/);
    assert.match((e as Error).message, /exit 1\): failed to connect to local tailscaled/);
  }));

test('missing socket without fallback, and missing socket + missing binary: clear errors', () =>
  inTemp(async (dir) => {
    const sock = join(dir, 'nope.sock');
    const noFallback = new TailscaleNetworkProvider(fast({ socketPath: sock, cliFallback: false }));
    const e1 = await rejection(noFallback.status());
    assert.ok(isTailscaleStatusError(e1));
    assert.is((e1 as TailscaleStatusError).kind, 'unavailable');
    assert.match(
      (e1 as Error).message,
      new RegExp(`tailscaled unreachable \\(LocalAPI at ${sock}: .*ENOENT`),
    );

    const missingCli = join(dir, 'bin', 'tailscale');
    const both = new TailscaleNetworkProvider(
      fast({ socketPath: sock, cliPath: missingCli, readyTimeoutMs: 100, maxBackoffMs: 20 }),
    );
    const e2 = await rejection(both.status());
    assert.match((e2 as Error).message, new RegExp(`tailscale CLI not found: ${missingCli}`));
    const e3 = await rejection(both.ready());
    assert.ok(isNetworkNotReadyError(e3));
    assert.is((e3 as NetworkNotReadyError).reason, 'deadline');
    assert.is((e3 as NetworkNotReadyError).lastState, null);
    assert.match((e3 as Error).message, /not ready within 100ms: tailscaled unreachable .*CLI not found/);
  }));

test('bad timeouts are rejected at construction', () => {
  assert.throws(
    () => new TailscaleNetworkProvider({ readyTimeoutMs: 0 }),
    /readyTimeoutMs must be a positive/,
  );
  assert.throws(() => new TailscaleNetworkProvider({ cliTimeoutMs: Number.NaN }), /cliTimeoutMs/);
});

// ---------------------------------------------------------------------------------------------
// Static provider

test('static provider: always connected, advertise address, seeds as peers', async () => {
  const p: NetworkProvider = new StaticNetworkProvider({
    bindAddress: '127.0.0.1',
    seeds: ['127.0.0.1:7947', '[::1]:7948', 'node-b.local:7946'],
  });
  assert.is(p.name, 'static');
  const expected = { provider: 'static', connected: true, ip: '127.0.0.1', peerCount: 3 };
  assert.equal(p.state(), expected);
  assert.equal(await p.ready(), expected);
  assert.equal(await p.peers(), [
    { hostName: '127.0.0.1', ips: ['127.0.0.1'], online: true },
    { hostName: '::1', ips: ['::1'], online: true },
    { hostName: 'node-b.local', ips: [], online: true },
  ]);
  const wild = new StaticNetworkProvider({ bindAddress: '0.0.0.0', advertiseAddress: '127.0.0.2' });
  assert.equal(wild.state(), { provider: 'static', connected: true, ip: '127.0.0.2', peerCount: 0 });
});

test('static provider: bad configuration and an aborted ready()', async () => {
  assert.throws(() => new StaticNetworkProvider({ bindAddress: 'localhost' }), /bindAddress must be an IP/);
  assert.throws(() => new StaticNetworkProvider({ bindAddress: '0.0.0.0' }), /non-wildcard/);
  assert.throws(() => new StaticNetworkProvider({ bindAddress: '127.0.0.1', seeds: ['nope'] }), /host:port/);
  const p = new StaticNetworkProvider({ bindAddress: '127.0.0.1' });
  const e = await rejection(p.ready(AbortSignal.abort()));
  assert.ok(isNetworkNotReadyError(e));
  assert.is((e as NetworkNotReadyError).reason, 'aborted');
});

test.run();
