/**
 * Plain-text forms of `squeue` and `sinfo`, for when `--json` is unavailable (a SLURM build without
 * the openapi plugins) or its output does not parse. The formats are fixed here, next to their
 * parsers ({@link SQUEUE_TEXT_ARGS}, {@link SINFO_TEXT_ARGS}), so the command line and the reader
 * cannot drift apart. Fields are separated by `|`, which SLURM does not escape: only the job name
 * can contain one, so it is placed where it can be recovered (between the first field and the last
 * four).
 */
import { SlurmParseError } from './errors.js';
import { SLURM_FIELD_MAX_CHARS, SLURM_HOSTLIST_MAX_CHARS } from './limits.js';
import { checkOutputText, outputLines } from './text-input.js';

const SQUEUE_SOURCE = 'squeue -o';
const SINFO_SOURCE = 'sinfo -N -o';

/**
 * The arguments of the `squeue` call that {@link parseSqueueText} reads: no header, jobs in every
 * state (finished ones stay listed for `MinJobAge`, as in `squeue --json`), and the fields job id,
 * name, state, user, elapsed time and node list.
 */
export const SQUEUE_TEXT_ARGS: readonly string[] = Object.freeze([
  '-h',
  '-t',
  'all',
  '-o',
  '%i|%j|%T|%u|%M|%N',
]);

/**
 * The arguments of the `sinfo` call that {@link parseSinfoText} reads: no header, one line per node
 * (`-N`; without it `%N` is a compressed host list), and the fields node name and long state.
 */
export const SINFO_TEXT_ARGS: readonly string[] = Object.freeze(['-h', '-N', '-o', '%N|%T']);

/** One job line of `squeue -h -t all -o '%i|%j|%T|%u|%M|%N'`. */
export interface SlurmJobTextRow {
  /**
   * The job id as squeue prints it: `12`; `12_3` for a job array task; `12_[4-10%2]` for the
   * array tasks still pending together; `12+1` for a heterogeneous job component.
   */
  readonly id: string;
  /** The job name (may contain `|`, and may be empty). */
  readonly name: string;
  /** The job state as SLURM spells it, upper case: `PENDING`, `RUNNING`, `COMPLETED`, ... */
  readonly state: string;
  /** The owner's user name (or numeric uid when it has no name on the host running squeue). */
  readonly user: string;
  /** How long the job has run (or ran), in seconds, from the `%M` column; 0 for pending jobs. */
  readonly runtimeSeconds: number;
  /** The job's nodes as a SLURM host list (`n[1-3]`), `''` when it has none. */
  readonly nodes: string;
}

/** One node line of `sinfo -h -N -o '%N|%T'`. */
export interface SlurmNodeTextRow {
  /** The node name. */
  readonly name: string;
  /**
   * The long state as sinfo prints it, lower case, without suffix flags: `idle`, `mixed`,
   * `allocated`, `down`, `drained`, `draining`, `completing`, `unknown`, `power_down`, ... Note
   * that this differs from `sinfo --json` for drained nodes: the text says `drained`, the JSON
   * says `idle` with the flag `DRAIN`.
   */
  readonly state: string;
  /**
   * The suffix characters that followed the state, as printed (usually none or one): `*` not
   * responding, `~` powered off, `#` powering up, `!` power down pending, `%` powering down,
   * `$` maintenance reservation, `@` reboot requested, `^` reboot issued, `-` planned by the
   * backfill scheduler, `+` allocated and completing.
   */
  readonly flags: string;
}

/** Longest accepted job state, node state or elapsed-time field. */
const SHORT_FIELD_MAX_CHARS = 64;
/** A job id: the number, then an array task (`_3`, `_[1-5,7%2]`) or a het-job component (`+1`). */
const JOB_ID = /^([1-9][0-9]{0,9})(?:_(?:[0-9]{1,10}|\[[0-9][0-9,:%-]*\])|\+[0-9]{1,10})?$/;
const JOB_STATE = /^[A-Z][A-Z0-9_]*$/;
const NO_SPACE = /^[^\s|]+$/;
const HOST_LIST = /^[^\s|]*$/;
const NODE_NAME = /^[^\s|,[\]]+$/;
const NODE_STATE = /^([A-Za-z][A-Za-z_]*)([*~#!%$@^+-]*)$/;
/**
 * squeue's `%M` as SLURM's `secs2time_str` writes it (`M:SS`, `H:MM:SS`, `D-HH:MM:SS`), also with
 * a zero-padded leading part (`05:00`, `01:02:03`).
 */
const ELAPSED = /^(?:(?:([0-9]{1,7})-([0-9]{1,2})|([0-9]{1,2})):([0-9]{2})|([0-9]{1,2})):([0-9]{2})$/;
const UINT32_MAX = 0xffffffff;

/**
 * Parses the output of `squeue -h -t all -o '%i|%j|%T|%u|%M|%N'` (see {@link SQUEUE_TEXT_ARGS}),
 * the text fallback for `squeue --json`, into one row per job in squeue's order. Blank lines are
 * skipped.
 *
 * squeue does not escape `|`, so a job name may contain it: the name is everything between the
 * first field and the last four (none of which can contain `|`). A job name containing a newline
 * cannot be told apart from a broken line and is rejected.
 *
 * The elapsed time (`%M`) is read in the forms SLURM prints (`0:05`, `12:34`, `1:02:03`,
 * `2-03:04:05`). A pending job whose time is not in such a form (`INVALID`, `N/A`) counts as 0
 * seconds; for any other state that is an error, since the runtime would be made up.
 *
 * @throws SlurmParseError naming the line number when a line has fewer than six fields, a job id
 *   that is not in squeue's form, a state that is not an upper-case name, an empty or spaced user,
 *   a node list with spaces, an unreadable elapsed time (for a job that is not `PENDING`), or a
 *   field over its length limit ({@link SLURM_FIELD_MAX_CHARS}; {@link SLURM_HOSTLIST_MAX_CHARS}
 *   for the node list); or when the output is not a string or is over
 *   {@link SLURM_OUTPUT_MAX_CHARS}.
 */
export function parseSqueueText(text: string): SlurmJobTextRow[] {
  checkOutputText(SQUEUE_SOURCE, text);
  const jobs: SlurmJobTextRow[] = [];
  for (const { number, text: line } of outputLines(text)) {
    if (line.trim() === '') continue;
    jobs.push(readJobLine(line, `line ${number}`));
  }
  return jobs;
}

function readJobLine(line: string, where: string): SlurmJobTextRow {
  // The first separator ends the id; the last four begin state, user, time and nodes. Whatever
  // lies between the first and the fourth-from-last separator is the name, `|`s included.
  const first = line.indexOf('|');
  const cuts: number[] = [];
  let from = line.length;
  while (first !== -1 && cuts.length < 4) {
    const cut = line.lastIndexOf('|', from - 1);
    if (cut <= first) break;
    cuts.push(cut);
    from = cut;
  }
  const [nodesAt, timeAt, userAt, stateAt] = cuts;
  if (nodesAt === undefined || timeAt === undefined || userAt === undefined || stateAt === undefined) {
    throw new SlurmParseError(
      SQUEUE_SOURCE,
      `${where}: expected 6 '|'-separated fields (id|name|state|user|time|nodes), got ${preview(line)}`,
    );
  }
  const id = field(SQUEUE_SOURCE, where, 'job id', line.slice(0, first), SLURM_FIELD_MAX_CHARS);
  const name = field(SQUEUE_SOURCE, where, 'job name', line.slice(first + 1, stateAt), SLURM_FIELD_MAX_CHARS);
  const state = field(
    SQUEUE_SOURCE,
    where,
    'job state',
    line.slice(stateAt + 1, userAt),
    SHORT_FIELD_MAX_CHARS,
  );
  const user = field(SQUEUE_SOURCE, where, 'user', line.slice(userAt + 1, timeAt), SLURM_FIELD_MAX_CHARS);
  const time = field(
    SQUEUE_SOURCE,
    where,
    'elapsed time',
    line.slice(timeAt + 1, nodesAt),
    SHORT_FIELD_MAX_CHARS,
  );
  const nodes = field(SQUEUE_SOURCE, where, 'node list', line.slice(nodesAt + 1), SLURM_HOSTLIST_MAX_CHARS);

  const idMatch = JOB_ID.exec(id);
  if (idMatch === null || Number(idMatch[1]) > UINT32_MAX) {
    throw new SlurmParseError(SQUEUE_SOURCE, `${where}: job id ${preview(id)} is not a SLURM job id`);
  }
  if (!JOB_STATE.test(state)) {
    throw new SlurmParseError(
      SQUEUE_SOURCE,
      `${where}: job state ${preview(state)} is not an upper-case state name`,
    );
  }
  if (!NO_SPACE.test(user)) {
    throw new SlurmParseError(SQUEUE_SOURCE, `${where}: user ${preview(user)} is empty or contains spaces`);
  }
  if (!HOST_LIST.test(nodes)) {
    throw new SlurmParseError(SQUEUE_SOURCE, `${where}: node list ${preview(nodes)} contains spaces`);
  }
  const elapsed = elapsedSeconds(time);
  // A pending job has not run; squeue prints `0:00` for it, but an odd value must not make the
  // whole listing unreadable. For any other state a made-up 0 would be a wrong runtime.
  if (elapsed === null && state !== 'PENDING') {
    throw new SlurmParseError(
      SQUEUE_SOURCE,
      `${where}: elapsed time ${preview(time)} of a ${state} job is not M:SS, H:MM:SS or D-HH:MM:SS`,
    );
  }
  return { id, name, state, user, runtimeSeconds: elapsed ?? 0, nodes };
}

/** Seconds of an elapsed time in SLURM's form, or `null` when `text` is not one. */
function elapsedSeconds(text: string): number | null {
  const match = ELAPSED.exec(text);
  if (match === null) return null;
  const [, days, dayHours, hours, minutesAfterHours, minutesAlone, seconds] = match;
  const h = Number(dayHours ?? hours ?? 0);
  const m = Number(minutesAfterHours ?? minutesAlone);
  const s = Number(seconds);
  // secs2time_str carries over at 60 s, 60 min and 24 h, so a larger part is not its output.
  if (s > 59 || m > 59 || h > 23) return null;
  return ((Number(days ?? 0) * 24 + h) * 60 + m) * 60 + s;
}

/**
 * Parses the output of `sinfo -h -N -o '%N|%T'` (see {@link SINFO_TEXT_ARGS}), the text fallback
 * for `sinfo --json`, into one row per node in sinfo's order. sinfo prints a node once per
 * partition it belongs to; it is returned once, from its first line. Blank lines are skipped.
 * The state is lower-cased and its suffix flags (`down*` → `down` and `*`) split off.
 *
 * @throws SlurmParseError naming the line number when a line is not exactly `name|state`, the name
 *   is empty, has spaces or is a host list (`n[1-3]`, `n1,n2`: sinfo was run without `-N`), the
 *   state is not a state name followed by flag characters, or a field is over its length limit;
 *   or when the output is not a string or is over {@link SLURM_OUTPUT_MAX_CHARS}.
 */
export function parseSinfoText(text: string): SlurmNodeTextRow[] {
  checkOutputText(SINFO_SOURCE, text);
  const nodes = new Map<string, SlurmNodeTextRow>();
  for (const { number, text: line } of outputLines(text)) {
    if (line.trim() === '') continue;
    const node = readNodeLine(line, `line ${number}`);
    if (!nodes.has(node.name)) nodes.set(node.name, node);
  }
  return [...nodes.values()];
}

function readNodeLine(line: string, where: string): SlurmNodeTextRow {
  const bar = line.indexOf('|');
  if (bar === -1 || line.indexOf('|', bar + 1) !== -1) {
    throw new SlurmParseError(
      SINFO_SOURCE,
      `${where}: expected 2 '|'-separated fields (name|state), got ${preview(line)}`,
    );
  }
  const name = field(SINFO_SOURCE, where, 'node name', line.slice(0, bar), SLURM_FIELD_MAX_CHARS);
  const rawState = field(SINFO_SOURCE, where, 'node state', line.slice(bar + 1), SHORT_FIELD_MAX_CHARS);
  if (!NODE_NAME.test(name)) {
    const why = /[,[\]]/.test(name)
      ? 'is a host list (was sinfo run without -N?)'
      : 'is empty or contains spaces';
    throw new SlurmParseError(SINFO_SOURCE, `${where}: node name ${preview(name)} ${why}`);
  }
  const match = NODE_STATE.exec(rawState);
  const state = match?.[1];
  if (match === null || state === undefined) {
    throw new SlurmParseError(
      SINFO_SOURCE,
      `${where}: node state ${preview(rawState)} is not a state name followed by flags (*~#!%$@^+-)`,
    );
  }
  return { name, state: state.toLowerCase(), flags: match[2] ?? '' };
}

/** `value`, unless it is longer than `maxChars`. */
function field(source: string, where: string, what: string, value: string, maxChars: number): string {
  if (value.length > maxChars) {
    throw new SlurmParseError(
      source,
      `${where}: ${what} is ${value.length} characters, more than the limit of ${maxChars}`,
    );
  }
  return value;
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
