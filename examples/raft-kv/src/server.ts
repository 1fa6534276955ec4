import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import {
  FileStorage,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvStateMachine,
  kv,
  type Logger,
  MIN_CLUSTER_KEY_BYTES,
  RaftNode,
  StreamTransport,
} from '@clusteros/raft';
import { NodeDisk, NodeNetwork, SystemClock, systemRandom } from '@clusteros/sim';
import { type RaftKvArgs, UsageError } from './args.js';
import { createGatewayHandler, MAX_BODY_BYTES } from './gateway.js';
import { nodeHandler } from './http-adapter.js';
import { clusterIdOf, memberIdOf } from './member-id.js';
import { MACHINE_MAX_SESSIONS, WriteSessions } from './write-sessions.js';

/** A running raft-kv member. */
export interface RaftKvServer {
  readonly node: RaftNode<KvResult, KvQuery, KvQueryResult>;
  readonly http: Server;
  /** Stops serving, then stops the Raft member (flushing its log). */
  close(): Promise<void>;
}

/**
 * Reads the cluster key file. The key's bytes are never printed: errors name the file only.
 * A trailing newline (as `echo … > file` writes) is not part of the key.
 */
async function readClusterKey(file: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (error) {
    throw new UsageError(
      `cannot read --cluster-key-file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  let end = raw.byteLength;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d)) end--;
  if (end < MIN_CLUSTER_KEY_BYTES) {
    throw new UsageError(`--cluster-key-file ${file} holds fewer than ${MIN_CLUSTER_KEY_BYTES} bytes`);
  }
  return new Uint8Array(raw.subarray(0, end));
}

/** Starts one member: Raft over TCP on `listenPeer`, the etcd JSON gateway on `listenClient`. */
export async function startRaftKv(args: RaftKvArgs, logger?: Logger): Promise<RaftKvServer> {
  const clusterKey = await readClusterKey(args.clusterKeyFile);
  await mkdir(args.dataDir, { recursive: true, mode: 0o700 });
  const clock = new SystemClock();
  const random = systemRandom();
  const transport = await StreamTransport.create({
    id: args.id,
    listen: args.listenPeer,
    network: new NodeNetwork(),
    clusterKey,
    clock,
    random: random.fork('transport'),
    ...(logger === undefined ? {} : { logger }),
  });
  const machine = new KvStateMachine({ maxSessions: MACHINE_MAX_SESSIONS });
  const node = await RaftNode.create({
    id: args.id,
    peers: args.peers,
    storage: new FileStorage({ disk: new NodeDisk(args.dataDir) }),
    transport,
    stateMachine: machine,
    clock,
    random,
    electionTimeoutMs: args.electionTimeoutMs,
    heartbeatMs: args.heartbeatMs,
    snapshotEvery: args.snapshotCount,
    initialElectionTickAdvance: args.initialElectionTickAdvance,
    stampCommand: kv.stamp,
    // Writes forwarded to a leader that then fails are sent again to the next one; every write
    // is in a client session (below), so a copy committed twice is applied once.
    retryForwardedProposals: true,
    timeCommand: { intervalMs: 1_000, make: kv.tick },
    ...(logger === undefined ? {} : { logger }),
  });
  const sessions = new WriteSessions();
  const names = new Map<string, string>();
  // Every answer's header carries this member's id: hash each name once, not twice per request.
  const ids = new Map<string, string>();
  const remember = (name: string) => {
    let id = ids.get(name);
    if (id === undefined) {
      id = memberIdOf(name);
      ids.set(name, id);
      names.set(id, name);
    }
    return id;
  };
  for (const name of Object.keys(args.peers)) remember(name);
  const gateway = createGatewayHandler({
    propose: (command) => sessions.run(command, (bytes) => node.propose(bytes)),
    read: (query) => node.read(query),
    status: () => {
      const status = node.status();
      return { ...status, revision: machine.revision };
    },
    transferLeadership: (to) => node.transferLeadership(to),
    memberId: remember,
    memberName: (id) => {
      if (!names.has(id)) for (const member of node.status().members) remember(member.id);
      return names.get(id);
    },
    clusterId: clusterIdOf(Object.keys(args.peers)),
  });
  const http = createServer(nodeHandler(gateway, MAX_BODY_BYTES));
  http.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(args.listenClient.port, args.listenClient.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  return {
    node,
    http,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await node.stop();
    },
  };
}
