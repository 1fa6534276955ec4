// Starts raft-kv members as real processes on loopback, with their own data folders, and stops
// only those processes, by PID. Used by the process tests and the benchmarks.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@clusteros/sim';

export const CLI = resolve(fileURLToPath(new URL('../../dist/cli.js', import.meta.url)));

export interface Member {
  readonly id: string;
  readonly clientUrl: string;
  readonly peerAddress: string;
  readonly dataDir: string;
  process: ChildProcess | undefined;
  output: string;
}

export interface ProcessCluster {
  readonly members: Member[];
  readonly root: string;
  start(id: string): Promise<void>;
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

type ClusterOptions = { heartbeatMs?: number; electionTimeoutMs?: number; dataRoot?: string };

/**
 * Starts `size` members and waits until each serves. A start that fails stops the members it
 * started and removes their folder (so no process outlives a failed test); one whose port another
 * process took between picking and binding it (other test files run in parallel) is tried again
 * with new ports, at most three times.
 */
export async function startProcessCluster(
  size: number,
  options: ClusterOptions = {},
): Promise<ProcessCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(size, options);
    } catch (error) {
      if (attempt >= 3 || !String((error as Error).message).includes('EADDRINUSE')) throw error;
    }
  }
}

async function startOnce(size: number, options: ClusterOptions): Promise<ProcessCluster> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const root = await mkdtemp(join(options.dataRoot ?? tmpdir(), 'raft-kv-'));
  const keyFile = join(root, 'cluster.key');
  await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
  const members: Member[] = [];
  for (let i = 1; i <= size; i++) {
    members.push({
      id: `n${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerAddress: `127.0.0.1:${await freePort()}`,
      dataDir: join(root, `n${i}`),
      process: undefined,
      output: '',
    });
  }
  const peers = members.map((m) => `${m.id}=${m.peerAddress}`).join(',');
  const byId = (id: string): Member => {
    const member = members.find((m) => m.id === id);
    if (member === undefined) throw new Error(`no member ${id}`);
    return member;
  };

  const start = (id: string): Promise<void> => {
    const member = byId(id);
    const args = [
      CLI,
      '--id',
      member.id,
      '--listen-client',
      member.clientUrl.replace('http://', ''),
      '--listen-peer',
      member.peerAddress,
      '--peers',
      peers,
      '--data-dir',
      member.dataDir,
      '--cluster-key-file',
      keyFile,
      '--heartbeat-ms',
      String(options.heartbeatMs ?? 50),
      '--election-timeout-ms',
      String(options.electionTimeoutMs ?? 500),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    member.process = child;
    member.output = '';
    return new Promise<void>((ready, fail) => {
      // Generous: every member runs its warm-up (about 0.5 s of CPU) before serving, five at once
      // on 2 cores beside another test file.
      const timer = setTimeout(
        () => fail(new Error(`${id} did not start within 20 s:\n${member.output}`)),
        20_000,
      );
      const onData = (chunk: Buffer) => {
        member.output += chunk.toString();
        if (member.output.includes('raft-kv serving')) {
          clearTimeout(timer);
          ready();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`${id} exited with ${code}:\n${member.output}`));
      });
    });
  };

  const kill = async (id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const member = byId(id);
    const child = member.process;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    member.process = undefined;
  };

  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    await Promise.all(members.map((m) => kill(m.id, signal)));
    await rm(root, { recursive: true, force: true });
  };
  const started = await Promise.allSettled(members.map((m) => start(m.id)));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await stop('SIGKILL');
    throw failed.reason;
  }
  return { members, root, start, kill, stop: () => stop('SIGTERM') };
}

/** POSTs JSON to a member with a deadline; resolves with status and body. */
export async function post(
  url: string,
  body: unknown,
  timeoutMs = 2_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export const b64 = (text: string): string => Buffer.from(text).toString('base64');
export const unb64 = (text: string): string => Buffer.from(text, 'base64').toString();

/** Polls until `predicate` resolves true, at most `limitMs`; throws naming `what` otherwise. */
export async function eventually(
  predicate: () => Promise<boolean>,
  limitMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await predicate().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} did not happen within ${limitMs} ms`);
}
