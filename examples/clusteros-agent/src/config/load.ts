/**
 * Reading the agent's YAML config: `loadConfig(path)` and `parseConfig(text, { source })`.
 *
 * YAML is parsed with `yaml`'s `parseDocument` (YAML 1.2 core schema): one document only, no
 * duplicate keys (reported with their dotted path), plain string keys only, and aliases limited
 * to {@link MAX_ALIAS_COUNT} expansions (no "billion laughs"). The result is checked against
 * `agentConfigSchema`; then `cluster.auth_key_file` and `dashboard.token_file` are read,
 * relative to the config file's directory.
 *
 * Every failure is one {@link ConfigError} listing every problem, each as
 * `<dotted.path>: expected …, got …` (with `file:line:column` when the place is known). No
 * message ever contains the auth key or the dashboard token: secret fields are described only
 * by their type, YAML syntax errors carry no source excerpt, and whatever looks like the key is
 * scrubbed from every message as a last line of defence.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile as readFileAsync, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import {
  type AgentConfig,
  agentConfigSchema,
  MIN_AUTH_KEY_LENGTH,
  MIN_TOKEN_LENGTH,
  type ParsedAgentConfig,
} from './schema.js';
import { REDACTED, Secret } from './secret.js';

/** Largest accepted config file, in bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Largest accepted auth key or token file, in bytes. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** At most this many alias expansions (YAML `*ref`) while building the config. */
export const MAX_ALIAS_COUNT = 16;
/** At most this many nested mappings/lists. */
export const MAX_DEPTH = 32;
/** At most this many problems are listed in one error. */
export const MAX_REPORTED_ISSUES = 20;

/** One problem of a config file. */
export interface ConfigIssue {
  /** Dotted path of the field (`raft.voters`, `network.seeds[1]`); `''` for the whole file. */
  readonly path: string;
  /** What was expected and what was found, e.g. `expected an odd number from 1 to 7, got 4`. */
  readonly message: string;
  /** 1-based line in the file, when known. */
  readonly line?: number;
  /** 1-based column in the file, when known. */
  readonly column?: number;
}

/** A config file that cannot be used; `issues` lists every problem found. */
export class ConfigError extends Error {
  /** The class's name, for matching with `err.name` across copies of the module. */
  static override readonly name = 'ConfigError' as const;
  /** Always `'ConfigError'`. */
  override readonly name = 'ConfigError' as const;
  /** The file (or label) the config came from. */
  readonly source: string;
  /** Every problem found (at most {@link MAX_REPORTED_ISSUES}). */
  readonly issues: readonly ConfigIssue[];
  /** Creates the error; the message lists each issue on its own line. */
  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(renderIssues(source, issues));
    this.source = source;
    this.issues = issues;
  }
}

/** Whether `error` is a {@link ConfigError}. */
export const isConfigError = (error: unknown): error is ConfigError =>
  typeof error === 'object' && error !== null && (error as { name?: unknown }).name === ConfigError.name;

/** One issue as a line: `file:line:column: path: message` (the parts that are known). */
export function formatIssue(source: string, issue: ConfigIssue): string {
  const where = issue.line !== undefined ? `${source}:${issue.line}:${issue.column ?? 1}: ` : '';
  return `${where}${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}

function renderIssues(source: string, issues: readonly ConfigIssue[]): string {
  const head =
    issues.length === 1
      ? `invalid configuration ${source}`
      : `invalid configuration ${source} (${issues.length} problems)`;
  return `${head}:\n${issues.map((issue) => `  ${formatIssue(source, issue)}`).join('\n')}`;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** Where the text came from: the config file's path (also the base of relative paths) or a label. */
  readonly source: string;
  /** Directory relative paths are resolved against. @defaultValue the directory of `source` */
  readonly baseDir?: string;
  /** Reads the auth key and token files (absolute paths). @defaultValue a size-checked `readFileSync` */
  readonly readFile?: (path: string) => string | Uint8Array;
}

/** Reads and parses the config file at `path` (see {@link parseConfig}). Throws {@link ConfigError}. */
export async function loadConfig(path: string): Promise<AgentConfig> {
  const source = resolve(path);
  let text: string;
  try {
    const info = await stat(source);
    if (!info.isFile()) throw new ConfigError(source, [{ path: '', message: 'expected a regular file' }]);
    checkSize(source, info.size);
    const bytes = await readFileAsync(source);
    checkSize(source, bytes.length);
    text = bytes.toString('utf8');
  } catch (error) {
    if (isConfigError(error)) throw error;
    throw new ConfigError(source, [{ path: '', message: `cannot read the file (${errorCode(error)})` }]);
  }
  return parseConfig(text, { source });
}

function checkSize(source: string, bytes: number): void {
  if (bytes > MAX_CONFIG_BYTES)
    throw new ConfigError(source, [
      { path: '', message: `expected a file of at most ${MAX_CONFIG_BYTES} bytes, got ${bytes} bytes` },
    ]);
}

/**
 * Parses config `text`: YAML, then the schema, then the key and token files. Returns the fully
 * defaulted {@link AgentConfig}; throws a {@link ConfigError} naming every offending field.
 */
export function parseConfig(text: string, options: ParseConfigOptions): AgentConfig {
  const { source } = options;
  const baseDir = options.baseDir ?? dirname(resolve(source));
  const readFile = options.readFile ?? readSecretFile;
  const secrets = new SecretScrubber();
  secrets.addFromText(text);
  const fail = (issues: ConfigIssue[]): never => {
    throw new ConfigError(source, secrets.scrubIssues(issues.slice(0, MAX_REPORTED_ISSUES)));
  };

  checkSize(source, Buffer.byteLength(text, 'utf8'));
  const lines = new LineCounter();
  let data: unknown;
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, {
      lineCounter: lines,
      prettyErrors: false,
      uniqueKeys: false, // duplicates are found by `checkKeys`, which knows their paths
      version: '1.2',
      schema: 'core',
      merge: false,
      strict: true,
    });
  } catch (error) {
    return fail([{ path: '', message: yamlFailure(error) }]);
  }
  if (doc.errors.length > 0)
    return fail(
      doc.errors.map((e) => ({
        path: '',
        message:
          e.code === 'MULTIPLE_DOCS'
            ? 'expected a single YAML document, got several (remove the extra ---)'
            : `YAML syntax error: ${sanitizeYamlMessage(e.message)} (${e.code})`,
        ...at(lines, e.pos[0]),
      })),
    );
  const root = doc.contents;
  if (!isMap(root))
    return fail([
      {
        path: '',
        message: `expected a mapping of settings at the top level, got ${root === null ? 'nothing' : describeNode(root)}`,
        ...(root !== null ? at(lines, root.range?.[0]) : {}),
      },
    ]);
  const keyIssues: ConfigIssue[] = [];
  const walk: Walk = { lines, out: keyIssues, firstAlias: undefined };
  checkKeys(root, [], 0, walk);
  if (keyIssues.length > 0) return fail(keyIssues);
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return fail([{ path: '', message: yamlFailure(error), ...walk.firstAlias }]);
  }
  secrets.addFromData(data);

  const parsed = agentConfigSchema.safeParse(data);
  if (!parsed.success) return fail(zodIssues(parsed.error.issues, data, doc, lines, secrets));
  return resolveFiles(parsed.data, baseDir, readFile, secrets, fail);
}

function resolveFiles(
  parsed: ParsedAgentConfig,
  baseDir: string,
  readFile: (path: string) => string | Uint8Array,
  secrets: SecretScrubber,
  fail: (issues: ConfigIssue[]) => never,
): AgentConfig {
  const issues: ConfigIssue[] = [];
  const { auth_key, auth_key_file, ...cluster } = parsed.cluster;
  let authKey = auth_key;
  let keyFile: string | undefined;
  if (auth_key_file !== undefined) {
    keyFile = resolve(baseDir, auth_key_file);
    const key = readSecret(keyFile, readFile, secrets);
    if (typeof key === 'object') issues.push({ path: 'cluster.auth_key_file', message: key.error });
    else if (key.length < MIN_AUTH_KEY_LENGTH)
      issues.push({
        path: 'cluster.auth_key_file',
        message: `expected a file holding a key of at least ${MIN_AUTH_KEY_LENGTH} characters (${keyFile}), got a shorter one`,
      });
    else authKey = new Secret(key);
  }
  const { token_file, ...dashboard } = parsed.dashboard;
  let token: Secret | undefined;
  let tokenFile: string | undefined;
  if (token_file !== undefined) {
    tokenFile = resolve(baseDir, token_file);
    const value = readSecret(tokenFile, readFile, secrets);
    if (typeof value === 'object') issues.push({ path: 'dashboard.token_file', message: value.error });
    else if (value.length < MIN_TOKEN_LENGTH)
      issues.push({
        path: 'dashboard.token_file',
        message: `expected a file holding a token of at least ${MIN_TOKEN_LENGTH} characters (${tokenFile}), got a shorter one`,
      });
    else token = new Secret(value);
  }
  if (issues.length > 0 || authKey === undefined) return fail(issues);
  return {
    ...parsed,
    cluster: { ...cluster, auth_key: authKey, ...(keyFile !== undefined ? { auth_key_file: keyFile } : {}) },
    dashboard: {
      ...dashboard,
      ...(tokenFile !== undefined ? { token_file: tokenFile } : {}),
      ...(token !== undefined ? { token } : {}),
    },
    data_dir: isAbsolute(parsed.data_dir) ? parsed.data_dir : resolve(baseDir, parsed.data_dir),
  };
}

/** The trimmed contents of a key/token file, or why it could not be read (never its contents). */
function readSecret(
  path: string,
  readFile: (path: string) => string | Uint8Array,
  secrets: SecretScrubber,
): string | { error: string } {
  let raw: string | Uint8Array;
  try {
    raw = readFile(path);
  } catch (error) {
    return { error: `cannot read ${path} (${errorCode(error)})` };
  }
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (bytes > MAX_SECRET_FILE_BYTES)
    return {
      error: `expected a file of at most ${MAX_SECRET_FILE_BYTES} bytes (${path}), got ${bytes} bytes`,
    };
  const text = (typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')).trim();
  secrets.add(text);
  return text;
}

/** `readFileSync` that refuses non-files and oversized files before reading them. */
function readSecretFile(path: string): string {
  const info = statSync(path);
  if (!info.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
  if (info.size > MAX_SECRET_FILE_BYTES)
    throw Object.assign(new Error('too large'), { code: `larger than ${MAX_SECRET_FILE_BYTES} bytes` });
  return readFileSync(path, 'utf8');
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'read error';
}

function at(lines: LineCounter, offset: number | undefined): { line?: number; column?: number } {
  if (offset === undefined) return {};
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

/** The first clause of a `yaml` message: no source excerpt, no quoted tokens. */
function sanitizeYamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? '';
  return (first.split(/: | at line /)[0] ?? '').trim() || 'invalid YAML';
}

function yamlFailure(error: unknown): string {
  if (error instanceof ReferenceError && /alias/i.test(error.message))
    return `expected YAML aliases to expand to at most ${MAX_ALIAS_COUNT} nodes (a resource exhaustion attack?)`;
  if (error instanceof RangeError) return `expected YAML nested at most ${MAX_DEPTH} levels deep`;
  return 'expected valid YAML';
}

function describeNode(node: Node): string {
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) return node.value === null ? 'nothing' : `a ${typeof node.value}`;
  return 'something else';
}

type PathPart = string | number;

/** Dotted path: `a.b[2].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

interface Walk {
  readonly lines: LineCounter;
  readonly out: ConfigIssue[];
  /** Where the first alias is: what an alias-expansion error points at. */
  firstAlias: { path: string; line?: number; column?: number } | undefined;
}

/** Finds duplicate keys, non-string keys and excessive nesting, with their paths. */
function checkKeys(node: unknown, path: PathPart[], depth: number, walk: Walk): void {
  const { lines, out } = walk;
  if (out.length >= MAX_REPORTED_ISSUES) return;
  if (isAlias(node) && walk.firstAlias === undefined)
    walk.firstAlias = { path: formatPath(path), ...at(lines, node.range?.[0]) };
  if (depth > MAX_DEPTH) {
    out.push({ path: formatPath(path), message: `expected YAML nested at most ${MAX_DEPTH} levels deep` });
    return;
  }
  if (isMap(node)) {
    const seen = new Map<string, number | undefined>();
    for (const pair of node.items) {
      const key = pair.key;
      if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number')) {
        out.push({
          path: formatPath(path),
          message: 'expected plain keys (names), got a complex key',
          ...at(lines, (key as Node | null)?.range?.[0]),
        });
        continue;
      }
      const name = String(key.value);
      const where = at(lines, key.range?.[0]);
      if (seen.has(name)) {
        const first = seen.get(name);
        out.push({
          path: formatPath([...path, name]),
          message: `expected each key once, got a duplicate key${first === undefined ? '' : ` (first at line ${first})`}`,
          ...where,
        });
      } else seen.set(name, where.line);
      checkKeys(pair.value, [...path, name], depth + 1, walk);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      checkKeys(item, [...path, i], depth + 1, walk);
    });
  }
}

/** Paths whose values are secrets: described by type only. */
const SECRET_PATHS = new Set(['cluster.auth_key']);

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    if (!Object.hasOwn(value, part)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function describeValue(value: unknown, secret: boolean, secrets: SecretScrubber): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    if (secret || secrets.overlaps(value)) return 'a string';
    return value.length <= 40 ? JSON.stringify(value) : `a string of ${value.length} characters`;
  }
  if (secret) return `a ${typeof value}`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}

function zodIssues(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  secrets: SecretScrubber,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  const push = (path: readonly PropertyKey[], message: string, where = locate(doc, lines, path)) => {
    const dotted = formatPath(path);
    const key = `${dotted}\n${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ path: dotted, message, ...where });
  };
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        push(
          [...issue.path, key],
          'unknown key (expected no such setting)',
          locateKey(doc, lines, issue.path, key),
        );
      continue;
    }
    const complete =
      issue.code === 'custom' && (issue.params as { complete?: boolean } | undefined)?.complete;
    let message = issue.message.startsWith('expected') ? issue.message : `expected ${issue.message}`;
    if (!complete)
      message += `, got ${describeValue(valueAt(data, issue.path), SECRET_PATHS.has(formatPath(issue.path)), secrets)}`;
    push(issue.path, message);
  }
  return out;
}

/** Line and column of the key `key` in the mapping at `parent`. */
function locateKey(
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  parent: readonly PropertyKey[],
  key: string,
): { line?: number; column?: number } {
  const map = parent.length === 0 ? doc.contents : doc.getIn(parent as PathPart[], true);
  if (isMap(map))
    for (const pair of map.items)
      if (isScalar(pair.key) && String(pair.key.value) === key) return at(lines, pair.key.range?.[0]);
  return locate(doc, lines, parent);
}

/** Line and column of the node at `path`, or of its nearest ancestor present in the file. */
function locate(
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  path: readonly PropertyKey[],
): { line?: number; column?: number } {
  for (let n = path.length; n >= 1; n--) {
    const node = doc.getIn(path.slice(0, n) as PathPart[], true) as Node | undefined;
    if (node !== undefined && node !== null && typeof node === 'object' && node.range)
      return at(lines, node.range[0]);
  }
  return {};
}

/**
 * Knows every string that may be a secret (the inline auth key, as far as it can be found even
 * in broken YAML, and the contents of key and token files) and removes them from messages.
 */
class SecretScrubber {
  /** Shorter candidates are not scrubbed: they would mangle ordinary words. */
  static readonly MIN = 8;
  readonly #values = new Set<string>();

  add(value: string): void {
    if (value.length >= SecretScrubber.MIN) this.#values.add(value);
  }

  /** Whatever follows `auth_key:` on a line, raw and unquoted. */
  addFromText(text: string): void {
    for (const m of text.matchAll(/auth_key["']?\s*:[ \t]*([^\r\n]*)/g)) {
      const raw = (m[1] ?? '').trim();
      this.add(raw);
      this.add(raw.replace(/^["']|["']$/g, ''));
      this.add(raw.replace(/\s+#.*$/, '').replace(/^["']|["']$/g, ''));
    }
  }

  /** The parsed `cluster.auth_key`, whatever its type. */
  addFromData(data: unknown): void {
    const key = valueAt(data, ['cluster', 'auth_key']);
    if (typeof key === 'string' || typeof key === 'number') this.add(String(key));
  }

  /** Whether `value` contains a secret or is a (long enough) piece of one. */
  overlaps(value: string): boolean {
    for (const secret of this.#values) {
      if (value.includes(secret)) return true;
      if (value.length >= SecretScrubber.MIN && secret.includes(value)) return true;
    }
    return false;
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of [...this.#values].sort((a, b) => b.length - a.length))
      out = out.split(secret).join(REDACTED);
    return out;
  }

  scrubIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
    return issues.map((issue) => ({
      ...issue,
      path: this.scrub(issue.path),
      message: this.scrub(issue.message),
    }));
  }
}
