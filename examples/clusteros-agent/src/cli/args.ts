/**
 * Command-line parsing for `node-agent`: flags of the form `--name VALUE`, `--name=VALUE` or
 * `--name` (booleans), positionals, and `--` to end the flags. Every problem is a
 * {@link UsageError} whose message is one line naming the problem; the CLI prints it and exits
 * with status 2.
 */

/** Bad command-line arguments: the CLI prints the message (one line) and exits with status 2. */
export class UsageError extends Error {
  /** Always `'UsageError'`. */
  override readonly name = 'UsageError' as const;
}

/** What each flag of a command takes: a value, or nothing (a boolean switch). */
export type FlagSpec = Readonly<Record<string, 'string' | 'boolean'>>;

/** A parsed command line. */
export interface ParsedArgs {
  /** Values of the value-taking flags that were given (by flag name, with the dashes). */
  readonly values: ReadonlyMap<string, string>;
  /** The boolean flags that were given. */
  readonly switches: ReadonlySet<string>;
  /** The positional arguments, in order. */
  readonly positionals: readonly string[];
}

/** `value` quoted for a one-line message, cut to 100 characters and without control characters. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/** Whether the arguments ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Parses `argv` against `spec`. Throws {@link UsageError}. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  let flagsDone = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (flagsDone || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      flagsDone = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const kind = spec[flag];
    if (kind === undefined) throw new UsageError(`unknown flag ${quote(flag)}`);
    if (kind === 'boolean') {
      if (eq > 0) throw new UsageError(`${flag} takes no value`);
      switches.add(flag);
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value?.startsWith('--')) value = undefined;
      else i++;
    }
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} given twice`);
    values.set(flag, value);
  }
  return { values, switches, positionals };
}

/** `value` as a whole number of milliseconds from 1 to 600000. Throws {@link UsageError}. */
export function parseTimeout(flag: string, value: string): number {
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < 1 || Number(value) > 600_000)
    throw new UsageError(
      `${flag} must be a whole number of milliseconds from 1 to 600000, got ${quote(value)}`,
    );
  return Number(value);
}

/**
 * `value` as the dashboard's base URL: `http://` or `https://`, no credentials, query or
 * fragment (the token goes in a file, never in the URL). Returned without a trailing slash.
 */
export function parseApiUrl(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be a URL such as http://127.0.0.1:9090, got ${quote(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`${flag} must be an http:// or https:// URL, got ${quote(value)}`);
  if (url.username !== '' || url.password !== '')
    throw new UsageError(`${flag} must not contain credentials (use --token-file)`);
  if (url.search !== '' || url.hash !== '')
    throw new UsageError(`${flag} must not have a query or fragment, got ${quote(value)}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
