/**
 * A small JSON Schema (2020-12) checker for the OpenAPI test: enough to validate real responses
 * against the schemas in the served document's `components`, the way a client generated from
 * that document would read them. It knows exactly the keywords zod emits for the dashboard's
 * schemas and throws on any other, so a new keyword cannot pass unchecked; `$ref`s are resolved
 * as JSON pointers inside the document.
 */

type Schema = Record<string, unknown>;

/** Keywords that only annotate. */
const ANNOTATIONS = new Set(['$schema', '$id', 'description', 'title', 'default', 'examples', 'id']);
const KNOWN = new Set([
  ...ANNOTATIONS,
  '$ref',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'anyOf',
  'oneOf',
  'allOf',
  'const',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
]);

/** Resolves a local `$ref` (`#/a/b`) in `document`; throws if it does not resolve. */
export function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) throw new Error(`$ref ${ref} is not local to the document`);
  let node: unknown = document;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null || !(key in node))
      throw new Error(`$ref ${ref} does not resolve`);
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/** Every way `value` fails `schema` (empty when it is valid). */
export function validate(
  document: unknown,
  schema: unknown,
  value: unknown,
  path = '$',
  depth = 0,
): string[] {
  if (depth > 64) throw new Error(`schema nesting too deep at ${path}`);
  if (schema === true || (typeof schema === 'object' && schema !== null && Object.keys(schema).length === 0))
    return [];
  if (schema === false) return [`${path}: no value is allowed here`];
  if (typeof schema !== 'object' || schema === null)
    throw new Error(`${path}: not a schema: ${JSON.stringify(schema)}`);
  const s = schema as Schema;
  for (const key of Object.keys(s))
    if (!KNOWN.has(key)) throw new Error(`${path}: unsupported keyword ${key}`);
  const errors: string[] = [];
  const sub = (child: unknown, v: unknown, p: string): string[] => validate(document, child, v, p, depth + 1);

  if (typeof s.$ref === 'string') errors.push(...sub(resolvePointer(document, s.$ref), value, path));
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => typeMatches(value, t)))
      return [...errors, `${path}: expected ${types.join('|')}, got ${typeOf(value)}`];
  }
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value))
    errors.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${path}: below ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${path}: above ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum)
      errors.push(`${path}: not above ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum)
      errors.push(`${path}: not below ${s.exclusiveMaximum}`);
  }
  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && value.length < s.minLength)
      errors.push(`${path}: shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && value.length > s.maxLength)
      errors.push(`${path}: longer than ${s.maxLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value))
      errors.push(`${path}: does not match ${s.pattern}`);
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems)
      errors.push(`${path}: fewer than ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && value.length > s.maxItems)
      errors.push(`${path}: more than ${s.maxItems} items`);
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
    value.forEach((item, i) => {
      if (i < prefix.length) errors.push(...sub(prefix[i], item, `${path}[${i}]`));
      else if (s.items !== undefined) errors.push(...sub(s.items, item, `${path}[${i}]`));
    });
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const properties = (s.properties ?? {}) as Record<string, unknown>;
    for (const key of (s.required ?? []) as string[])
      if (!(key in object)) errors.push(`${path}: missing required ${key}`);
    for (const [key, item] of Object.entries(object)) {
      if (s.propertyNames !== undefined) errors.push(...sub(s.propertyNames, key, `${path}{${key}}`));
      if (key in properties) errors.push(...sub(properties[key], item, `${path}.${key}`));
      else if (s.additionalProperties !== undefined)
        errors.push(...sub(s.additionalProperties, item, `${path}.${key}`));
    }
  }
  if (Array.isArray(s.allOf)) for (const part of s.allOf) errors.push(...sub(part, value, path));
  if (Array.isArray(s.anyOf) && !s.anyOf.some((part) => sub(part, value, path).length === 0))
    errors.push(`${path}: matches none of the ${s.anyOf.length} anyOf alternatives`);
  if (Array.isArray(s.oneOf) && s.oneOf.filter((part) => sub(part, value, path).length === 0).length !== 1)
    errors.push(`${path}: does not match exactly one oneOf alternative`);
  return errors;
}
