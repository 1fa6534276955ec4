// Starts a 3-member raft-kv cluster (examples/raft-kv, the built dist/cli.js) on loopback as real
// processes, like examples/raft-kv/test/support/processes.ts, but with the benchmark's process
// registry so that nothing outlives the benchmark, and with output going to log files.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnChild, tempFolder } from './children.js';
import {
  type BenchCluster,
  launchCluster,
  memberSpecs,
  type RaftTimings,
  SNAPSHOT_COUNT,
} from './cluster.js';
import type { HttpClient } from './http-client.js';

/** The repository root. */
export const REPO = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/** The built server. It is started with plain `node` (no source conditions), so it runs on dist. */
export const RAFT_KV_CLI = join(REPO, 'examples/raft-kv/dist/cli.js');

/** Build outputs raft-kv loads at run time: the CLI bundle and the libraries it imports. */
export const RAFT_KV_BUILD = [
  RAFT_KV_CLI,
  join(REPO, 'packages/raft/dist/index.js'),
  join(REPO, 'packages/sim/dist/index.js'),
];

/** The sources those build outputs are made from (to warn when the build is older). */
export const RAFT_KV_SOURCES = [
  join(REPO, 'examples/raft-kv/src'),
  join(REPO, 'packages/raft/src'),
  join(REPO, 'packages/sim/src'),
];

export function missingBuild(): string[] {
  return RAFT_KV_BUILD.filter((file) => !existsSync(file));
}

export async function startRaftKvCluster(client: HttpClient, timings: RaftTimings): Promise<BenchCluster> {
  const missing = missingBuild();
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run npm run build first`);
  const root = await tempFolder('bench-raft-kv-');
  const keyFile = join(root, 'cluster.key');
  await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
  const specs = await memberSpecs(['n1', 'n2', 'n3']);
  const peers = specs.map((s) => `${s.name}=127.0.0.1:${s.peerPort}`).join(',');
  // Same readiness rule as for etcd: every member answers status and names the same leader.
  return launchCluster('raft-kv', client, root, specs, (spec) => {
    const args = [
      RAFT_KV_CLI,
      '--id',
      spec.name,
      '--listen-client',
      `127.0.0.1:${spec.clientPort}`,
      '--listen-peer',
      `127.0.0.1:${spec.peerPort}`,
      '--peers',
      peers,
      '--data-dir',
      join(root, spec.name),
      '--cluster-key-file',
      keyFile,
      '--heartbeat-ms',
      String(timings.heartbeatMs),
      '--election-timeout-ms',
      String(timings.electionTimeoutMs),
      '--snapshot-count',
      String(SNAPSHOT_COUNT),
    ];
    return spawnChild(`raft-kv ${spec.name}`, process.execPath, args, join(root, `${spec.name}.log`));
  });
}
