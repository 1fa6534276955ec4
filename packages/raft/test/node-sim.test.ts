// RaftNode end to end in deterministic simulation: FileStorage on crashing disks (unsynced
// writes lost, torn tails), the message bus with seeded loss, duplication and reordering,
// partitions, crashes and restarts, clients doing put/get/cas through any member. Every history
// must be linearizable, no term may have two leaders, and after healing every member converges.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvRangeResult } from '../src/kv/commands.js';
import { kv } from '../src/kv/kv-state-machine.js';
import { type KvCluster, runClient, startKvCluster } from './support/kv-cluster.js';
import { checkLinearizability } from './support/linearizability.js';

const SAFETY_MS = 8_000;

async function faultLoop(cluster: KvCluster, until: () => boolean): Promise<void> {
  const { sim } = cluster;
  const random = sim.random.fork('fault-loop');
  const sleep = (ms: number) => new Promise<void>((resolve) => sim.clock.setTimeout(resolve, ms));
  const down = new Set<string>();
  while (!until()) {
    await sleep(random.int(200, 1_500));
    if (until()) break;
    const roll = random.next();
    if (roll < 0.3 && down.size < cluster.ids.length) {
      const id = random.pick(cluster.ids.filter((x) => !down.has(x)));
      cluster.crash(id);
      down.add(id);
    } else if (roll < 0.55 && down.size > 0) {
      const id = random.pick([...down]);
      down.delete(id);
      await cluster.restart(id);
    } else if (roll < 0.75) {
      const shuffled = random.shuffle([...cluster.ids]);
      const cut = random.int(1, shuffled.length);
      sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (roll < 0.9) {
      sim.heal();
    } else {
      // A planned transfer from the leader to a random other member, amid everything else.
      const leader = [...cluster.nodes.values()].find((node) => node.role === 'leader');
      const target = random.pick([...cluster.ids]);
      if (leader !== undefined && target !== leader.id) {
        leader.transferLeadership(target).catch(() => {
          // timed out or deposed: the fault loop goes on either way
        });
      }
    }
  }
  sim.heal();
  for (const id of down) await cluster.restart(id);
}

async function scenario(seed: number): Promise<void> {
  const size = seed % 4 === 0 ? 5 : 3;
  const cluster = await startKvCluster(seed, size);
  const { sim } = cluster;
  const end = sim.clock.now() + SAFETY_MS;
  const safetyOver = () => sim.clock.now() >= end;
  const running = new Set<string>();
  const failures: unknown[] = [];
  const track = (name: string, task: Promise<void>) => {
    running.add(name);
    task.then(
      () => running.delete(name),
      (error: unknown) => {
        failures.push(error);
        running.delete(name);
      },
    );
  };
  for (const c of [0, 1, 2]) track(`client ${c}`, runClient(cluster, c, safetyOver));
  track('faults', faultLoop(cluster, safetyOver));
  // Clients and faults run on the simulated clock, so the clock must run until they are done.
  const done = await sim.runUntil(() => running.size === 0, SAFETY_MS + 30_000);
  if (!done) throw new Error(`still running after the safety phase: ${[...running].join(', ')}`);
  if (failures.length > 0) throw failures[0];

  // Liveness: everything healed and running; a write must succeed and every member converge.
  let written = false;
  const writer = (async () => {
    for (let attempt = 0; attempt < 100 && !written; attempt++) {
      const node = cluster.nodes.get(sim.random.pick(cluster.ids));
      try {
        await node?.propose(kv.put('final', `seed-${seed}`));
        written = true;
      } catch {
        await new Promise<void>((resolve) => sim.clock.setTimeout(resolve, 100));
      }
    }
  })();
  await sim.waitFor(() => written, 20_000, 'a write after healing');
  void writer;
  const target = () => Math.max(...[...cluster.nodes.values()].map((n) => n.status().commitIndex));
  await sim.waitFor(
    () =>
      cluster.nodes.size === size &&
      [...cluster.nodes.values()].every((n) => n.status().appliedIndex >= target()),
    20_000,
    'every member applies everything',
  );

  assert.equal(cluster.violations, [], `seed ${seed}: ${cluster.violations.join('; ')}`);
  const verdict = checkLinearizability(cluster.history);
  if (verdict.ok !== true) {
    throw new Error(
      `history of ${cluster.history.length} ops is not linearizable: ${JSON.stringify(verdict).slice(0, 2_000)}`,
    );
  }
  const contents = [...cluster.machines.entries()].map(([id, machine]) => {
    const all = machine.query({
      type: 'range',
      key: new Uint8Array([0]),
      rangeEnd: new Uint8Array([0]),
    }) as KvRangeResult;
    return [
      id,
      JSON.stringify(
        all.kvs.map((item) => [
          Buffer.from(item.key).toString(),
          Buffer.from(item.value).toString(),
          item.modRevision,
        ]),
      ),
    ];
  });
  const first = contents[0]?.[1];
  for (const [id, content] of contents) assert.is(content, first, `state of ${id} differs`);
}

test('RaftNode clusters stay linearizable and converge under crashes, partitions and lossy links', async () => {
  await runSeeds({ seeds: 100, file: import.meta.url, scenario });
});

test.run();
