// A planned leadership transfer under load costs clients latency, not errors: proposals that
// reach the old leader while it hands over, or a member that briefly knows no leader, wait and
// go to the new leader. Deterministic simulation over many seeds, lossless links.
import { latency, runSeeds, type SimNode, Simulation } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvQuery, KvQueryResult, KvResult } from '../src/kv/commands.js';
import { KvStateMachine, kv } from '../src/kv/kv-state-machine.js';
import { RaftNode } from '../src/node.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { SimRaftBus } from '../src/transport/sim-bus.js';

type KvNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

async function scenario(seed: number): Promise<void> {
  const sim = new Simulation({ seed });
  const bus = new SimRaftBus({
    clock: sim.clock,
    random: sim.random.fork('bus'),
    network: sim.network,
    link: { latency: latency.uniform(1, 5) },
  });
  const ids = ['n1', 'n2', 'n3'];
  const peers = Object.fromEntries(ids.map((id) => [id, `${id}:7000`]));
  const nodes = new Map<string, KvNode>();
  const boot = async (node: SimNode) => {
    nodes.set(
      node.name,
      await RaftNode.create({
        id: node.name,
        peers,
        storage: new MemoryStorage(),
        transport: bus.reconnect(node.name),
        stateMachine: new KvStateMachine(),
        clock: node.clock,
        random: node.random,
        electionTimeoutMs: 300,
        heartbeatMs: 50,
        requestTimeoutMs: 3_000,
      }),
    );
  };
  for (const id of ids) sim.addNode(id, { boot });
  await sim.startAll();
  const leaderNow = () => [...nodes.values()].find((n) => n.role === 'leader');
  await sim.waitFor(() => leaderNow() !== undefined, 5_000, 'a leader');

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

test.run();
