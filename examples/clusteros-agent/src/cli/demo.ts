/**
 * `node-agent demo`: a whole cluster on this machine, one agent process per node on loopback
 * (see `src/demo/local-cluster.ts`), with a live summary until Ctrl-C (or `--duration`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalCluster, MAX_LOCAL_NODES } from '../demo/local-cluster.js';
import { readNodeView, summaryLine } from '../demo/summary.js';
import { parseFlags, quote, UsageError } from './args.js';
import type { Writer } from './output.js';

/** Help text of `node-agent demo`. */
export const DEMO_USAGE = `usage: node-agent demo [--nodes N] [--port PORT] [--gossip-port PORT] [--dir DIR] [--duration SECONDS]

Starts N agents as separate processes on 127.0.0.1, each with its own config, data dir and
ports, prints each node's dashboard URL and a live summary (members, Raft leader, holder of
each singleton role), and stops them all gracefully on Ctrl-C. Where k3s is not installed its
roles are enabled and show as not-installed; where it is, the demo leaves them (and the SLURM
roles) off: their daemons would share this one host's data dirs and ports.

  --nodes N            number of agents, 1 to ${MAX_LOCAL_NODES} (default 3)
  --port PORT          dashboard port of the first node; node i uses PORT+i-1 (default 9090)
  --gossip-port PORT   gossip port of the first node; node i uses PORT+2(i-1) and the next
                       port for Raft (default 7946)
  --dir DIR            keep configs, data and logs in DIR (default: a temporary directory,
                       removed at the end)
  --duration SECONDS   stop by itself after this long (default: run until Ctrl-C)
  -h, --help           show this help

Exit status: 0 stopped cleanly, 1 a node failed to stop cleanly, 2 bad arguments.`;

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${flag} must be a whole number, got ${quote(text)}`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${flag} must be from ${min} to ${max}, got ${value}`);
  return value;
}

/** Options only tests need: how to run `node-agent`, and a signal to stop the demo. */
export interface DemoHooks {
  /** The command that runs `node-agent` (default: this Node and this script). */
  readonly command?: readonly string[];
  /** Stops the demo like Ctrl-C. */
  readonly signal?: AbortSignal;
  /** Summary interval in ms. @defaultValue 2000 */
  readonly intervalMs?: number;
}

/** Runs `node-agent demo`; resolves with the exit status once every agent has stopped. */
export async function runDemo(
  argv: readonly string[],
  out: { stdout: Writer; stderr: Writer },
  hooks: DemoHooks = {},
): Promise<number> {
  const args = parseFlags(argv, {
    '--nodes': 'string',
    '--port': 'string',
    '--gossip-port': 'string',
    '--dir': 'string',
    '--duration': 'string',
  });
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument ${quote(args.positionals[0] ?? '')}`);
  const nodes = integer('--nodes', args.values.get('--nodes'), 3, 1, MAX_LOCAL_NODES);
  const basePort = integer('--port', args.values.get('--port'), 9090, 1024, 65535 - MAX_LOCAL_NODES);
  const gossipBase = integer(
    '--gossip-port',
    args.values.get('--gossip-port'),
    7946,
    1024,
    65535 - 2 * MAX_LOCAL_NODES,
  );
  const duration = integer('--duration', args.values.get('--duration'), 0, 1, 86_400);
  const overlaps = (a: number, n: number, b: number, m: number): boolean => a < b + m && b < a + n;
  if (overlaps(basePort, nodes, gossipBase, 2 * nodes))
    throw new UsageError(
      `--port ${basePort} and --gossip-port ${gossipBase} ranges overlap for ${nodes} nodes`,
    );
  const given = args.values.get('--dir');
  const dir = given === undefined ? await mkdtemp(join(tmpdir(), 'clusteros-demo-')) : resolve(given);
  const script = process.argv[1];
  const command = hooks.command ?? [
    process.execPath,
    ...process.execArgv,
    ...(script === undefined ? [] : [script]),
  ];

  const cluster = new LocalCluster({ nodes, dir, basePort, gossipBase, command });
  await cluster.prepare();
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  hooks.signal?.addEventListener('abort', onSignal, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (duration > 0) timer = setTimeout(onSignal, duration * 1000);
  try {
    cluster.startAll();
    out.stdout.write(`ClusterOS demo: ${nodes} agents on 127.0.0.1 (files in ${dir})\n`);
    for (const node of cluster.nodes)
      out.stdout.write(`  ${node.name}  dashboard ${node.url}/  log ${node.log}\n`);
    out.stdout.write(
      `Try: node-agent status --api ${cluster.nodes[0]?.url}  ·  Ctrl-C stops every agent gracefully.\n`,
    );
    let previous = '';
    while (!stop.signal.aborted) {
      const lines: string[] = [];
      for (const node of cluster.nodes) {
        if (!cluster.running(node.name)) {
          lines.push(`${node.name}: exited (${String(await node.exited)}); see ${node.log}`);
          continue;
        }
        lines.push(summaryLine(node.name, await readNodeView(node.url)));
      }
      const text = lines.join('\n');
      if (text !== previous) out.stdout.write(`[${new Date().toISOString().slice(11, 19)}]\n${text}\n`);
      previous = text;
      await new Promise<void>((done) => {
        const finish = (): void => {
          clearTimeout(wait);
          stop.signal.removeEventListener('abort', finish);
          done();
        };
        const wait = setTimeout(finish, hooks.intervalMs ?? 2_000);
        stop.signal.addEventListener('abort', finish, { once: true });
      });
    }
    out.stdout.write('stopping every agent (each hands its roles over first)…\n');
    // One at a time, last node first: each hands its roles to a node that stays up for now,
    // instead of every node offering its roles to others that are stopping too.
    const codes: (readonly [string, number | string])[] = [];
    for (const node of [...cluster.nodes].reverse())
      codes.unshift([node.name, await cluster.stop(node.name)]);
    await cluster.stopAll();
    let clean = true;
    for (const [name, code] of codes) {
      if (code !== 0 && code !== 'not started') clean = false;
      out.stdout.write(`  ${name}: ${code === 0 ? 'stopped cleanly' : `exit ${String(code)}`}\n`);
    }
    if (given === undefined) await rm(dir, { recursive: true, force: true });
    return clean ? 0 : 1;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    hooks.signal?.removeEventListener('abort', onSignal);
  }
}
