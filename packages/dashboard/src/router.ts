/**
 * The dashboard router: a Hono app whose `fetch` is a standard `(Request) => Promise<Response>`,
 * so it mounts in `node:http` (see `serve.ts`), Hono, Express or any fetch-based server.
 */

import type { Context } from 'hono';
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import { streamSSE } from 'hono/streaming';
import { checkBearer } from './auth.js';
import { DashboardConfigError, MIN_TOKEN_LENGTH } from './errors.js';
import { EventHub } from './event-hub.js';
import { DashboardMetrics } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { PAGE_ASSETS } from './page/assets.js';
import { ParameterError, pageCursor, parseCursor, parseLimit } from './paging.js';
import { redact } from './redact.js';
import type {
  ClusterResponse,
  JobsResponse,
  NodeInfo,
  Section,
  ServicesResponse,
  StatusResponse,
} from './schemas.js';
import { readSection, UNAVAILABLE } from './sections.js';
import type { DashboardSources } from './sources.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * Bearer token (at least 16 characters) that enables the actions (handoff, merge approval,
   * leave). Without it they answer 403. A shorter one throws {@link DashboardConfigError}.
   */
  readonly token?: string;
  /** Secrets that must never appear in a response (cluster key, munge key, k3s token): redacted from provider errors. */
  readonly secrets?: readonly string[];
  /** How long a provider may take before its section reads `error`. @defaultValue 2000 */
  readonly sectionTimeoutMs?: number;
  /** Live events kept for `Last-Event-ID` resumption. @defaultValue 1000 */
  readonly eventBuffer?: number;
  /** SSE keep-alive comment interval. @defaultValue 15000 */
  readonly sseKeepAliveMs?: number;
}

/** A mounted dashboard. */
export interface Dashboard {
  /** The fetch-standard handler. */
  readonly fetch: (request: Request) => Promise<Response>;
  /** The Hono app, to mount under a prefix in a Hono server (`app.route('/', dashboard.app)`). */
  readonly app: Hono;
  /** The live event hub (publish events directly if you have no `EventsSource`). */
  readonly events: EventHub;
  /** Stops listening to the event source and closes live streams. */
  close(): void;
}

const JSON_HEADERS = { 'cache-control': 'no-store' } as const;

function errorBody(code: string, message: string, parameter?: string) {
  return { error: { code, message, ...(parameter !== undefined ? { parameter } : {}) } };
}

/** Whether a section holds data (not the `unavailable` or `error` marker). */
function isData<T>(section: Section<T>): section is T {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return true;
  const keys = Object.keys(section);
  const state = (section as { state?: unknown }).state;
  if (state === 'unavailable' && keys.length === 1) return false;
  return !(
    state === 'error' &&
    keys.length === 2 &&
    typeof (section as { message?: unknown }).message === 'string'
  );
}

/** Known paths and their methods, for 405 answers. */
const ROUTES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^\/api\/v1\/(status|nodes|leaders|services|cluster|jobs|events|openapi\.json)$/, 'GET'],
  [/^\/(metrics|healthz|readyz)$/, 'GET'],
  [/^\/api\/v1\/roles\/[^/]+\/handoff$/, 'POST'],
  [/^\/api\/v1\/merge\/[^/]+\/approve$/, 'POST'],
  [/^\/api\/v1\/leave$/, 'POST'],
];

/**
 * Builds the dashboard over `sources`.
 *
 * ```ts
 * const dashboard = createDashboard({ identity, membership, roles }, { token: process.env.DASHBOARD_TOKEN });
 * const response = await dashboard.fetch(new Request('http://node/api/v1/status'));
 * ```
 */
export function createDashboard(sources: DashboardSources, options: DashboardOptions = {}): Dashboard {
  if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH)
    throw new DashboardConfigError(`the dashboard token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const timeoutMs = options.sectionTimeoutMs ?? 2000;
  const secrets = [...(options.secrets ?? []), ...(options.token !== undefined ? [options.token] : [])];
  const keepAliveMs = options.sseKeepAliveMs ?? 15_000;
  const hub = new EventHub({ capacity: options.eventBuffer ?? 1000 });
  hub.attach(sources.events);
  const metrics = new DashboardMetrics(sources, hub);
  const openapi = buildOpenApi();
  const closers = new Set<() => void>();
  const app = new Hono();
  const read = <T>(fn: (() => T | Promise<T>) | undefined) => readSection(fn, timeoutMs, secrets);

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    metrics.observe(c.req.method, routePath(c), c.res.status, (performance.now() - started) / 1000);
  });

  app.get('/api/v1/status', async (c) => {
    const { identity, network, membership, leadership, roles, services, resources } = sources;
    const [node, net, nodes, lead, roleMap, local, res] = await Promise.all([
      read(identity && (() => identity.identity())),
      read(network && (() => network.network())),
      read(membership && (() => membership.nodes())),
      read(leadership && (() => leadership.raft())),
      read(roles && (() => roles.roles())),
      read(services && (() => services.local())),
      read(resources && (() => resources.resources())),
    ]);
    const body: StatusResponse = {
      node,
      network: net,
      discovery: isData(nodes)
        ? {
            members: nodes.length,
            alive: nodes.filter((n) => n.status === 'alive').length,
            suspect: nodes.filter((n) => n.status === 'suspect').length,
          }
        : nodes,
      leadership: lead,
      roles: roleMap,
      services: local,
      resources: res,
    } as StatusResponse;
    return c.json(body, 200, JSON_HEADERS);
  });

  app.get('/api/v1/nodes', async (c) => {
    const membership = sources.membership;
    const nodes = await read(membership && (() => membership.nodes()));
    return c.json({ nodes: isData(nodes) ? [...nodes] : nodes }, 200, JSON_HEADERS);
  });

  app.get('/api/v1/leaders', async (c) => {
    const leadership = sources.leadership;
    const leaders = await read(leadership && (() => leadership.leaders()));
    return c.json({ leaders: isData(leaders) ? [...leaders] : leaders }, 200, JSON_HEADERS);
  });

  app.get('/api/v1/services', async (c) => {
    const { services, network } = sources;
    const cluster = services?.cluster;
    const [parts, net] = await Promise.all([
      read(cluster && (() => cluster.call(services))),
      read(network && (() => network.network())),
    ]);
    const pick = <K extends 'slurm' | 'k3s' | 'others'>(key: K): ServicesResponse[K] => {
      if (!isData(parts)) return parts as ServicesResponse[K];
      return (parts[key] ?? UNAVAILABLE) as ServicesResponse[K];
    };
    const tailscale: ServicesResponse['tailscale'] =
      isData(parts) && parts.tailscale !== undefined
        ? parts.tailscale
        : isData(net)
          ? { connected: net.connected, ip: net.ip, peer_count: net.peer_count }
          : net;
    const body: ServicesResponse = {
      tailscale,
      slurm: pick('slurm'),
      k3s: pick('k3s'),
      others: pick('others'),
    };
    return c.json(body, 200, JSON_HEADERS);
  });

  app.get('/api/v1/cluster', async (c) => {
    const { identity, membership, merge } = sources;
    const [node, nodes, current] = await Promise.all([
      read(identity && (() => identity.identity())),
      read(membership && (() => membership.nodes())),
      read(merge && (() => merge.current())),
    ]);
    const all: readonly NodeInfo[] = isData(nodes) ? nodes : [];
    const alive = all.filter((n) => n.status === 'alive');
    const distribution: Record<string, number> = {};
    for (const n of alive) for (const role of n.roles) distribution[role] = (distribution[role] ?? 0) + 1;
    const body: ClusterResponse = {
      name: isData(node) ? node.cluster : null,
      region: isData(node) ? node.region : null,
      datacenter: isData(node) ? node.datacenter : null,
      total_nodes: all.length,
      alive_nodes: alive.length,
      capacity: {
        cpu_cores: alive.reduce((sum, n) => sum + (n.capabilities?.cpu_cores ?? 0), 0),
        ram_bytes: alive.reduce((sum, n) => sum + (n.capabilities?.ram_bytes ?? 0), 0),
        gpus: alive.reduce((sum, n) => sum + (n.capabilities?.gpus ?? 0), 0),
      },
      role_distribution: distribution,
      membership: isData(nodes) ? { state: 'ok' } : nodes,
      merge: current,
    };
    return c.json(body, 200, JSON_HEADERS);
  });

  app.get('/api/v1/jobs', async (c) => {
    let limit: number;
    let offset: number;
    try {
      limit = parseLimit(c.req.query('limit'));
      offset = parseCursor(c.req.query('cursor'));
    } catch (error) {
      if (error instanceof ParameterError)
        return c.json(errorBody('bad_request', error.message, error.parameter), 400);
      throw error;
    }
    const jobs = sources.jobs;
    const slurmJobs = jobs?.slurmJobs;
    const k3sPods = jobs?.k3sPods;
    const [slurm, k3s] = await Promise.all([
      read(slurmJobs && (() => slurmJobs.call(jobs))),
      read(k3sPods && (() => k3sPods.call(jobs))),
    ]);
    const body: JobsResponse = {
      slurm: isData(slurm)
        ? {
            jobs: slurm.slice(offset, offset + limit),
            total: slurm.length,
            next_cursor: pageCursor(offset, limit, slurm.length),
          }
        : slurm,
      k3s: isData(k3s)
        ? {
            pods: k3s.slice(offset, offset + limit),
            total: k3s.length,
            next_cursor: pageCursor(offset, limit, k3s.length),
          }
        : k3s,
    };
    return c.json(body, 200, JSON_HEADERS);
  });

  app.get('/api/v1/events', (c) => {
    const header = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    let lastId: number | undefined;
    if (header !== undefined && header !== '') {
      lastId = /^\d{1,15}$/.test(header) ? Number(header) : Number.NaN;
      if (!Number.isSafeInteger(lastId) || lastId < 0)
        return c.json(
          errorBody('bad_request', 'Last-Event-ID must be a non-negative integer', 'Last-Event-ID'),
          400,
        );
    }
    // Hono answers HEAD by running the GET handler and dropping the body: a stream opened here
    // would never be read nor cancelled, and would keep its listener and timer until close().
    if (c.req.method === 'HEAD')
      return c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    return streamSSE(c, async (stream) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      const send = (event: { id: number }): void => {
        queue.push(JSON.stringify(event));
        wake?.();
      };
      const missedFrom = lastId !== undefined ? lastId + 1 : undefined;
      const oldest = hub.oldestId;
      if (missedFrom !== undefined && oldest !== undefined && oldest > missedFrom)
        await stream.writeSSE({
          event: 'gap',
          data: JSON.stringify({ missed_from: missedFrom, resumed_at: oldest }),
        });
      for (const event of hub.since(lastId)) send(event);
      const unsubscribe = hub.listen(send);
      let open = true;
      const close = (): void => {
        open = false;
        wake?.();
      };
      closers.add(close);
      stream.onAbort(close);
      const keepAlive = setInterval(() => {
        queue.push('');
        wake?.();
      }, keepAliveMs);
      metrics.streamOpened();
      try {
        while (open) {
          const data = queue.shift();
          if (data === undefined) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          if (data === '') await stream.write(': keep-alive\n\n');
          else
            await stream.writeSSE({
              id: String((JSON.parse(data) as { id: number }).id),
              event: 'cluster',
              data,
            });
        }
      } finally {
        clearInterval(keepAlive);
        unsubscribe();
        closers.delete(close);
        metrics.streamClosed();
      }
    });
  });

  app.get('/api/v1/openapi.json', (c) => c.json(openapi, 200));

  app.get('/metrics', async (c) => {
    const text = await metrics.render();
    return c.body(text, 200, { 'content-type': metrics.contentType });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok', checks: {} }, 200, JSON_HEADERS));

  app.get('/readyz', async (c) => {
    const checks = sources.readiness?.checks ?? {};
    const results: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        const result = await read(check);
        const ok = result === true;
        if (!ok) ready = false;
        results[name] = ok
          ? 'ok'
          : isData(result)
            ? 'not ready'
            : `error: ${result.state === 'error' ? result.message : 'unavailable'}`;
      }),
    );
    return c.json({ status: ready ? 'ok' : 'not-ready', checks: results }, ready ? 200 : 503, JSON_HEADERS);
  });

  const authorize = (c: Context): Response | undefined => {
    const result = checkBearer(c.req.header('authorization'), options.token);
    if (result === 'ok') return undefined;
    if (result === 'disabled')
      return c.json(
        errorBody('forbidden', 'actions are disabled: the dashboard has no token configured'),
        403,
      );
    return c.json(errorBody('unauthorized', 'this action needs Authorization: Bearer <token>'), 401, {
      'www-authenticate': 'Bearer realm="clusteros"',
    });
  };

  const act = async (c: Context, run: () => Promise<Record<string, string | number | boolean | null>>) => {
    try {
      return c.json({ ok: true as const, detail: await run() }, 200);
    } catch (error) {
      const message = redact(error instanceof Error ? error.message : String(error), secrets);
      return c.json(errorBody('action_failed', message), 409);
    }
  };

  app.post('/api/v1/roles/:role/handoff', async (c) => {
    const denied = authorize(c);
    if (denied !== undefined) return denied;
    const role = c.req.param('role');
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json(errorBody('bad_request', 'the body must be JSON: {"to": "<node id>"}', 'to'), 400);
    }
    const to = (body as { to?: unknown } | null)?.to;
    if (typeof to !== 'string' || to.length === 0 || to.length > 256)
      return c.json(errorBody('bad_request', '"to" must be a node id', 'to'), 400);
    const handoff = sources.actions?.handoff;
    if (handoff === undefined)
      return c.json(errorBody('not_implemented', 'this node cannot hand roles over'), 501);
    return act(c, async () => ({ role, to, ...(await handoff.call(sources.actions, role, to)) }));
  });

  app.post('/api/v1/merge/:id/approve', async (c) => {
    const denied = authorize(c);
    if (denied !== undefined) return denied;
    const id = c.req.param('id');
    const approve = sources.merge?.approve;
    if (approve === undefined)
      return c.json(errorBody('not_implemented', 'this node cannot approve merges'), 501);
    return act(c, async () => {
      await approve.call(sources.merge, id);
      return { merge: id };
    });
  });

  app.post('/api/v1/leave', async (c) => {
    const denied = authorize(c);
    if (denied !== undefined) return denied;
    const leave = sources.actions?.leave;
    if (leave === undefined)
      return c.json(errorBody('not_implemented', 'this node cannot leave on request'), 501);
    return act(c, async () => {
      await leave.call(sources.actions);
      return { leaving: true };
    });
  });

  for (const [path, asset] of Object.entries(PAGE_ASSETS)) {
    app.get(path, (c) =>
      c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'no-cache', ...asset.headers }),
    );
  }

  app.notFound((c) => {
    const path = c.req.path;
    const known = ROUTES.find(([pattern]) => pattern.test(path));
    if (known !== undefined)
      return c.json(
        errorBody('method_not_allowed', `${c.req.method} is not allowed on ${path}; use ${known[1]}`),
        405,
        {
          allow: known[1],
        },
      );
    return c.json(errorBody('not_found', `no route for ${c.req.method} ${path}`), 404);
  });

  app.onError((error, c) => {
    const message = redact(error.message, secrets);
    return c.json(errorBody('internal', message), 500);
  });

  return {
    fetch: (request) => Promise.resolve(app.fetch(request)),
    app,
    events: hub,
    close() {
      hub.detach();
      for (const close of [...closers]) close();
    },
  };
}
