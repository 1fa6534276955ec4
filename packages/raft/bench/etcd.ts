// Starts a 3-member etcd cluster on loopback as real processes (Debian's etcd 3.4), the way
// /work/shared/K3S-NOTES.md §2.1 did, with the raft timings under test.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawnChild, tempFolder } from './children.js';
import {
  type BenchCluster,
  launchCluster,
  memberSpecs,
  type RaftTimings,
  SNAPSHOT_COUNT,
} from './cluster.js';
import type { HttpClient } from './http-client.js';

export const ETCD_BINARY = '/usr/bin/etcd';

export async function startEtcdCluster(client: HttpClient, timings: RaftTimings): Promise<BenchCluster> {
  if (!existsSync(ETCD_BINARY)) throw new Error(`${ETCD_BINARY} is missing: apt-get install etcd-server`);
  const root = await tempFolder('bench-etcd-');
  const specs = await memberSpecs(['e1', 'e2', 'e3']);
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const token = `bench-${basename(root)}`;
  return launchCluster('etcd', client, root, specs, (spec) => {
    const clientUrl = `http://127.0.0.1:${spec.clientPort}`;
    const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
    const args = [
      '--name',
      spec.name,
      '--data-dir',
      join(root, spec.name),
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      // One token per cluster (the same for its 3 members: it seeds the cluster id), so that
      // members of another run can never join this one.
      '--initial-cluster-token',
      token,
      '--heartbeat-interval',
      String(timings.heartbeatMs),
      '--election-timeout',
      String(timings.electionTimeoutMs),
      '--snapshot-count',
      String(SNAPSHOT_COUNT),
      // zap to stderr (into the log file): the capnslog default warns about its own deprecation.
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
    ];
    return spawnChild(`etcd ${spec.name}`, ETCD_BINARY, args, join(root, `${spec.name}.log`));
  });
}
