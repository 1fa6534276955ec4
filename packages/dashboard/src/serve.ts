/**
 * The `node:http` adapter: serves a dashboard on a port. Binds to 127.0.0.1 unless told otherwise
 * (an agent passes its cluster address, e.g. the Tailscale IP); `0.0.0.0` or `::` must be asked
 * for explicitly.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { createDashboard, type Dashboard, type DashboardOptions } from './router.js';
import type { DashboardSources } from './sources.js';

/** The dashboard's conventional port. */
export const DEFAULT_DASHBOARD_PORT = 9090;

/** Options of {@link serveDashboard}. */
export interface ServeDashboardOptions extends DashboardOptions {
  /** The providers. */
  readonly sources: DashboardSources;
  /** Port (0 picks a free one). @defaultValue 9090 */
  readonly port?: number;
  /** Address to bind: the node's cluster address, or loopback. @defaultValue '127.0.0.1' */
  readonly host?: string;
}

/** Where a server listens. */
export interface ListenAddress {
  /** The bound address. */
  readonly host: string;
  /** The bound port. */
  readonly port: number;
}

/** A running dashboard server. */
export interface DashboardServer {
  /** The dashboard behind it. */
  readonly dashboard: Dashboard;
  /** The underlying server. */
  readonly server: Server;
  /** Where it listens. */
  readonly address: ListenAddress;
  /** The base URL (`http://host:port`). */
  readonly url: string;
  /** Stops accepting, ends live streams and closes connections. */
  close(): Promise<void>;
}

/** Starts a dashboard server; resolves once it listens. */
export async function serveDashboard(options: ServeDashboardOptions): Promise<DashboardServer> {
  const { sources, port = DEFAULT_DASHBOARD_PORT, host = '127.0.0.1', ...dashboardOptions } = options;
  const dashboard = createDashboard(sources, dashboardOptions);
  const server = createServer(getRequestListener(dashboard.fetch));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const info = server.address() as AddressInfo;
  const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return {
    dashboard,
    server,
    address: { host: info.address, port: info.port },
    url: `http://${shown}:${info.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        dashboard.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
