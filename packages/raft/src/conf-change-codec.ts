import { decode, encode } from '@msgpack/msgpack';
import type { ConfChange, ConfChangeStep } from './core/types.js';
import { DecodeError } from './errors.js';

const MODES = new Set(['simple', 'joint', 'leaveJoint']);
const STEP_TYPES = new Set(['addVoter', 'addLearner', 'remove']);
const MAX_STEPS = 64;

/** Encodes a configuration change for a `config` entry. */
export function encodeConfChange(change: ConfChange): Uint8Array {
  return encode([
    change.mode,
    change.autoLeave === true,
    change.steps.map((s) => [s.type, s.id, s.address ?? '']),
  ]);
}

/** Decodes a `config` entry's change; throws {@link DecodeError} for anything malformed. */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (cause) {
    throw new DecodeError('confChangeMsgpack', 'not msgpack', { cause });
  }
  if (!Array.isArray(raw) || raw.length !== 3)
    throw new DecodeError('confChangeShape', 'expected [mode, autoLeave, steps]');
  const [mode, autoLeave, steps] = raw as unknown[];
  if (typeof mode !== 'string' || !MODES.has(mode)) throw new DecodeError('confChangeMode', String(mode));
  if (typeof autoLeave !== 'boolean') throw new DecodeError('confChangeShape', 'autoLeave');
  if (!Array.isArray(steps) || steps.length > MAX_STEPS) throw new DecodeError('confChangeShape', 'steps');
  const parsed: ConfChangeStep[] = steps.map((step: unknown) => {
    if (!Array.isArray(step) || step.length !== 3) throw new DecodeError('confChangeShape', 'step');
    const [type, id, address] = step as unknown[];
    if (typeof type !== 'string' || !STEP_TYPES.has(type))
      throw new DecodeError('confChangeStep', String(type));
    if (typeof id !== 'string' || id.length === 0 || id.length > 256)
      throw new DecodeError('confChangeShape', 'id');
    if (typeof address !== 'string' || address.length > 300)
      throw new DecodeError('confChangeShape', 'address');
    return {
      type: type as ConfChangeStep['type'],
      id,
      ...(address === '' ? {} : { address }),
    };
  });
  return { mode: mode as ConfChange['mode'], steps: parsed, ...(autoLeave ? { autoLeave: true } : {}) };
}
