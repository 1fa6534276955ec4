/**
 * The OpenAPI 3.1 document at `/api/v1/openapi.json`, generated from the same zod schemas the
 * handlers use (OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits directly).
 */
import { z } from 'zod';
import * as S from './schemas.js';

/** A JSON object. */
export type Json = Record<string, unknown>;

const ref = (schema: z.ZodType): Json => ({
  $ref: `#/components/schemas/${(z.globalRegistry.get(schema) as { id: string }).id}`,
});

function json(description: string, schema: z.ZodType): Json {
  return { description, content: { 'application/json': { schema: ref(schema) } } };
}

const errors = (...codes: number[]): Json =>
  Object.fromEntries(codes.map((code) => [String(code), json(`error (${code})`, S.ErrorResponse)]));

/** The component ids this package defines (every exported schema with a `meta` id). */
const OWN_IDS = new Set(
  Object.values(S)
    .map((value) =>
      value instanceof z.ZodType
        ? (z.globalRegistry.get(value) as { id?: string } | undefined)?.id
        : undefined,
    )
    .filter((id): id is string => id !== undefined),
);

/** Builds the document (cheap; done once per dashboard). */
export function buildOpenApi(): Json {
  const components = z.toJSONSchema(z.globalRegistry, {
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  });
  // zod gives each component `$id: '#/components/schemas/X'`; JSON Schema 2020-12 forbids a
  // fragment in `$id`, and the `$ref`s already point at the components, so it is dropped.
  const schemas = Object.fromEntries(
    Object.entries((components as { schemas?: Record<string, Json> }).schemas ?? {})
      // Only this package's schemas: an application's own `.meta({ id })` schemas share zod's
      // global registry but are not part of this API.
      .filter(([id]) => OWN_IDS.has(id))
      .map(([id, { $id: _id, ...schema }]) => [id, schema]),
  );
  const get = (summary: string, schema: z.ZodType, extra: Json = {}, responses: Json = {}): Json => ({
    get: { summary, responses: { '200': json(summary, schema), ...errors(404), ...responses }, ...extra },
  });
  const bearer = [{ bearer: [] }];
  const action = (summary: string, params: Json[], body?: z.ZodType): Json => ({
    post: {
      summary,
      security: bearer,
      parameters: params,
      ...(body !== undefined
        ? { requestBody: { required: true, content: { 'application/json': { schema: ref(body) } } } }
        : {}),
      responses: { '200': json('done', S.ActionResponse), ...errors(400, 401, 403, 409, 501) },
    },
  });
  const pathParam = (name: string): Json => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'ClusterOS dashboard API', version: '1' },
    paths: {
      '/api/v1/status': get(
        'This node: identity, network, discovery, leadership, roles, services, resources',
        S.StatusResponse,
      ),
      '/api/v1/nodes': get('Every known node', S.NodesResponse),
      '/api/v1/leaders': get('The holder of each singleton role and Raft', S.LeadersResponse),
      '/api/v1/services': get('Tailscale, SLURM, k3s and other services', S.ServicesResponse),
      '/api/v1/cluster': get('Cluster summary, capacity, role distribution, merge state', S.ClusterResponse),
      '/api/v1/jobs': get(
        'SLURM jobs and k3s pods, paged',
        S.JobsResponse,
        {
          parameters: [
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
        },
        errors(400),
      ),
      '/api/v1/events': {
        get: {
          summary:
            'Live cluster events as Server-Sent Events (event `cluster`, data ClusterEvent; event `gap` when events were missed)',
          parameters: [{ name: 'Last-Event-ID', in: 'header', schema: { type: 'integer', minimum: 0 } }],
          responses: {
            '200': {
              description: 'an event stream',
              content: { 'text/event-stream': { schema: ref(S.ClusterEvent) } },
            },
            ...errors(400),
          },
        },
      },
      '/api/v1/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'text format 0.0.4', content: { 'text/plain': {} } } },
        },
      },
      '/healthz': get('Liveness', S.HealthResponse),
      '/readyz': get(
        'Readiness (503 when a check fails)',
        S.HealthResponse,
        {},
        {
          '503': json('not ready: the failing checks are named', S.HealthResponse),
        },
      ),
      '/api/v1/roles/{role}/handoff': action(
        'Hand a singleton role to another node',
        [pathParam('role')],
        S.HandoffRequest,
      ),
      '/api/v1/merge/{id}/approve': action('Approve a cluster merge', [pathParam('id')]),
      '/api/v1/leave': action('Make this node leave the cluster gracefully', []),
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}
