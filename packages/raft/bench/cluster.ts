// What the scenarios need from a 3-member cluster, whichever system runs it, and the helpers that
// work on both because both speak etcd's JSON gateway: member ports, status, leader discovery.
import { performance } from 'node:perf_hooks';
import { freePort } from '@clusteros/sim';
import { type Child, logTail, removeFolder, stopChild } from './children.js';
import { type Endpoint, type HttpClient, postJson } from './http-client.js';

export type SystemName = 'etcd' | 'raft-kv';

/** Applied entries between snapshots on both systems (`--snapshot-count`): etcd 3.4's default. */
export const SNAPSHOT_COUNT = 100_000;

/** Raft timings, given to both systems alike. */
export interface RaftTimings {
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
}

export interface BenchMember {
  /** The member's name (e1.. for etcd, n1.. for raft-kv). */
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly child: Child;
  /** The uint64 member id as a decimal string, from `/v3/maintenance/status` `header.member_id`. */
  readonly memberId: string;
}

export interface BenchCluster {
  readonly system: SystemName;
  readonly members: readonly BenchMember[];
  /** The folder holding the members' data folders. */
  readonly root: string;
  /** From spawning the processes to every member agreeing on a leader. */
  readonly startupMs: number;
  /** Stops every member (SIGTERM, bounded wait, SIGKILL) and removes the data. */
  stop(): Promise<void>;
}

export const loopback = (port: number): Endpoint => ({ host: '127.0.0.1', port });

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export interface MemberStatus {
  readonly memberId: string;
  /** The leader's member id as this member sees it, or undefined when it knows none. */
  readonly leader: string | undefined;
}

function headerMemberId(answer: Record<string, unknown>): string | undefined {
  const header = answer.header;
  if (typeof header !== 'object' || header === null) return undefined;
  const id = (header as Record<string, unknown>).member_id;
  return typeof id === 'string' ? id : undefined;
}

export async function memberStatus(client: HttpClient, endpoint: Endpoint): Promise<MemberStatus> {
  const answer = await postJson(client, endpoint, '/v3/maintenance/status', {}, 1_000);
  const memberId = headerMemberId(answer);
  if (memberId === undefined) throw new Error(`status of port ${endpoint.port} has no header.member_id`);
  // Both systems omit `leader` (a zero value) when no leader is known.
  const leader = typeof answer.leader === 'string' && answer.leader !== '0' ? answer.leader : undefined;
  return { memberId, leader };
}

/**
 * Polls the members until every running member answers and all name the same leader, which is
 * itself running and names itself. Bounded by `limitMs`. While `startingUp`, a member process
 * that exits fails at once, with its log tail.
 */
export async function waitForLeader(
  client: HttpClient,
  members: readonly { endpoint: Endpoint; child: Child; name: string }[],
  limitMs: number,
  startingUp = false,
): Promise<{ leaderId: string; ids: string[] }> {
  const deadline = Date.now() + limitMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    // While starting, every member must stay up; later (after a kill) only the living count.
    if (startingUp) assertRunning(members);
    const running = members.filter((m) => m.child.isRunning());
    const statuses = await Promise.all(
      running.map((m) => memberStatus(client, m.endpoint).catch((error: unknown) => String(error))),
    );
    const answered = statuses.filter((s): s is MemberStatus => typeof s !== 'string');
    const leaders = new Set(answered.map((s) => s.leader));
    const [leaderId] = [...leaders];
    if (answered.length === running.length && leaders.size === 1 && leaderId !== undefined) {
      if (answered.some((s) => s.memberId === leaderId)) {
        return { leaderId, ids: statuses.map((s) => (typeof s === 'string' ? '' : s.memberId)) };
      }
    }
    last = JSON.stringify(statuses);
    await sleep(25);
  }
  const logs = members.map((m) => `--- ${m.name}\n${logTail(m.child, 800)}`).join('\n');
  throw new Error(`no agreed leader within ${limitMs} ms (last: ${last})\n${logs}`);
}

/** The running member that currently leads. */
export async function findLeader(client: HttpClient, cluster: BenchCluster): Promise<BenchMember> {
  const { leaderId } = await waitForLeader(client, cluster.members, 15_000);
  const leader = cluster.members.find((m) => m.memberId === leaderId);
  if (leader === undefined)
    throw new Error(`leader ${leaderId} is not a member of the ${cluster.system} cluster`);
  return leader;
}

/** Fails fast, with the log tail, if any member process has exited. */
export function assertRunning(members: readonly { child: Child; name: string }[]): void {
  for (const m of members) {
    if (!m.child.isRunning()) throw new Error(`${m.name} exited during start-up:\n${logTail(m.child)}`);
  }
}

/** A member to start: its name and the ports it serves on. */
export interface MemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

/** Picks free client and peer ports for members called `names`. */
export async function memberSpecs(names: readonly string[]): Promise<MemberSpec[]> {
  const specs: MemberSpec[] = [];
  for (const name of names) specs.push({ name, clientPort: await freePort(), peerPort: await freePort() });
  return specs;
}

/**
 * The half of starting a cluster that both systems share: spawn one process per member, wait
 * until every member answers status and names the same leader, and hand back the cluster. On
 * any failure it stops what it started and removes `root`, so a failed start leaves nothing.
 */
export async function launchCluster(
  system: SystemName,
  client: HttpClient,
  root: string,
  specs: readonly MemberSpec[],
  spawn: (spec: MemberSpec) => Child,
): Promise<BenchCluster> {
  const children: Child[] = [];
  try {
    const started = performance.now();
    for (const spec of specs) children.push(spawn(spec));
    const pending = specs.map((spec, i) => {
      const child = children[i];
      if (child === undefined) throw new Error('spawned fewer children than specs');
      return { name: spec.name, endpoint: loopback(spec.clientPort), child };
    });
    const { ids } = await waitForLeader(client, pending, 30_000, true);
    const startupMs = performance.now() - started;
    const members: BenchMember[] = pending.map((m, i) => ({ ...m, memberId: ids[i] ?? '' }));
    return {
      system,
      members,
      root,
      startupMs,
      async stop() {
        await Promise.all(children.map((child) => stopChild(child)));
        await removeFolder(root);
      },
    };
  } catch (error) {
    await Promise.all(children.map((child) => stopChild(child)));
    await removeFolder(root);
    throw error;
  }
}
