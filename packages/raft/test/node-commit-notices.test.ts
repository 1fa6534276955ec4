// A leader under a stream of writes tells its followers of each commit in the next write's
// append instead of an append of its own (commitNoticeDelayMs), and an idle leader's followers
// still apply the last write within that delay. Deterministic simulation, 20 seeds.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../src/core/types.js';
import { isRaftConfigError } from '../src/errors.js';
import { KvStateMachine, kv } from '../src/kv/kv-state-machine.js';
import { RaftNode } from '../src/node.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { observeInbound, startKvTrio } from './support/kv-trio.js';

const WRITES = 30;
/** The trio's links take 1–5 ms. */
const MAX_LINK_MS = 5;

interface Traffic {
  /** Empty appends (commit notices) the followers received during the writes. */
  notices: number;
  /** Appends and their answers the followers received and sent during the writes. */
  messages: number;
  /** ms from the leader applying the last write until every follower had applied it. */
  followersBehindMs: number;
}

async function sequentialWrites(seed: number, commitNoticeDelayMs: number): Promise<Traffic> {
  let counting = false;
  const traffic: Traffic = { notices: 0, messages: 0, followersBehindMs: 0 };
  const count = (message: Message): void => {
    if (!counting) return;
    if (message.type === 'append') {
      traffic.messages++;
      if (message.entries.length === 0) traffic.notices++;
    } else if (message.type === 'appendResponse') {
      traffic.messages++;
    }
  };
  const trio = await startKvTrio({
    seed,
    node: { commitNoticeDelayMs },
    transport: (_id, transport) => observeInbound(transport, count),
  });
  const { sim, leader, nodes } = trio;
  await sim.advance(100);
  counting = true;
  for (let i = 0; i < WRITES; i++) {
    const put = leader.propose(kv.put(`k${i}`, String(i)));
    await sim.waitFor(() => leader.status().appliedIndex >= leader.status().lastIndex, 1_000, `write ${i}`);
    await put;
  }
  counting = false;
  const last = leader.status().appliedIndex;
  const appliedAt = sim.clock.now();
  const followers = [...nodes.values()].filter((n) => n !== leader);
  await sim.waitFor(() => followers.every((n) => n.status().appliedIndex >= last), 1_000, 'followers apply');
  traffic.followersBehindMs = sim.clock.now() - appliedAt;
  return traffic;
}

test('under sequential writes the commit rides on the next append; idle followers catch up within the delay', async () => {
  await runSeeds({
    seeds: 20,
    file: import.meta.url,
    scenario: async (seed) => {
      const held = await sequentialWrites(seed, 5);
      const eager = await sequentialWrites(seed, 0);
      // Sent at once, every write costs each follower a notice (and an answer to it).
      assert.ok(eager.notices >= 2 * WRITES, `seed ${seed}: ${eager.notices} notices with delay 0`);
      // Held, the next write's append carries it: the last write's notices are left, and a few
      // that a heartbeat's catch-up append overtook (60 or more when sent at once).
      assert.ok(held.notices <= 8, `seed ${seed}: ${held.notices} notices with delay 5 ms`);
      assert.ok(
        held.messages <= eager.messages * 0.6,
        `seed ${seed}: ${held.messages} append messages and answers vs ${eager.messages}`,
      );
      assert.ok(
        held.followersBehindMs <= 5 + MAX_LINK_MS,
        `seed ${seed}: followers applied the last write ${held.followersBehindMs} ms after the leader`,
      );
    },
  });
});

test('commitNoticeDelayMs must be a whole number of ms from 0 to heartbeatMs', async () => {
  for (const bad of [-1, 1.5, 101, Number.NaN]) {
    const error = await RaftNode.create({
      id: 'n1',
      peers: { n1: 'n1:7000' },
      storage: new MemoryStorage(),
      transport: undefined as never,
      stateMachine: new KvStateMachine(),
      heartbeatMs: 100,
      commitNoticeDelayMs: bad,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isRaftConfigError(error), `${bad}: ${String(error)}`);
    assert.match(String((error as Error).message), /commitNoticeDelayMs/);
  }
});

test.run();
