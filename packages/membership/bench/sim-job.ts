// What the simulation benchmarks hand to a sim-worker.ts process, and how results come back.
import type { ConvergedResult, ConvergedSettings } from './sim-converged.js';
import type { LifeguardResult, LifeguardSettings } from './sim-lifeguard.js';
import type { ScaleResult, ScaleSettings } from './sim-scale.js';

export type Job =
  | { readonly kind: 'scale'; readonly settings: Omit<ScaleSettings, 'log'> }
  | { readonly kind: 'lifeguard'; readonly settings: Omit<LifeguardSettings, 'log'> }
  | { readonly kind: 'converged'; readonly settings: Omit<ConvergedSettings, 'log'> };

export type JobResult<J extends Job> = J extends { kind: 'scale' }
  ? ScaleResult
  : J extends { kind: 'converged' }
    ? ConvergedResult
    : LifeguardResult;

/** JSON without losing NaN (the results use it for "not reached"). */
export function encodeResult(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? 'NaN' : v));
}

export function decodeResult<T>(text: string): T {
  return JSON.parse(text, (_key, v) => (v === 'NaN' ? Number.NaN : v)) as T;
}
