// Helpers for tests that drive the fake k3s (test/support/fake-k3s.mjs): where it is, a PATH dir
// with it as `k3s`, its start records, loopback addresses and free ports for its real etcd, orphan
// etcd cleanup by PID, and a bounded poll.
import { randomInt } from 'node:crypto';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollUntil } from './etcd-cluster.js';

/** Absolute path of the fake k3s executable. */
export const FAKE_K3S_PATH = fileURLToPath(new URL('./fake-k3s.mjs', import.meta.url));

/** Creates `${binDir}/k3s` → the fake and returns binDir (prepend it to PATH with {@link pathWith}). */
export async function installFakeK3s(binDir: string): Promise<string> {
  await mkdir(binDir, { recursive: true });
  await symlink(FAKE_K3S_PATH, join(binDir, 'k3s'));
  return binDir;
}

/** A PATH value with `dir` first. */
export function pathWith(dir: string, path = process.env.PATH ?? '/usr/bin:/bin'): string {
  return `${dir}:${path}`;
}

/** One start of the fake, as it records it in `$FAKE_K3S_RECORD_DIR/<node-name>.jsonl`. */
export interface FakeK3sRecord {
  /** Its arguments (without the binary). */
  readonly argv: string[];
  /** The names (never the values) of its environment variables, sorted. */
  readonly envKeys: string[];
  /** Its PID. */
  readonly pid: number;
  /** `server` or `agent`. */
  readonly mode: string;
  /** When it started (ISO 8601). */
  readonly time: string;
}

/** The start records of `nodeName` (empty when it never started). */
export async function readFakeK3sRecords(recordDir: string, nodeName: string): Promise<FakeK3sRecord[]> {
  const text = await readFile(join(recordDir, `${nodeName}.jsonl`), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FakeK3sRecord);
}

/** Bounded polling, shared with the etcd harness. */
export const until = pollUntil;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills (SIGKILL) the etcd the fake left running under `dataDir` (its PID is in
 * `${dataDir}/server/db/etcd.pid`), only if that PID still runs a program named `etcd`, and waits
 * (bounded) until it is gone. Resolves with the PID killed, or undefined.
 */
export async function killOrphanEtcd(dataDir: string): Promise<number | undefined> {
  const pid = Number(
    (await readFile(join(dataDir, 'server', 'db', 'etcd.pid'), 'utf8').catch(() => '')).trim(),
  );
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  if (comm.trim() !== 'etcd') return undefined;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return undefined;
  }
  await until('orphan etcd gone', 5_000, () => (alive(pid) ? undefined : true), 20);
  return pid;
}

/** `count` addresses 127.A.B.1 … 127.A.B.count in a random /24 of loopback (never 127.0.0.x). */
export function loopbackAddresses(count: number): string[] {
  const a = 64 + randomInt(128);
  const b = randomInt(256);
  return Array.from({ length: count }, (_, i) => `127.${a}.${b}.${i + 1}`);
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A client port and a peer port free on every one of `hosts` now (for FAKE_K3S_ETCD_*_PORT). */
export async function freeEtcdPorts(hosts: readonly string[]): Promise<{ client: number; peer: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const client = 20_000 + 2 * randomInt(20_000);
    const peer = client + 1;
    let free = true;
    for (const host of hosts) {
      if (!(await portFree(host, client)) || !(await portFree(host, peer))) {
        free = false;
        break;
      }
    }
    if (free) return { client, peer };
  }
  throw new Error('no free etcd port pair on the lab addresses');
}

/** POSTs `body` to an etcd JSON gateway path; resolves with the HTTP status and parsed body. */
export async function gatewayPost(
  base: string,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(3_000),
  });
  const text = await response.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { error: text };
  }
  return { status: response.status, json };
}

/** A member as the gateway lists it (ids are decimal strings; default-valued fields are omitted). */
export interface GatewayMember {
  /** uint64 id as a decimal string. */
  readonly ID: string;
  /** Member name; absent for an unstarted learner. */
  readonly name?: string;
  /** Peer URLs. */
  readonly peerURLs?: string[];
  /** Client URLs. */
  readonly clientURLs?: string[];
  /** Present (true) only for learners. */
  readonly isLearner?: boolean;
}

/** The member list through the gateway at `base`. */
export async function listMembers(base: string): Promise<GatewayMember[]> {
  const { status, json } = await gatewayPost(base, '/v3/cluster/member/list', {});
  if (status !== 200) throw new Error(`member list: HTTP ${status}`);
  return (json.members as GatewayMember[] | undefined) ?? [];
}
