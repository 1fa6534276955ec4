/**
 * k3s's embedded etcd through its v3 JSON gateway: list, add (as learner or voter), promote and
 * remove members, read a member's status, move leadership, check health; exact uint64 member ids;
 * which member belongs to which k3s node; and the options that reach a k3s server's etcd with its
 * own client certificates.
 */
export {
  EtcdGatewayError,
  type EtcdGatewayErrorContext,
  type EtcdGatewayErrorReason,
  isEtcdGatewayError,
} from './errors.js';
export { EtcdGateway } from './gateway.js';
export { ETCD_GATEWAY_MAX_RESPONSE_BYTES } from './http.js';
export {
  EtcdCredentialsError,
  type EtcdCredentialsErrorReason,
  isEtcdCredentialsError,
  K3S_ETCD_GATEWAY_ENDPOINT,
  type K3sEtcdCertificatePaths,
  type K3sEtcdGatewayOverrides,
  k3sEtcdCertificatePaths,
  k3sEtcdGatewayOptions,
} from './k3s-options.js';
export {
  EtcdMemberIdError,
  type EtcdMemberIdErrorReason,
  isEtcdMemberIdError,
  isMemberId,
  memberIdFromHex,
  memberIdToHex,
} from './member-id.js';
export { hasPeerHost, isK3sMemberName, isMemberOf, leaderOf } from './membership.js';
export type { EtcdClientTls, EtcdGatewayOptions, EtcdMember, EtcdStatus } from './types.js';
