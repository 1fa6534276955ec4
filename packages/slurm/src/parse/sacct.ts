/**
 * `sacct -P -n -o Field1,Field2,...`: accounting records as pipe-separated text. This, not
 * `sacct --json`, is where exit codes come from: in SLURM 22.05 the JSON reports `SUCCESS/0`
 * for a job that ran `exit 3`, while the parsable text says `3:0`.
 */
import { SlurmParseError } from './errors.js';
import { SLURM_HOSTLIST_MAX_CHARS } from './limits.js';
import { checkOutputText, outputLines } from './text-input.js';

export { parseExitCode } from './exit-code.js';

const SOURCE = 'sacct -P';
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*(%\d+)?$/;
const FIELD_NAME_MAX_CHARS = 64;

/**
 * Parses `sacct -P -o <fields>` output (with or without `-n`/`--noheader`) into one record per
 * line, keyed by the names in `fields`, values exactly as printed (`'Unknown'`, `'None assigned'`,
 * `'CANCELLED by 0'`, `'3:0'`). Pass the same list, in the same order, as given to `-o`. Jobs and
 * their steps (`2`, `2.batch`, `2.extern`) are separate records, in sacct's order.
 *
 * A header line (the field names, as sacct prints it without `-n`; compared ignoring case and
 * `%width` suffixes) is skipped. The trailing `|` of `sacct -p` is accepted. Times are local time
 * of the host that ran sacct, without a zone, so they are returned untouched.
 *
 * @example
 * ```ts
 * const rows = parseSacctParsable(stdout, ['JobID', 'State', 'ExitCode']);
 * const failed = rows.filter((r) => parseExitCode(r.ExitCode).code !== 0);
 * ```
 *
 * @param fields - the `-o` field names, e.g. `['JobID', 'State', 'ExitCode']`.
 * @throws SlurmParseError when a line does not have exactly one value per field (a value that
 *   itself contains `|` makes this happen too: sacct does not escape it), a value is over the
 *   length limit, or the output is over the size limit.
 * @throws RangeError when `fields` is empty, has a repeated name, or a name that is not a sacct
 *   field name (letters, digits, `_`, optional `%width`).
 */
export function parseSacctParsable<const Field extends string>(
  text: string,
  fields: readonly Field[],
): Record<Field, string>[] {
  checkFields(fields);
  checkOutputText(SOURCE, text);
  const records: Record<Field, string>[] = [];
  // `sacct -p` ends every line with '|'; decided once, from the first record, then required of all.
  let trailingPipe: boolean | null = null;
  // Blank lines are held back: at the end of the output they are ignored, before a record they
  // are records themselves (and then fail the field count unless there is a single field).
  let blankFrom = 0;
  let blankCount = 0;
  const readRecord = (number: number, line: string): void => {
    const values = splitAtPipes(line, fields.length + 1);
    const endsWithPipe = values.length === fields.length + 1 && values[fields.length] === '';
    trailingPipe ??= endsWithPipe;
    if (values.length !== fields.length + (trailingPipe ? 1 : 0) || trailingPipe !== endsWithPipe) {
      const form = trailingPipe ? ", each followed by '|' (sacct -p)" : '';
      const got = values.length > fields.length + 1 ? `more than ${fields.length + 1}` : `${values.length}`;
      throw new SlurmParseError(
        SOURCE,
        `line ${number}: expected ${fields.length} '|'-separated values${form} (${fields.join(',')}), got ${got} pieces`,
      );
    }
    const entries = fields.map((field, i): [Field, string] => {
      const value = values[i] ?? '';
      if (value.length > SLURM_HOSTLIST_MAX_CHARS) {
        throw new SlurmParseError(
          SOURCE,
          `line ${number}: ${field} is ${value.length} characters, more than the limit of ${SLURM_HOSTLIST_MAX_CHARS}`,
        );
      }
      return [field, value];
    });
    records.push(Object.fromEntries(entries) as Record<Field, string>);
  };
  for (const { number, text: line } of outputLines(text)) {
    if (number === 1 && isHeader(line, fields)) continue;
    if (line === '') {
      if (blankCount++ === 0) blankFrom = number;
      continue;
    }
    for (let i = 0; i < blankCount; i++) readRecord(blankFrom + i, '');
    blankCount = 0;
    readRecord(number, line);
  }
  return records;
}

/** The `|`-separated pieces of `line`, but at most `limit + 1` (the last then holds the rest). */
function splitAtPipes(line: string, limit: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (pieces.length < limit) {
    const bar = line.indexOf('|', start);
    if (bar === -1) break;
    pieces.push(line.slice(start, bar));
    start = bar + 1;
  }
  pieces.push(line.slice(start));
  return pieces;
}

/** True when `line` is sacct's header for `fields` (names compared ignoring case and `%width`). */
function isHeader(line: string, fields: readonly string[]): boolean {
  const names = splitAtPipes(line, fields.length + 1);
  if (names.length === fields.length + 1 && names[fields.length] === '') names.pop();
  return (
    names.length === fields.length && names.every((name, i) => bareName(name) === bareName(fields[i] ?? ''))
  );
}

function checkFields(fields: readonly string[]): void {
  if (!Array.isArray(fields) || fields.length === 0) throw new RangeError('sacct fields: give at least one');
  const seen = new Set<string>();
  for (const field of fields) {
    if (typeof field !== 'string' || field.length > FIELD_NAME_MAX_CHARS || !FIELD_NAME.test(field)) {
      throw new RangeError(`sacct fields: ${JSON.stringify(field)} is not a sacct field name`);
    }
    const bare = bareName(field);
    if (seen.has(bare)) throw new RangeError(`sacct fields: ${JSON.stringify(field)} is given twice`);
    seen.add(bare);
  }
}

/** A field name without its `%width` suffix, lower case: how header names are compared. */
function bareName(field: string): string {
  return field.replace(/%\d+$/, '').toLowerCase();
}
