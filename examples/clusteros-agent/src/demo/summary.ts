/**
 * What `node-agent demo` prints while the cluster runs: one line per node from its own
 * dashboard (`/api/v1/status` and `/api/v1/leaders`), so disagreement between nodes shows.
 */
import type { LeaderInfo, RoleInfo, StatusResponse } from '@clusteros/dashboard';

/** One node's view, or why there is none. */
export type NodeView =
  | {
      readonly ok: true;
      readonly alive: number;
      readonly members: number;
      readonly raftLeader: string | null;
      readonly term: number;
      readonly holders: Readonly<Record<string, string | null>>;
      readonly roles: Readonly<Record<string, RoleInfo>>;
    }
  | { readonly ok: false; readonly error: string };

const isSection = (value: unknown): value is { state: string } =>
  typeof value === 'object' && value !== null && 'state' in value;

/** Reads node `url`'s view (bounded by `timeoutMs`). */
export async function readNodeView(url: string, timeoutMs = 2_000): Promise<NodeView> {
  try {
    const get = async (path: string): Promise<unknown> => {
      const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`${path} answered ${response.status}`);
      return response.json();
    };
    const status = (await get('/api/v1/status')) as StatusResponse;
    const leaders = (await get('/api/v1/leaders')) as { leaders: unknown };
    const discovery = isSection(status.discovery) ? undefined : status.discovery;
    const leadership = isSection(status.leadership) ? undefined : status.leadership;
    const roles = isSection(status.roles) ? {} : (status.roles as Record<string, RoleInfo>);
    const holders: Record<string, string | null> = {};
    if (Array.isArray(leaders.leaders))
      for (const leader of leaders.leaders as LeaderInfo[]) holders[leader.role] = leader.node_id;
    return {
      ok: true,
      alive: discovery?.alive ?? 0,
      members: discovery?.members ?? 0,
      raftLeader: leadership?.raft_leader ?? null,
      term: leadership?.term ?? 0,
      holders,
      roles,
    };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** One line for a node: members, Raft leader, role holders, and roles that cannot run. */
export function summaryLine(name: string, view: NodeView): string {
  if (!view.ok) return `${name}: unreachable (${view.error})`;
  const holders = Object.entries(view.holders)
    .filter(([role]) => role !== 'raft')
    .map(([role, holder]) => `${role}=${holder ?? 'none'}`)
    .sort();
  const unavailable = (kind: string): string[] =>
    Object.entries(view.roles)
      .filter(([, info]) => info.detail.startsWith(`${kind}:`))
      .map(([role]) => role)
      .sort();
  const notInstalled = unavailable('not-installed');
  const notManaged = unavailable('not-managed');
  return [
    `${name}: members ${view.alive}/${view.members}`,
    `raft leader ${view.raftLeader ?? 'none'} (term ${view.term})`,
    holders.length === 0 ? 'no singleton holders yet' : `holders ${holders.join(' ')}`,
    ...(notInstalled.length === 0 ? [] : [`not-installed ${notInstalled.join(',')}`]),
    ...(notManaged.length === 0 ? [] : [`not-managed ${notManaged.join(',')}`]),
  ].join(' · ');
}
