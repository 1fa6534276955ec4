// Child process run inside a node's network namespace (`ip netns exec NS node … etcd-netns-runner.ts`):
// it makes the EtcdGateway calls the parent asks for, from that namespace, so "node 1's gateway"
// really is node 1's own 127.0.0.1:2379. One JSON request per stdin line, one JSON answer per stdout
// line; EtcdGatewayErrors travel as their fields and are rebuilt by the parent (etcd-netns.ts).
import { createInterface } from 'node:readline';
import { EtcdGateway, isEtcdGatewayError } from '../../src/etcd/index.js';

/** A call the parent asks for. */
export interface RunnerRequest {
  readonly id: number;
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly op:
    | 'listMembers'
    | 'addMember'
    | 'promoteMember'
    | 'removeMember'
    | 'status'
    | 'transferLeadership'
    | 'health';
  readonly args: readonly unknown[];
}

/** The answer to one {@link RunnerRequest}. */
export type RunnerAnswer =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: {
        readonly message: string;
        readonly gateway?: {
          readonly reason: string;
          readonly detail: string;
          readonly operation?: string | undefined;
          readonly endpoint?: string | undefined;
          readonly status?: number | undefined;
          readonly grpcCode?: number | undefined;
          readonly serverMessage?: string | undefined;
        };
      };
    };

async function perform(request: RunnerRequest): Promise<unknown> {
  const gateway = new EtcdGateway({ endpoint: request.endpoint, timeoutMs: request.timeoutMs });
  const [first, second] = request.args;
  switch (request.op) {
    case 'listMembers':
      return gateway.listMembers();
    case 'addMember':
      return gateway.addMember(first as string[], second as { learner: boolean });
    case 'promoteMember':
      return gateway.promoteMember(first as string);
    case 'removeMember':
      return gateway.removeMember(first as string);
    case 'status':
      return gateway.status();
    case 'transferLeadership':
      return gateway.transferLeadership(first as string);
    case 'health':
      return gateway.health();
  }
}

function send(answer: RunnerAnswer): void {
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const request = JSON.parse(line) as RunnerRequest;
  perform(request).then(
    (value) => send({ id: request.id, ok: true, value: value ?? null }),
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!isEtcdGatewayError(error)) {
        send({ id: request.id, ok: false, error: { message } });
        return;
      }
      const { reason, detail, operation, endpoint, status, grpcCode, serverMessage } = error;
      send({
        id: request.id,
        ok: false,
        error: { message, gateway: { reason, detail, operation, endpoint, status, grpcCode, serverMessage } },
      });
    },
  );
});
// The parent closing stdin (or dying) ends the runner.
lines.on('close', () => process.exit(0));
process.stdout.write('ready\n');
