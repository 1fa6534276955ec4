/**
 * `node-agent status`: asks a running agent's dashboard (`GET /api/v1/status`) how this node is,
 * checks the answer against the dashboard's `StatusResponse` schema, and prints it.
 *
 * Healthy (exit 0) means: the node, network, discovery, leadership and roles sections all have
 * data, Raft has a leader, and every role on this node is healthy (a role reported
 * `not-installed` or `not-managed` — its software is missing, or this agent version does not run
 * it — is listed but does not count). Anything
 * else is degraded (exit 1). No answer, or one that is not a valid status, is exit 2.
 */
import { StatusResponse } from '@clusteros/dashboard';
import { parseApiUrl, parseFlags, parseTimeout, quote, UsageError } from './args.js';
import { AgentUnreachableError, type FetchLike, oneLine, parseJson, request } from './http.js';
import { apiFromConfig, loadConfigForCli } from './load-config.js';
import { block, cell, table, type Writer } from './output.js';

/** The dashboard the CLI asks when `--api` is not given. */
export const DEFAULT_API = 'http://127.0.0.1:9090';
/** Default `--timeout` of `status`, ms. */
export const DEFAULT_STATUS_TIMEOUT_MS = 5000;

/** Help text of `node-agent status`. */
export const STATUS_USAGE = `usage: node-agent status [--api URL | --config FILE] [--json] [--timeout MS]

Asks the running agent's dashboard (GET /api/v1/status) for this node's state and prints its
identity, network, Raft leadership, roles (running / healthy / leader) and discovery.

  --api URL      the agent's dashboard (default ${DEFAULT_API})
  --config FILE  or the dashboard address (dashboard.bind and port) of this config
  --json         print the API's answer as it came
  --timeout MS   give up after MS milliseconds (default ${DEFAULT_STATUS_TIMEOUT_MS})
  -h, --help     show this help

Exit status: 0 healthy (every role healthy, not-installed or not-managed, and Raft has a leader), 1 degraded (anything else,
including sections the agent reports as unavailable or failed), 2 the agent is unreachable or
its answer is not a valid status, or bad arguments.`;

type Status = StatusResponse;
type Section = Status[keyof Status];

const isData = <T>(section: T): section is Exclude<T, { state: 'unavailable' } | { state: 'error' }> =>
  typeof section === 'object' &&
  section !== null &&
  !(
    'state' in section &&
    ((section as { state: unknown }).state === 'unavailable' ||
      (section as { state: unknown }).state === 'error')
  );

const missing = (section: Section): string =>
  isData(section)
    ? ''
    : section.state === 'error'
      ? `error: ${oneLine((section as { message: string }).message, 200)}`
      : 'unavailable';

/** Why `status` is degraded; empty when healthy. */
export function problems(status: Status): string[] {
  const out: string[] = [];
  for (const name of ['node', 'network', 'discovery', 'leadership', 'roles'] as const) {
    const section = status[name];
    if (!isData(section)) out.push(`${name} ${missing(section)}`);
  }
  if (isData(status.leadership) && status.leadership.raft_leader === null) out.push('Raft has no leader');
  if (isData(status.roles))
    // A role this node cannot run (its software is missing, or this agent version does not run
    // it yet) is shown, but is not a fault of the node.
    for (const [role, info] of Object.entries(status.roles))
      if (!info.healthy && !/^not-(installed|managed)\b/.test(info.detail))
        out.push(`role ${oneLine(role, 64)} unhealthy`);
  return out;
}

/** The status as text, ending with the verdict line. */
export function renderStatus(status: Status): string {
  const parts: string[] = [];
  const { node, network, leadership, discovery, roles } = status;
  parts.push(
    isData(node)
      ? block('NODE', [
          ['name', cell(node.name)],
          ['id', cell(node.id)],
          ['cluster', cell(node.cluster)],
          ['region', cell(node.region)],
          ['datacenter', cell(node.datacenter)],
        ])
      : block('NODE', [['', missing(node)]]),
  );
  parts.push(
    isData(network)
      ? block('NETWORK', [
          ['provider', cell(network.provider)],
          ['connected', cell(network.connected)],
          ['ip', cell(network.ip)],
          ['peers', String(network.peer_count)],
        ])
      : block('NETWORK', [['', missing(network)]]),
  );
  parts.push(
    isData(leadership)
      ? block('LEADERSHIP', [
          ['raft leader', leadership.raft_leader === null ? 'none' : cell(leadership.raft_leader)],
          ['this node leads', cell(leadership.is_leader)],
          ['term', String(leadership.term)],
        ])
      : block('LEADERSHIP', [['', missing(leadership)]]),
  );
  if (!isData(roles)) parts.push(block('ROLES', [['', missing(roles)]]));
  else {
    const entries = Object.entries(roles).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    parts.push(
      entries.length === 0
        ? block('ROLES', [['', 'none']])
        : `ROLES\n${table(
            ['ROLE', 'RUNNING', 'HEALTHY', 'LEADER', 'DETAIL'],
            entries.map(([name, r]) => [
              cell(name),
              cell(r.running),
              cell(r.healthy),
              cell(r.leader),
              cell(r.detail),
            ]),
          )}`,
    );
  }
  parts.push(
    isData(discovery)
      ? block('DISCOVERY', [
          ['members', String(discovery.members)],
          ['alive', String(discovery.alive)],
          ['suspect', String(discovery.suspect)],
        ])
      : block('DISCOVERY', [['', missing(discovery)]]),
  );
  const why = problems(status);
  parts.push(`status: ${why.length === 0 ? 'healthy' : `degraded (${why.join('; ')})`}\n`);
  return parts.join('\n');
}

/** Runs `node-agent status` with the arguments after the command name; returns the exit status. */
export async function runStatus(
  argv: readonly string[],
  io: { stdout: Writer; stderr: Writer; fetch: FetchLike },
): Promise<number> {
  const args = parseFlags(argv, {
    '--api': 'string',
    '--config': 'string',
    '--json': 'boolean',
    '--timeout': 'string',
  });
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument ${quote(args.positionals[0] ?? '')}`);
  const configPath = args.values.get('--config');
  if (configPath !== undefined && args.values.has('--api'))
    throw new UsageError('give --api or --config, not both');
  const api = parseApiUrl(
    '--api',
    args.values.get('--api') ??
      (configPath === undefined ? DEFAULT_API : apiFromConfig(await loadConfigForCli(configPath))),
  );
  const timeoutMs = parseTimeout(
    '--timeout',
    args.values.get('--timeout') ?? String(DEFAULT_STATUS_TIMEOUT_MS),
  );
  const url = `${api}/api/v1/status`;
  const answer = await request(io.fetch, url, { method: 'GET', timeoutMs });
  if (answer.status !== 200)
    throw new AgentUnreachableError(`${url} answered HTTP ${answer.status}, not a status`);
  const parsed = StatusResponse.safeParse(parseJson(url, answer.text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'the body' : issue.path.join('.');
    throw new AgentUnreachableError(`the answer from ${url} is not a valid status (${oneLine(where, 100)})`);
  }
  const status = parsed.data;
  io.stdout.write(
    args.switches.has('--json')
      ? answer.text.endsWith('\n')
        ? answer.text
        : `${answer.text}\n`
      : renderStatus(status),
  );
  return problems(status).length === 0 ? 0 : 1;
}
