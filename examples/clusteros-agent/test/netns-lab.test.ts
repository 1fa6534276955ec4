// Smoke test of the namespace lab (test/support/netns-lab.ts): several hosts on one machine, each a
// PID 1 in its own net, uts, pid and mount namespaces behind a bridge. Needs root, util-linux and
// iproute2. Every wait polls with a deadline; no sleep is used as synchronisation.
//
// 1. Two hosts: hostnames, TCP between hosts and over loopback, names from the hosts file, and
//    run()'s exit codes, input, env and timeout.
// 2. Private directories: a file written from outside shows in one host only.
// 3. Per-host hosts files: a line added in one host's file resolves there only, and survives a
//    third host being added.
// 4. Crash and reboot: a crash kills the host's processes and keeps its files; the rebooted host
//    has the same address and is reachable again.
// 5. Teardown: no PID 1 survives, the base directory is gone, a second teardown is a no-op.

import { existsSync } from 'node:fs';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type LabHost, NetnsLab } from './support/netns-lab.js';

const NODE = process.execPath;
const PORT = 7000;

/** Polls `probe` every 50 ms until it returns true, for at most `limitMs`. */
async function waitFor(what: string, limitMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await probe())) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await delay(50);
  }
}

/** Resolves with the promise's value, or rejects after `ms`. */
async function bounded<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts, inside `host`, a TCP server on all addresses that greets with its hostname. */
function startGreeter(lab: NetnsLab, host: LabHost) {
  const script = `require('node:net').createServer((s) => s.end('hello from ' + require('node:os').hostname() + '\\n')).listen(${PORT}, '0.0.0.0')`;
  return host.spawn([NODE, '-e', script], { logFile: join(lab.base, `greeter-${host.name}.log`) });
}

/** Connects from `client` to `address:PORT` (bash /dev/tcp) and returns what the server said. */
async function fetchGreeting(client: LabHost, address: string): Promise<string | undefined> {
  const result = await client.run(['bash', '-c', `exec 3<>/dev/tcp/${address}/${PORT} && cat <&3`], {
    timeoutMs: 5_000,
  });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

async function waitForGreeting(client: LabHost, address: string, expected: string): Promise<void> {
  await waitFor(`${client.name} to reach ${address}:${PORT}`, 5_000, async () => {
    return (await fetchGreeting(client, address)) === expected;
  });
}

async function resolve(host: LabHost, name: string): Promise<string | undefined> {
  const result = await host.run(['getent', 'hosts', name]);
  return result.code === 0 ? result.stdout.trim().split(/\s+/)[0] : undefined;
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

test('two hosts: hostnames, TCP between them and over loopback, names, run()', async () => {
  const lab = await NetnsLab.create();
  try {
    const alpha = await lab.addHost('alpha');
    const beta = await lab.addHost('beta');
    assert.is(alpha.ip, '10.77.0.10');
    assert.is(beta.ip, '10.77.0.11');
    assert.equal(
      lab.hosts().map((h) => h.name),
      ['alpha', 'beta'],
    );
    assert.is(lab.host('beta'), beta);
    assert.throws(() => lab.host('nobody'), /no host nobody/);

    assert.is((await alpha.run(['hostname'])).stdout.trim(), 'alpha');
    assert.is((await beta.run(['hostname'])).stdout.trim(), 'beta');
    // Own PID namespace: the holder bash is PID 1 in there.
    assert.is((await alpha.run(['sh', '-c', 'cat /proc/1/comm'])).stdout.trim(), 'bash');

    const greeter = startGreeter(lab, beta);
    await waitForGreeting(alpha, beta.ip, 'hello from beta');
    assert.is(await fetchGreeting(beta, '127.0.0.1'), 'hello from beta');
    greeter.kill();
    assert.is(await bounded('the greeter to exit', greeter.exited, 5_000), 'SIGTERM');

    assert.is(await resolve(alpha, 'beta'), beta.ip);
    assert.is(await resolve(beta, 'alpha'), alpha.ip);

    const failed = await alpha.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(failed, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    assert.is((await alpha.run(['cat'], { input: 'piped in' })).stdout, 'piped in');
    assert.is((await alpha.run(['sh', '-c', 'echo "$FOO"'], { env: { FOO: 'bar' } })).stdout, 'bar\n');
    try {
      await alpha.run(['sh', '-c', 'sleep 31 & sleep 32'], { timeoutMs: 300 });
      assert.unreachable('run should time out');
    } catch (error) {
      assert.match(String(error), /timed out after 300 ms: nsenter .* sh -c "sleep 31 & sleep 32"/);
    }
    // The timeout killed the command inside the host, and what it started, not only nsenter.
    await waitFor('both sleeps to die in alpha', 2_000, async () => {
      return (await alpha.run(['pgrep', '-f', 'sleep 3[12]'])).code === 1;
    });
    try {
      await lab.addHost('Bad_Name');
      assert.unreachable('a bad name is refused');
    } catch (error) {
      assert.match(String(error), /host name/);
    }
  } finally {
    await lab.teardown();
  }
});

test('private directories: a file written from outside shows in its host only', async () => {
  const lab = await NetnsLab.create();
  try {
    const alpha = await lab.addHost('alpha');
    const beta = await lab.addHost('beta');
    assert.is(alpha.path('/etc/slurm/x'), join(alpha.root, 'etc/slurm/x'));
    assert.throws(() => alpha.path('/etc/passwd'), /not under a private mount/);
    assert.throws(() => alpha.path('/etc/slurm/../passwd'), /not under a private mount/);

    await writeFile(alpha.path('/etc/slurm/x'), 'only on alpha\n');
    assert.equal(await alpha.run(['cat', '/etc/slurm/x']), {
      code: 0,
      stdout: 'only on alpha\n',
      stderr: '',
    });
    assert.is.not((await beta.run(['cat', '/etc/slurm/x'])).code, 0);
    assert.not.ok(existsSync('/etc/slurm/x'), 'the machine itself does not see it');
    // The bind mounts stay inside the hosts' mount namespaces.
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.not.ok(mounts.includes(lab.base), 'no lab mount leaked into the root namespace');

    assert.is((await stat(alpha.path('/etc/munge'))).mode & 0o777, 0o700);
    assert.is((await stat(alpha.path('/var/lib/munge'))).mode & 0o777, 0o711);
    assert.is((await stat(alpha.path('/run/munge'))).mode & 0o777, 0o755);
    assert.ok(existsSync(alpha.path('/var/lib/slurm/slurmd')));
  } finally {
    await lab.teardown();
  }
});

test('per-host hosts files: an added line resolves in its host only and survives new hosts', async () => {
  const lab = await NetnsLab.create();
  try {
    const alpha = await lab.addHost('alpha');
    const beta = await lab.addHost('beta');
    const hostsFile = alpha.path('/etc/hosts');
    // As the product does: a managed block in the node's own hosts file, written in place.
    await appendFile(hostsFile, '# BEGIN clusteros\n10.77.0.11 slurmctl\n# END clusteros\n');
    assert.is(await resolve(alpha, 'slurmctl'), '10.77.0.11');
    assert.is(await resolve(beta, 'slurmctl'), undefined);

    const gamma = await lab.addHost('gamma');
    assert.is(gamma.ip, '10.77.0.12');
    assert.is(
      await readFile(hostsFile, 'utf8'),
      [
        '127.0.0.1 localhost',
        '::1 localhost',
        '10.77.0.10 alpha',
        '10.77.0.11 beta',
        '10.77.0.12 gamma',
        '# BEGIN clusteros',
        '10.77.0.11 slurmctl',
        '# END clusteros',
        '',
      ].join('\n'),
    );
    for (const host of [alpha, beta, gamma]) {
      assert.is(await resolve(host, 'gamma'), gamma.ip, `gamma from ${host.name}`);
      assert.is(await resolve(host, 'alpha'), alpha.ip, `alpha from ${host.name}`);
    }
    assert.is(await resolve(alpha, 'slurmctl'), '10.77.0.11');
    assert.is(await resolve(gamma, 'slurmctl'), undefined);
  } finally {
    await lab.teardown();
  }
});

test('crash kills the host and keeps its files; reboot brings it back at the same address', async () => {
  const lab = await NetnsLab.create();
  try {
    const alpha = await lab.addHost('alpha');
    const beta = await lab.addHost('beta');
    await writeFile(beta.path('/var/lib/clusteros/state'), 'kept\n');
    const sleeper = beta.spawn(['sleep', '300'], { logFile: join(lab.base, 'sleeper.log') });
    await waitFor('sleep 300 to run in beta', 2_000, async () => {
      return (await beta.run(['pgrep', '-f', 'sleep 300'])).code === 0;
    });

    await lab.crash('beta');
    assert.is(await bounded('sleep 300 to die', sleeper.exited, 5_000), 'SIGKILL');
    assert.not.ok(beta.alive);
    assert.ok(gone(beta.pid));
    assert.ok(existsSync(beta.root));
    assert.is(await readFile(beta.path('/var/lib/clusteros/state'), 'utf8'), 'kept\n');
    try {
      await beta.run(['true']);
      assert.unreachable('a crashed host runs nothing');
    } catch (error) {
      assert.match(String(error), /not running/);
    }

    const beta2 = await lab.reboot('beta');
    assert.is.not(beta2, beta);
    assert.is(beta2.ip, beta.ip);
    assert.is.not(beta2.pid, beta.pid);
    assert.ok(beta2.alive);
    assert.is(lab.host('beta'), beta2);
    assert.is((await beta2.run(['hostname'])).stdout.trim(), 'beta');
    assert.is((await beta2.run(['cat', '/var/lib/clusteros/state'])).stdout, 'kept\n');
    startGreeter(lab, beta2);
    await waitForGreeting(alpha, beta.ip, 'hello from beta');
  } finally {
    await lab.teardown();
  }
});

test('teardown kills every host, removes the base directory, and is idempotent', async () => {
  const lab = await NetnsLab.create();
  const hosts = [await lab.addHost('alpha'), await lab.addHost('beta')];
  startGreeter(lab, hosts[1] as LabHost);
  await lab.teardown();
  for (const host of hosts) {
    assert.ok(gone(host.pid), `PID 1 of ${host.name} is gone`);
    assert.not.ok(host.alive);
  }
  assert.not.ok(existsSync(lab.base));
  await lab.teardown();
  try {
    await lab.addHost('late');
    assert.unreachable('a torn-down lab adds no hosts');
  } catch (error) {
    assert.match(String(error), /torn down/);
  }
});

test.run();
