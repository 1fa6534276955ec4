/**
 * A strict parser of the Prometheus text exposition format (0.0.4), so the tests read `/metrics`
 * the way a scraper does instead of grepping it: `# HELP` and `# TYPE` lines, samples
 * `name{label="value",...} value [timestamp]` with escaped label values, histogram and summary
 * suffixes (`_bucket`, `_sum`, `_count`) folded into their family. Any line it cannot read, a
 * sample of a family without a `# TYPE`, or a family declared twice throws — a scraper would
 * reject the page too.
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family. */
export interface Family {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  readonly help: string;
  readonly samples: Sample[];
}

/** A parsed exposition. */
export interface Exposition {
  readonly families: ReadonlyMap<string, Family>;
  /** Every sample, in order. */
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // Prometheus reads values with Go's ParseFloat, which takes NaN in any case (prom-client
  // writes `Nan`).
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`bad sample value ${JSON.stringify(text)} in: ${line}`);
  return Number(text);
}

/** Reads `{a="x",b="y"}` starting at `text[0] === '{'`; returns the labels and the rest. */
function parseLabels(text: string, line: string): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 1;
  for (let guard = 0; guard <= text.length; guard++) {
    if (text[i] === '}') return [labels, text.slice(i + 1)];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`);
    if (name in labels) throw new Error(`label ${name} repeated in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      const c = text[j];
      if (c === '\\') {
        const next = text[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`bad escape in label value in: ${line}`);
        j++;
      } else value += c;
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`expected , or } after a label in: ${line}`);
  }
  throw new Error(`bad labels in: ${line}`);
}

/** The family a sample name belongs to, among the declared ones. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(name);
  if (exact !== undefined) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const family = families.get(name.slice(0, -suffix.length));
    if (family !== undefined && (family.type === 'histogram' || family.type === 'summary')) return family;
  }
  return undefined;
}

/** Parses an exposition; throws on the first line a scraper would reject. */
export function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (match === null) continue; // a plain comment
      const [, kind, name = '', rest = ''] = match;
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      if (kind === 'HELP') {
        if (help.has(name)) throw new Error(`HELP for ${name} given twice`);
        help.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
        continue;
      }
      if (!TYPES.has(rest)) throw new Error(`bad metric type in: ${line}`);
      if (families.has(name)) throw new Error(`TYPE for ${name} given twice`);
      families.set(name, { name, type: rest as Family['type'], help: help.get(name) ?? '', samples: [] });
      continue;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (name === undefined) throw new Error(`bad sample line: ${line}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) [labels, rest] = parseLabels(rest, line);
    const parts = rest.trim().split(/\s+/);
    if (!/^\s/.test(rest) || parts.length < 1 || parts.length > 2)
      throw new Error(`bad sample line: ${line}`);
    const value = parseValue(parts[0] ?? '', line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`bad timestamp in: ${line}`);
    const family = familyOf(name, families);
    if (family === undefined)
      throw new Error(`sample of an undeclared family (no # TYPE before it): ${line}`);
    const sample: Sample = { name, labels, value };
    family.samples.push(sample);
    samples.push(sample);
  }
  for (const [name, text] of help) {
    const family = families.get(name);
    if (family !== undefined && family.help === '') families.set(name, { ...family, help: text });
  }
  return { families, samples };
}

/** The value of the sample `name` whose labels are exactly `labels`, or undefined. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).sort();
  const found = exposition.samples.find((sample) => {
    if (sample.name !== name) return false;
    const have = Object.entries(sample.labels).sort();
    return (
      have.length === wanted.length && have.every(([k, v], i) => wanted[i]?.[0] === k && wanted[i]?.[1] === v)
    );
  });
  return found?.value;
}

/** Every sample of `name` as `labelValue → value`, keyed by the one label `label`. */
export function byLabel(exposition: Exposition, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of exposition.samples) {
    const key = sample.labels[label];
    if (sample.name === name && key !== undefined) out[key] = sample.value;
  }
  return out;
}
