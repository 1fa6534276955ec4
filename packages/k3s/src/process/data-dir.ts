/**
 * What the adapter reads and changes in k3s's data dir. Embedded etcd keeps its data in
 * `${dataDir}/server/db/etcd`; k3s treats the member as initialized when `member/wal` exists there,
 * and then ignores `--cluster-init` and `--server` and restarts on that data. Once the member has
 * been removed from the cluster, that data is stale for good: k3s (and etcd) exit on it at every
 * start, so the node only rejoins after `${dataDir}/server/db` is deleted ({@link wipeServerDb}).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { K3sConfigError, K3sFileError, systemErrorCode } from './errors.js';
import { shown } from './validate.js';

/** `${dataDir}/server/db`: k3s's datastore directory (etcd data, its member name, snapshots). */
export function serverDbDir(dataDir: string): string {
  return join(dataDir, 'server', 'db');
}

/** `${dataDir}/server/db/etcd`: embedded etcd's data dir. */
export function etcdDataDir(dataDir: string): string {
  return join(serverDbDir(dataDir), 'etcd');
}

/** Whether embedded etcd has data here (`${dataDir}/server/db/etcd/member/wal` is a directory), as k3s decides it. */
export async function etcdInitialized(dataDir: string): Promise<boolean> {
  try {
    return (await stat(join(etcdDataDir(dataDir), 'member', 'wal'))).isDirectory();
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT' || systemErrorCode(error) === 'ENOTDIR') return false;
    throw error;
  }
}

/**
 * Deletes `${dataDir}/server/db` (and nothing else: certificates, the token and agent state stay)
 * so that the next server start joins as a fresh etcd member. Idempotent. Refuses (with
 * {@link K3sConfigError}) a relative data dir or one that resolves to `/`. k3s must not be
 * running: stop it first.
 */
export async function wipeServerDb(dataDir: string): Promise<void> {
  if (typeof dataDir !== 'string' || dataDir === '')
    throw new K3sConfigError('missing-field', 'dataDir', 'a data dir is required');
  if (!isAbsolute(dataDir))
    throw new K3sConfigError('invalid-value', 'dataDir', `${shown(dataDir)} is not an absolute path`);
  if (resolve(dataDir) === '/')
    throw new K3sConfigError('invalid-value', 'dataDir', 'refusing to wipe server/db under /');
  const target = serverDbDir(resolve(dataDir));
  try {
    await rm(target, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    throw new K3sFileError('remove-failed', target, systemErrorCode(error));
  }
}

/**
 * Writes an empty k3s config file (mode 0600, parent created 0700 when missing) for `--config`.
 * Passing the adapter's own file means the host's /etc/rancher/k3s/config.yaml (and its
 * `config.yaml.d/` drop-ins) are never read, so nothing outside the adapter changes k3s's flags.
 * Replaced atomically; throws {@link K3sFileError}.
 */
export async function writeEmptyConfigFile(path: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(
        '# Written by ClusterOS. Every k3s setting is a command-line flag; this file is intentionally empty.\n',
      );
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw new K3sFileError('write-failed', path, systemErrorCode(error));
  }
}
