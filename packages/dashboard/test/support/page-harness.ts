// Harness for the dashboard page's browser tests (test/page.test.ts): a fake cluster whose data a
// test can change (a mutable node list, leaders, a handoff action that records its calls), the
// providers over it, a dashboard served on 127.0.0.1 port 0, Debian's Chromium driven by
// playwright-core, and a watcher that collects console errors, uncaught page errors and failed
// requests so tests can assert the page ran cleanly. Nothing here reaches beyond loopback.
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { DashboardServer, DashboardSources, LeaderInfo, NodeInfo } from '../../src/index.js';
import { serveDashboard } from '../../src/index.js';

/** Where Debian's `chromium` package puts the browser (installed by .ci/run). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Bound on launching the browser. */
const LAUNCH_MS = 30_000;

/** A node of the fake cluster. */
export function fakeNode(
  id: string,
  name: string,
  status: NodeInfo['status'],
  roles: readonly string[],
  cpu = 4,
): NodeInfo {
  return {
    id,
    name,
    roles: [...roles],
    status,
    addresses: { tailscale_ip: `100.64.0.${id.replace(/\D/g, '') || '9'}`, wireguard_ip: null, gossip: null },
    capabilities: { cpu_cores: cpu, ram_bytes: 8 * 1024 ** 3, gpus: 0, arch: 'x86_64' },
    tags: {},
    last_seen: new Date().toISOString(),
    joined_at: '2026-01-01T00:00:00.000Z',
  };
}

function leader(role: string, holder: NodeInfo | undefined, fencingToken: number | null): LeaderInfo {
  return {
    role,
    node_id: holder?.id ?? null,
    name: holder?.name ?? null,
    address: null,
    tailscale_ip: holder?.addresses.tailscale_ip ?? null,
    fencing_token: fencingToken,
    since: holder === undefined ? null : '2026-01-01T00:00:00.000Z',
  };
}

/** One recorded call of the fake `actions.handoff`. */
export interface HandoffCall {
  readonly role: string;
  readonly to: string;
}

/** The fake cluster: tests mutate `nodes` and read `handoffs`. */
export class FakeCluster {
  /** The membership list the dashboard serves (replace or mutate it freely). */
  nodes: NodeInfo[] = [];
  /** Every handoff the dashboard asked for, in order. */
  readonly handoffs: HandoffCall[] = [];

  constructor() {
    this.reset();
  }

  /** Back to the initial cluster: alpha, bravo (alive), charlie (suspect), a dead node with markup in its name. */
  reset(): void {
    this.nodes = [
      fakeNode('n1', 'alpha', 'alive', ['slurm-controller', 'k3s-server']),
      fakeNode('n2', 'bravo', 'alive', ['worker']),
      fakeNode('n3', 'charlie', 'suspect', ['worker']),
      fakeNode('n4', '<img src=x onerror=alert(1)>delta', 'dead', []),
    ];
    this.handoffs.length = 0;
  }

  /** The node with `id` (throws when absent: a test bug). */
  node(id: string): NodeInfo {
    const found = this.nodes.find((n) => n.id === id);
    if (found === undefined) throw new Error(`fake cluster has no node ${id}`);
    return found;
  }

  /** Providers for every section, over this cluster. */
  sources(): DashboardSources {
    return {
      identity: {
        identity: () => ({
          id: 'n1',
          name: 'alpha',
          cluster: 'test-cluster',
          region: 'eu-west',
          datacenter: 'lab',
        }),
      },
      network: {
        network: () => ({ provider: 'tailscale', connected: true, ip: '100.64.0.1', peer_count: 3 }),
      },
      membership: { nodes: () => this.nodes.map((n) => ({ ...n })) },
      leadership: {
        raft: () => ({ raft_leader: 'n1', is_leader: true, term: 7 }),
        leaders: () => [
          leader(
            'raft',
            this.nodes.find((n) => n.id === 'n1'),
            null,
          ),
          leader(
            'slurm-controller',
            this.nodes.find((n) => n.id === 'n1'),
            12,
          ),
          leader(
            'k3s-server',
            this.nodes.find((n) => n.id === 'n1'),
            3,
          ),
          leader('ttyd-gateway', undefined, null),
        ],
      },
      roles: {
        roles: () => ({
          'slurm-controller': { running: true, healthy: true, leader: true, since: null, detail: 'ok' },
        }),
      },
      services: {
        local: () => ({ slurmctld: { state: 'running' }, k3s: { state: 'running' } }),
        cluster: () => ({
          slurm: { controller: 'alpha', worker: true, nodes_in_partition: 2, queued_jobs: 1 },
          k3s: {
            server: 'alpha',
            agent: true,
            node_count: 2,
            pod_count: 1,
            ready_node_count: 1,
            etcd_members: [
              { name: 'alpha-1a2b3c4d', id: '4719c06ae717eca3', voter: true, leader: true },
              { name: 'bravo-5e6f7a8b', id: 'd82656c9693597ea', voter: false, leader: false },
            ],
          },
          others: { ttyd: { state: 'stopped', detail: 'disabled' } },
        }),
      },
      resources: {
        resources: () => ({
          cpu_percent: 12.5,
          load: [0.5, 0.4, 0.3],
          memory_used: 2 * 1024 ** 3,
          memory_total: 8 * 1024 ** 3,
          disk_used: 10 * 1024 ** 3,
          disk_total: 100 * 1024 ** 3,
        }),
      },
      jobs: {
        slurmJobs: () => [{ id: '101', name: 'train-model', state: 'RUNNING', user: 'ada', runtime_s: 42 }],
        k3sPods: () => [{ name: 'web-0', namespace: 'default', phase: 'Running' }],
      },
      actions: {
        handoff: async (role, to) => {
          this.handoffs.push({ role, to });
          const target = this.nodes.find((n) => n.id === to);
          if (target === undefined || target.status !== 'alive') throw new Error(`node ${to} is not alive`);
          return { fencing_token: 13 };
        },
      },
    };
  }
}

/**
 * Providers whose sections are missing or failing: no membership, services or network
 * (`unavailable`), leadership and SLURM jobs that throw (`error`).
 */
export function brokenSources(): DashboardSources {
  return {
    identity: {
      identity: () => ({ id: 'x1', name: 'lonely', cluster: 'broken-cluster', region: 'r', datacenter: 'd' }),
    },
    leadership: {
      raft: () => {
        throw new Error('raft store offline');
      },
      leaders: () => {
        throw new Error('raft store offline');
      },
    },
    jobs: {
      slurmJobs: () => {
        throw new Error('squeue: command not found');
      },
    },
  };
}

/** Starts a dashboard on loopback, on a free port. */
export function servePage(sources: DashboardSources, token?: string): Promise<DashboardServer> {
  return serveDashboard({ sources, port: 0, host: '127.0.0.1', ...(token !== undefined ? { token } : {}) });
}

/** Launches Debian's Chromium headless (tests run as root, hence --no-sandbox). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'], timeout: LAUNCH_MS });
}

/** What went wrong in a page, as seen by the browser. */
export interface PageProblems {
  /** `console.error` calls and browser-reported errors (CSP violations, failed loads). */
  readonly consoleErrors: string[];
  /** Uncaught exceptions in the page. */
  readonly pageErrors: string[];
  /** Requests that failed at the network level (not aborted by navigation or teardown). */
  readonly failedRequests: string[];
  /** Responses with status 400 or more. */
  readonly badResponses: string[];
  /** Forgets everything collected so far. */
  clear(): void;
  /** Everything collected, one line each. */
  all(): string[];
}

/** Collects `page`'s problems from now on. */
export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = {
    consoleErrors: [],
    pageErrors: [],
    failedRequests: [],
    badResponses: [],
    clear() {
      for (const list of [this.consoleErrors, this.pageErrors, this.failedRequests, this.badResponses])
        list.length = 0;
    },
    all() {
      return [
        ...this.consoleErrors.map((m) => `console: ${m}`),
        ...this.pageErrors.map((m) => `page error: ${m}`),
        ...this.failedRequests.map((m) => `request failed: ${m}`),
        ...this.badResponses.map((m) => `bad response: ${m}`),
      ];
    },
  };
  page.on('console', (message) => {
    if (message.type() === 'error') problems.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => problems.pageErrors.push(error.message));
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? 'unknown';
    // The live stream is cut when a test navigates away; that is the browser tidying up, not a failure.
    if (reason === 'net::ERR_ABORTED' && request.url().endsWith('/api/v1/events')) return;
    problems.failedRequests.push(`${request.method()} ${request.url()}: ${reason}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.badResponses.push(`${response.status()} ${response.url()}`);
  });
  return problems;
}

/** A browser page with its context and problem watcher. */
export interface WatchedPage {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly problems: PageProblems;
}

/** Opens a fresh context and page (default waits bounded by `timeoutMs`), watched from the start. */
export async function openPage(browser: Browser, timeoutMs: number): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.setDefaultNavigationTimeout(timeoutMs);
  return { context, page, problems: watchPage(page) };
}
