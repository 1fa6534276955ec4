/**
 * Runs one role on one node: serialises its lifecycle calls (never two at once), bounds each by a
 * timeout on the injected clock, watches health, and restarts after failures with capped
 * exponential backoff. Whether the role *should* run is the manager's decision; the runner only
 * carries it out and reports.
 */
import type { Clock, Random, TimerHandle } from '@clusteros/sim';
import { RoleTimeoutError } from './errors.js';
import type { Logger } from './logger.js';
import type {
  ClusterView,
  HandoffState,
  LeaderInfo,
  NodeRef,
  Role,
  RoleContext,
  StopReason,
} from './role.js';

/** Where a role is in its life on this node. */
export type RolePhase =
  /** Not running. */
  | 'stopped'
  /** `start` in flight. */
  | 'starting'
  /** Running (as leader, for a singleton). */
  | 'running'
  /** Old holder in a handoff: quiesced by `prepareHandoff`, not acting. */
  | 'quiesced'
  /** Handoff target: warming up through `acceptHandoff`, not acting. */
  | 'warming'
  /** `stop` in flight. */
  | 'stopping'
  /** Failed; waiting to be restarted. */
  | 'backoff';

/** Timeouts of role calls, in ms. */
export interface RoleTimeouts {
  /** `start`. @defaultValue 30000 */
  readonly startMs: number;
  /** `stop`. @defaultValue 30000 */
  readonly stopMs: number;
  /** Each handoff call (`prepareHandoff`, `acceptHandoff`, `completeHandoff`, `abortHandoff`). @defaultValue 10000 */
  readonly handoffMs: number;
  /** `health`. @defaultValue 5000 */
  readonly healthMs: number;
}

/** Restart policy. */
export interface RestartPolicy {
  /** First retry delay. @defaultValue 500 */
  readonly baseMs: number;
  /** Largest retry delay. @defaultValue 30000 */
  readonly maxMs: number;
  /** Consecutive failures after which the role is reported unhealthy (a singleton also gives up its lease). @defaultValue 5 */
  readonly unhealthyAfter: number;
  /** A role running this long without failing has its failure count reset. @defaultValue 60000 */
  readonly stableAfterMs: number;
  /** Health checks every this many ms while running. @defaultValue 5000 */
  readonly healthIntervalMs: number;
  /** Consecutive failed health checks that count as a failure. @defaultValue 3 */
  readonly healthFailures: number;
}

/** What a runner reports to its manager. */
export type RunnerEvent =
  | { readonly type: 'started'; readonly token: number | undefined }
  | { readonly type: 'stopped'; readonly reason: StopReason }
  | {
      readonly type: 'failed';
      readonly error: Error;
      readonly failures: number;
      readonly retryInMs: number;
      readonly unhealthy: boolean;
    };

/** What a runner needs from its manager. */
export interface RunnerOptions {
  readonly role: Role;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly node: NodeRef;
  readonly cluster: ClusterView;
  readonly timeouts: RoleTimeouts;
  readonly restart: RestartPolicy;
  /** The leader of the role as the node knows it. */
  readonly leaderInfo: () => LeaderInfo | undefined;
  /** Whether this node may act as leader with `token` right now. */
  readonly mayLead: (token: number) => boolean;
  readonly onEvent: (event: RunnerEvent) => void;
  /** Something changed that the manager should reconcile. */
  readonly onChange: () => void;
}

const noop = (): void => {};

/** The lifecycle of one role on one node. */
export class RoleRunner {
  readonly role: Role;
  readonly #o: RunnerOptions;
  #phase: RolePhase = 'stopped';
  #since: number | null = null;
  #ctx: RoleContext | undefined;
  #controller: AbortController | undefined;
  #token: number | undefined;
  #tail: Promise<void> = Promise.resolve();
  #linger: Promise<void> = Promise.resolve();
  #failures = 0;
  #lastError: string | undefined;
  #retryTimer: TimerHandle | undefined;
  #retryAt: number | undefined;
  #healthTimer: TimerHandle | undefined;
  #stableTimer: TimerHandle | undefined;
  #badHealth = 0;
  #healthy = true;
  #stopped = false;

  /** Creates a stopped runner. */
  constructor(options: RunnerOptions) {
    this.role = options.role;
    this.#o = options;
  }

  /** The current phase. */
  get phase(): RolePhase {
    return this.#phase;
  }

  /** When the phase began (clock ms), or `null` before the first start. */
  get since(): number | null {
    return this.#since;
  }

  /** The fencing token of the current run, for a leading singleton. */
  get token(): number | undefined {
    return this.#token;
  }

  /** Consecutive failures. */
  get failures(): number {
    return this.#failures;
  }

  /** The last failure's message. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Clock time of the next restart attempt, while in backoff. */
  get retryAt(): number | undefined {
    return this.#retryAt;
  }

  /** Whether the last health checks passed and the role is not failing repeatedly. */
  get healthy(): boolean {
    return this.#healthy && this.#failures < this.#o.restart.unhealthyAfter;
  }

  /** Whether the role has failed so often that it is reported unhealthy. */
  get unhealthy(): boolean {
    return this.#failures >= this.#o.restart.unhealthyAfter;
  }

  /** Whether the role is acting now: running with (for a singleton) a token it may lead with. */
  isActing(): boolean {
    if (this.#phase !== 'running') return false;
    return this.#token === undefined || this.#o.mayLead(this.#token);
  }

  /** Starts the role (with `token` for a singleton leader). Resolves `false` if it failed. */
  start(token: number | undefined): Promise<boolean> {
    if (this.#phase === 'stopped') this.#setPhase('starting');
    return this.#serial(async () => {
      if (this.#stopped || (this.#phase !== 'starting' && this.#phase !== 'warming')) return false;
      this.#setPhase('starting');
      const ctx = this.#newContext(token);
      try {
        await this.#timed('start', this.#o.timeouts.startMs, () => this.role.start(ctx));
      } catch (error) {
        await this.#failed(asError(error));
        return false;
      }
      if (this.#ctx !== ctx || ctx.signal.aborted) return false;
      this.#setPhase('running');
      this.#watchHealth();
      this.#watchStability(ctx);
      this.#o.onEvent({ type: 'started', token });
      return true;
    });
  }

  /**
   * Stops the role. The current context's signal is aborted at once (synchronously), so a leader
   * that lost its lease stops acting before this returns to the event loop.
   */
  stop(reason: StopReason): Promise<void> {
    if (this.#phase === 'stopped') return Promise.resolve();
    this.#endRun();
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#retryAt = undefined;
    this.#setPhase('stopping');
    return this.#serial(async () => {
      if (this.#phase === 'stopped') return;
      await this.#stopRole(reason);
      if (this.#phase === 'stopping') this.#setPhase('stopped');
    });
  }

  /** Handoff source: quiesce and collect state. The phase is `quiesced` synchronously. */
  prepare(to: NodeRef): Promise<HandoffState> {
    if (this.#phase !== 'running')
      return Promise.reject(new Error(`${this.role.name} is ${this.#phase}, not running`));
    this.#setPhase('quiesced');
    this.#stopHealth();
    return this.#serial(() => {
      const ctx = this.#current();
      return this.#timed('prepareHandoff', this.#o.timeouts.handoffMs, () =>
        this.role.prepareHandoff(ctx, to),
      );
    });
  }

  /** Handoff source: the handoff failed before the lease moved; resume. */
  abortHandoff(): Promise<void> {
    return this.#serial(async () => {
      if (this.#phase !== 'quiesced') return;
      const ctx = this.#current();
      try {
        await this.#timed('abortHandoff', this.#o.timeouts.handoffMs, () => this.role.abortHandoff(ctx));
      } catch (error) {
        await this.#failed(asError(error));
        return;
      }
      if (this.#phase === 'quiesced') {
        this.#setPhase('running');
        this.#watchHealth();
      }
    });
  }

  /** Handoff source: the lease moved; release and stop (`reason: 'handed-off'`). */
  complete(): Promise<void> {
    return this.#serial(async () => {
      if (this.#phase !== 'quiesced') return;
      const ctx = this.#current();
      try {
        await this.#timed('completeHandoff', this.#o.timeouts.handoffMs, () =>
          this.role.completeHandoff(ctx),
        );
      } catch (error) {
        this.#o.logger.warn({ role: this.role.name, err: asError(error).message }, 'completeHandoff failed');
      }
      this.#endRun();
      this.#setPhase('stopping');
      await this.#stopRole('handed-off');
      this.#setPhase('stopped');
    });
  }

  /** Handoff target, before the holder quiesces: `warmHandoff` (if the role has it), without a fencing token. */
  warm(): Promise<void> {
    if (this.#phase !== 'stopped')
      return Promise.reject(new Error(`${this.role.name} is ${this.#phase}, not stopped`));
    this.#setPhase('warming');
    return this.#serial(async () => {
      const ctx = this.#newContext(undefined);
      const warm = this.role.warmHandoff;
      if (warm !== undefined)
        await this.#timed('warmHandoff', this.#o.timeouts.handoffMs, () => warm.call(this.role, ctx));
    });
  }

  /** Handoff target: warm up from `state` (`acceptHandoff`), without a fencing token. */
  accept(state: HandoffState): Promise<void> {
    if (this.#phase !== 'stopped' && this.#phase !== 'warming')
      return Promise.reject(new Error(`${this.role.name} is ${this.#phase}, not stopped`));
    const fresh = this.#phase === 'stopped';
    this.#setPhase('warming');
    return this.#serial(async () => {
      const ctx = fresh || this.#ctx === undefined ? this.#newContext(undefined) : this.#ctx;
      const accept = this.role.acceptHandoff;
      if (accept !== undefined)
        await this.#timed('acceptHandoff', this.#o.timeouts.handoffMs, () =>
          accept.call(this.role, ctx, state),
        );
    });
  }

  /** One health check with the health timeout; a throw or timeout counts as unhealthy. */
  async checkHealth(): Promise<boolean> {
    try {
      const report = await this.#timed('health', this.#o.timeouts.healthMs, () => this.role.health());
      return report.healthy;
    } catch {
      return false;
    }
  }

  /** Stops everything for good (the manager is stopping); the role must have been stopped first. */
  dispose(): void {
    this.#stopped = true;
    this.#stopHealth();
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /** Waits until no lifecycle call is in flight. */
  idle(): Promise<void> {
    return this.#tail;
  }

  #current(): RoleContext {
    return this.#ctx ?? this.#newContext(this.#token);
  }

  #newContext(token: number | undefined): RoleContext {
    this.#controller?.abort();
    const controller = new AbortController();
    this.#controller = controller;
    this.#token = token;
    const { role, logger, node, cluster, leaderInfo, mayLead } = this.#o;
    const ctx: RoleContext = {
      role: role.name,
      node,
      cluster,
      fencingToken: token,
      leader: leaderInfo,
      isLeader: () =>
        this.#ctx === ctx &&
        !controller.signal.aborted &&
        this.#phase === 'running' &&
        token !== undefined &&
        mayLead(token),
      signal: controller.signal,
      logger,
      fail: (error: Error) => {
        if (this.#ctx !== ctx || controller.signal.aborted || this.#phase !== 'running') return;
        // Checked again when the job runs: a second report of the same failure (the exit and
        // the close handler of one dead child) finds the run already ended and counts nothing.
        void this.#serial(async () => {
          if (this.#ctx !== ctx || controller.signal.aborted || this.#phase !== 'running') return;
          await this.#failed(error);
        });
      },
    };
    this.#ctx = ctx;
    return ctx;
  }

  /** Ends the current run's context: its signal aborts, `isLeader()` turns false. */
  #endRun(): void {
    this.#controller?.abort();
    this.#stopHealth();
    if (this.#stableTimer !== undefined) this.#o.clock.clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
  }

  /** A run that lasts `stableAfterMs` without failing clears the failure count (and "unhealthy"). */
  #watchStability(ctx: RoleContext): void {
    if (this.#stableTimer !== undefined) this.#o.clock.clearTimeout(this.#stableTimer);
    this.#stableTimer = this.#o.clock.setTimeout(() => {
      this.#stableTimer = undefined;
      if (this.#ctx !== ctx || ctx.signal.aborted || this.#phase !== 'running' || this.#failures === 0)
        return;
      this.#failures = 0;
      this.#o.onChange();
    }, this.#o.restart.stableAfterMs);
  }

  async #stopRole(reason: StopReason): Promise<void> {
    const ctx = this.#current();
    this.#endRun();
    // A call that just timed out may still be running: give it its grace period first, so the
    // clean-up stop never overlaps it.
    await this.#linger;
    try {
      await this.#timed('stop', this.#o.timeouts.stopMs, () => this.role.stop(ctx, reason));
    } catch (error) {
      this.#o.logger.warn({ role: this.role.name, err: asError(error).message }, 'stop failed');
    }
    this.#token = undefined;
    this.#o.onEvent({ type: 'stopped', reason });
  }

  async #failed(error: Error): Promise<void> {
    const { clock, restart, random } = this.#o;
    this.#failures++;
    this.#lastError = error.message;
    this.#endRun();
    this.#setPhase('backoff');
    await this.#stopRole('failed');
    if (this.#stopped || this.#phase !== 'backoff') return;
    const exp = Math.min(restart.maxMs, restart.baseMs * 2 ** Math.min(30, this.#failures - 1));
    const retryInMs = Math.round(exp / 2 + random.next() * (exp / 2));
    this.#retryAt = clock.now() + retryInMs;
    this.#o.logger.warn(
      { role: this.role.name, err: error.message, failures: this.#failures, retryInMs },
      'role failed',
    );
    this.#o.onEvent({
      type: 'failed',
      error,
      failures: this.#failures,
      retryInMs,
      unhealthy: this.unhealthy,
    });
    if (this.#retryTimer !== undefined) clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryAt = undefined;
      if (this.#phase === 'backoff') this.#setPhase('stopped');
      this.#o.onChange();
    }, retryInMs);
  }

  #watchHealth(): void {
    this.#stopHealth();
    this.#badHealth = 0;
    this.#healthy = true;
    const ctx = this.#ctx;
    this.#healthTimer = this.#o.clock.setInterval(() => {
      if (this.#phase !== 'running' || this.#ctx !== ctx) return;
      void this.#serial(async () => {
        if (this.#phase !== 'running' || this.#ctx !== ctx) return;
        const healthy = await this.checkHealth();
        if (this.#phase !== 'running' || this.#ctx !== ctx) return;
        this.#badHealth = healthy ? 0 : this.#badHealth + 1;
        this.#healthy = healthy;
        if (this.#badHealth >= this.#o.restart.healthFailures)
          await this.#failed(new Error(`${this.#badHealth} health checks failed in a row`));
      });
    }, this.#o.restart.healthIntervalMs);
  }

  #stopHealth(): void {
    if (this.#healthTimer !== undefined) this.#o.clock.clearInterval(this.#healthTimer);
    this.#healthTimer = undefined;
  }

  #setPhase(phase: RolePhase): void {
    if (this.#phase === phase) return;
    this.#phase = phase;
    this.#since = this.#o.clock.now();
    this.#o.onChange();
  }

  /** Runs `fn` after every earlier lifecycle call has settled (or outlived its grace period). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.then(noop, noop).then(() => this.#linger);
    return run;
  }

  /**
   * Runs a role call with a timeout. On timeout the context's signal is aborted and the call
   * fails; the next lifecycle call still waits up to another `timeoutMs` for this one to settle,
   * so a role that honours its signal never sees two calls overlap.
   */
  #timed<T>(operation: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    const { clock } = this.#o;
    let call: Promise<T>;
    try {
      call = Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.#controller?.abort();
        this.#linger = new Promise<void>((done) => {
          const grace = clock.setTimeout(done, timeoutMs);
          const settle = (): void => {
            clock.clearTimeout(grace);
            done();
          };
          call.then(settle, settle);
        });
        reject(new RoleTimeoutError(this.role.name, operation, timeoutMs));
      }, timeoutMs);
      call.then(
        (value) => {
          clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
