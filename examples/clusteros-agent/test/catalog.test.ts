// The role catalog: whether a role's software is found and whether this agent runs the role
// (with an injected finder), the one-line details, and the PATH probe on real files.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  availabilityDetail,
  type CatalogEntry,
  configuredFinder,
  findExecutable,
  probeServices,
  ROLE_CATALOG,
  roleAvailability,
} from '../src/agent/catalog.js';
import { COORDINATOR_ROLE } from '../src/agent/coordinator-role.js';
import { demoRoles } from '../src/demo/local-cluster.js';

/** A finder that knows only `installed`, and records what it was asked. */
function finder(installed: readonly string[]) {
  const asked: string[] = [];
  const find = async (name: string): Promise<string | null> => {
    asked.push(name);
    return installed.includes(name) ? `/usr/sbin/${name}` : null;
  };
  return { asked, find };
}

const entry = (over: Partial<CatalogEntry>): CatalogEntry => ({
  role: 'test-role',
  placement: 'singleton',
  binaries: ['alpha', 'beta'],
  implemented: true,
  ...over,
});

test('roleAvailability: every binary found and implemented → managed', async () => {
  const { asked, find } = finder(['alpha', 'beta']);
  assert.equal(await roleAvailability(entry({}), find), { kind: 'managed' });
  assert.equal(asked, ['alpha', 'beta']);
});

test('roleAvailability: a missing binary → not-installed, listing only the missing ones', async () => {
  assert.equal(await roleAvailability(entry({}), finder(['alpha']).find), {
    kind: 'not-installed',
    missing: ['beta'],
  });
  assert.equal(await roleAvailability(entry({ implemented: false }), finder([]).find), {
    kind: 'not-installed',
    missing: ['alpha', 'beta'],
  });
});

test('roleAvailability: found but not implemented → not-managed, listing what was found', async () => {
  assert.equal(await roleAvailability(entry({ implemented: false }), finder(['alpha', 'beta']).find), {
    kind: 'not-managed',
    found: ['alpha', 'beta'],
  });
});

test('roleAvailability: the catalog’s coordinator needs no software and is managed', async () => {
  const coordinator = ROLE_CATALOG[COORDINATOR_ROLE];
  assert.ok(coordinator !== undefined);
  const { asked, find } = finder([]);
  assert.equal(await roleAvailability(coordinator, find), { kind: 'managed' });
  assert.equal(asked, []);
});

test('roleAvailability: SLURM and k3s roles are managed with their software', async () => {
  const all = finder(['slurmctld', 'slurmd', 'munged', 'k3s']).find;
  for (const [role, kind] of [
    ['slurm-controller', 'managed'],
    ['slurm-worker', 'managed'],
    ['k3s-server', 'managed'],
    ['k3s-agent', 'managed'],
  ] as const) {
    const catalogEntry = ROLE_CATALOG[role];
    assert.ok(catalogEntry !== undefined, role);
    const availability = await roleAvailability(catalogEntry, all);
    assert.is(availability.kind, kind, role);
  }
  const controller = ROLE_CATALOG['slurm-controller'];
  assert.ok(controller !== undefined);
  assert.equal(await roleAvailability(controller, finder(['slurmctld']).find), {
    kind: 'not-installed',
    missing: ['munged'],
  });
});

test('availabilityDetail: texts start with the availability kind and name the binaries', () => {
  assert.is(availabilityDetail({ kind: 'managed' }), 'managed');
  const notInstalled = availabilityDetail({ kind: 'not-installed', missing: ['slurmctld', 'munged'] });
  assert.ok(notInstalled.startsWith('not-installed'), notInstalled);
  assert.ok(notInstalled.includes('slurmctld, munged'), notInstalled);
  const notManaged = availabilityDetail({ kind: 'not-managed', found: ['k3s'] });
  assert.ok(notManaged.startsWith('not-managed'), notManaged);
  assert.ok(notManaged.includes('k3s'), notManaged);
});

/** Runs `body` with a fresh temp dir, removed afterwards. */
async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cos-catalog-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// A name no system directory has.
const uniqueName = (): string => `cos-test-exe-${randomBytes(6).toString('hex')}`;

test('findExecutable: finds an executable in a directory passed as PATH', async () => {
  await withTempDir(async (dir) => {
    const name = uniqueName();
    const path = join(dir, name);
    await writeFile(path, '#!/bin/sh\nexit 0\n');
    await chmod(path, 0o755);
    assert.is(await findExecutable(name, dir), path);
    // Also as a later entry of a PATH list, after empty and missing entries.
    assert.is(await findExecutable(name, ['', join(dir, 'missing'), dir].join(delimiter)), path);
    // Not found when its directory is not on the PATH.
    assert.is(await findExecutable(name, join(dir, 'missing')), null);
  });
});

test('findExecutable: a file without execute permission is not found', async () => {
  await withTempDir(async (dir) => {
    const name = uniqueName();
    const path = join(dir, name);
    await writeFile(path, '#!/bin/sh\nexit 0\n');
    await chmod(path, 0o644);
    assert.is(await findExecutable(name, dir), null);
  });
});

test('findExecutable: a directory with the name is not an executable', async () => {
  await withTempDir(async (dir) => {
    const name = uniqueName();
    await mkdir(join(dir, name), { mode: 0o755 });
    assert.is(await findExecutable(name, dir), null);
    // A real executable later on the PATH is found instead.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, name), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.is(await findExecutable(name, [dir, bin].join(delimiter)), join(bin, name));
  });
});

test('findExecutable: a missing name is null', async () => {
  await withTempDir(async (dir) => {
    assert.is(await findExecutable(uniqueName(), dir), null);
  });
});

test('probeServices: missing binaries are not-installed, present ones stopped (never running)', async () => {
  const services = await probeServices(async (name) => (name === 'munged' ? '/usr/sbin/munged' : null));
  assert.equal(Object.keys(services).sort(), ['k3s', 'munged', 'slurmctld', 'slurmd']);
  assert.equal(services.slurmctld, { state: 'not-installed', detail: 'slurmctld not found' });
  assert.is(services.munged?.state, 'stopped');
  assert.match(services.munged?.detail ?? '', /\/usr\/sbin\/munged installed/);
  for (const info of Object.values(services)) assert.is.not(info.state, 'running');
});

test('demo roles: the k3s roles only where k3s is not installed (then they show not-installed)', async () => {
  assert.equal(await demoRoles(async () => null), ['cluster-coordinator', 'k3s-server', 'k3s-agent']);
  assert.equal(await demoRoles(async (name) => (name === 'k3s' ? '/usr/local/bin/k3s' : null)), [
    'cluster-coordinator',
  ]);
});

test('configuredFinder: k3s is looked up as k3s.binary says (a path or a name); other binaries as before', async () => {
  const names: string[] = [];
  const find = async (name: string) => {
    names.push(name);
    return name === 'k3s-1.31' ? '/opt/bin/k3s-1.31' : null;
  };
  assert.is(await configuredFinder('k3s-1.31', find)('k3s'), '/opt/bin/k3s-1.31');
  assert.is(await configuredFinder(process.execPath, find)('k3s'), process.execPath);
  assert.is(await configuredFinder('/nonexistent/k3s', find)('k3s'), null);
  assert.is(await configuredFinder('/tmp', find)('k3s'), null, 'a directory is not an executable');
  assert.is(await configuredFinder('k3s', find)('slurmd'), null);
  assert.equal(names, ['k3s-1.31', 'slurmd']);
});

test.run();
