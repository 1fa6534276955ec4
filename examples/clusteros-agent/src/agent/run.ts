/**
 * The agent process: composes the packages in the order the issue and `docs/deploy.md` describe.
 *
 *   network ready → gossip (memberlist, encrypted with a key derived from the auth key) → Raft
 *   (found the cluster, join it, or restart from the data dir) → autopilot (on the Raft leader)
 *   → role manager (lease elections, handoffs) → dashboard
 *
 * {@link startAgent} resolves once everything runs; {@link RunningAgent.stop} undoes it in the
 * order SIGTERM needs: hand singleton roles over, move Raft leadership away, ask to leave the
 * voters when a replacement exists, leave the gossip pool, stop roles and Raft, close the
 * dashboard. Every wait on the way is bounded.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { type DashboardServer, serveDashboard } from '@clusteros/dashboard';
import { encodeTags, lanConfig, Memberlist } from '@clusteros/membership';
import {
  FileStorage,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvSessionPool,
  KvStateMachine,
  kv,
  RaftNode,
  StreamTransport,
} from '@clusteros/raft';
import { type Role, RoleManager } from '@clusteros/roles';
import { isDiskLockedError, NodeDisk, NodeNetwork, SystemClock, systemRandom } from '@clusteros/sim';
import type { Logger } from 'pino';
import { detectCapabilities, summarizeCapabilities } from '../capabilities.js';
import type { AgentConfig } from '../config/index.js';
import { deriveClusterSecrets } from '../config/index.js';
import type { NetworkProvider } from '../network/provider.js';
import { StaticNetworkProvider } from '../network/static.js';
import { TailscaleNetworkProvider } from '../network/tailscale.js';
import { LEAVE_PREFIX, RaftAutopilot } from './autopilot.js';
import { decideStart, type StartDecision } from './bootstrap.js';
import {
  availabilityDetail,
  configuredFinder,
  probeServices,
  ROLE_CATALOG,
  type RoleAvailability,
  roleAvailability,
} from './catalog.js';
import { COORDINATOR_ROLE, CoordinatorRole } from './coordinator-role.js';
import { agentDashboardSources } from './dashboard-wiring.js';
import { GossipView } from './gossip-view.js';
import { k3sRoles } from './k3s-wiring.js';
import { loadPeerCache, savePeerCache } from './peer-cache.js';
import { clusterAddressOf, roleStoreOf } from './role-store.js';
import { slurmRoles } from './slurm-wiring.js';
import { agentTags, joinHostPort, type RaftState } from './tags.js';

type KvNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

/**
 * How long a leave request blocks re-adding the member: longer than any graceful shutdown
 * takes to leave gossip, shorter than a restart for an upgrade usually takes.
 */
const LEAVE_GRACE_MS = 30_000;

/** The agent could not start; the message says what to fix. */
export class AgentStartError extends Error {
  /** Always `'AgentStartError'`. */
  override readonly name = 'AgentStartError';
}

/** Tuning that tests and the demo shorten; production keeps the defaults. */
export interface AgentTiming {
  /** How long gossip settles before a fresh node may found a cluster. @defaultValue 3000 */
  readonly settleMs: number;
  /** Pause between founding-decision rounds (and seed retries). @defaultValue 500 */
  readonly decideEveryMs: number;
  /** Singleton role lease TTL. @defaultValue 5000 */
  readonly leaseTtlMs: number;
  /** Assumed worst clock skew between nodes. @defaultValue 500 */
  readonly maxClockSkewMs: number;
  /** How often the Raft leader puts its time into the log (lease expiry). @defaultValue 250 */
  readonly raftTickMs: number;
  /** Bound on each handoff during shutdown. @defaultValue 15000 */
  readonly handoffTimeoutMs: number;
}

const DEFAULT_TIMING: AgentTiming = {
  settleMs: 3_000,
  decideEveryMs: 500,
  leaseTtlMs: 5_000,
  maxClockSkewMs: 500,
  raftTickMs: 250,
  handoffTimeoutMs: 15_000,
};

/** Options of {@link startAgent}. */
export interface StartAgentOptions {
  /** The validated config. */
  readonly config: AgentConfig;
  /** Root logger. */
  readonly logger: Logger;
  /** Timing overrides. */
  readonly timing?: Partial<AgentTiming>;
  /** Aborts a start that is still waiting (network, seeds, founding decision). */
  readonly signal?: AbortSignal;
  /** Called when the dashboard's `leave` action asks the agent to leave. */
  readonly onLeaveRequested?: () => void;
}

/** A running agent. */
export interface RunningAgent {
  /** The node's id. */
  readonly id: string;
  /** The dashboard's base URL. */
  readonly dashboardUrl: string;
  /** The Raft member. */
  readonly raft: KvNode;
  /** The gossip member. */
  readonly memberlist: Memberlist;
  /** The role manager. */
  readonly roles: RoleManager;
  /** Graceful shutdown (idempotent); resolves when everything is stopped. */
  stop(reason: string): Promise<void>;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Races `promise` against a timeout; resolves `undefined` on timeout (never rejects on it). */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  // Past the bound nobody waits for it any more; its late failure (e.g. RaftStoppedError once
  // Raft stops) must not surface as an unhandled rejection that kills the process mid-shutdown.
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function networkProvider(config: AgentConfig, logger: Logger): NetworkProvider {
  if (config.network.provider === 'tailscale')
    return new TailscaleNetworkProvider({ logger: logger.child({ component: 'tailscale' }) });
  return new StaticNetworkProvider({
    bindAddress: config.network.bind,
    ...(config.network.advertise === undefined ? {} : { advertiseAddress: config.network.advertise }),
    seeds: config.network.seeds,
  });
}

async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/** Starts the agent (see the module comment). Rejects with {@link AgentStartError} for what an operator must fix. */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const { config, logger } = options;
  const timing: AgentTiming = { ...DEFAULT_TIMING, ...options.timing };
  const id = config.node.name;
  const log = logger.child({ node: id });
  const cleanups: Array<() => Promise<void>> = [];
  const undo = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };

  try {
    // 0. The data dir, before anything else: a second agent started on it (a second supervisor,
    // a copied unit file) must stop here, not after it has joined gossip and opened ports.
    await mkdir(config.data_dir, { recursive: true, mode: 0o700 });
    const dataDirLock = await new NodeDisk(config.data_dir).lock('').catch((error: unknown) => {
      throw isDiskLockedError(error) ? new AgentStartError(`data_dir: ${error.message}`) : error;
    });
    cleanups.push(() => dataDirLock.release());

    // 1. Which roles can run here at all.
    const availability = new Map<string, RoleAvailability>();
    const find = configuredFinder(config.k3s.binary);
    for (const role of config.roles.enabled) {
      const entry = ROLE_CATALOG[role];
      if (entry === undefined)
        throw new AgentStartError(
          `roles.enabled: unknown role ${JSON.stringify(role)} (this agent knows ${Object.keys(ROLE_CATALOG).join(', ')})`,
        );
      availability.set(role, await roleAvailability(entry, find));
    }
    const services = await probeServices(find);
    const managed = [...availability].filter(([, a]) => a.kind === 'managed').map(([role]) => role);
    for (const [role, a] of availability)
      if (a.kind !== 'managed')
        log.warn({ role, availability: availabilityDetail(a) }, 'role cannot run on this node');

    // 2. Network.
    const provider = networkProvider(config, log);
    log.info({ provider: provider.name }, 'waiting for the network');
    const network = await provider.ready(options.signal);
    const advertise = config.network.advertise ?? network.ip ?? config.network.bind;
    log.info({ provider: provider.name, ip: network.ip, advertise }, 'network ready');

    // 3. Identity, secrets, capabilities, data dir.
    const secrets = deriveClusterSecrets(config.cluster.auth_key);
    const capabilities = summarizeCapabilities(
      await detectCapabilities({ logger: log.child({ component: 'capabilities' }) }),
    );
    const raftDir = join(config.data_dir, 'raft');
    await mkdir(raftDir, { recursive: true, mode: 0o700 });
    const fresh = await isEmptyDir(raftDir);
    const raftAddress = joinHostPort(advertise, config.network.raft_port);
    const apiAddress = joinHostPort(
      config.dashboard.bind === '0.0.0.0' || config.dashboard.bind === '::'
        ? advertise
        : config.dashboard.bind,
      config.dashboard.port,
    );
    let raftState: RaftState = fresh ? 'fresh' : 'member';
    const tagsNow = (): Record<string, string> =>
      agentTags({
        name: id,
        roles: managed,
        tailscaleIp: provider.name === 'tailscale' ? network.ip : null,
        fingerprint: secrets.fingerprint,
        raftAddress,
        apiAddress,
        raftState,
        capabilities,
        priority: config.roles.preferences.priority,
        extra: config.node.tags,
      });
    let meta: Uint8Array;
    try {
      meta = encodeTags(tagsNow());
    } catch (error) {
      throw new AgentStartError(
        `node.tags: the node's tags do not fit in gossip metadata (${messageOf(error)})`,
      );
    }

    // 4. Gossip.
    const gossipLog = log.child({ component: 'membership' });
    const memberlist = await Memberlist.create({
      ...lanConfig(),
      name: id,
      bindAddr: config.network.bind,
      bindPort: config.network.gossip_port,
      advertiseAddr: advertise,
      advertisePort: config.network.gossip_port,
      secretKey: secrets.keyringKey.reveal(),
      meta,
      logger: gossipLog,
    }).catch((error: unknown) => {
      throw new AgentStartError(
        `cannot start gossip on ${joinHostPort(config.network.bind, config.network.gossip_port)}: ${messageOf(error)}`,
      );
    });
    cleanups.push(() => memberlist.shutdown());
    const gossip = new GossipView(memberlist, id, secrets.fingerprint);
    const selfGossip = new Set([
      joinHostPort(advertise, config.network.gossip_port),
      joinHostPort(config.network.bind, config.network.gossip_port),
    ]);
    const cachedPeers = await loadPeerCache(config.data_dir);
    const seedList = async (): Promise<string[]> => {
      const seeds = new Set([...config.network.seeds, ...cachedPeers]);
      if (provider.name === 'tailscale') {
        for (const peer of await provider.peers().catch(() => [])) {
          const ip = peer.ips.find((candidate) => !candidate.includes(':'));
          if (peer.online && ip !== undefined) seeds.add(joinHostPort(ip, config.network.gossip_port));
        }
      }
      return [...seeds].filter((seed) => !selfGossip.has(seed));
    };
    const selfIsSeed = config.network.seeds.some((seed) => selfGossip.has(seed));
    const tryJoin = async (): Promise<number> => {
      const seeds = await seedList();
      if (seeds.length === 0) return 0;
      try {
        return await memberlist.join(seeds);
      } catch (error) {
        log.debug({ seeds, error: messageOf(error) }, 'no seed answered');
        return 0;
      }
    };
    const joinedAt = Date.now();
    const contacted = await tryJoin();
    log.info({ contacted, members: memberlist.numMembers() }, 'gossip started');

    // 5. Raft: restart, found, or join.
    let decision: StartDecision | undefined = fresh ? undefined : { kind: 'join', hints: {} };
    let lastReason = '';
    while (decision === undefined || decision.kind === 'wait') {
      if (options.signal?.aborted === true)
        throw new AgentStartError('start aborted while deciding how to join Raft');
      const others = gossip.bootstrapOthers();
      if (others.length === 0) await tryJoin();
      decision = decideStart({
        self: id,
        others: gossip.bootstrapOthers(),
        // Only configured seeds count here: tailnet peers are candidates, not promises that a
        // cluster exists (a tailnet has other devices), so they must not stop the first node.
        seeds: config.network.seeds.filter((seed) => !selfGossip.has(seed)).length,
        selfIsSeed,
        settled: Date.now() - joinedAt >= timing.settleMs,
      });
      if (decision.kind === 'wait') {
        if (decision.reason !== lastReason) log.info({ reason: decision.reason }, 'not starting Raft yet');
        lastReason = decision.reason;
        await pause(timing.decideEveryMs, options.signal);
      }
    }
    const chosen = decision as Exclude<StartDecision, { kind: 'wait' }>;
    const founding = chosen.kind === 'bootstrap';
    const transport = await StreamTransport.create({
      id,
      listen: { host: config.network.bind, port: config.network.raft_port },
      network: new NodeNetwork(),
      clusterKey: secrets.raftKey.reveal(),
      clock: new SystemClock(),
      random: systemRandom().fork('raft-transport'),
      logger: log.child({ component: 'raft-transport' }),
    }).catch((error: unknown) => {
      throw new AgentStartError(
        `cannot listen for Raft on ${joinHostPort(config.network.bind, config.network.raft_port)}: ${messageOf(error)}`,
      );
    });
    const machine = new KvStateMachine();
    const raft: KvNode = await RaftNode.create({
      id,
      peers: chosen.kind === 'bootstrap' ? { [id]: raftAddress } : chosen.hints,
      start: founding ? 'bootstrap' : 'join',
      storage: new FileStorage({ disk: new NodeDisk(raftDir) }),
      transport,
      stateMachine: machine,
      electionTimeoutMs: config.raft.election_timeout_ms,
      heartbeatMs: config.raft.heartbeat_ms,
      stampCommand: kv.stamp,
      timeCommand: { intervalMs: timing.raftTickMs, make: kv.tick },
      // A proposal forwarded to a leader that fails, or lost with a dropped connection, is sent
      // again instead of costing its caller the request timeout (a role handoff's deadline).
      // Safe because every proposal made here is in a client session of its own: `propose`
      // below, and the RoleManager's own.
      retryForwardedProposals: true,
      logger: log.child({ component: 'raft' }),
    });
    // Every proposal is in a client session while in flight (sessions reused from a pool once a
    // proposal settles), so a copy committed twice applies once.
    const sessions = new KvSessionPool({ prefix: `agent-${id}-${randomBytes(8).toString('hex')}` });
    const propose = (command: Uint8Array) => sessions.run(command, (bytes) => raft.propose(bytes));
    cleanups.push(() => raft.stop());
    log.info(
      { how: fresh ? (founding ? 'founded a new cluster' : 'joining') : 'restarted from the data dir' },
      'raft started',
    );

    // 6. Keep tags and Raft address hints current.
    let metaBusy = false;
    const maintain = setInterval(() => {
      const known = raft.status().members.length > 0;
      if (!known) {
        // Until the leader's snapshot arrives, tell the transport where members are.
        for (const c of gossip.candidates())
          if (c.id !== id && c.state === 'alive') transport.setPeer(c.id, c.raftAddress);
      }
      const next: RaftState = known ? 'member' : 'fresh';
      if (next !== raftState && !metaBusy) {
        raftState = next;
        metaBusy = true;
        memberlist
          .updateMeta(encodeTags(tagsNow()))
          .catch((error: unknown) => log.warn({ error: messageOf(error) }, 'could not update gossip tags'))
          .finally(() => {
            metaBusy = false;
          });
      }
    }, 500);
    cleanups.push(async () => clearInterval(maintain));
    let savedPeers = cachedPeers.slice().sort().join(',');
    const cachePeers = setInterval(() => {
      const peers = gossip
        .cluster()
        .filter((m) => m.member.state === 'alive' && m.member.name !== id)
        .map((m) => joinHostPort(m.member.addr, m.member.port));
      const key = peers.slice().sort().join(',');
      if (peers.length === 0 || key === savedPeers) return;
      savedPeers = key;
      savePeerCache(config.data_dir, peers).catch((error: unknown) =>
        log.warn({ error: messageOf(error) }, 'could not save the gossip peer cache'),
      );
    }, 2_000);
    cleanups.push(async () => clearInterval(cachePeers));
    // Alone in the gossip pool (seeds were down at start, or everyone else restarted): keep
    // knocking on the seeds and cached peers.
    let rejoining = false;
    const rejoin = setInterval(() => {
      if (rejoining || gossip.bootstrapOthers().length > 0) return;
      rejoining = true;
      void tryJoin().finally(() => {
        rejoining = false;
      });
    }, 5_000);
    cleanups.push(async () => clearInterval(rejoin));

    // 7. Autopilot on the leader.
    /** Leave records: when each was written (the leaving node's wall clock; NaN if unreadable) and the voter count then. */
    const leaveRecords = (): Map<string, { at: number; voters: number | undefined }> => {
      const range = machine.range(LEAVE_PREFIX, { rangeEnd: kv.prefixEnd(LEAVE_PREFIX) });
      const out = new Map<string, { at: number; voters: number | undefined }>();
      for (const entry of range.kvs) {
        let record: { at?: unknown; voters?: unknown } = {};
        try {
          record = JSON.parse(new TextDecoder().decode(entry.value)) as typeof record;
        } catch {
          // an unreadable record counts as stale, with no voter count
        }
        const voters = Number(record.voters);
        out.set(new TextDecoder().decode(entry.key).slice(LEAVE_PREFIX.length), {
          at: Number(record.at),
          voters: Number.isSafeInteger(voters) && voters > 0 && voters <= 64 ? voters : undefined,
        });
      }
      return out;
    };
    const leaving = (): Set<string> => new Set(leaveRecords().keys());
    const staleLeaves = (): Set<string> =>
      new Set(
        [...leaveRecords()]
          .filter(([, record]) => !(Date.now() - record.at < LEAVE_GRACE_MS))
          .map(([member]) => member),
      );
    const votersAtLeave = (): Map<string, number> => {
      const out = new Map<string, number>();
      for (const [member, record] of leaveRecords())
        if (record.voters !== undefined) out.set(member, record.voters);
      return out;
    };
    const autopilot = new RaftAutopilot({
      raft,
      leaving,
      staleLeaves,
      votersAtLeave,
      candidates: () => gossip.candidates(),
      targetVoters: config.raft.voters,
      // In a session: a copy committed twice must not delete a newer leave record.
      clearLeave: (member) => propose(kv.delete(`${LEAVE_PREFIX}${member}`)),
      logger: log.child({ component: 'autopilot' }),
    });
    autopilot.start();
    cleanups.push(() => autopilot.stop());
    // A leave record of this node from an earlier shutdown no longer holds: it is back.
    const clearOwnLeave = setInterval(() => {
      if (raft.leader === null || !leaving().has(id)) return;
      propose(kv.delete(`${LEAVE_PREFIX}${id}`)).catch(() => {});
    }, 1_000);
    cleanups.push(async () => clearInterval(clearOwnLeave));

    // 8. Roles.
    const roles: Role[] = [];
    if (managed.includes(COORDINATOR_ROLE))
      roles.push(
        new CoordinatorRole({
          store: { propose, get: (k) => machine.get(k) },
          now: Date.now,
        }),
      );
    const slurm = await slurmRoles({
      id,
      managed,
      config,
      store: roleStoreOf({ propose }, machine),
      logger: log.child({ component: 'slurm' }),
    });
    roles.push(...slurm.roles);
    const k3sNodeIp = provider.name === 'tailscale' ? network.ip : advertise;
    const k3s = k3sRoles({
      id,
      managed,
      config,
      store: roleStoreOf({ propose }, machine),
      nodeIp: k3sNodeIp !== null && isIPv4(k3sNodeIp) ? k3sNodeIp : undefined,
      ...(network.dnsName === undefined ? {} : { dnsName: network.dnsName }),
      addressOf: clusterAddressOf,
      logger: log.child({ component: 'k3s' }),
    });
    roles.push(...k3s.roles);
    // A k3s server takes a while to answer, and its handoff brings a replacement server in and
    // drains pods: give those calls the configured bound instead of the SLURM-sized defaults.
    const k3sHandoffMs = k3s.roles.length > 0 ? config.k3s.handoff_timeout_s * 1_000 : 0;
    const selfRef = () =>
      gossip.nodeRefs().find((ref) => ref.id === id) ?? {
        id,
        name: id,
        address: apiAddress,
        capabilities: {
          cpuCores: capabilities.cpuCores,
          ramBytes: capabilities.ramBytes,
          gpus: capabilities.gpus,
          arch: capabilities.arch,
        },
        priority: config.roles.preferences.priority,
        roles: managed,
      };
    const manager = new RoleManager({
      roles,
      cluster: { self: selfRef, members: () => gossip.nodeRefs() },
      store: { log: raft, view: machine, raft },
      lease: { ttlMs: timing.leaseTtlMs, maxClockSkewMs: timing.maxClockSkewMs },
      handoffTimeoutMs: Math.max(timing.handoffTimeoutMs, k3sHandoffMs),
      ...(k3sHandoffMs === 0 ? {} : { timeouts: { handoffMs: k3sHandoffMs, startMs: k3sHandoffMs } }),
      logger: log.child({ component: 'roles' }),
    });
    manager.start();

    // 9. Dashboard.
    const token = config.dashboard.token?.reveal();
    let requestLeave: (() => void) | undefined = options.onLeaveRequested;
    const dashboard: DashboardServer = await serveDashboard({
      host: config.dashboard.bind,
      port: config.dashboard.port,
      ...(token === undefined ? {} : { token }),
      secrets: [config.cluster.auth_key.reveal()],
      sources: agentDashboardSources({
        id,
        config,
        provider,
        gossip,
        memberlist,
        raft,
        machine,
        manager,
        availability,
        services: () => ({ ...services, ...slurm.services(), ...k3s.services() }),
        slurm,
        ...(k3s.roles.length > 0 ? { k3s } : {}),
        autopilotChanges: () => autopilot.changes,
        requestLeave: () => requestLeave?.(),
      }),
    }).catch((error: unknown) => {
      throw new AgentStartError(
        `cannot serve the dashboard on ${joinHostPort(config.dashboard.bind, config.dashboard.port)}: ${messageOf(error)}`,
      );
    });
    log.info({ url: dashboard.url }, 'dashboard listening');

    let stopping: Promise<void> | undefined;
    const stop = (reason: string): Promise<void> => {
      requestLeave = undefined;
      stopping ??= shutdown(reason);
      return stopping;
    };
    const shutdown = async (reason: string): Promise<void> => {
      log.info({ reason }, 'leaving the cluster');
      await autopilot.stop();
      clearInterval(clearOwnLeave);
      try {
        await manager.stop({ handoff: true, handoffTimeoutMs: timing.handoffTimeoutMs });
      } catch (error) {
        log.warn({ error: messageOf(error) }, 'roles did not stop cleanly');
      }
      const conf = raft.status().members;
      const self = conf.find((m) => m.id === id);
      const aliveIds = new Set(gossip.nodeRefs().map((ref) => ref.id));
      if (raft.leader === id) {
        const other = conf.find((m) => m.voter && m.id !== id && aliveIds.has(m.id));
        if (other !== undefined) {
          await bounded(manager.coordinator.transfer('raft', other.id, { timeoutMs: 3_000 }), 4_000).catch(
            (error: unknown) => log.warn({ error: messageOf(error) }, 'could not move Raft leadership'),
          );
        }
      }
      if (self?.voter === true && conf.some((m) => !m.voter && aliveIds.has(m.id))) {
        // A replacement exists: ask the leader to promote it and remove this voter, and wait (bounded).
        await bounded(
          propose(
            kv.put(
              `${LEAVE_PREFIX}${id}`,
              JSON.stringify({ at: Date.now(), reason, voters: conf.filter((m) => m.voter).length }),
            ),
          ),
          5_000,
        ).catch(() => {});
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && raft.status().members.some((m) => m.id === id && m.voter))
          await pause(100, undefined);
        log.info(
          { voter: raft.status().members.some((m) => m.id === id && m.voter) },
          'left the Raft voters',
        );
      }
      await bounded(
        memberlist
          .leave(3_000)
          .catch((error: unknown) => log.warn({ error: messageOf(error) }, 'gossip leave failed')),
        4_000,
      );
      await dashboard.close().catch(() => {});
      await undo();
      log.info({ reason }, 'stopped');
    };
    return { id, dashboardUrl: dashboard.url, raft, memberlist, roles: manager, stop };
  } catch (error) {
    await undo();
    throw error;
  }
}
