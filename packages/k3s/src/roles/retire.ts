/**
 * Taking a k3s server out of the cluster without losing a pod or etcd quorum, in the order the
 * evidence supports (K3S notes §3.1):
 *
 * 1. check: this node is a voter, no learner is catching up, the voters that remain are at least
 *    `minVoters` and include the replacement, and their Kubernetes nodes are Ready — the
 *    replacement came in first (3 → 4 → 3, never 3 → 2);
 * 2. cordon (a strategic-merge patch, as kubectl sends it);
 * 3. drain by evictions (PodDisruptionBudget refusals retried, mirror and DaemonSet pods left);
 * 4. if this node leads etcd, move leadership to the replacement first: removing a leader costs
 *    seconds of write unavailability at k3s's raft timings, moving it first costs milliseconds;
 * 5. have k3s remove the member (the `etcd.k3s.cattle.io/remove` annotation) and wait until it
 *    is gone: k3s records `removed-node-name`, or this node's k3s exits saying its member was
 *    removed (its API server goes with it, so either may be the last word we get).
 *
 * Up to step 3 everything can be undone ({@link undoRetirement}); step 5 is the point of no
 * return. The caller stops the process (it must not restart), wipes `server/db`, and the next
 * holder checks in its own etcd that the member is gone and deletes the Node.
 */
import type { EtcdGateway, EtcdMember } from '../etcd/index.js';
import { isMemberOf } from '../etcd/index.js';
import {
  cordonNode,
  type DrainOptions,
  type DrainReport,
  drainNode,
  K3S_ETCD_ANNOTATIONS,
  type KubeApi,
  realSleep,
  uncordonNode,
} from '../kube/index.js';
import { K3sHandoffError } from './errors.js';
import type { K3sLogger } from './logger.js';
import type { K3sRetiringStep, K3sServerEntry } from './store.js';

/** What {@link retireServer} needs. */
export interface RetireServerInput {
  /** The server being retired (this node). */
  readonly self: K3sServerEntry;
  /** The server that takes its place, if one was brought in. */
  readonly replacement: K3sServerEntry | undefined;
  /** This node's etcd (its local JSON gateway). */
  readonly etcd: EtcdGateway;
  /** The Kubernetes API (this node's API server). */
  readonly kube: KubeApi;
  /** Voters that must remain once this node's member is gone. */
  readonly minVoters: number;
  /** Drain options (timeouts, PodDisruptionBudget retry period). */
  readonly drain?: DrainOptions;
  /** How long k3s may take to remove the member. @defaultValue 120000 */
  readonly removalTimeoutMs?: number;
  /** Records each step before it starts (the retiring record), so a crash half-way is cleaned up. */
  readonly onStep: (step: K3sRetiringStep) => Promise<void>;
  /** Whether this node's k3s has exited after its member was removed (the runtime's last exit). */
  readonly exitedRemoved: () => boolean;
  /** Aborted when the handoff times out. */
  readonly signal: AbortSignal;
  /** Logger. */
  readonly logger: K3sLogger;
}

/** What the retirement did. */
export interface RetireReport {
  /** This node's etcd member (now removed). */
  readonly member: EtcdMember;
  /** The drain's report. */
  readonly drain: DrainReport;
  /** Whether etcd leadership was moved away first. */
  readonly movedLeadership: boolean;
}

/** The Kubernetes node name behind a k3s etcd member (`<node>-<8 hex>`). */
export function nodeNameOfMember(member: EtcdMember): string | undefined {
  const match = /^(.+)-[0-9a-f]{8}$/.exec(member.name);
  return match?.[1];
}

/** Step 1: refuses (typed) unless the cluster can lose this server safely. */
export async function checkVoters(input: RetireServerInput): Promise<EtcdMember> {
  const members = await input.etcd.listMembers(input.signal);
  const own = members.find((member) => isMemberOf(member, input.self.node, input.self.address));
  if (own === undefined) throw new K3sHandoffError('refused', `${input.self.node} is not an etcd member`);
  if (own.isLearner) throw new K3sHandoffError('refused', `${input.self.node} is still an etcd learner`);
  const learners = members.filter((member) => member.isLearner);
  if (learners.length > 0)
    throw new K3sHandoffError(
      'refused',
      `etcd learner ${learners.map((member) => member.name || member.hexId).join(', ')} is still catching up`,
    );
  const remaining = members.filter((member) => member.id !== own.id);
  const replacement = input.replacement;
  if (
    replacement !== undefined &&
    !remaining.some((member) => isMemberOf(member, replacement.node, replacement.address))
  )
    throw new K3sHandoffError('refused', `the replacement ${replacement.node} is not an etcd voter yet`);
  if (remaining.length < input.minVoters)
    throw new K3sHandoffError(
      'refused',
      `removing ${input.self.node} would leave ${remaining.length} etcd voter(s), fewer than ${input.minVoters}: bring a replacement in first`,
    );
  const nodes = await input.kube.listNodes(input.signal);
  for (const member of remaining) {
    const name = nodeNameOfMember(member);
    const node = nodes.find((candidate) => candidate.name === name);
    if (node === undefined || !node.ready)
      throw new K3sHandoffError('refused', `etcd voter ${member.name} has no Ready Kubernetes node`);
  }
  return own;
}

/** Steps 1–5 (see the module comment). Throws {@link K3sHandoffError} or the step's own error. */
export async function retireServer(input: RetireServerInput): Promise<RetireReport> {
  const { etcd, kube, signal, logger } = input;
  const own = await checkVoters(input);
  await input.onStep('cordoned');
  await cordonNode(kube, input.self.node, signal);
  await input.onStep('draining');
  const drain = await drainNode(kube, input.self.node, { ...input.drain, signal });
  logger.info({ evicted: drain.evicted.length }, 'drained');

  let movedLeadership = false;
  const status = await etcd.status(signal);
  if (status.leaderId === own.id) {
    const members = await etcd.listMembers(signal);
    const replacement = input.replacement;
    const target =
      (replacement === undefined
        ? undefined
        : members.find((member) => isMemberOf(member, replacement.node, replacement.address))) ??
      members.find((member) => member.id !== own.id && !member.isLearner);
    if (target === undefined) throw new K3sHandoffError('refused', 'no etcd voter to move leadership to');
    await etcd.transferLeadership(target.id, signal);
    for (let tries = 0; ; tries += 1) {
      const after = await etcd.status(signal);
      if (after.leaderId !== own.id) break;
      if (tries >= 100) throw new K3sHandoffError('etcd', 'etcd leadership did not move');
      await realSleep(100, signal);
    }
    movedLeadership = true;
    logger.info({ to: target.name }, 'moved etcd leadership');
  }

  await input.onStep('removing');
  await kube.annotateNode(input.self.node, { [K3S_ETCD_ANNOTATIONS.remove]: 'true' }, signal);
  const deadline = Date.now() + (input.removalTimeoutMs ?? 120_000);
  for (;;) {
    if (input.exitedRemoved()) break;
    const node = await kube.getNode(input.self.node, signal).catch(() => undefined);
    if (node?.annotations[K3S_ETCD_ANNOTATIONS.removedNodeName] !== undefined) break;
    if (Date.now() > deadline)
      throw new K3sHandoffError('etcd', `k3s did not remove the etcd member of ${input.self.node} in time`);
    await realSleep(200, signal);
  }
  await input.onStep('removed');
  logger.info({ member: own.name }, 'etcd member removed');
  return { member: own, drain, movedLeadership };
}

/** Undoes steps 2–3: uncordons the node (retried, bounded by `signal`). */
export async function undoRetirement(
  kube: () => Promise<KubeApi>,
  node: string,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    try {
      await uncordonNode(await kube(), node, signal);
      return;
    } catch (error) {
      if (signal.aborted) throw error;
      await realSleep(500, signal);
    }
  }
}
