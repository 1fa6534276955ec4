// A five-node cluster in deterministic simulation. Each node sends a heartbeat datagram to every
// peer each second and considers a peer failed after 3 s of silence. We partition the cluster
// 2 | 3, watch each side declare the other failed, heal, watch them recover, and then run the
// same seed again to show that the whole run replays bit for bit.
//
//   npm run demo:sim        (seed 1)
//   npm run demo:sim -- 42  (another seed)
import { type DatagramSocket, latency, type SimNode, Simulation } from '@clusteros/sim';

const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
const PORT = 7946;

interface Runtime {
  socket?: DatagramSocket;
  lastHeard: Map<string, number>;
}

async function scenario(seed: number, log: (line: string) => void): Promise<string> {
  const sim = new Simulation({ seed, link: { latency: latency.uniform(1, 20), loss: 0.05 } });
  const runtimes = new Map<string, Runtime>();

  const boot = async (node: SimNode): Promise<void> => {
    const runtime: Runtime = { lastHeard: new Map() };
    runtimes.set(node.name, runtime);
    const socket = await node.network.bindDatagram({ host: node.name, port: PORT });
    runtime.socket = socket;
    socket.onMessage((_data, from) => runtime.lastHeard.set(from.host, node.clock.now()));
    node.clock.setInterval(() => {
      for (const peer of names) {
        if (peer !== node.name) socket.send({ host: peer, port: PORT }, new TextEncoder().encode('hb'));
      }
    }, 1_000);
  };
  for (const name of names) sim.addNode(name, { boot, driftPpm: sim.random.int(-100, 101) });
  await sim.startAll();

  const view = (name: string): string[] => {
    const runtime = runtimes.get(name);
    const now = sim.node(name).clock.now();
    return names.filter((peer) => peer === name || now - (runtime?.lastHeard.get(peer) ?? -Infinity) < 3_000);
  };
  const show = (label: string) => {
    log(`t=${(sim.clock.now() / 1000).toFixed(1)}s ${label}`);
    for (const name of names) log(`  ${name} sees ${view(name).join(' ')}`);
  };

  await sim.advance(5_000);
  show('steady state');
  sim.partition([
    ['n1', 'n2'],
    ['n3', 'n4', 'n5'],
  ]);
  await sim.waitFor(
    () => view('n1').length === 2 && view('n3').length === 3,
    10_000,
    'both sides see the split',
  );
  show('partitioned n1 n2 | n3 n4 n5');
  sim.heal();
  await sim.waitFor(() => names.every((n) => view(n).length === 5), 10_000, 'every node sees all five again');
  show('healed');
  const stats = sim.network.stats();
  log(`datagrams: ${stats.datagrams.sent} sent, ${stats.datagrams.delivered} delivered`);
  return sim.digest();
}

const seed = Number(process.argv[2] ?? 1);
const first = await scenario(seed, (line) => console.log(line));
const replay = await scenario(seed, () => {});
console.log(
  `seed ${seed}: trace digest ${first.slice(0, 16)}…, replay ${replay === first ? 'identical' : 'DIFFERENT'}`,
);
if (replay !== first) process.exit(1);
