// A Role that records every call (with the time and the fencing token) and checks the contract
// from the role's side: no two lifecycle calls overlap, handoff calls come in a legal order.
// Behaviour is scriptable per test: failures, slowness, health, and hooks that run when a call
// enters or leaves (the simulation tests crash nodes there).
import type {
  HandoffState,
  HealthReport,
  NodeRef,
  Role,
  RoleContext,
  RoleRequirements,
  RoleStatus,
  StopReason,
} from '../../src/index.js';

export type RoleCall =
  | 'start'
  | 'stop'
  | 'health'
  | 'warmHandoff'
  | 'prepareHandoff'
  | 'acceptHandoff'
  | 'completeHandoff'
  | 'abortHandoff';

export interface CallRecord {
  readonly call: RoleCall;
  readonly at: number;
  readonly token: number | undefined;
  readonly reason?: StopReason;
  readonly to?: string;
  readonly outcome: 'ok' | 'error' | 'pending';
}

export interface RecordingRoleOptions {
  readonly name?: string;
  readonly placement?: Role['placement'];
  readonly dependsOn?: readonly string[];
  readonly requires?: RoleRequirements;
  readonly now: () => number;
  /** Wait this long (with the node's clock) inside each call. */
  readonly delay?: (call: RoleCall) => Promise<void>;
  /** Throw from this call (checked on entry). */
  readonly failOn?: (call: RoleCall, attempt: number) => boolean;
  /** Health verdict. */
  readonly healthy?: () => boolean;
  /** Runs on entry and exit; returning a promise that never settles freezes the call (a crash). */
  readonly hook?: (call: RoleCall, moment: 'enter' | 'exit', role: RecordingRole) => 'freeze' | undefined;
}

const never = new Promise<never>(() => {});

export class RecordingRole implements Role {
  readonly name: string;
  readonly placement: Role['placement'];
  readonly dependsOn?: readonly string[];
  readonly requires?: RoleRequirements;
  readonly calls: CallRecord[] = [];
  readonly violations: string[] = [];
  /** Jobs "served" so far; handed over in the handoff state. */
  served = 0;
  running = false;
  quiesced = false;
  /** Set by warmHandoff (a target warms up before the holder quiesces). */
  warmed = false;
  #inFlight: RoleCall | undefined;
  #attempts = new Map<RoleCall, number>();
  #since: number | null = null;
  readonly #o: RecordingRoleOptions;

  constructor(options: RecordingRoleOptions) {
    this.#o = options;
    this.name = options.name ?? 'controller';
    this.placement = options.placement ?? 'singleton';
    if (options.dependsOn !== undefined) this.dependsOn = options.dependsOn;
    if (options.requires !== undefined) this.requires = options.requires;
  }

  count(call: RoleCall): number {
    return this.calls.filter((c) => c.call === call).length;
  }

  async #run<T>(
    call: RoleCall,
    ctx: RoleContext | undefined,
    body: () => T,
    extra: Partial<CallRecord> = {},
  ): Promise<T> {
    const lifecycle = call !== 'health';
    if (lifecycle && this.#inFlight !== undefined)
      this.violations.push(`${call} entered while ${this.#inFlight} was in flight`);
    if (lifecycle) this.#inFlight = call;
    const attempt = (this.#attempts.get(call) ?? 0) + 1;
    this.#attempts.set(call, attempt);
    const index =
      this.calls.push({ call, at: this.#o.now(), token: ctx?.fencingToken, outcome: 'pending', ...extra }) -
      1;
    const finish = (outcome: 'ok' | 'error'): void => {
      const record = this.calls[index];
      if (record !== undefined) this.calls[index] = { ...record, outcome };
      if (lifecycle) this.#inFlight = undefined;
    };
    if (this.#o.hook?.(call, 'enter', this) === 'freeze') return never;
    try {
      if (this.#o.delay !== undefined) await this.#o.delay(call);
      if (this.#o.failOn?.(call, attempt) === true)
        throw new Error(`${call} failed (scripted, attempt ${attempt})`);
      const value = body();
      if (this.#o.hook?.(call, 'exit', this) === 'freeze') return never;
      finish('ok');
      return value;
    } catch (error) {
      finish('error');
      throw error;
    }
  }

  start(ctx: RoleContext): Promise<void> {
    return this.#run('start', ctx, () => {
      this.running = true;
      this.quiesced = false;
      this.#since = this.#o.now();
    });
  }

  stop(ctx: RoleContext, reason: StopReason): Promise<void> {
    return this.#run(
      'stop',
      ctx,
      () => {
        this.running = false;
        this.quiesced = false;
      },
      { reason },
    );
  }

  status(): RoleStatus {
    return {
      running: this.running,
      healthy: true,
      leader: this.running,
      since: this.#since,
      detail: `served ${this.served}`,
    };
  }

  health(): Promise<HealthReport> {
    return this.#run('health', undefined, () => ({ healthy: this.#o.healthy?.() ?? true }));
  }

  prepareHandoff(ctx: RoleContext, to: NodeRef): Promise<HandoffState> {
    return this.#run(
      'prepareHandoff',
      ctx,
      () => {
        this.quiesced = true;
        return { data: new TextEncoder().encode(JSON.stringify({ served: this.served })) };
      },
      { to: to.id },
    );
  }

  warmHandoff(ctx: RoleContext): Promise<void> {
    return this.#run('warmHandoff', ctx, () => {
      this.warmed = true;
    });
  }

  acceptHandoff(ctx: RoleContext, state: HandoffState): Promise<void> {
    return this.#run('acceptHandoff', ctx, () => {
      const parsed = JSON.parse(new TextDecoder().decode(state.data)) as { served: number };
      this.served = parsed.served;
    });
  }

  completeHandoff(ctx: RoleContext): Promise<void> {
    return this.#run('completeHandoff', ctx, () => {
      this.running = false;
    });
  }

  abortHandoff(ctx: RoleContext): Promise<void> {
    return this.#run('abortHandoff', ctx, () => {
      this.quiesced = false;
    });
  }
}
