// The gateway over https with client certificates, the way a k3s server's etcd is reached: a
// 1-member etcd with --client-cert-auth, certificates made with openssl in a temp dir, and the client
// files laid out as k3s does under <data-dir>/server/tls/etcd/. k3sEtcdGatewayOptions reads them (the
// endpoint overridden to the test's free port); without an acceptable client certificate, or without
// trusting etcd's CA, the call fails at once with a typed error instead of hanging.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  EtcdGateway,
  type EtcdGatewayError,
  isEtcdCredentialsError,
  isEtcdGatewayError,
  K3S_ETCD_GATEWAY_ENDPOINT,
  k3sEtcdCertificatePaths,
  k3sEtcdGatewayOptions,
} from '../src/etcd/index.js';
import { EtcdCluster } from './support/etcd-cluster.js';

function openssl(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', [...args], { cwd, timeout: 20_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`openssl ${args.join(' ')}: ${stderr}`)) : resolve(),
    );
  });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA `name`.crt/.key in `dir`. */
async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

/** A certificate `name`.crt/.key in `dir`, signed by CA `ca`, with extensions `ext` (openssl x509 -extfile). */
async function makeCert(dir: string, name: string, ca: string, serial: number, ext: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(
    ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      String(serial),
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/** Copies PKI files into a k3s-like data dir: `<dataDir>/server/tls/etcd/<target>`. */
async function layOut(pki: string, dataDir: string, files: Record<string, string>): Promise<void> {
  const dir = join(dataDir, 'server', 'tls', 'etcd');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [target, source] of Object.entries(files)) {
    await writeFile(join(dir, target), await readFile(join(pki, source)), { mode: 0o600 });
  }
}

/** Checks `promise` rejects with an EtcdGatewayError of `reason` within `limitMs`. */
async function failsFast(
  promise: Promise<unknown>,
  reason: string,
  limitMs: number,
): Promise<EtcdGatewayError> {
  const started = Date.now();
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  const took = Date.now() - started;
  assert.ok(isEtcdGatewayError(outcome), `expected an EtcdGatewayError, got ${String(outcome)}`);
  assert.is(outcome.reason, reason, outcome.message);
  assert.ok(took < limitMs, `took ${took} ms`);
  return outcome;
}

test('TLS with client certificates: k3s file layout, legacy fallback, missing files, rejected clients', async () => {
  const root = await mkdtemp(join(tmpdir(), 'k3s-etcd-tls-'));
  let cluster: EtcdCluster | undefined;
  try {
    const pki = join(root, 'pki');
    await mkdir(pki);
    await makeCa(pki, 'etcd-ca');
    await makeCa(pki, 'other-ca');
    // The serving certificate must also be a client certificate: etcd's gateway dials etcd's own gRPC
    // port with it, and with serverAuth alone every gateway call but /health fails with 503
    // "connection closed" (hence k3s's name for it, server-client.crt).
    await makeCert(
      pki,
      'server',
      'etcd-ca',
      2,
      'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
    );
    await makeCert(pki, 'client', 'etcd-ca', 3, 'extendedKeyUsage=clientAuth\n');
    await makeCert(pki, 'stranger', 'other-ca', 4, 'extendedKeyUsage=clientAuth\n');
    const read = (name: string): Promise<Buffer> => readFile(join(pki, name));

    cluster = await EtcdCluster.start({
      size: 1,
      serverTls: {
        caFile: join(pki, 'etcd-ca.crt'),
        certFile: join(pki, 'server.crt'),
        keyFile: join(pki, 'server.key'),
        client: {
          ca: await read('etcd-ca.crt'),
          cert: await read('client.crt'),
          key: await read('client.key'),
        },
      },
    });
    const endpoint = cluster.clientUrl('e1');
    assert.match(endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);

    // Current k3s: server-ca.crt, server-client.crt, server-client.key.
    const current = join(root, 'k3s-current');
    await layOut(pki, current, {
      'server-ca.crt': 'etcd-ca.crt',
      'server-client.crt': 'client.crt',
      'server-client.key': 'client.key',
    });
    const defaults = await k3sEtcdGatewayOptions(current);
    assert.is(defaults.endpoint, K3S_ETCD_GATEWAY_ENDPOINT);
    const options = await k3sEtcdGatewayOptions(current, { endpoint, timeoutMs: 3000 });
    assert.is(options.endpoint, endpoint);
    assert.is(options.timeoutMs, 3000);
    const gateway = new EtcdGateway(options);
    const members = await gateway.listMembers();
    assert.is(members.length, 1);
    assert.is(members[0]?.name, 'e1');
    assert.equal(members[0]?.clientUrls, [endpoint]);
    assert.is((await gateway.status()).memberId, members[0]?.id);
    assert.is(await gateway.health(), true);

    // Older k3s: client.crt and client.key next to server-ca.crt.
    const legacy = join(root, 'k3s-legacy');
    await layOut(pki, legacy, {
      'server-ca.crt': 'etcd-ca.crt',
      'client.crt': 'client.crt',
      'client.key': 'client.key',
    });
    const legacyMembers = await new EtcdGateway(
      await k3sEtcdGatewayOptions(legacy, { endpoint }),
    ).listMembers();
    assert.equal(legacyMembers, members);

    // Missing files: the error names the first one missing, and never holds key material.
    const paths = (dir: string) => k3sEtcdCertificatePaths(dir);
    const missing = async (dir: string): Promise<{ reason: string; path: string; message: string }> => {
      const error = await k3sEtcdGatewayOptions(dir, { endpoint }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isEtcdCredentialsError(error), String(error));
      return error;
    };
    const none = await missing(join(root, 'no-such-dir'));
    assert.is(none.reason, 'missing-file');
    assert.is(none.path, paths(join(root, 'no-such-dir')).ca);
    const caOnly = join(root, 'k3s-ca-only');
    await layOut(pki, caOnly, { 'server-ca.crt': 'etcd-ca.crt' });
    const noCert = await missing(caOnly);
    assert.is(noCert.path, paths(caOnly).cert);
    assert.match(noCert.message, /client\.crt/); // names the older file too
    const noKey = join(root, 'k3s-no-key');
    await layOut(pki, noKey, { 'server-ca.crt': 'etcd-ca.crt', 'server-client.crt': 'client.crt' });
    assert.is((await missing(noKey)).path, paths(noKey).key);
    assert.not.match(noCert.message, /PRIVATE KEY/);

    const ca = await read('etcd-ca.crt');
    // No client certificate (Node presents none for empty PEM text): etcd ends the handshake.
    const anonymous = await failsFast(
      new EtcdGateway({ endpoint, tls: { ca, cert: '', key: '' }, timeoutMs: 4000 }).listMembers(),
      'unreachable',
      3000,
    );
    assert.ok(anonymous.cause !== undefined);
    // A client certificate from a CA etcd does not trust.
    await failsFast(
      new EtcdGateway({
        endpoint,
        tls: { ca, cert: await read('stranger.crt'), key: await read('stranger.key') },
        timeoutMs: 4000,
      }).listMembers(),
      'unreachable',
      3000,
    );
    // Not trusting etcd's CA (no TLS material: the system CAs).
    const untrusted = await failsFast(
      new EtcdGateway({ endpoint, timeoutMs: 4000 }).listMembers(),
      'unreachable',
      3000,
    );
    assert.match(untrusted.message, /certificate|CERT/);
    // Plain http to the https port: etcd resets the connection.
    await failsFast(
      new EtcdGateway({ endpoint: endpoint.replace('https:', 'http:'), timeoutMs: 4000 }).listMembers(),
      'unreachable',
      3000,
    );
    assert.not.match(anonymous.message, /\n/);
    console.log(`  no client cert → ${anonymous.detail}; untrusted server → ${untrusted.detail}`);
  } finally {
    await cluster?.teardown();
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
