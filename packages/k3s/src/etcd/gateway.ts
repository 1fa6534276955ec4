/**
 * A client for one etcd member's v3 JSON gateway (grpc-gateway): membership (list, add, promote,
 * remove), the member's status, leadership transfer and health, with plain `http`/`https` and no
 * gRPC dependency. On a k3s server the gateway is `https://127.0.0.1:2382` with k3s's etcd client
 * certificates (`k3sEtcdGatewayOptions`).
 *
 * What goes to "this member" and what goes to the cluster: membership calls are forwarded by the
 * member to the leader as needed, so any member's gateway serves them; `status` and `health` describe
 * the member behind this endpoint; `transferLeadership` only works on the leader's gateway.
 */
import {
  decodeAddedMember,
  decodeHealth,
  decodeMembers,
  decodeReply,
  decodeStatus,
  type GatewayCall,
  type GatewayReply,
} from './decode.js';
import { EtcdGatewayError } from './errors.js';
import { type GatewayTarget, sendGatewayRequest } from './http.js';
import { checkMemberId, isEtcdMemberIdError } from './member-id.js';
import type { EtcdGatewayOptions, EtcdMember, EtcdStatus } from './types.js';

/** Default bound on one request. */
const DEFAULT_TIMEOUT_MS = 5000;

/** Gateway paths of etcd 3.4/3.5 (3.4's `/v3beta` and `/v3alpha` aliases are not used). */
const PATHS = {
  list: '/v3/cluster/member/list',
  add: '/v3/cluster/member/add',
  promote: '/v3/cluster/member/promote',
  remove: '/v3/cluster/member/remove',
  status: '/v3/maintenance/status',
  transfer: '/v3/maintenance/transfer-leadership',
  health: '/health',
} as const;

/** Talks to one etcd member's v3 JSON gateway; every method throws {@link EtcdGatewayError} on failure. */
export class EtcdGateway {
  /** The gateway's base URL, as given (without a trailing `/`). */
  readonly endpoint: string;
  readonly #target: GatewayTarget;

  /**
   * Checks the options (throws {@link EtcdGatewayError} `'invalid-argument'` for an endpoint that is
   * not an `http:`/`https:` URL without credentials, query or fragment, for TLS material with an
   * `http:` endpoint, or a timeout that is not a positive number of milliseconds); no I/O.
   */
  constructor(options: EtcdGatewayOptions) {
    const invalid = (detail: string): EtcdGatewayError => new EtcdGatewayError('invalid-argument', detail);
    let base: URL;
    try {
      base = new URL(options.endpoint);
    } catch (error) {
      throw new EtcdGatewayError('invalid-argument', 'the endpoint is not a URL', { cause: error });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw invalid('the endpoint is not http: or https:');
    if (base.username !== '' || base.password !== '') throw invalid('the endpoint must not hold credentials');
    if (base.search !== '' || base.hash !== '')
      throw invalid('the endpoint must not have a query or fragment');
    if (options.tls !== undefined && base.protocol !== 'https:') {
      throw invalid('TLS material given for an http: endpoint');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2_147_483_647) {
      throw invalid('timeoutMs must be a positive number of milliseconds');
    }
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.#target = { base, tls: options.tls, timeoutMs };
  }

  /**
   * All members, learners included. Asks for a linearizable list: etcd 3.5 (k3s) then answers only
   * with the leader's agreement, so the list is current; etcd 3.4 ignores the flag and answers from
   * the member's own view.
   */
  async listMembers(signal?: AbortSignal): Promise<EtcdMember[]> {
    const [call, reply] = await this.#post(PATHS.list, { linearizable: true }, signal);
    return decodeMembers(call, decodeReply(call, reply));
  }

  /**
   * Adds a member with these peer URLs, as a learner or a voter, and returns it (with `name` `''`
   * until its etcd starts). The new etcd must then be started with `--initial-cluster-state existing`.
   * etcd refuses with `'unhealthy-cluster'` while any voter is down and for ~5 s after the cluster
   * started; `'invalid-argument'` for malformed URLs; `'refused'` for URLs already in use or a second
   * learner (`too many learner members in cluster`). etcd derives the new member's id from its peer
   * URLs and the current second, so re-adding the same URLs within the second they were removed reuses
   * the removed id and is answered `'member-not-found'` (etcd's "ID removed"); a later retry succeeds.
   */
  async addMember(
    peerUrls: readonly string[],
    options: { readonly learner: boolean },
    signal?: AbortSignal,
  ): Promise<EtcdMember> {
    const [call, reply] = await this.#post(
      PATHS.add,
      { peerURLs: [...peerUrls], isLearner: options.learner },
      signal,
    );
    return decodeAddedMember(call, decodeReply(call, reply));
  }

  /**
   * Promotes learner `id` (decimal) to a voter. `'learner-not-in-sync'` until the learner has started
   * and caught up with the leader (retry); `'refused'` when `id` is already a voter;
   * `'member-not-found'` for an unknown id.
   */
  async promoteMember(id: string, signal?: AbortSignal): Promise<void> {
    const [call, reply] = await this.#post(PATHS.promote, { ID: this.#memberId(id, PATHS.promote) }, signal);
    decodeReply(call, reply);
  }

  /**
   * Removes member `id` (decimal); its etcd then exits by itself (status 0). `'member-not-found'` for
   * an unknown id; `'unhealthy-cluster'` when removing it would leave too few started voters (another
   * member is down). Removing a member that is itself down is allowed while a quorum remains.
   * Remove a leader only after moving leadership away ({@link EtcdGateway.transferLeadership}):
   * otherwise writes stall for an election timeout (~6 s at k3s's timings).
   */
  async removeMember(id: string, signal?: AbortSignal): Promise<void> {
    const [call, reply] = await this.#post(PATHS.remove, { ID: this.#memberId(id, PATHS.remove) }, signal);
    decodeReply(call, reply);
  }

  /** The status of the member behind this endpoint, including the leader it knows of. */
  async status(signal?: AbortSignal): Promise<EtcdStatus> {
    const [call, reply] = await this.#post(PATHS.status, {}, signal);
    return decodeStatus(call, decodeReply(call, reply));
  }

  /**
   * Moves raft leadership to voter `targetId` (decimal), returning once it has moved. etcd only does
   * this on the leader, so this gateway's member must be the current leader (find it with
   * {@link EtcdGateway.status} and `leaderId`); any other member answers `'not-leader'`. A target
   * that is not a started voter gives `'refused'` (`bad leader transferee`).
   */
  async transferLeadership(targetId: string, signal?: AbortSignal): Promise<void> {
    const [call, reply] = await this.#post(
      PATHS.transfer,
      { targetID: this.#memberId(targetId, PATHS.transfer) },
      signal,
    );
    decodeReply(call, reply);
  }

  /**
   * True when the member behind this endpoint reports itself healthy (it has a leader and can serve),
   * false when it answers that it is not; throws when it cannot be asked (`'unreachable'`, `'timeout'`).
   */
  async health(signal?: AbortSignal): Promise<boolean> {
    const call = this.#call('GET', PATHS.health);
    const reply = await sendGatewayRequest(this.#target, call, 'GET', PATHS.health, undefined, signal);
    return decodeHealth(call, reply);
  }

  #call(method: string, path: string): GatewayCall {
    return { operation: `${method} ${path}`, endpoint: this.endpoint };
  }

  async #post(
    path: string,
    body: object,
    signal: AbortSignal | undefined,
  ): Promise<[GatewayCall, GatewayReply]> {
    const call = this.#call('POST', path);
    const reply = await sendGatewayRequest(this.#target, call, 'POST', path, JSON.stringify(body), signal);
    return [call, reply];
  }

  /** `id` checked before it is sent: a bad id is the caller's error, not a question for etcd. */
  #memberId(id: string, path: string): string {
    try {
      return checkMemberId(id);
    } catch (error) {
      if (!isEtcdMemberIdError(error)) throw error;
      throw new EtcdGatewayError('invalid-argument', error.message, {
        ...this.#call('POST', path),
        cause: error,
      });
    }
  }
}
