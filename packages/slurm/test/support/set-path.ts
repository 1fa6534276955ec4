// Copies a model and replaces one value deep inside it, for tests that break one field at a time.

/** One step into a model: a property name or an array index. */
export type PathStep = string | number;

/** A deep copy of `model` with the value at `path` replaced by `value` (`undefined` deletes it). */
export function withValue<T>(model: T, path: readonly PathStep[], value: unknown): T {
  const copy = structuredClone(model) as unknown;
  let target = copy as Record<PathStep, unknown>;
  for (const step of path.slice(0, -1)) {
    const next = target[step];
    if (typeof next !== 'object' || next === null)
      throw new Error(`no object at ${String(step)} in ${path.join('.')}`);
    target = next as Record<PathStep, unknown>;
  }
  const last = path[path.length - 1];
  if (last === undefined) return value as T;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy as T;
}

/** `path` written the way SlurmConfigError names fields: `nodes[0].gpus.files[1]`. */
export function fieldName(path: readonly PathStep[]): string {
  return path
    .map((step, i) => (typeof step === 'number' ? `[${step}]` : i === 0 ? step : `.${step}`))
    .join('');
}
