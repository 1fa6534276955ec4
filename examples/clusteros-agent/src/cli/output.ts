/** Plain-text output for people: titled key/value blocks and column tables, no colours. */
import { oneLine } from './http.js';

/** Where a command writes (a `process.stdout`-like stream, or a test's collector). */
export interface Writer {
  /** Writes `text` as is. */
  write(text: string): unknown;
}

/** A value as shown in a table: one line, control characters removed. */
export const cell = (value: string | number | boolean | null | undefined): string =>
  value === null || value === undefined
    ? '-'
    : typeof value === 'boolean'
      ? value
        ? 'yes'
        : 'no'
      : oneLine(String(value), 200);

/** A titled block of `key  value` lines, keys padded to one column. */
export function block(title: string, rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([key]) => key.length));
  return `${title}\n${rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`).join('\n')}\n`;
}

/** A table with a header row; every column padded to its widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** `bytes` in binary units with one decimal (`15.6 GiB`). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
