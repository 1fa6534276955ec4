// A Role whose every call is scripted per test and written to a journal shared by all roles of a
// node, so tests can assert the order of calls across roles (munge before slurmd). The journal
// also checks the contract from the roles' side: no two lifecycle calls of one role overlap.
import type { Clock } from '@clusteros/sim';
import type {
  HandoffState,
  HealthReport,
  NodeRef,
  Placement,
  Role,
  RoleContext,
  RoleRequirements,
  RoleStatus,
  StopReason,
} from '../../src/index.js';

export type ScriptedCall =
  | 'start'
  | 'stop'
  | 'health'
  | 'prepareHandoff'
  | 'acceptHandoff'
  | 'completeHandoff'
  | 'abortHandoff';

export interface JournalEntry {
  readonly role: string;
  readonly call: ScriptedCall;
  /** `enter` when the call began, `ok`/`error` when it settled. */
  readonly moment: 'enter' | 'ok' | 'error';
  /** The node clock's time. */
  readonly at: number;
  readonly token: number | undefined;
  readonly reason?: StopReason;
}

/** Every call of every role of one node, in the order they happened. */
export class Journal {
  readonly entries: JournalEntry[] = [];
  readonly violations: string[] = [];

  /** `role.call` (entries) or `role.call:ok` / `role.call:error` (settlements), optionally without health. */
  lines(options: { readonly health?: boolean; readonly settled?: boolean } = {}): string[] {
    return this.entries
      .filter((e) => (options.health ?? false) || e.call !== 'health')
      .filter((e) => (options.settled ?? false) || e.moment === 'enter')
      .map(
        (e) =>
          `${e.role}.${e.call}${e.reason !== undefined && e.moment === 'enter' ? `(${e.reason})` : ''}${
            e.moment === 'enter' ? '' : `:${e.moment}`
          }`,
      );
  }

  /** Entries of `role` and `call` at their start. */
  calls(role: string, call: ScriptedCall): JournalEntry[] {
    return this.entries.filter((e) => e.role === role && e.call === call && e.moment === 'enter');
  }

  /** Index of the first entry matching, or -1. */
  indexOf(role: string, call: ScriptedCall, moment: JournalEntry['moment'] = 'enter', from = 0): number {
    return this.entries.findIndex(
      (e, i) => i >= from && e.role === role && e.call === call && e.moment === moment,
    );
  }
}

export interface ScriptedRoleOptions {
  readonly name: string;
  readonly placement?: Placement;
  readonly dependsOn?: readonly string[];
  readonly requires?: RoleRequirements;
  readonly clock: Clock;
  readonly journal: Journal;
  /** `start`'s body (attempt counts from 1). Throwing or rejecting fails the start. */
  readonly start?: (ctx: RoleContext, attempt: number) => Promise<void> | void;
  /** `stop`'s body. */
  readonly stop?: (ctx: RoleContext, reason: StopReason, attempt: number) => Promise<void> | void;
  /** `health`'s verdict (attempt counts from 1). */
  readonly health?: (attempt: number) => HealthReport | Promise<HealthReport>;
}

/** Resolves after `ms` of `clock` time. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

export class ScriptedRole implements Role {
  readonly name: string;
  readonly placement: Placement;
  readonly dependsOn?: readonly string[];
  readonly requires?: RoleRequirements;
  /** The context of every `start`, in order. */
  readonly startContexts: RoleContext[] = [];
  running = false;
  #inFlight: ScriptedCall | undefined;
  readonly #attempts = new Map<ScriptedCall, number>();
  readonly #o: ScriptedRoleOptions;

  constructor(options: ScriptedRoleOptions) {
    this.#o = options;
    this.name = options.name;
    this.placement = options.placement ?? 'every-node';
    if (options.dependsOn !== undefined) this.dependsOn = options.dependsOn;
    if (options.requires !== undefined) this.requires = options.requires;
  }

  /** The context of the latest start. */
  get ctx(): RoleContext | undefined {
    return this.startContexts.at(-1);
  }

  async #run<T>(
    call: ScriptedCall,
    ctx: RoleContext | undefined,
    body: (attempt: number) => Promise<T> | T,
    reason?: StopReason,
  ): Promise<T> {
    const { journal, clock } = this.#o;
    const lifecycle = call !== 'health';
    if (lifecycle && this.#inFlight !== undefined)
      journal.violations.push(
        `${this.name}: ${call} entered at ${clock.now()} while ${this.#inFlight} was in flight`,
      );
    if (lifecycle) this.#inFlight = call;
    const attempt = (this.#attempts.get(call) ?? 0) + 1;
    this.#attempts.set(call, attempt);
    const base = {
      role: this.name,
      call,
      token: ctx?.fencingToken,
      ...(reason !== undefined ? { reason } : {}),
    };
    journal.entries.push({ ...base, moment: 'enter', at: clock.now() });
    try {
      const value = await body(attempt);
      journal.entries.push({ ...base, moment: 'ok', at: clock.now() });
      return value;
    } catch (error) {
      journal.entries.push({ ...base, moment: 'error', at: clock.now() });
      throw error;
    } finally {
      if (lifecycle) this.#inFlight = undefined;
    }
  }

  start(ctx: RoleContext): Promise<void> {
    this.startContexts.push(ctx);
    return this.#run('start', ctx, async (attempt) => {
      await this.#o.start?.(ctx, attempt);
      this.running = true;
    });
  }

  stop(ctx: RoleContext, reason: StopReason): Promise<void> {
    return this.#run(
      'stop',
      ctx,
      async (attempt) => {
        await this.#o.stop?.(ctx, reason, attempt);
        this.running = false;
      },
      reason,
    );
  }

  status(): RoleStatus {
    return {
      running: this.running,
      healthy: true,
      leader: false,
      since: null,
      detail: `${this.name} ${this.running ? 'up' : 'down'}`,
    };
  }

  health(): Promise<HealthReport> {
    return this.#run('health', undefined, (attempt) => this.#o.health?.(attempt) ?? { healthy: true });
  }

  prepareHandoff(ctx: RoleContext, _to: NodeRef): Promise<HandoffState> {
    return this.#run('prepareHandoff', ctx, () => ({ data: new Uint8Array() }));
  }

  acceptHandoff(ctx: RoleContext, _state: HandoffState): Promise<void> {
    return this.#run('acceptHandoff', ctx, () => {});
  }

  completeHandoff(ctx: RoleContext): Promise<void> {
    return this.#run('completeHandoff', ctx, () => {});
  }

  abortHandoff(ctx: RoleContext): Promise<void> {
    return this.#run('abortHandoff', ctx, () => {});
  }
}
