// The TypeScript peer as it would run in production: test/ts-peer/main.ts and this package's
// sources bundled once by esbuild into one plain ES module, run with `node` alone, so that no
// transpiler (tsx) is loaded in the measured processes.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const TS_PEER = join(REPO, 'packages/membership/test/ts-peer/main.ts');
const ESBUILD = join(REPO, 'node_modules/.bin/esbuild');

export interface Bundle {
  /** The bundled peer, an .mjs file. */
  readonly file: string;
  /** The esbuild arguments used (after the entry point), for the report. */
  readonly flags: readonly string[];
  /** Deletes the temporary folder. */
  readonly remove: () => Promise<void>;
}

export async function bundleTsPeer(): Promise<Bundle> {
  const dir = await mkdtemp(join(tmpdir(), 'clusteros-membership-bench-'));
  const file = join(dir, 'ts-peer.mjs');
  const flags = [
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--conditions=@clusteros/source',
    '--log-level=warning',
  ];
  try {
    await new Promise<void>((done, fail) => {
      execFile(
        ESBUILD,
        [TS_PEER, ...flags, `--outfile=${file}`],
        { cwd: REPO, timeout: 120_000 },
        (error, _stdout, stderr) => {
          if (error) fail(new Error(`esbuild failed: ${error.message}\n${stderr}`));
          else done();
        },
      );
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { file, flags, remove: () => rm(dir, { recursive: true, force: true }) };
}
