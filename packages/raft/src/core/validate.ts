/**
 * Shape checks for messages from peers. The core never trusts the wire: a message that fails
 * here is dropped (and counted) instead of reaching protocol code that assumes well-formed input.
 */
import type { ConfState, Entry, Message } from './types.js';

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isIdList = (v: unknown): boolean => Array.isArray(v) && v.every(isId);

function isEntry(v: unknown): v is Entry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Partial<Entry>;
  return (
    isIndex(e.index) &&
    isIndex(e.term) &&
    (e.kind === 'normal' || e.kind === 'config') &&
    e.data instanceof Uint8Array
  );
}

function isConf(v: unknown): v is ConfState {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Partial<ConfState>;
  return (
    isIdList(c.voters) &&
    isIdList(c.learners) &&
    isIdList(c.votersOutgoing) &&
    isIdList(c.learnersNext) &&
    typeof c.autoLeave === 'boolean'
  );
}

/** Entries of an append: consecutive from `prevIndex + 1`, terms non-decreasing from `prevTerm`, none above `term`. */
function entriesFit(entries: unknown, prevIndex: number, prevTerm: number, term: number): boolean {
  if (!Array.isArray(entries)) return false;
  let lastTerm = prevTerm;
  for (let i = 0; i < entries.length; i++) {
    const e: unknown = entries[i];
    if (!isEntry(e) || e.index !== prevIndex + 1 + i || e.term < lastTerm || e.term > term) return false;
    lastTerm = e.term;
  }
  return true;
}

/**
 * Why `message` is malformed, or `null` when it is well formed. Term-scoped messages must
 * carry a term of at least 1; `propose` and `readIndex` carry 0.
 */
export function malformedReason(message: unknown): string | null {
  if (typeof message !== 'object' || message === null) return 'malformed';
  const m = message as Partial<Message> & Record<string, unknown>;
  if (!isId(m.from) || !isId(m.to) || !isIndex(m.term)) return 'malformed';
  const scoped = m.type !== 'propose' && m.type !== 'readIndex';
  if (scoped && m.term === 0) return 'malformed';
  switch (m.type) {
    case 'vote':
      return isIndex(m.lastIndex) &&
        isIndex(m.lastTerm) &&
        typeof m.preVote === 'boolean' &&
        typeof m.transfer === 'boolean'
        ? null
        : 'malformed';
    case 'voteResponse':
      return typeof m.preVote === 'boolean' && typeof m.granted === 'boolean' ? null : 'malformed';
    case 'append':
      return isIndex(m.prevIndex) &&
        isIndex(m.prevTerm) &&
        isIndex(m.commit) &&
        m.prevTerm <= m.term &&
        entriesFit(m.entries, m.prevIndex, m.prevTerm, m.term)
        ? null
        : 'malformed';
    case 'appendResponse':
      return typeof m.reject === 'boolean' && isIndex(m.index) && isIndex(m.hintIndex) && isIndex(m.hintTerm)
        ? null
        : 'malformed';
    case 'heartbeat':
      return isIndex(m.commit) && typeof m.context === 'string' ? null : 'malformed';
    case 'heartbeatResponse':
      return typeof m.context === 'string' ? null : 'malformed';
    case 'snapshot': {
      const snap = m.snapshot as unknown;
      if (typeof snap !== 'object' || snap === null) return 'malformed';
      const { meta, data } = snap as { meta?: unknown; data?: unknown };
      if (typeof meta !== 'object' || meta === null || !(data instanceof Uint8Array)) return 'malformed';
      const mt = meta as { index?: unknown; term?: unknown; conf?: unknown };
      return isIndex(mt.index) && mt.index > 0 && isIndex(mt.term) && mt.term <= m.term && isConf(mt.conf)
        ? null
        : 'malformed';
    }
    case 'timeoutNow':
      if (m.index === undefined && m.logTerm === undefined) return null;
      return isIndex(m.index) && m.index > 0 && isIndex(m.logTerm) && m.logTerm > 0 && m.logTerm <= m.term
        ? null
        : 'malformed';
    case 'propose':
      return Array.isArray(m.entries) && m.entries.length > 0 && m.entries.every(isEntry)
        ? null
        : 'malformed';
    case 'readIndex':
      return typeof m.context === 'string' ? null : 'malformed';
    case 'readIndexResponse':
      return isIndex(m.index) && typeof m.context === 'string' ? null : 'malformed';
    default:
      return 'unknownType';
  }
}
