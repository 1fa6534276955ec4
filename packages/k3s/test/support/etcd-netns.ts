// Network namespaces standing in for hosts on a tailnet: one "switch" namespace holding a bridge, and
// per node a namespace whose veth into that bridge is renamed `tailscale0` and carries 100.64.<x>.<i>/24.
// Nothing is created in the caller's namespace. Names carry this process's PID, so concurrent runs
// never share a namespace; cleanup deletes exactly the namespaces this lab made. Also a gateway
// runner per namespace (etcd-netns-runner.ts), for EtcdGateway calls made from inside a node.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  EtcdGatewayError,
  type EtcdGatewayErrorContext,
  type EtcdGatewayErrorReason,
  type EtcdMember,
  type EtcdStatus,
} from '../../src/etcd/index.js';
import type { EtcdMembershipControl } from './etcd-cluster.js';
import type { RunnerAnswer, RunnerRequest } from './etcd-netns-runner.js';

/** Runs `ip args…` (bounded); rejects with its stderr. */
export function ip(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', [...args], { timeout: 10_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || error.message}`)) : resolve(),
    );
  });
}

/** A set of namespaces made by {@link createNetnsLab}. */
export interface NetnsLab {
  /** `k3se<pid>`: every namespace name starts with it. */
  readonly prefix: string;
  /** The namespace holding the bridge `br0`. */
  readonly switchNs: string;
  /** The node namespaces, node 1 first. */
  readonly nodes: readonly string[];
  /** The third octet of the lab's 100.64.x.0/24. */
  readonly subnet: number;
  /** Node `index`'s (1-based) address on its `tailscale0`. */
  address(index: number): string;
}

/**
 * Creates `count` node namespaces on one bridge; on failure removes what it made. Must run as root.
 * x in 100.64.x.0/24 comes from the PID; the addresses live only inside the lab's namespaces.
 */
export async function createNetnsLab(count: number): Promise<NetnsLab> {
  const prefix = `k3se${process.pid}`;
  const subnet = 16 + (process.pid % 200);
  const lab: NetnsLab = {
    prefix,
    switchNs: `${prefix}-sw`,
    nodes: Array.from({ length: count }, (_, i) => `${prefix}-n${i + 1}`),
    subnet,
    address: (index) => `100.64.${subnet}.${index}`,
  };
  // A namespace left by an earlier process with this PID is this lab's name, so it may go.
  await destroyNetnsLab(lab);
  try {
    await ip(['netns', 'add', lab.switchNs]);
    await ip(['-n', lab.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', lab.switchNs, 'link', 'set', 'br0', 'up']);
    for (const [i, ns] of lab.nodes.entries()) {
      const port = `s${i + 1}`;
      await ip(['netns', 'add', ns]);
      // Both ends are made where they belong: nothing appears in the caller's namespace.
      await ip([
        '-n',
        ns,
        'link',
        'add',
        'tailscale0',
        'type',
        'veth',
        'peer',
        'name',
        port,
        'netns',
        lab.switchNs,
      ]);
      await ip(['-n', lab.switchNs, 'link', 'set', port, 'master', 'br0']);
      await ip(['-n', lab.switchNs, 'link', 'set', port, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${lab.address(i + 1)}/24`, 'dev', 'tailscale0']);
      await ip(['-n', ns, 'link', 'set', 'tailscale0', 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    return lab;
  } catch (error) {
    await destroyNetnsLab(lab);
    throw error;
  }
}

/**
 * Deletes the lab's namespaces (missing ones are fine). Kill the processes inside first: a
 * namespace lives on while a process is in it.
 */
export async function destroyNetnsLab(lab: NetnsLab): Promise<void> {
  for (const ns of [...lab.nodes, lab.switchNs]) {
    await ip(['netns', 'del', ns]).catch(() => undefined);
  }
}

/** Cuts (false) or restores (true) node `index`'s (1-based) link to the bridge. */
export async function setTailscaleLink(lab: NetnsLab, index: number, up: boolean): Promise<void> {
  const ns = lab.nodes[index - 1];
  if (ns === undefined) throw new Error(`no node ${index}`);
  await ip(['-n', ns, 'link', 'set', 'tailscale0', up ? 'up' : 'down']);
}

/** {@link EtcdGateway}'s methods, carried out by a runner inside a namespace. */
export interface RemoteEtcdGateway extends EtcdMembershipControl {
  /** See EtcdGateway.listMembers. */
  listMembers(): Promise<EtcdMember[]>;
  /** See EtcdGateway.addMember. */
  addMember(peerUrls: readonly string[], options: { readonly learner: boolean }): Promise<EtcdMember>;
  /** See EtcdGateway.promoteMember. */
  promoteMember(id: string): Promise<void>;
  /** See EtcdGateway.removeMember. */
  removeMember(id: string): Promise<void>;
  /** See EtcdGateway.status. */
  status(): Promise<EtcdStatus>;
  /** See EtcdGateway.transferLeadership. */
  transferLeadership(targetId: string): Promise<void>;
  /** See EtcdGateway.health. */
  health(): Promise<boolean>;
}

/** The repository root: tsx and the `@clusteros/source` condition resolve from there. */
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const runnerPath = fileURLToPath(new URL('./etcd-netns-runner.ts', import.meta.url));

/** A Node process inside a namespace that makes EtcdGateway calls for this process. */
export class NetnsGatewayRunner {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (answer: RunnerAnswer) => void>();
  readonly #exited: Promise<void>;
  #next = 1;
  #dead = false;

  private constructor(child: ChildProcess, exited: Promise<void>) {
    this.#child = child;
    this.#exited = exited;
  }

  /** Starts the runner in namespace `netns`; resolves once it is ready (bounded by `limitMs`). */
  static async start(netns: string, limitMs = 20_000): Promise<NetnsGatewayRunner> {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        '--conditions=@clusteros/source',
        '--import',
        'tsx',
        runnerPath,
      ],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const runner = new NetnsGatewayRunner(child, exited);
    exited.then(() => runner.#fail(`the runner in ${netns} exited: ${stderr}`));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the runner in ${netns} not ready within ${limitMs} ms: ${stderr}`)),
          limitMs,
        );
        child.once('error', reject);
        exited.then(() => reject(new Error(`the runner in ${netns} exited: ${stderr}`)));
        lines.on('line', (line) => {
          if (line === 'ready') {
            resolve();
            return;
          }
          const answer = JSON.parse(line) as RunnerAnswer;
          runner.#pending.get(answer.id)?.(answer);
          runner.#pending.delete(answer.id);
        });
      });
    } catch (error) {
      await runner.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return runner;
  }

  #fail(message: string): void {
    this.#dead = true;
    for (const [id, settle] of this.#pending) settle({ id, ok: false, error: { message } });
    this.#pending.clear();
  }

  #call(
    endpoint: string,
    timeoutMs: number,
    op: RunnerRequest['op'],
    args: readonly unknown[],
  ): Promise<unknown> {
    if (this.#dead) return Promise.reject(new Error('the runner has exited'));
    const id = this.#next++;
    const request: RunnerRequest = { id, endpoint, timeoutMs, op, args };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (answer) => {
        if (answer.ok) {
          resolve(answer.value);
          return;
        }
        const gateway = answer.error.gateway;
        if (gateway === undefined) {
          reject(new Error(answer.error.message));
          return;
        }
        // JSON dropped the undefined fields, so the rebuilt context has only those that were set.
        const { reason, detail, ...context } = gateway;
        reject(
          new EtcdGatewayError(reason as EtcdGatewayErrorReason, detail, context as EtcdGatewayErrorContext),
        );
      });
      this.#child.stdin?.write(`${JSON.stringify(request)}\n`);
    });
  }

  /** A gateway to `endpoint` as seen from inside the runner's namespace. */
  gateway(endpoint: string, timeoutMs = 5000): RemoteEtcdGateway {
    const call = (op: RunnerRequest['op'], ...args: unknown[]) => this.#call(endpoint, timeoutMs, op, args);
    return {
      listMembers: () => call('listMembers') as Promise<EtcdMember[]>,
      addMember: (peerUrls, options) => call('addMember', peerUrls, options) as Promise<EtcdMember>,
      promoteMember: async (id) => {
        await call('promoteMember', id);
      },
      removeMember: async (id) => {
        await call('removeMember', id);
      },
      status: () => call('status') as Promise<EtcdStatus>,
      transferLeadership: async (id) => {
        await call('transferLeadership', id);
      },
      health: () => call('health') as Promise<boolean>,
    };
  }

  /** Ends the runner: closes its stdin, then SIGKILL by PID if it has not exited within 5 s. */
  async stop(): Promise<void> {
    this.#child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.#exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), 5000);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#child.kill('SIGKILL');
      await this.#exited;
    }
  }
}
