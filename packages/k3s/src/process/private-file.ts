/** Writing the small private files k3s reads (token, config): atomically and never readable by others. */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { K3sFileError, systemErrorCode } from './errors.js';

/**
 * Writes `content` to `path` with mode 0600: a temporary file in the same directory (created
 * 0600, exclusively), fsync, rename over `path` — never half-written, never readable by others,
 * even for a moment. The parent is created 0700 when missing (an existing one is left as it is).
 * Throws {@link K3sFileError} naming the path (never the content).
 */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The umask can only narrow 0600; set it exactly so that the result never depends on it.
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw new K3sFileError('write-failed', path, systemErrorCode(error));
  }
}
