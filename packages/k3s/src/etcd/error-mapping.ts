/**
 * etcd's error answers mapped to {@link EtcdGatewayErrorReason}s. The gateway answers an error with
 * `{"error": msg, "message": msg, "code": grpcCode}` and an HTTP status derived from the code; the
 * same code can mean different things (FailedPrecondition is both "learner not in sync" and "not
 * leader"), so the message decides between them. Table measured on etcd 3.4.23 (K3S-NOTES §2.2).
 */
import type { EtcdGatewayErrorReason } from './errors.js';

/** gRPC status codes etcd uses in its gateway error bodies. */
const GRPC = {
  invalidArgument: 3,
  notFound: 5,
  failedPrecondition: 9,
  unavailable: 14,
} as const;

/**
 * The reason for an etcd error answer with gRPC code `grpcCode` and message `message`. The HTTP
 * status is not consulted: the gateway derives it from the code (14 → 503, 9 → 412, 5 → 404, 3 → 400).
 */
export function reasonForGrpcError(grpcCode: number, message: string): EtcdGatewayErrorReason {
  switch (grpcCode) {
    case GRPC.unavailable:
      // `unhealthy cluster` (strict reconfiguration check), `no leader`, `leader changed`, `request
      // timed out`: all mean "the cluster cannot take this now; ask again later".
      return 'unhealthy-cluster';
    case GRPC.failedPrecondition:
      // `can only promote a learner member which is in sync with leader`; the shorter `can only
      // promote a learner member` (the id is a voter) is a different refusal.
      if (message.includes('in sync with leader')) return 'learner-not-in-sync';
      if (/\bnot leader\b/.test(message)) return 'not-leader';
      return 'refused';
    case GRPC.notFound:
      return 'member-not-found';
    case GRPC.invalidArgument:
      return 'invalid-argument';
    default:
      return 'refused';
  }
}
