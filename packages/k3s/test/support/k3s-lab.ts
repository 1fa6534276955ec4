// A k3s cluster for the role tests, as close to the real thing as these machines allow: every
// node is a `K3sNodeRuntime` running the fake `k3s` executable, whose servers run REAL etcd
// members (the fake joins as a learner and promotes itself, as k3s does) on their own loopback
// address; one fake Kubernetes API serves them all, and its k3s-like controller removes etcd
// members from the real etcd. Roles are driven directly with contexts made here, so each test
// decides exactly when a handoff step runs and what fails in between.
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeRef, RoleContext } from '@clusteros/roles';
import {
  EtcdGateway,
  type EtcdMember,
  hasPeerHost,
  isEtcdGatewayError,
  K3sAgentRole,
  K3sNodeRuntime,
  type K3sNodeRuntimeOptions,
  type K3sServerCount,
  K3sServerRole,
  type K3sStore,
} from '../../src/index.js';
import { freePorts, pollUntil } from './etcd-cluster.js';
import { FakeKubeApi } from './fake-kube-api.js';

const FAKE_K3S = fileURLToPath(new URL('./fake-k3s.mjs', import.meta.url));

/** An in-memory {@link K3sStore} with the Raft KV adapter's semantics. */
export class MemoryStore implements K3sStore {
  readonly values = new Map<string, Uint8Array>();

  get(key: string): Uint8Array | undefined {
    const value = this.values.get(key);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.values.set(key, new Uint8Array(value));
  }

  async create(key: string, value: Uint8Array): Promise<boolean> {
    if (this.values.has(key)) return false;
    await this.put(key, value);
    return true;
  }
}

/** A role context for `node`, as the role manager makes one; abort it with `controller`. */
export interface LabContext extends RoleContext {
  readonly controller: AbortController;
  readonly failures: Error[];
}

/** One node of the lab. */
export interface LabNode {
  readonly id: string;
  readonly ip: string;
  readonly dataDir: string;
  readonly runtime: K3sNodeRuntime;
  readonly agent: K3sAgentRole;
  readonly server: K3sServerRole;
  readonly ref: NodeRef;
  /** The node's etcd (its gateway on its own address), reachable from the test. */
  readonly etcd: EtcdGateway;
}

const silent = () => {};

/** The lab (see the module comment). */
export class K3sLab {
  readonly store = new MemoryStore();
  readonly nodes = new Map<string, LabNode>();
  readonly dir: string;
  readonly api: FakeKubeApi;
  readonly #ports: { client: number; peer: number };
  readonly #subnet: string;
  readonly #bin: string;
  readonly #servers: K3sServerCount;
  readonly #contexts: LabContext[] = [];

  readonly #etcdTiming: 'fast' | 'k3s';

  private constructor(
    dir: string,
    api: FakeKubeApi,
    ports: { client: number; peer: number },
    subnet: string,
    servers: K3sServerCount,
    etcdTiming: 'fast' | 'k3s',
  ) {
    this.#etcdTiming = etcdTiming;
    this.dir = dir;
    this.api = api;
    this.#ports = ports;
    this.#subnet = subnet;
    this.#bin = join(dir, 'bin');
    this.#servers = servers;
  }

  /** A lab whose primary keeps `servers` servers. */
  static async create(
    servers: K3sServerCount,
    options: { etcdTiming?: 'fast' | 'k3s' } = {},
  ): Promise<K3sLab> {
    const dir = await mkdtemp(join(tmpdir(), 'clusteros-k3s-lab-'));
    // Each lab gets its own 127.x.y.0/24: nodes listen on the same ports at different addresses,
    // like hosts do, and two labs (or another etcd on the machine) never collide.
    const subnet = `127.${100 + (process.pid % 100)}.${Math.floor(Math.random() * 250) + 1}`;
    const [client, peer] = await freePorts(2, `${subnet}.1`);
    if (client === undefined || peer === undefined) throw new Error('no free ports');
    let lab: K3sLab | undefined;
    const api = await FakeKubeApi.start({
      // k3s's member-removal controller, against the real etcd of the servers still up.
      removeEtcdMember: async ({ memberName, nodeAddress }) => lab?.removeMember(memberName, nodeAddress),
    });
    lab = new K3sLab(dir, api, { client, peer }, subnet, servers, options.etcdTiming ?? 'fast');
    await mkdir(lab.#bin, { recursive: true });
    await symlink(FAKE_K3S, join(lab.#bin, 'k3s'));
    return lab;
  }

  /** The etcd leader's member id at each removal the controller made (the handoff moves it first). */
  readonly leadersAtRemoval: { readonly member: string; readonly leaderId: string }[] = [];

  /** While true, k3s's controller fails every member removal (and retries, as k3s does). */
  refuseRemovals = false;

  /** What k3s's controller does on a Node's removal: remove the member whose name and peer host match. */
  async removeMember(memberName: string, nodeAddress: string): Promise<void> {
    if (this.refuseRemovals) throw new Error('member removal refused by the test');
    for (const node of this.nodes.values()) {
      let members: EtcdMember[];
      try {
        members = await node.etcd.listMembers(AbortSignal.timeout(2_000));
      } catch {
        continue;
      }
      const member = members.find((m) => m.name === memberName && hasPeerHost(m, nodeAddress));
      if (member === undefined) return;
      const { leaderId } = await node.etcd.status(AbortSignal.timeout(2_000));
      this.leadersAtRemoval.push({ member: member.id, leaderId });
      try {
        await node.etcd.removeMember(member.id, AbortSignal.timeout(2_000));
      } catch (error) {
        if (isEtcdGatewayError(error) && error.reason === 'member-not-found') return;
        throw error;
      }
      return;
    }
    throw new Error('no etcd member answered');
  }

  /** Adds node `n` (1-based: `node-<letter>` at `<subnet>.<n>`). */
  addNode(
    n: number,
    overrides: Partial<Pick<K3sNodeRuntimeOptions, 'maxRemovals'>> & {
      readonly env?: Record<string, string>;
      readonly removalTimeoutMs?: number;
      /** Receives the runtime's log lines (besides TEST_VERBOSE printing them). */
      readonly onLog?: (level: 'info' | 'warn', message: string, fields: object) => void;
    } = {},
  ): LabNode {
    const { env: extraEnv, removalTimeoutMs, onLog, ...runtimeOverrides } = overrides;
    const id = `node-${String.fromCharCode(96 + n)}`;
    const ip = `${this.#subnet}.${n}`;
    const dataDir = join(this.dir, id);
    const etcd = new EtcdGateway({ endpoint: `http://${ip}:${this.#ports.client}`, timeoutMs: 3_000 });
    const runtime = new K3sNodeRuntime({
      nodeId: id,
      nodeIp: ip,
      dataDir,
      binary: join(this.#bin, 'k3s'),
      store: this.store,
      followEveryMs: 50,
      restart: { baseMs: 100, maxMs: 1_000 },
      stopTimeoutMs: 10_000,
      etcdGateway: async () => etcd,
      ...runtimeOverrides,
      env: {
        ...process.env,
        FAKE_K3S_ETCD: '1',
        FAKE_K3S_KUBE_API: this.api.url,
        FAKE_K3S_RECORD_DIR: join(this.dir, 'records'),
        FAKE_K3S_ETCD_CLIENT_PORT: String(this.#ports.client),
        FAKE_K3S_ETCD_PEER_PORT: String(this.#ports.peer),
        FAKE_K3S_PROMOTE_MS: '200',
        ...(this.#etcdTiming === 'k3s' ? { FAKE_K3S_ETCD_TIMING: 'k3s' } : {}),
        ...extraEnv,
      },
      logger: {
        info: (fields, message) => {
          onLog?.('info', message, fields);
          if (process.env.TEST_VERBOSE) console.log(id, message, fields);
        },
        warn: (fields, message) => {
          onLog?.('warn', message, fields);
          if (process.env.TEST_VERBOSE) console.warn(id, message, fields);
        },
      },
    });
    const ref: NodeRef = { id, name: id, address: ip, roles: ['k3s-server', 'k3s-agent'] };
    const node: LabNode = {
      id,
      ip,
      dataDir,
      runtime,
      agent: new K3sAgentRole(runtime),
      server: new K3sServerRole({
        runtime,
        servers: this.#servers,
        addressOf: (member) => this.nodes.get(member.id)?.ip,
        reconcileEveryMs: 200,
        drain: { evictionRetryMs: 500, podGonePollMs: 100, timeoutMs: 20_000 },
        removalTimeoutMs: removalTimeoutMs ?? 30_000,
      }),
      ref,
      etcd,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** The alive members as the roles see them. */
  members(): NodeRef[] {
    return [...this.nodes.values()].map((node) => node.ref);
  }

  /** A context for `node`; a holder's when `token` is given. */
  context(node: LabNode, role: string, token?: number): LabContext {
    const controller = new AbortController();
    const failures: Error[] = [];
    const ctx: LabContext = {
      role,
      node: node.ref,
      cluster: { self: () => node.ref, members: () => this.members() },
      fencingToken: token,
      leader: () => (token === undefined ? undefined : { nodeId: node.id, fencingToken: token }),
      isLeader: () => token !== undefined && !controller.signal.aborted,
      signal: controller.signal,
      logger: { debug: silent, info: silent, warn: silent, error: silent },
      fail: (error) => failures.push(error),
      controller,
      failures,
    };
    this.#contexts.push(ctx);
    return ctx;
  }

  /** The argv lines the fake k3s recorded for `node` (one per start). */
  async starts(node: LabNode): Promise<{ argv: string[]; envKeys: string[]; mode: string }[]> {
    const text = await readFile(join(this.dir, 'records', `${node.id}.jsonl`), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { argv: string[]; envKeys: string[]; mode: string });
  }

  /** The etcd members as some live server sees them. */
  async members_(): Promise<EtcdMember[]> {
    for (const node of this.nodes.values()) {
      try {
        return await node.etcd.listMembers(AbortSignal.timeout(2_000));
      } catch {
        // next node
      }
    }
    throw new Error('no etcd member answered');
  }

  /** Polls until `check` holds (bounded; the message names what was awaited). */
  until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
    return pollUntil(what, ms, async () => check(), 50);
  }

  /** Makes `node`'s etcd member the leader (transfer-leadership goes to the current leader's gateway). */
  async makeEtcdLeader(node: LabNode, limitMs = 20_000): Promise<EtcdMember> {
    const member = (await this.members_()).find((m) => m.name.startsWith(`${node.id}-`));
    if (member === undefined) throw new Error(`${node.id} is not an etcd member`);
    await this.until(`${node.id} leads etcd`, limitMs, async () => {
      const { leaderId } = await node.etcd.status();
      if (leaderId === member.id) return true;
      for (const other of this.nodes.values())
        if (other !== node && (await other.etcd.status().catch(() => undefined))?.leaderId === leaderId)
          await other.etcd.transferLeadership(member.id);
      return undefined;
    });
    return member;
  }

  /** Stops every role and runtime, kills any etcd left behind by PID, closes the API, removes the dir. */
  async teardown(): Promise<void> {
    for (const ctx of this.#contexts) ctx.controller.abort();
    for (const node of this.nodes.values()) {
      await node.server.stop(this.context(node, 'k3s-server'), 'shutdown').catch(() => undefined);
      await node.agent.stop(this.context(node, 'k3s-agent'), 'shutdown').catch(() => undefined);
      await node.runtime.hold('stopped').catch(() => undefined);
    }
    for (const node of this.nodes.values()) {
      const pid = Number.parseInt(
        (await readFile(join(node.dataDir, 'server', 'db', 'etcd.pid'), 'utf8').catch(() => '')).trim(),
        10,
      );
      if (Number.isSafeInteger(pid) && pid > 1) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await this.api.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
