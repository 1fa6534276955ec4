import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import {
  encodeKvCommand,
  FileStorage,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvSessionPool,
  KvStateMachine,
  kv,
  type Logger,
  MIN_CLUSTER_KEY_BYTES,
  RaftNode,
  type RaftWarmUpReport,
  StreamTransport,
  warmUpRaft,
} from '@clusteros/raft';
import { NodeDisk, NodeNetwork, SystemClock, systemRandom } from '@clusteros/sim';
import { type RaftKvArgs, UsageError } from './args.js';
import { createGatewayHandler, MAX_BODY_BYTES } from './gateway.js';
import { nodeHandler } from './http-adapter.js';
import { clusterIdOf, memberIdOf } from './member-id.js';

/** How many writes one member keeps in flight at once, each in a client session of its own. */
export const MAX_WRITES_IN_FLIGHT = 1_024;

/**
 * Sessions the state machine remembers: enough for {@link MAX_WRITES_IN_FLIGHT} on each of 64
 * members, so that no session still in use is ever forgotten.
 */
export const MACHINE_MAX_SESSIONS = 64 * MAX_WRITES_IN_FLIGHT;

/** A running raft-kv member. */
export interface RaftKvServer {
  readonly node: RaftNode<KvResult, KvQuery, KvQueryResult>;
  readonly http: Server;
  /**
   * What the warm-up before serving did (`--warm-up`; undefined when off), or why it failed (the
   * member serves anyway: the warm-up only saves time).
   */
  readonly warmUp: WarmUpOutcome | undefined;
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

/** How the warm-up ended: its report, or why it failed. */
export type WarmUpOutcome = RaftWarmUpReport | { readonly error: string };

async function warmUpOrReason(): Promise<WarmUpOutcome> {
  try {
    return await warmUpRaft();
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Starts one member: Raft over TCP on `listenPeer`, the etcd JSON gateway on `listenClient`. */
export async function startRaftKv(args: RaftKvArgs, logger?: Logger): Promise<RaftKvServer> {
  const clusterKey = await readClusterKey(args.clusterKeyFile);
  await mkdir(args.dataDir, { recursive: true, mode: 0o700 });
  const disk = new NodeDisk(args.dataDir);
  // Before anything else, so that a second copy started on the same --data-dir stops at once,
  // before it warms up or takes a port (its storage would refuse the folder too, later).
  const dataDirLock = await disk.lock('');
  // What to undo, newest first, if the start fails half way.
  const undo: Array<() => Promise<void>> = [() => dataDirLock.release()];
  let server: RaftKvServer;
  try {
    server = await startOn(args, logger, disk, clusterKey, undo);
  } catch (error) {
    for (const step of undo.reverse()) await step().catch(() => {});
    throw error;
  }
  return {
    ...server,
    async close() {
      await server.close();
      await dataDirLock.release();
    },
  };
}

/** The rest of {@link startRaftKv}, once the data dir is ours; pushes onto `undo` what it opens. */
async function startOn(
  args: RaftKvArgs,
  logger: Logger | undefined,
  disk: NodeDisk,
  clusterKey: Uint8Array,
  undo: Array<() => Promise<void>>,
): Promise<RaftKvServer> {
  // Before the member opens anything, not beside serving: run beside it, the warm-up's compiling
  // and garbage stalled the member's first writes (c=1 p99 about 25 ms in its first 5 s, against
  // 9 without a warm-up), while before it, it delays the start by about 1.5 s (three members
  // warming up at once on a 2-core machine) and the first writes are as fast as without it.
  const warmUp = args.warmUp ? await warmUpOrReason() : undefined;
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
  undo.push(() => transport.close());
  const machine = new KvStateMachine({ maxSessions: MACHINE_MAX_SESSIONS });
  const node = await RaftNode.create({
    id: args.id,
    peers: args.peers,
    storage: new FileStorage({ disk }),
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
  // Stopping the node closes its transport and storage too.
  undo.push(() => node.stop());
  // Every write is in a client session while in flight, so a write committed twice is applied
  // once and its copy gets the first one's answer. Session names start with a random id drawn
  // now, so neither another member nor this one after a restart reuses one whose sequence
  // numbers it does not know; a member over its limit answers etcd's "too many requests".
  const sessions = new KvSessionPool({
    prefix: `raft-kv/${randomBytes(8).toString('hex')}`,
    limit: MAX_WRITES_IN_FLIGHT,
  });
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
    propose: (command) =>
      sessions.withSession((client, seq) => node.propose(encodeKvCommand({ now: 0, client, seq, command }))),
    read: (query) => node.read(query),
    term: () => node.term,
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
    id: args.id,
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
    warmUp,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await node.stop();
    },
  };
}
