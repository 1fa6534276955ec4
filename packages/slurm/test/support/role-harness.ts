// What the SLURM roles need from their surroundings, in memory: a store with the semantics of the
// Raft KV adapter (committed writes, create-only), and role contexts for one node as the role
// manager would make them.
import type { NodeRef, RoleContext } from '@clusteros/roles';
import type { SlurmStore } from '../../src/roles/store.js';

/** An in-memory {@link SlurmStore}; `writes` counts puts per key. */
export class MemoryStore implements SlurmStore {
  readonly values = new Map<string, Uint8Array>();
  readonly writes = new Map<string, number>();

  get(key: string): Uint8Array | undefined {
    const value = this.values.get(key);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.values.set(key, new Uint8Array(value));
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
  }

  async create(key: string, value: Uint8Array): Promise<boolean> {
    if (this.values.has(key)) return false;
    await this.put(key, value);
    return true;
  }
}

/** One role run's context; `failures` collects what the role reported through `fail`. */
export interface TestContext extends RoleContext {
  readonly failures: Error[];
  readonly controller: AbortController;
}

/** A context for `role` on `node` with `members` alive and, for a holder, `token`. */
export function roleContext(
  role: string,
  node: NodeRef,
  members: () => readonly NodeRef[],
  token?: number,
): TestContext {
  const failures: Error[] = [];
  const controller = new AbortController();
  const logged = (): void => {};
  return {
    role,
    node,
    cluster: { self: () => node, members },
    fencingToken: token,
    leader: () => (token === undefined ? undefined : { nodeId: node.id, fencingToken: token }),
    isLeader: () => token !== undefined && !controller.signal.aborted,
    signal: controller.signal,
    logger: {
      debug: logged,
      info: logged,
      warn: (fields, message) => {
        if (process.env.TEST_VERBOSE) console.warn(message, fields);
      },
      error: (fields, message) => {
        if (process.env.TEST_VERBOSE) console.error(message, fields);
      },
    },
    fail: (error) => failures.push(error),
    failures,
    controller,
  };
}
