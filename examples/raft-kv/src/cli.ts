// raft-kv: one Raft member with a KV state machine behind etcd's v3 JSON API.
//   node examples/raft-kv/dist/cli.js --id n1 --listen-client 127.0.0.1:2379 --listen-peer 127.0.0.1:2380 \
//     --peers n1=127.0.0.1:2380,n2=127.0.0.1:2390,n3=127.0.0.1:2400 --data-dir /tmp/n1 --cluster-key-file key
import type { AddressInfo } from 'node:net';
import { parseArgs, USAGE, UsageError } from './args.js';
import { startRaftKv, type WarmUpOutcome } from './server.js';

/** The serving line's warm-up fields: how long it took, or why it failed. */
function warmUpFields(outcome: WarmUpOutcome | undefined): Record<string, unknown> {
  if (outcome === undefined) return {};
  if ('error' in outcome) return { warmUpError: outcome.error };
  return { warmUpMs: Math.round(outcome.elapsedMs) };
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const args = parseArgs(argv);
  const server = await startRaftKv(args);
  const client = server.http.address() as AddressInfo;
  console.log(
    JSON.stringify({
      msg: 'raft-kv serving',
      id: args.id,
      client: `http://${client.address}:${client.port}`,
      peer: `${args.listenPeer.host}:${args.listenPeer.port}`,
      ...warmUpFields(server.warmUp),
    }),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => {
        console.log(JSON.stringify({ msg: 'raft-kv stopped', id: args.id, signal }));
        process.exit(0);
      },
      (error: unknown) => {
        console.error(JSON.stringify({ msg: 'raft-kv stop failed', error: String(error) }));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`raft-kv: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(`raft-kv: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  process.exit(1);
});
