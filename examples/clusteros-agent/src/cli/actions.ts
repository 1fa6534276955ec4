/**
 * `node-agent handoff` and `node-agent leave`: the dashboard's authenticated actions
 * (`POST /api/v1/roles/{role}/handoff`, `POST /api/v1/leave`), with the bearer token read from
 * `--token-file` or from the config's `dashboard.token_file`. The token goes into the
 * `Authorization` header and nowhere else: it is never printed, and it is scrubbed from anything
 * the API says back before that is shown.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ActionResponse, ErrorResponse } from '@clusteros/dashboard';
import { MAX_SECRET_FILE_BYTES, MIN_TOKEN_LENGTH } from '../config/index.js';
import { parseApiUrl, parseFlags, parseTimeout, quote, UsageError } from './args.js';
import { AgentUnreachableError, type FetchLike, oneLine, parseJson, request } from './http.js';
import { DEFAULT_CONFIG_PATH } from './info.js';
import { apiFromConfig, loadConfigForCli } from './load-config.js';
import { block, cell, type Writer } from './output.js';
import { DEFAULT_API } from './status.js';

/** Default `--timeout` of the actions, ms (a handoff waits for the role to move). */
export const DEFAULT_ACTION_TIMEOUT_MS = 30_000;

const COMMON = `  --api URL          the agent's dashboard (default: the config's dashboard address when
                     the token comes from a config, else ${DEFAULT_API})
  --token-file FILE  read the dashboard token from FILE
  --config FILE      or read it from this config's dashboard.token_file
                     (default ${DEFAULT_CONFIG_PATH} when neither is given)
  --timeout MS       give up after MS milliseconds (default ${DEFAULT_ACTION_TIMEOUT_MS})
  --json             print the API's answer as it came
  -h, --help         show this help

The token is sent as Authorization: Bearer and never printed.
Exit status: 0 done, 1 the agent refused (its message is printed), 2 the agent is unreachable,
its answer is not understood, or bad arguments.`;

/** Help text of `node-agent handoff`. */
export const HANDOFF_USAGE = `usage: node-agent handoff ROLE --to NODE [--api URL] [--token-file FILE | --config FILE]
                          [--timeout MS] [--json]

Asks the running agent to hand singleton role ROLE over to node NODE
(POST /api/v1/roles/ROLE/handoff).

  --to NODE          the node id that should take the role (required)
${COMMON}`;

/** Help text of `node-agent leave`. */
export const LEAVE_USAGE = `usage: node-agent leave [--api URL] [--token-file FILE | --config FILE] [--timeout MS] [--json]

Asks the running agent to leave the cluster gracefully (POST /api/v1/leave): it hands its
roles over and tells the others it is going.

${COMMON}`;

const ROLE_RE = /^[a-z][a-z0-9-]{0,62}$/;

interface Io {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly fetch: FetchLike;
}

/**
 * The token, and the dashboard address when it came from a config. A token that cannot be used is
 * a usage problem (exit 2), reported without the token.
 */
async function readToken(values: ReadonlyMap<string, string>): Promise<{ token: string; api?: string }> {
  const tokenFile = values.get('--token-file');
  const configPath = values.get('--config');
  if (tokenFile !== undefined && configPath !== undefined)
    throw new UsageError('give --token-file or --config, not both');
  if (tokenFile !== undefined) {
    const path = resolve(tokenFile);
    let text: string;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new UsageError(`--token-file ${quote(path)} is not a regular file`);
      if (info.size > MAX_SECRET_FILE_BYTES)
        throw new UsageError(`--token-file ${quote(path)} is larger than ${MAX_SECRET_FILE_BYTES} bytes`);
      text = (await readFile(path, 'utf8')).trim();
    } catch (error) {
      if (error instanceof UsageError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new UsageError(
        `cannot read --token-file ${quote(path)} (${typeof code === 'string' ? code : 'read error'})`,
      );
    }
    if (text.length < MIN_TOKEN_LENGTH)
      throw new UsageError(
        `--token-file ${quote(path)} holds no token of at least ${MIN_TOKEN_LENGTH} characters`,
      );
    return { token: text };
  }
  const path = configPath ?? DEFAULT_CONFIG_PATH;
  const config = await loadConfigForCli(path);
  const token = config.dashboard.token?.reveal();
  if (token === undefined)
    throw new UsageError(`${resolve(path)} sets no dashboard.token_file (give --token-file)`);
  return { token, api: apiFromConfig(config) };
}

/** `text` with every occurrence of `token` replaced by `[redacted]`. */
const scrub = (text: string, token: string): string => text.split(token).join('[redacted]');

async function act(
  command: 'handoff' | 'leave',
  path: string,
  body: string | undefined,
  args: { values: ReadonlyMap<string, string>; switches: ReadonlySet<string> },
  io: Io,
  describe: (detail: Readonly<Record<string, string | number | boolean | null>>) => string,
): Promise<number> {
  const timeoutMs = parseTimeout(
    '--timeout',
    args.values.get('--timeout') ?? String(DEFAULT_ACTION_TIMEOUT_MS),
  );
  const { token, api: configApi } = await readToken(args.values);
  const api = parseApiUrl('--api', args.values.get('--api') ?? configApi ?? DEFAULT_API);
  const url = `${api}${path}`;
  const answer = await request(io.fetch, url, {
    method: 'POST',
    timeoutMs,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  });
  const text = scrub(answer.text, token);
  const json = parseJson(url, text);
  if (answer.status >= 200 && answer.status < 300) {
    const ok = ActionResponse.safeParse(json);
    if (!ok.success) throw new AgentUnreachableError(`the answer from ${url} is not an action result`);
    io.stdout.write(args.switches.has('--json') ? `${text.trimEnd()}\n` : describe(ok.data.detail));
    return 0;
  }
  const refused = ErrorResponse.safeParse(json);
  if (!refused.success)
    throw new AgentUnreachableError(`${url} answered HTTP ${answer.status} without an error message`);
  if (args.switches.has('--json')) io.stdout.write(`${text.trimEnd()}\n`);
  io.stderr.write(
    `node-agent ${command}: refused (HTTP ${answer.status} ${oneLine(refused.data.error.code, 64)}): ${oneLine(refused.data.error.message)}\n`,
  );
  return 1;
}

const details = (detail: Readonly<Record<string, string | number | boolean | null>>): string => {
  const rows = Object.entries(detail).map(([k, v]): [string, string] => [cell(k), cell(v)]);
  return rows.length === 0 ? '' : block('DETAIL', rows);
};

/** Runs `node-agent handoff` with the arguments after the command name; returns the exit status. */
export async function runHandoff(argv: readonly string[], io: Io): Promise<number> {
  const args = parseFlags(argv, {
    '--to': 'string',
    '--api': 'string',
    '--token-file': 'string',
    '--config': 'string',
    '--timeout': 'string',
    '--json': 'boolean',
  });
  const [role, extra] = args.positionals;
  if (role === undefined) throw new UsageError('missing ROLE (node-agent handoff ROLE --to NODE)');
  if (extra !== undefined) throw new UsageError(`unexpected argument ${quote(extra)}`);
  if (!ROLE_RE.test(role))
    throw new UsageError(`ROLE must be a role name (lowercase letters, digits and '-'), got ${quote(role)}`);
  const to = args.values.get('--to');
  if (to === undefined) throw new UsageError('--to NODE is required');
  if (to.length > 256) throw new UsageError('--to must be a node id of at most 256 characters');
  return act(
    'handoff',
    `/api/v1/roles/${encodeURIComponent(role)}/handoff`,
    JSON.stringify({ to }),
    args,
    io,
    (detail) => `handoff of ${role} to ${cell(to)}: done\n${details(detail)}`,
  );
}

/** Runs `node-agent leave` with the arguments after the command name; returns the exit status. */
export async function runLeave(argv: readonly string[], io: Io): Promise<number> {
  const args = parseFlags(argv, {
    '--api': 'string',
    '--token-file': 'string',
    '--config': 'string',
    '--timeout': 'string',
    '--json': 'boolean',
  });
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument ${quote(args.positionals[0] ?? '')}`);
  return act(
    'leave',
    '/api/v1/leave',
    undefined,
    args,
    io,
    (detail) => `leave: the node is leaving\n${details(detail)}`,
  );
}
