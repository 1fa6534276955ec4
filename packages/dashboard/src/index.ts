/**
 * The ClusterOS dashboard.
 *
 * - {@link createDashboard}: a fetch-standard router over {@link DashboardSources} — status,
 *   nodes, leaders, services, cluster, jobs, live events (SSE with resume), OpenAPI 3.1,
 *   Prometheus metrics, health, authenticated actions, and the web page at `/`.
 * - {@link serveDashboard}: the same on `node:http`, bound to loopback unless told otherwise.
 * - The zod schemas and their types, so providers and clients are type-checked.
 *
 * @packageDocumentation
 */
export { type AuthResult, checkBearer } from './auth.js';
export { DashboardConfigError, isDashboardConfigError, MIN_TOKEN_LENGTH } from './errors.js';
export { EventHub, type EventHubOptions } from './event-hub.js';
export { DashboardMetrics } from './metrics.js';
export { buildOpenApi, type Json } from './openapi.js';
export { PAGE_LIMITS, type PageLimits, ParameterError } from './paging.js';
export { redact } from './redact.js';
export { createDashboard, type Dashboard, type DashboardOptions } from './router.js';
export * from './schemas.js';
export { readSection, UNAVAILABLE } from './sections.js';
export {
  type DashboardServer,
  DEFAULT_DASHBOARD_PORT,
  type ListenAddress,
  type ServeDashboardOptions,
  serveDashboard,
} from './serve.js';
export type * from './sources.js';
