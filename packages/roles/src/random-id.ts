import type { Random } from '@clusteros/sim';

/**
 * A 64-bit id as 16 hex digits (handoff ids, session ids), drawn from the injected `Random` so a
 * simulation replays the same ids.
 */
export function randomId(random: Random): string {
  let id = '';
  for (let i = 0; i < 4; i++) id += random.int(0, 0x10000).toString(16).padStart(4, '0');
  return id;
}
