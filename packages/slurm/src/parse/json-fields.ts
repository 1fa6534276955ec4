/**
 * Checked reads from untrusted JSON documents (the `--json` output of squeue and sinfo). Each
 * reader takes the command name (for the error's `source`) and the path of the field (for its
 * `detail`), and either returns a value of the promised type and range or throws
 * `SlurmParseError`. Fields are read as own properties only, so a key such as `constructor` or
 * `__proto__` never reaches `Object.prototype`. Nothing here recurses into a value, so deeply
 * nested input cannot exhaust the stack. Internal to the parse folder.
 */
import { SlurmParseError } from './errors.js';
import { checkOutputText } from './text-input.js';

/** A JSON object from `JSON.parse`, read through {@link ownField}. */
export type JsonObject = { readonly [key: string]: unknown };

/** SLURM's `NO_VAL` for 32-bit fields: "not set". */
export const SLURM_NO_VAL = 0xfffffffe;
/** SLURM's `INFINITE` for 32-bit fields: "unlimited". */
export const SLURM_INFINITE = 0xffffffff;
/** The largest 32-bit unsigned value. */
export const UINT32_MAX = 0xffffffff;
/** The latest epoch second accepted as a time: 9999-12-31T23:59:59Z. */
export const MAX_EPOCH_SECONDS = 253_402_300_799;

/** Parses `text` as JSON whose top level must be an object. */
export function parseJsonObject(source: string, text: unknown): JsonObject {
  checkOutputText(source, text);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SlurmParseError(source, `not valid JSON (${clip(reason, 200)})`, { cause: error });
  }
  return readObject(source, '(top level)', document);
}

/** True for a JSON object (not `null`, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value of `obj`'s own property `key`, or `undefined` when it has none. */
export function ownField(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Throws the standard "expected X, got Y" error for the field at `path`. */
export function fail(source: string, path: string, expected: string, value: unknown): never {
  throw new SlurmParseError(source, `${path}: expected ${expected}, got ${preview(value)}`);
}

/** `value` as an object, or a throw naming `path`. */
export function readObject(source: string, path: string, value: unknown): JsonObject {
  if (!isJsonObject(value)) fail(source, path, 'an object', value);
  return value;
}

/** `value` as an array of at most `maxItems` entries, or a throw naming `path`. */
export function readArray(
  source: string,
  path: string,
  value: unknown,
  maxItems: number,
): readonly unknown[] {
  if (!Array.isArray(value)) fail(source, path, 'an array', value);
  if (value.length > maxItems) {
    throw new SlurmParseError(source, `${path}: ${value.length} entries, more than the limit of ${maxItems}`);
  }
  return value;
}

/** The required string field `key` of `obj` (at `path`), at most `maxChars` long. */
export function readString(
  source: string,
  obj: JsonObject,
  path: string,
  key: string,
  maxChars: number,
): string {
  return checkString(source, `${path}.${key}`, ownField(obj, key), maxChars);
}

/** The string field `key` of `obj`, or `fallback` when it is `null` or absent. */
export function readStringOr(
  source: string,
  obj: JsonObject,
  path: string,
  key: string,
  maxChars: number,
  fallback: string,
): string {
  const value = ownField(obj, key);
  if (value === null || value === undefined) return fallback;
  return checkString(source, `${path}.${key}`, value, maxChars);
}

/** The required integer field `key` of `obj`, within `min..max` (inclusive). */
export function readInteger(
  source: string,
  obj: JsonObject,
  path: string,
  key: string,
  min: number,
  max: number,
): number {
  return checkInteger(source, `${path}.${key}`, ownField(obj, key), min, max);
}

/**
 * The integer field `key` of `obj` within `min..max`, or `null` when it is `null`, absent, or one
 * of `nullValues` (SLURM's sentinels such as `NO_VAL`).
 */
export function readNullableInteger(
  source: string,
  obj: JsonObject,
  path: string,
  key: string,
  min: number,
  max: number,
  nullValues: readonly number[] = [],
): number | null {
  const value = ownField(obj, key);
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' && nullValues.includes(value)) return null;
  return checkInteger(source, `${path}.${key}`, value, min, max);
}

/** An epoch-seconds time field: `null` when 0, `null` or absent. */
export function readEpochSeconds(source: string, obj: JsonObject, path: string, key: string): number | null {
  const value = readNullableInteger(source, obj, path, key, 0, MAX_EPOCH_SECONDS);
  return value === 0 ? null : value;
}

/**
 * The list-of-strings field `key` of `obj` (`[]` when `null` or absent): at most `maxItems`
 * entries of at most `maxChars` each.
 */
export function readStringList(
  source: string,
  obj: JsonObject,
  path: string,
  key: string,
  maxItems: number,
  maxChars: number,
): string[] {
  const value = ownField(obj, key);
  if (value === null || value === undefined) return [];
  const list = readArray(source, `${path}.${key}`, value, maxItems);
  return list.map((item, i) => checkString(source, `${path}.${key}[${i}]`, item, maxChars));
}

/**
 * Throws when the document's top-level `errors` list (the openapi envelope of squeue and sinfo
 * `--json`) is not empty, quoting what SLURM said. A missing or `null` list counts as empty.
 */
export function throwOnReportedErrors(source: string, document: JsonObject): void {
  const value = ownField(document, 'errors');
  if (value === null || value === undefined) return;
  if (!Array.isArray(value)) fail(source, 'errors', 'an array', value);
  if (value.length === 0) return;
  const shown = value.slice(0, 5).map(describeReportedError);
  const more = value.length > shown.length ? ` (and ${value.length - shown.length} more)` : '';
  throw new SlurmParseError(source, `SLURM reported errors: ${shown.join(' | ')}${more}`);
}

function describeReportedError(entry: unknown): string {
  if (typeof entry === 'string') return clip(entry, 300);
  if (!isJsonObject(entry)) return preview(entry);
  const parts: string[] = [];
  for (const key of ['description', 'error', 'source']) {
    const text = ownField(entry, key);
    if (typeof text === 'string' && text !== '') parts.push(clip(text, 300));
  }
  for (const key of ['error_number', 'errno']) {
    const code = ownField(entry, key);
    if (typeof code === 'number') parts.push(`${key} ${code}`);
  }
  return parts.length > 0 ? parts.join('; ') : preview(entry);
}

function checkString(source: string, path: string, value: unknown, maxChars: number): string {
  if (typeof value !== 'string') fail(source, path, 'a string', value);
  if (value.length > maxChars) {
    throw new SlurmParseError(
      source,
      `${path}: ${value.length} characters, more than the limit of ${maxChars}`,
    );
  }
  return value;
}

function checkInteger(source: string, path: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(source, path, `an integer in ${min}..${max}`, value);
  }
  // JSON `-0` parses to -0; report it as 0.
  return value === 0 ? 0 : value;
}

/** A short, single-line description of an untrusted value for error messages. */
export function preview(value: unknown): string {
  if (value === undefined) return 'nothing (field absent)';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(clip(value, 60));
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
