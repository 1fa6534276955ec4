/**
 * A linearizability checker for KV histories, used by Raft's simulation and process tests.
 *
 * The model is a register per key holding a string, or `null` when absent. Operations:
 * - `get` → `output.value` must be the current value (`null`: absent);
 * - `put` → sets `input.value` (a put that returned `ok: false` definitely did not happen and is
 *   ignored);
 * - `cas` → succeeds iff the current value equals `input.expected` (`null`: absent), then sets
 *   `input.value`; `output.ok` must match the outcome;
 * - `delete` → makes the key absent; if `output.ok` is given it says whether the key existed.
 *
 * Operations with `return: undefined` never returned (timed out, crashed client): they may have
 * taken effect at any point after their call, or not at all. Taking no effect is the same as
 * taking effect after everything else, so they are treated as returning at +∞ with an unknown
 * output. Their outcome is still decided by the model (a pending cas succeeds or fails according
 * to the state at its linearization point), which keeps the model deterministic.
 *
 * Search: each key is checked on its own (linearizability is compositional: a history is
 * linearizable iff every per-key sub-history is). Per key, the Wing–Gong backtracking search
 * runs over the call/return events in time order, trying to linearize a pending call before the
 * first return still outstanding, and memoises every (set of linearized operations, model state)
 * pair already explored — two paths reaching the same pair have the same future, so the second
 * is cut. The total number of search steps is bounded; when the bound is hit the answer is
 * `{ ok: 'unknown' }` rather than a hang.
 *
 * On failure the checker also finds, by bisection over event positions, the shortest prefix of
 * the key's history that is already non-linearizable (ops still running at the cut become
 * pending), names the operation whose return breaks it, and lists the writes around it.
 */

/** One operation's input. */
export interface KvOpInput {
  /** The operation. */
  readonly op: 'get' | 'put' | 'cas' | 'delete';
  /** The key. */
  readonly key: string;
  /** For `put` and `cas`: the value written. */
  readonly value?: string;
  /** For `cas`: the value required (`null`: the key must be absent). */
  readonly expected?: string | null;
}

/** One operation's observed output (ignored for operations that never returned). */
export interface KvOpOutput {
  /** For `get`: the value read (`null`: absent; omitted: not observed). */
  readonly value?: string | null;
  /** For `cas`: whether it succeeded; for `delete`: whether the key existed; for `put`: `false` = not applied. */
  readonly ok?: boolean;
}

/** One operation of a history. Times are any numbers on one clock (real or simulated). */
export interface KvOperation {
  /** Who issued it (informational; used in explanations). */
  readonly client: string | number;
  /** When it was invoked. */
  readonly call: number;
  /** When it returned, or `undefined` if it never did (it may or may not have taken effect). */
  readonly return: number | undefined;
  /** What was asked. */
  readonly input: KvOpInput;
  /** What came back. */
  readonly output?: KvOpOutput;
}

/** Options of {@link checkLinearizability}. */
export interface LinearizabilityOptions {
  /** Search steps allowed over the whole check before answering `unknown`. Default 2,000,000. */
  readonly maxSteps?: number;
  /** Compute `minimalPrefix` on failure (a few extra searches). Default true. */
  readonly minimalPrefix?: boolean;
}

/** The checker's verdict. */
export type LinearizabilityResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** The key whose sub-history is not linearizable. */
      readonly key: string;
      /** What went wrong, in words. */
      readonly explanation: string;
      /**
       * The shortest prefix (by time) of that key's history that is already not linearizable,
       * in call order; operations still running at the cut appear with `return: undefined`.
       */
      readonly minimalPrefix?: readonly KvOperation[];
    }
  | {
      readonly ok: 'unknown';
      /** The key whose search ran out of budget. */
      readonly key: string;
      /** Why no verdict was reached. */
      readonly explanation: string;
    };

/** Default search budget (steps over the whole check). */
export const DEFAULT_MAX_STEPS = 2_000_000;

type State = string | null;
const FAIL = Symbol('fail');

/** An operation prepared for the search. */
interface Prepared {
  readonly op: KvOperation;
  readonly call: number;
  /** +∞ for pending operations. */
  readonly ret: number;
  readonly pending: boolean;
}

function step(state: State, p: Prepared): State | typeof FAIL {
  const { input } = p.op;
  const output = p.pending ? undefined : p.op.output;
  switch (input.op) {
    case 'get':
      return output?.value !== undefined && output.value !== state ? FAIL : state;
    case 'put':
      return input.value ?? null;
    case 'delete':
      return output?.ok !== undefined && output.ok !== (state !== null) ? FAIL : null;
    case 'cas': {
      const success = state === (input.expected ?? null);
      if (output?.ok !== undefined && output.ok !== success) return FAIL;
      return success ? (input.value ?? null) : state;
    }
  }
}

function validate(op: KvOperation, i: number): void {
  const where = `history[${i}]`;
  if (typeof op.call !== 'number' || Number.isNaN(op.call))
    throw new TypeError(`${where}: call must be a number`);
  if (op.return !== undefined && (typeof op.return !== 'number' || !(op.return >= op.call))) {
    throw new TypeError(`${where}: return must be undefined or a number >= call`);
  }
  const { input } = op;
  if (!['get', 'put', 'cas', 'delete'].includes(input.op))
    throw new TypeError(`${where}: unknown op ${input.op}`);
  if ((input.op === 'put' || input.op === 'cas') && typeof input.value !== 'string') {
    throw new TypeError(`${where}: ${input.op} needs a string value`);
  }
  if (input.op === 'cas' && input.expected === undefined) throw new TypeError(`${where}: cas needs expected`);
}

/**
 * Drops operations that cannot matter: gets that never returned (they change nothing and were
 * observed by no one) and puts that returned `ok: false` (they definitely did not happen).
 */
function prepare(ops: readonly KvOperation[]): Prepared[] {
  // Values some operation could ever have stored, and values some operation depends on.
  const writable = new Set<string>();
  for (const op of ops)
    if (op.input.op !== 'get' && op.input.value !== undefined) writable.add(op.input.value);
  const observed = new Set<string>();
  let failedCasThatMatters = false;
  // A delete's answer (whether there was something to delete) observes any earlier write.
  let deletes = false;
  for (const op of ops) {
    if (op.input.op === 'delete') deletes = true;
    if (op.input.op === 'get' && op.return !== undefined && typeof op.output?.value === 'string') {
      observed.add(op.output.value);
    }
    if (op.input.op === 'cas' && typeof op.input.expected === 'string') observed.add(op.input.expected);
    if (
      op.input.op === 'cas' &&
      op.return !== undefined &&
      op.output?.ok === false &&
      mayMatter(op, writable)
    ) {
      failedCasThatMatters = true;
    }
  }
  const out: Prepared[] = [];
  for (const op of ops) {
    const pending = op.return === undefined;
    if (pending && op.input.op === 'get') continue;
    if (!pending && op.input.op === 'put' && op.output?.ok === false) continue;
    // A failed cas expecting a value nobody ever wrote fails in every state: it constrains nothing.
    if (!pending && op.input.op === 'cas' && op.output?.ok === false && !mayMatter(op, writable)) continue;
    // A write of unknown outcome whose value nobody read or expected can only matter by making
    // some failed cas fail or some delete find something; without those, leaving it out (one
    // of its allowed outcomes) changes no verdict, and it spares the search 2^pending orders.
    if (
      pending &&
      op.input.op !== 'get' &&
      op.input.value !== undefined &&
      !observed.has(op.input.value) &&
      !failedCasThatMatters &&
      !deletes
    ) {
      continue;
    }
    out.push({ op, call: op.call, ret: op.return ?? Number.POSITIVE_INFINITY, pending });
  }
  return out;
}

/** Whether a failed cas could have failed only because of some state (its expectation was ever possible). */
function mayMatter(op: KvOperation, writable: ReadonlySet<string>): boolean {
  const expected = op.input.expected;
  return expected === null || expected === undefined || writable.has(expected);
}

type SearchOutcome = 'ok' | 'fail' | 'unknown';

interface Budget {
  steps: number;
  readonly max: number;
}

/** Events in time order; at equal times calls come first, so touching intervals count as concurrent. */
function events(ops: readonly Prepared[]): { op: number; call: boolean; time: number }[] {
  const list: { op: number; call: boolean; time: number }[] = [];
  ops.forEach((p, i) => {
    list.push({ op: i, call: true, time: p.call });
    list.push({ op: i, call: false, time: p.ret });
  });
  list.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  return list;
}

/** The Wing–Gong search with memoisation over one key's operations. */
function search(ops: readonly Prepared[], budget: Budget): SearchOutcome {
  const n = ops.length;
  if (n === 0) return 'ok';
  // Quick refusal: a completed read of a value nobody ever wrote cannot be explained.
  const written = new Set<string>();
  for (const p of ops)
    if (p.op.input.value !== undefined && p.op.input.op !== 'get') written.add(p.op.input.value);
  for (const p of ops) {
    const v = p.pending ? undefined : p.op.output?.value;
    if (p.op.input.op === 'get' && typeof v === 'string' && !written.has(v)) return 'fail';
  }

  // A doubly linked list of events with sentinel 0; node i + 1 is event i.
  const evs = events(ops);
  const size = evs.length + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const opOf = new Int32Array(size);
  const isCall = new Uint8Array(size);
  const returnNode = new Int32Array(n);
  for (let i = 0; i < size; i++) {
    next[i] = (i + 1) % size;
    prev[i] = (i - 1 + size) % size;
  }
  evs.forEach((e, i) => {
    opOf[i + 1] = e.op;
    isCall[i + 1] = e.call ? 1 : 0;
    if (!e.call) returnNode[e.op] = i + 1;
  });
  const at = (a: Int32Array, i: number): number => a[i] ?? 0;
  const unlink = (x: number): void => {
    next[at(prev, x)] = at(next, x);
    prev[at(next, x)] = at(prev, x);
  };
  const relink = (x: number): void => {
    next[at(prev, x)] = x;
    prev[at(next, x)] = x;
  };

  const words = new Uint32Array(Math.ceil(n / 32));
  const flip = (op: number): void => {
    const w = op >>> 5;
    words[w] = (words[w] ?? 0) ^ (1 << (op & 31));
  };
  const memo = new Set<string>();
  const memoKey = (state: State): string => {
    let key = state === null ? '\u0000' : `\u0001${state}\u0000`;
    for (const w of words) key += String.fromCharCode(w & 0xffff, w >>> 16);
    return key;
  };

  const stackNode: number[] = [];
  const stackState: State[] = [];
  let state: State = null;
  let node = at(next, 0);
  while (at(next, 0) !== 0) {
    if (++budget.steps > budget.max) return 'unknown';
    if (isCall[node] === 1) {
      const op = at(opOf, node);
      const p = ops[op];
      const after: State | typeof FAIL = p === undefined ? FAIL : step(state, p);
      if (after !== FAIL) {
        flip(op);
        const key = memoKey(after);
        if (!memo.has(key)) {
          memo.add(key);
          stackNode.push(node);
          stackState.push(state);
          state = after;
          // Lift the call and its return out of the list; relinked in reverse order on backtrack.
          unlink(node);
          unlink(at(returnNode, op));
          node = at(next, 0);
          continue;
        }
        flip(op);
      }
      node = at(next, node);
    } else {
      // An operation returned before we could linearize it here: undo the last choice.
      const back = stackNode.pop();
      if (back === undefined) return 'fail';
      state = stackState.pop() ?? null;
      const op = at(opOf, back);
      flip(op);
      relink(at(returnNode, op));
      relink(back);
      node = at(next, back);
    }
  }
  return 'ok';
}

function show(v: string | null | undefined): string {
  return v === undefined ? '?' : v === null ? 'absent' : JSON.stringify(v);
}

function describe(op: KvOperation): string {
  const { input } = op;
  const when = `[${op.call}, ${op.return ?? '∞'}]`;
  const who = `client ${String(op.client)}`;
  const pending = op.return === undefined;
  switch (input.op) {
    case 'get':
      return `get by ${who} ${when} → ${pending ? 'no reply' : show(op.output?.value)}`;
    case 'put':
      return `put ${show(input.value)} by ${who} ${when}${pending ? ' (no reply)' : ''}`;
    case 'delete':
      return `delete by ${who} ${when}${pending ? ' (no reply)' : op.output?.ok === undefined ? '' : ` → existed=${op.output.ok}`}`;
    case 'cas':
      return `cas ${show(input.expected)} → ${show(input.value)} by ${who} ${when} → ${pending ? 'no reply' : op.output?.ok === undefined ? '?' : op.output.ok ? 'ok' : 'failed'}`;
  }
}

/** Keeps the operations called before a cut; those not returned before it become pending. */
function truncate(
  ops: readonly KvOperation[],
  calls: Set<KvOperation>,
  returns: Set<KvOperation>,
): KvOperation[] {
  const out: KvOperation[] = [];
  for (const op of ops) {
    if (!calls.has(op)) continue;
    out.push(returns.has(op) ? op : { ...op, return: undefined });
  }
  return out;
}

function explain(key: string, ops: readonly KvOperation[], culprit: KvOperation | undefined): string {
  if (culprit === undefined)
    return `key ${JSON.stringify(key)}: no order of its ${ops.length} operations is consistent with their results`;
  const lines = [`key ${JSON.stringify(key)}: no linearization explains ${describe(culprit)}`];
  const writes = ops.filter((o) => o !== culprit && o.input.op !== 'get');
  if (culprit.input.op === 'get' && typeof culprit.output?.value === 'string') {
    const v = culprit.output.value;
    if (!writes.some((w) => w.input.value === v))
      lines.push(`  the value ${show(v)} was never written to this key`);
  }
  const before = writes.filter((w) => w.return !== undefined && w.return < culprit.call).slice(-3);
  const concurrent = writes.filter(
    (w) =>
      !(w.return !== undefined && w.return < culprit.call) &&
      w.call <= (culprit.return ?? Number.POSITIVE_INFINITY),
  );
  lines.push(
    before.length > 0
      ? `  last writes completed before its call: ${before.map(describe).join('; ')}`
      : '  no write completed before its call (the key was absent)',
  );
  if (concurrent.length > 0)
    lines.push(`  writes concurrent with it: ${concurrent.slice(0, 5).map(describe).join('; ')}`);
  return lines.join('\n');
}

/**
 * Checks a KV history for linearizability, key by key.
 * @throws {TypeError} on a malformed history (a bug in the test, not in the system).
 */
export function checkLinearizability(
  history: readonly KvOperation[],
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  history.forEach(validate);
  const byKey = new Map<string, KvOperation[]>();
  for (const op of history) {
    const list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, [op]);
    else list.push(op);
  }
  const budget: Budget = { steps: 0, max: options.maxSteps ?? DEFAULT_MAX_STEPS };
  for (const key of [...byKey.keys()].sort()) {
    const ops = (byKey.get(key) ?? []).slice().sort((a, b) => a.call - b.call);
    const outcome = search(prepare(ops), budget);
    if (outcome === 'unknown') {
      return {
        ok: 'unknown',
        key,
        explanation: `key ${JSON.stringify(key)}: search budget of ${budget.max} steps exhausted over ${ops.length} operations`,
      };
    }
    if (outcome === 'fail') {
      if (options.minimalPrefix === false)
        return { ok: false, key, explanation: explain(key, ops, undefined) };
      const minimal = minimalPrefix(ops, budget);
      if (minimal === undefined) return { ok: false, key, explanation: explain(key, ops, undefined) };
      return {
        ok: false,
        key,
        explanation: explain(key, minimal.ops, minimal.culprit),
        minimalPrefix: minimal.ops,
      };
    }
  }
  return { ok: true };
}

/**
 * Bisects for the shortest failing prefix. A prefix cut at an event keeps the operations called
 * before it, with those not yet returned made pending; prefixes of a linearizable history stay
 * linearizable, so failure is monotone in the cut and bisection finds the first failing one. The
 * last event of that prefix is a return (a new call alone can always go last), whose operation
 * is the culprit. Returns `undefined` if the budget runs out meanwhile.
 */
function minimalPrefix(
  ops: readonly KvOperation[],
  budget: Budget,
): { ops: KvOperation[]; culprit: KvOperation | undefined } | undefined {
  const evs: { op: KvOperation; call: boolean; time: number }[] = [];
  for (const op of ops) {
    evs.push({ op, call: true, time: op.call });
    evs.push({ op, call: false, time: op.return ?? Number.POSITIVE_INFINITY });
  }
  evs.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1));
  const cutAt = (count: number) => {
    const calls = new Set<KvOperation>();
    const returns = new Set<KvOperation>();
    for (const e of evs.slice(0, count)) (e.call ? calls : returns).add(e.op);
    return truncate(ops, calls, returns);
  };
  // Invariant: the prefix of `lo` events passes, the prefix of `hi` events fails.
  let lo = 0;
  let hi = evs.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const outcome = search(prepare(cutAt(mid)), budget);
    if (outcome === 'unknown') return undefined;
    if (outcome === 'fail') hi = mid;
    else lo = mid;
  }
  const last = evs[hi - 1];
  return { ops: cutAt(hi), culprit: last !== undefined && !last.call ? last.op : undefined };
}
