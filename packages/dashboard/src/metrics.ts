/**
 * Prometheus metrics at `/metrics` (prom-client, text format): the dashboard's own HTTP metrics,
 * cluster metrics read from the providers at scrape time (members by status, Raft term and
 * leadership, role state), event counters (handoffs by result), and whatever the agent's own
 * registry holds. Names follow Prometheus conventions: `clusteros_` prefix, base units, `_total`
 * for counters.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventHub } from './event-hub.js';
import { readSection } from './sections.js';
import type { DashboardSources } from './sources.js';

const SCRAPE_TIMEOUT_MS = 2000;

/** The dashboard's metrics. */
export class DashboardMetrics {
  readonly #registry = new Registry();
  readonly #extra: Registry | undefined;
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #duration: Histogram<'method' | 'route'>;
  readonly #sseClients: Gauge;

  /** Registers the metrics and subscribes to the event hub. */
  constructor(sources: DashboardSources, hub: EventHub) {
    const registers = [this.#registry];
    this.#extra = sources.metrics?.registry;
    this.#requests = new Counter({
      name: 'clusteros_dashboard_http_requests_total',
      help: 'Dashboard HTTP requests by method, route and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'clusteros_dashboard_http_request_duration_seconds',
      help: 'Dashboard HTTP request duration in seconds (to the response headers).',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    // Counted by the SSE handler (streamOpened/streamClosed), not from hub.listeners: the hub
    // also feeds this class's own event counters, which are no client.
    this.#sseClients = new Gauge({
      name: 'clusteros_dashboard_sse_clients',
      help: 'Open live-event (SSE) connections.',
      registers,
    });
    const events = new Counter({
      name: 'clusteros_events_total',
      help: 'Cluster events seen by this node, by kind.',
      labelNames: ['kind'],
      registers,
    });
    const handoffs = new Counter({
      name: 'clusteros_handoffs_total',
      help: 'Role handoffs that ended on this node, by result.',
      labelNames: ['result'],
      registers,
    });
    hub.listen((event) => {
      events.inc({ kind: event.kind });
      if (event.kind === 'handoff' && event.type === 'handoff-completed')
        handoffs.inc({ result: 'completed' });
      if (event.kind === 'handoff' && event.type === 'handoff-aborted') handoffs.inc({ result: 'aborted' });
    });

    const { membership, leadership, roles } = sources;
    if (membership !== undefined) {
      new Gauge({
        name: 'clusteros_members',
        help: 'Known cluster members by membership status.',
        labelNames: ['status'],
        registers,
        async collect() {
          const nodes = await readSection(() => membership.nodes(), SCRAPE_TIMEOUT_MS, []);
          // Unreadable: no samples rather than the last scrape's (stale) counts.
          this.reset();
          if (!Array.isArray(nodes)) return;
          for (const status of ['alive', 'suspect', 'dead', 'left'] as const)
            this.set({ status }, nodes.filter((n) => n.status === status).length);
        },
      });
    }
    if (leadership !== undefined) {
      // prom-client collects every metric of a scrape concurrently: the three gauges share one
      // read per scrape (started by whichever collects first) instead of reading a variable
      // another gauge's collect may not have refreshed yet.
      const read = sharedPerScrape(async () => {
        const result = await readSection(() => leadership.raft(), SCRAPE_TIMEOUT_MS, []);
        return 'term' in result ? result : undefined;
      });
      new Gauge({
        name: 'clusteros_raft_term',
        help: 'The Raft term this node knows.',
        registers,
        async collect() {
          const raft = await read();
          // Unreadable Raft reads NaN ("unknown"), never a stale or made-up value.
          if (raft === undefined) this.set(Number.NaN);
          else this.set(raft.term);
        },
      });
      new Gauge({
        name: 'clusteros_raft_is_leader',
        help: '1 if this node is the Raft leader, else 0.',
        registers,
        async collect() {
          const raft = await read();
          // Unreadable Raft reads NaN ("unknown"), never a stale or made-up value.
          if (raft === undefined) this.set(Number.NaN);
          else this.set(raft.is_leader ? 1 : 0);
        },
      });
      new Gauge({
        name: 'clusteros_raft_has_leader',
        help: '1 if this node knows a Raft leader, else 0.',
        registers,
        async collect() {
          const raft = await read();
          // Unreadable Raft reads NaN ("unknown"), never a stale or made-up value.
          if (raft === undefined) this.set(Number.NaN);
          else this.set(raft.raft_leader !== null ? 1 : 0);
        },
      });
    }
    if (roles !== undefined) {
      // One read per scrape shared by the three gauges (they are collected concurrently).
      const read = sharedPerScrape(async () => {
        const result = await readSection(() => roles.roles(), SCRAPE_TIMEOUT_MS, []);
        return isRoleMap(result) ? result : undefined;
      });
      const perRole = (
        name: string,
        help: string,
        pick: (r: { running: boolean; healthy: boolean; leader: boolean }) => boolean,
      ) =>
        new Gauge({
          name,
          help,
          labelNames: ['role'],
          registers,
          async collect() {
            const map = await read();
            this.reset();
            for (const [role, status] of Object.entries(map ?? {})) this.set({ role }, pick(status) ? 1 : 0);
          },
        });
      perRole('clusteros_role_running', '1 if the role runs on this node.', (r) => r.running);
      perRole('clusteros_role_healthy', '1 if the role is healthy on this node.', (r) => r.healthy);
      perRole('clusteros_role_leader', '1 if this node holds the singleton role.', (r) => r.leader);
    }
  }

  /** Records one HTTP request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    // Unmatched paths share one label value, so scanners cannot blow up the label set.
    const label = route === '/*' || route === '*' || route === '' ? 'unmatched' : route;
    this.#requests.inc({ method, route: label, status: String(status) });
    this.#duration.observe({ method, route: label }, seconds);
  }

  /** Records one opened live-event (SSE) stream. */
  streamOpened(): void {
    this.#sseClients.inc();
  }

  /** Records one closed live-event (SSE) stream. */
  streamClosed(): void {
    this.#sseClients.dec();
  }

  /** The Prometheus content type. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Renders every metric in the text format. */
  async render(): Promise<string> {
    const own = await this.#registry.metrics();
    if (this.#extra === undefined) return own;
    return `${own}\n${await this.#extra.metrics()}`;
  }
}

/**
 * Wraps `load` so that calls while one is in flight share its result: the gauges that read the
 * same provider, collected concurrently in one scrape, then read it once, and read it fresh.
 */
function sharedPerScrape<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (pending === undefined) {
      pending = load().finally(() => {
        pending = undefined;
      });
    }
    return pending;
  };
}

function isRoleMap(
  value: unknown,
): value is Readonly<Record<string, { running: boolean; healthy: boolean; leader: boolean }>> {
  if (typeof value !== 'object' || value === null) return false;
  const state = (value as { state?: unknown }).state;
  return state !== 'unavailable' && state !== 'error';
}
