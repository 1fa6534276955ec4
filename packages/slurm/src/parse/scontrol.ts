/**
 * Text output of `scontrol` in SLURM 22.05, which has no `--json` (that came in 23.02):
 * `scontrol -o show job|node|partition` (one `Key=Value ...` record per line) and
 * `scontrol ping` (one line per configured controller).
 */
import { SlurmParseError } from './errors.js';
import { SLURM_HOSTLIST_MAX_CHARS } from './limits.js';
import { checkOutputText, outputLines } from './text-input.js';

const SHOW_SOURCE = 'scontrol show';
const PING_SOURCE = 'scontrol ping';
const KEY = /^[A-Za-z][A-Za-z0-9_:/.-]*$/;
const KEY_MAX_CHARS = 64;
const EMPTY_LISTING = /^No [a-z]+ in the system$/;

/**
 * Parses `scontrol -o show job` / `scontrol -o show node` (and `show partition`) output into one
 * record per line, mapping each key to its value exactly as printed (`'UNLIMITED'`, `'(null)'`,
 * `'N/A'`, `'0:0'` stay strings).
 *
 * The format is not quoted, so the rules are:
 * - tokens are separated by runs of spaces; a token `Key=Value` starts a field, where the key
 *   is a name such as `JobId`, `AllocNode:Sid` or `CPUs/Task` and the value is everything after
 *   the first `=` (`TRES=cpu=1,node=1` gives `cpu=1,node=1`);
 * - a token that does not start with a key continues the previous value, joined by one space:
 *   `OS=Linux 6.1.0 #1 SMP` gives `Linux 6.1.0 #1 SMP`, `Reason=Not responding [slurm@...]`
 *   gives `Not responding [slurm@...]`;
 * - the multi-line form (without `-o`) is accepted too: an indented line continues the current
 *   record, and blank lines separate records;
 * - `No jobs in the system` (and the node/partition variants) gives no records.
 *
 * A value with spaces that contains `Key=`-like text (a free-form comment or reason) cannot be
 * told apart from a new field; if that produces a key twice in one record the record is rejected
 * rather than letting a value overwrite a real field.
 *
 * @throws SlurmParseError for output over the size limit, a record that does not begin with a
 *   `Key=Value` field, a repeated key within a record, or a key or value over its length limit.
 */
export function parseScontrolRecords(text: string): Record<string, string>[] {
  checkOutputText(SHOW_SOURCE, text);
  const records: Record<string, string>[] = [];
  let current: Map<string, string> | null = null;
  for (const { number, text: line } of outputLines(text)) {
    if (line.trim() === '') {
      if (current !== null) records.push(Object.fromEntries(current));
      current = null;
      continue;
    }
    const indented = /^\s/.test(line);
    const continues = indented && current !== null;
    if (!indented && current === null && EMPTY_LISTING.test(line.trim())) continue;
    if (current === null || !continues) {
      if (current !== null) records.push(Object.fromEntries(current));
      current = new Map();
    }
    readFields(line, current, `line ${number}`, continues);
  }
  if (current !== null) records.push(Object.fromEntries(current));
  return records;
}

/** Adds the fields of one line to `record`; `continued` says the line extends a record begun earlier. */
function readFields(line: string, record: Map<string, string>, where: string, continued: boolean): void {
  // A continuation line of the multi-line form starts a new field; its first token must be a key.
  let lastKey: string | null = null;
  // Tokens are taken one at a time (a huge line never becomes a huge array).
  const tokens = /\S+/g;
  for (let match = tokens.exec(line); match !== null; match = tokens.exec(line)) {
    const token = match[0];
    const eq = token.indexOf('=');
    const key = eq > 0 ? token.slice(0, eq) : '';
    if (key.length <= KEY_MAX_CHARS && KEY.test(key)) {
      if (record.has(key)) {
        throw new SlurmParseError(
          SHOW_SOURCE,
          `${where}: key ${JSON.stringify(key)} appears twice in one record`,
        );
      }
      record.set(key, checkValue(token.slice(eq + 1), key, where));
      lastKey = key;
    } else if (lastKey !== null) {
      const joined = `${record.get(lastKey) ?? ''} ${token}`;
      record.set(lastKey, checkValue(joined, lastKey, where));
    } else {
      const kind = continued ? 'an indented line' : 'a record';
      throw new SlurmParseError(
        SHOW_SOURCE,
        `${where}: ${kind} must begin with Key=Value, got ${JSON.stringify(token.slice(0, 60))}`,
      );
    }
  }
}

function checkValue(value: string, key: string, where: string): string {
  if (value.length > SLURM_HOSTLIST_MAX_CHARS) {
    throw new SlurmParseError(
      SHOW_SOURCE,
      `${where}: value of ${key} is ${value.length} characters, more than the limit of ${SLURM_HOSTLIST_MAX_CHARS}`,
    );
  }
  return value;
}

/** One controller line of `scontrol ping`. */
export interface SlurmControllerPing {
  /** The controller's host name as configured in `SlurmctldHost` (`ctl1`). */
  readonly controller: string;
  /** Its place in the `SlurmctldHost` list as scontrol names it: `primary`, `backup`, `backup2`, ... */
  readonly role: string;
  /** Whether it answered the ping. */
  readonly state: 'UP' | 'DOWN';
}

const PING_LINE = /^Slurmctld\(([A-Za-z][A-Za-z0-9]{0,31})\) at (\S{1,255}) is (UP|DOWN)$/;
/**
 * The banner scontrol adds when every controller is down: a line of asterisks, then
 * `** RESTORE SLURMCTLD DAEMON TO SERVICE **`, then asterisks again.
 */
const DOWN_BANNER = /^(\*+|\*\* RESTORE SLURMCTLD DAEMON TO SERVICE \*\*)$/;

/**
 * Parses `scontrol ping`: one `Slurmctld(primary) at ctl1 is UP` line per configured controller,
 * in `SlurmctldHost` order. scontrol answers at once even when no controller is up (and then
 * exits 1 and adds a `RESTORE SLURMCTLD DAEMON TO SERVICE` banner, skipped here), so this is the
 * liveness probe to use; read the state from here, not from the exit
 * code alone.
 *
 * @throws SlurmParseError when a non-blank line has another form, or when there is no controller line.
 */
export function parseScontrolPing(text: string): SlurmControllerPing[] {
  checkOutputText(PING_SOURCE, text);
  const result: SlurmControllerPing[] = [];
  for (const { number, text: raw } of outputLines(text)) {
    const line = raw.trim();
    if (line === '' || DOWN_BANNER.test(line)) continue;
    const match = PING_LINE.exec(line);
    const role = match?.[1];
    const controller = match?.[2];
    const state = match?.[3];
    if (role === undefined || controller === undefined || (state !== 'UP' && state !== 'DOWN')) {
      throw new SlurmParseError(
        PING_SOURCE,
        `line ${number}: expected "Slurmctld(<role>) at <host> is UP|DOWN", got ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    result.push({ controller, role, state });
  }
  if (result.length === 0) throw new SlurmParseError(PING_SOURCE, 'no controller lines in the output');
  return result;
}
