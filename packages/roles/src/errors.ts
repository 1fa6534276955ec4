/**
 * Errors of `@clusteros/roles`. Each class has a literal `name` (also static) and an `isX()`
 * guard that works across copies of the package.
 */

function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** A configuration or argument that cannot work (unknown dependency, cycle, bad TTL). */
export class RoleConfigError extends Error {
  /** The class's name. */
  static override readonly name = 'RoleConfigError' as const;
  /** Always `'RoleConfigError'`. */
  override readonly name = 'RoleConfigError' as const;
}

/** No role of that name is enabled on this node. */
export class UnknownRoleError extends Error {
  /** The class's name. */
  static override readonly name = 'UnknownRoleError' as const;
  /** Always `'UnknownRoleError'`. */
  override readonly name = 'UnknownRoleError' as const;
  /** The role asked for. */
  readonly role: string;
  /** Creates the error for `role`. */
  constructor(role: string) {
    super(`no role named ${JSON.stringify(role)} is enabled on this node`);
    this.role = role;
  }
}

/** A handoff was refused before it began (no holder, target not eligible, one already under way). */
export class HandoffRefusedError extends Error {
  /** The class's name. */
  static override readonly name = 'HandoffRefusedError' as const;
  /** Always `'HandoffRefusedError'`. */
  override readonly name = 'HandoffRefusedError' as const;
  /** The role. */
  readonly role: string;
  /** Creates the error. */
  constructor(role: string, reason: string, options?: ErrorOptions) {
    super(`handoff of ${role} refused: ${reason}`, options);
    this.role = role;
  }
}

/** A handoff was aborted before the lease moved: the old holder keeps the role. */
export class HandoffAbortedError extends Error {
  /** The class's name. */
  static override readonly name = 'HandoffAbortedError' as const;
  /** Always `'HandoffAbortedError'`. */
  override readonly name = 'HandoffAbortedError' as const;
  /** The role. */
  readonly role: string;
  /** The handoff id. */
  readonly handoffId: string;
  /** Why it was aborted (`timeout`, `prepare failed: …`, …). */
  readonly reason: string;
  /** Creates the error. */
  constructor(role: string, handoffId: string, reason: string) {
    super(`handoff ${handoffId} of ${role} aborted: ${reason}`);
    this.role = role;
    this.handoffId = handoffId;
    this.reason = reason;
  }
}

/** A role method did not finish in time; its signal was aborted. */
export class RoleTimeoutError extends Error {
  /** The class's name. */
  static override readonly name = 'RoleTimeoutError' as const;
  /** Always `'RoleTimeoutError'`. */
  override readonly name = 'RoleTimeoutError' as const;
  /** The role. */
  readonly role: string;
  /** The method that timed out. */
  readonly operation: string;
  /** The limit in ms. */
  readonly timeoutMs: number;
  /** Creates the error. */
  constructor(role: string, operation: string, timeoutMs: number) {
    super(`${role}: ${operation} did not finish within ${timeoutMs} ms`);
    this.role = role;
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/** The manager was stopped; nothing more runs. */
export class RoleManagerStoppedError extends Error {
  /** The class's name. */
  static override readonly name = 'RoleManagerStoppedError' as const;
  /** Always `'RoleManagerStoppedError'`. */
  override readonly name = 'RoleManagerStoppedError' as const;
  /** Creates the error. */
  constructor() {
    super('the role manager is stopped');
  }
}

/** A record read from the store does not decode (written by an incompatible version, or corrupt). */
export class RecordDecodeError extends Error {
  /** The class's name. */
  static override readonly name = 'RecordDecodeError' as const;
  /** Always `'RecordDecodeError'`. */
  override readonly name = 'RecordDecodeError' as const;
  /** The key whose value is bad. */
  readonly key: string;
  /** Creates the error. */
  constructor(key: string, reason: string, options?: ErrorOptions) {
    super(`record at ${key} does not decode: ${reason}`, options);
    this.key = key;
  }
}

/** Whether `error` is a {@link RoleConfigError}. */
export const isRoleConfigError = (error: unknown): error is RoleConfigError =>
  hasName(error, RoleConfigError.name);
/** Whether `error` is an {@link UnknownRoleError}. */
export const isUnknownRoleError = (error: unknown): error is UnknownRoleError =>
  hasName(error, UnknownRoleError.name);
/** Whether `error` is a {@link HandoffRefusedError}. */
export const isHandoffRefusedError = (error: unknown): error is HandoffRefusedError =>
  hasName(error, HandoffRefusedError.name);
/** Whether `error` is a {@link HandoffAbortedError}. */
export const isHandoffAbortedError = (error: unknown): error is HandoffAbortedError =>
  hasName(error, HandoffAbortedError.name);
/** Whether `error` is a {@link RoleTimeoutError}. */
export const isRoleTimeoutError = (error: unknown): error is RoleTimeoutError =>
  hasName(error, RoleTimeoutError.name);
/** Whether `error` is a {@link RoleManagerStoppedError}. */
export const isRoleManagerStoppedError = (error: unknown): error is RoleManagerStoppedError =>
  hasName(error, RoleManagerStoppedError.name);
/** Whether `error` is a {@link RecordDecodeError}. */
export const isRecordDecodeError = (error: unknown): error is RecordDecodeError =>
  hasName(error, RecordDecodeError.name);
