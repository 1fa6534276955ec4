// A planned leadership transfer under load costs clients latency, not errors: proposals that
// reach the old leader while it hands over, or a member that briefly knows no leader, wait and
// go to the new leader. Deterministic simulation over many seeds, lossless links.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../src/core/types.js';
import { kv } from '../src/kv/kv-state-machine.js';
import type { RaftTransport } from '../src/transport/transport.js';
import {
  type KvNode,
  observeInbound,
  outcome,
  slowSaves,
  startKvTrio,
  wrapSaves,
} from './support/kv-trio.js';

async function scenario(seed: number): Promise<void> {
  const { sim, ids, nodes, leaderNow } = await startKvTrio({ seed });

  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  let running = 0;
  for (const id of ids) {
    for (let c = 0; c < 3; c++) {
      running++;
      void (async () => {
        const node = nodes.get(id) as KvNode;
        for (let i = 0; !stop; i++) {
          try {
            await node.propose(kv.put(`k${c}`, `${id}-${c}-${i}`));
            ok++;
          } catch (error) {
            failures.push(`${id}: ${(error as Error).message}`);
          }
        }
        running--;
      })();
    }
  }
  await sim.advance(300);
  const before = leaderNow() as KvNode;
  const target = ids.find((id) => id !== before.id) as string;
  const okBefore = ok;
  await Promise.all([before.transferLeadership(target), sim.advance(1_000)]);
  assert.is(leaderNow()?.id, target, `seed ${seed}: ${target} leads`);
  stop = true;
  await sim.waitFor(() => running === 0, 5_000, 'clients finish');
  assert.ok(ok > okBefore + 50, `seed ${seed}: writes continued (${ok - okBefore})`);
  assert.equal(
    failures,
    [],
    `seed ${seed}: failed proposals during the transfer: ${[...new Set(failures)].join(' | ')}`,
  );
}

test('a planned leadership transfer under load fails no proposal', async () => {
  await runSeeds({ seeds: 30, file: import.meta.url, scenario });
});

// A leader that tells its target to campaign sends the proposals it holds right after, so the
// target appends them with its first entries: they do not wait until the old leader learns who
// won. Here the target's messages to the old leader are lost from the moment it is told to
// campaign, so the old leader never learns it: only the hand-over can get the write through.
async function handOverScenario(seed: number): Promise<void> {
  let oldLeader: string | null = null;
  let cut: (from: string, to: string) => void = () => undefined;
  // Cuts target → old leader as the target receives timeoutNow, before it can answer anything.
  const cutting = (id: string, transport: RaftTransport): RaftTransport =>
    observeInbound(transport, (message) => {
      if (message.type === 'timeoutNow' && oldLeader !== null) cut(id, oldLeader);
    });
  const { sim, bus, ids, nodes, leader: before } = await startKvTrio({ seed, transport: cutting });
  cut = (from, to) => bus.setLink(from, to, { loss: 1 });
  const [target, proposer] = ids.filter((id) => id !== before.id) as [string, string];
  // The target misses the leader's next entry, so the transfer waits for it to catch up and
  // the proposer's write arrives at the leader while it is handing over (and is held there).
  bus.setLink(before.id, target, { loss: 1 });
  void before.propose(kv.put('lag', 'x')).catch(() => undefined);
  await sim.advance(20);
  oldLeader = before.id;
  // It cannot complete here (the old leader never hears of the new one): not awaited.
  void before.transferLeadership(target).catch(() => undefined);
  const write = outcome((nodes.get(proposer) as KvNode).propose(kv.put('k', 'v')));
  await sim.advance(20);
  bus.resetLink(before.id, target);
  await sim.waitFor(() => write.settled, 4_000, 'the write settles');
  assert.is(write.error, undefined, `seed ${seed}: ${write.error?.message}`);
  assert.is(write.value?.type, 'put', `seed ${seed}: a put result`);
  assert.is.not(before.leader, target, `seed ${seed}: the old leader never heard from the new one`);
  assert.is(nodes.get(target)?.role, 'leader', `seed ${seed}: the target leads`);
}

test('a leader handing over sends its held proposals to the target with timeoutNow', async () => {
  await runSeeds({ seeds: 20, file: import.meta.url, scenario: handOverScenario });
});

// The old leader's fsync of its new term and vote is not on the target's way: timeoutNow leaves
// before it, the granted vote after it, and the target persists its own term meanwhile.
async function overlapScenario(seed: number): Promise<void> {
  const SLOW_SAVE_MS = 40;
  let slowId: string | null = null;
  const arrivals: { type: Message['type']; at: number }[] = [];
  let watch: { from: string; to: string } | null = null;
  let now = () => 0;
  const recording = (id: string, transport: RaftTransport): RaftTransport =>
    observeInbound(transport, (message) => {
      if (watch !== null && id === watch.to && message.from === watch.from)
        arrivals.push({ type: message.type, at: now() });
    });
  const { sim, ids, nodes, leader } = await startKvTrio({
    seed,
    transport: recording,
    storage: (id, storage, clock) => slowSaves(storage, clock, () => (id === slowId ? SLOW_SAVE_MS : 0)),
  });
  now = () => sim.clock.now();
  const target = ids.find((id) => id !== leader.id) as string;
  slowId = leader.id;
  await sim.advance(100);
  watch = { from: leader.id, to: target };
  const start = sim.clock.now();
  const done = outcome(leader.transferLeadership(target));
  await sim.waitFor(() => done.settled, 2_000, 'the transfer');
  assert.is(done.error, undefined, `seed ${seed}: ${done.error?.message}`);
  assert.is(nodes.get(target)?.role, 'leader', `seed ${seed}: the target leads`);
  const timeoutNow = arrivals.find((a) => a.type === 'timeoutNow');
  const vote = arrivals.find((a) => a.type === 'voteResponse');
  assert.ok(timeoutNow !== undefined && vote !== undefined, `seed ${seed}: both arrived`);
  assert.ok(
    timeoutNow.at - start < SLOW_SAVE_MS,
    `seed ${seed}: timeoutNow after ${timeoutNow.at - start} ms`,
  );
  assert.ok(vote.at - start >= SLOW_SAVE_MS, `seed ${seed}: the vote after ${vote.at - start} ms`);
}

test('a leader handing over sends timeoutNow before its fsync and its granted vote after', async () => {
  await runSeeds({ seeds: 20, file: import.meta.url, scenario: overlapScenario });
});

// Under load a leader is usually persisting a batch when the target's last acknowledgement
// arrives; timeoutNow then leaves at once instead of after that batch's fsync.
async function inFlightSaveScenario(seed: number): Promise<void> {
  const SLOW_SAVE_MS = 60;
  let slowId: string | null = null;
  let target = '';
  let timeoutNowAt: number | undefined;
  let now = () => 0;
  const recording = (id: string, transport: RaftTransport): RaftTransport =>
    observeInbound(transport, (message) => {
      if (id === target && message.type === 'timeoutNow') timeoutNowAt ??= now();
    });
  const { sim, ids, nodes, leader } = await startKvTrio({
    seed,
    transport: recording,
    storage: (id, storage, clock) => slowSaves(storage, clock, () => (id === slowId ? SLOW_SAVE_MS : 0)),
  });
  now = () => sim.clock.now();
  target = ids.find((id) => id !== leader.id) as string;
  await sim.advance(100);
  slowId = leader.id;
  const start = sim.clock.now();
  // The write's entry is appended and its (slow) save starts before the transfer is asked
  // for, so the target has not acknowledged the whole log yet: the leader waits for that ack,
  // which arrives while the save is still in flight.
  const write = outcome(leader.propose(kv.put('k', 'v')));
  const done = outcome(leader.transferLeadership(target));
  await sim.waitFor(() => done.settled && write.settled, 2_000, 'the transfer and the write');
  assert.is(done.error, undefined, `seed ${seed}: ${done.error?.message}`);
  assert.is(write.error, undefined, `seed ${seed}: ${write.error?.message}`);
  assert.is(nodes.get(target)?.role, 'leader', `seed ${seed}: the target leads`);
  assert.ok(timeoutNowAt !== undefined, `seed ${seed}: timeoutNow arrived`);
  assert.ok(
    timeoutNowAt - start < SLOW_SAVE_MS / 2,
    `seed ${seed}: timeoutNow arrived ${timeoutNowAt - start} ms after the write, behind the ${SLOW_SAVE_MS} ms save`,
  );
}

test('timeoutNow does not wait for a batch the leader is still persisting', async () => {
  await runSeeds({ seeds: 20, file: import.meta.url, scenario: inFlightSaveScenario });
});

// A leader whose whole log is on its way to the target sends it a conditional timeoutNow right
// behind the appends, and the target steps every frame of one network read before it persists
// anything: the entries and its new term and vote then go to disk in one save.
async function oneReadScenario(seed: number): Promise<void> {
  let holdFrom: string | null = null;
  let target = '';
  const held: Message[] = [];
  let deliver: (message: Message) => void = () => undefined;
  const holding = (id: string, transport: RaftTransport): RaftTransport =>
    observeInbound(transport, (message, handler) => {
      if (id !== target) return true;
      deliver = handler;
      if (message.from !== holdFrom) return true;
      held.push(message);
      return false;
    });
  const saves: { id: string; entries: number; term?: number; vote?: string | null }[] = [];
  const { sim, ids, nodes, leader } = await startKvTrio({
    seed,
    transport: holding,
    storage: (id, storage) =>
      wrapSaves(storage, (save) => (update) => {
        saves.push({
          id,
          entries: update.entries.length,
          ...(update.hardState ? { term: update.hardState.term, vote: update.hardState.vote } : {}),
        });
        return save(update);
      }),
  });
  target = ids.find((id) => id !== leader.id) as string;
  await sim.advance(100);
  const term = leader.term;
  holdFrom = leader.id;
  const write = outcome(leader.propose(kv.put('k', 'v')));
  const done = outcome(leader.transferLeadership(target));
  await sim.advance(20);
  const condition = held.find((m) => m.type === 'timeoutNow');
  assert.ok(
    condition?.type === 'timeoutNow' && condition.index !== undefined,
    `seed ${seed}: conditional timeoutNow`,
  );
  assert.ok(
    held.indexOf(condition) > held.findIndex((m) => m.type === 'append' && m.entries.length > 0),
    `seed ${seed}: behind the append`,
  );
  // One read: every held frame at once, as they would come off one TCP segment.
  holdFrom = null;
  const firstSave = saves.length;
  for (const message of held.splice(0)) deliver(message);
  await sim.waitFor(() => done.settled && write.settled, 2_000, 'the transfer and the write');
  assert.is(done.error, undefined, `seed ${seed}: ${done.error?.message}`);
  assert.is(write.error, undefined, `seed ${seed}: ${write.error?.message}`);
  assert.is(nodes.get(target)?.role, 'leader', `seed ${seed}: the target leads`);
  const targetSave = saves.slice(firstSave).find((s) => s.id === target);
  assert.equal(
    targetSave && { entries: targetSave.entries > 0, term: targetSave.term, vote: targetSave.vote },
    { entries: true, term: term + 1, vote: target },
    `seed ${seed}: the entries and the new term and vote in the target's first save`,
  );
}

test('a target persists the last entries and its campaign in one save when they come in one read', async () => {
  await runSeeds({ seeds: 20, file: import.meta.url, scenario: oneReadScenario });
});

test.run();
