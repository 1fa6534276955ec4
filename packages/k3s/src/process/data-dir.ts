import { rm, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { K3sConfigError, K3sFileError, systemErrorCode } from './errors.js';
import { writePrivateFile } from './private-file.js';
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
  await writePrivateFile(
    path,
    '# Written by ClusterOS. Every k3s setting is a command-line flag; this file is intentionally empty.\n',
  );
}
