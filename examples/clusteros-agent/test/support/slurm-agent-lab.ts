// Real agents with the SLURM roles on namespace hosts (see netns-lab.ts): the configuration they
// share, starting and watching their processes, and the SLURM and dashboard calls a test or a
// benchmark makes from inside a host. Used by slurm-lab.test.ts and bench/slurm-handoff.ts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  jobHasEnded,
  jobRuntimeSeconds,
  parseScontrolPing,
  parseSinfoJson,
  parseSqueueJson,
  type SlurmJobInfo,
} from '@clusteros/slurm';
import { stringify } from 'yaml';
import { type LabHost, type LabProcess, NetnsLab } from './netns-lab.js';
import { AgentExited, until } from './until.js';

export { AgentExited, GiveUp, until } from './until.js';

const cli = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'cli.ts');
/** `node-agent` as a command line; the loader is named by path (commands run with `/` as their directory). */
export const NODE_AGENT = [
  process.execPath,
  '--conditions=@clusteros/source',
  '--import',
  import.meta.resolve('tsx'),
  cli,
];

const SLURM_LOG_TIME = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\]/;

/**
 * The epoch ms of a slurmctld log line (NaN without a time stamp). slurmctld writes local time
 * without a zone; it is read as UTC, as these machines run (used for differences and reports).
 */
export function slurmLogTime(line: string): number {
  const stamp = SLURM_LOG_TIME.exec(line)?.[1];
  return stamp === undefined ? Number.NaN : Date.parse(`${stamp}Z`);
}

/** The time field of the agent's JSON log lines. */
const AGENT_LOG_TIME = /"time":(\d+)/;

/** Every address a lab host gets, in order of creation (the lab numbers them from .10). */
const SEED_IPS = ['10.77.0.10', '10.77.0.11', '10.77.0.12', '10.77.0.13'];

/** Hosts running agents with cluster-coordinator, slurm-controller and slurm-worker. */
export class SlurmAgentLab {
  readonly lab: NetnsLab;
  /** Configs, keys and agent logs. */
  readonly shared: string;
  readonly agents = new Map<string, LabProcess>();
  readonly #exited = new Set<LabProcess>();

  private constructor(lab: NetnsLab, shared: string) {
    this.lab = lab;
    this.shared = shared;
  }

  /** A lab with hosts `names`, each configured (agents not started yet). */
  static async create(names: readonly string[]): Promise<SlurmAgentLab> {
    const lab = await NetnsLab.create();
    try {
      const shared = join(lab.base, 'agents');
      await mkdir(shared, { recursive: true });
      await writeFile(join(shared, 'cluster.key'), `${'k'.repeat(20)}-${Date.now()}-lab-cluster-key\n`, {
        mode: 0o600,
      });
      await writeFile(join(shared, 'dashboard.token'), 'lab-dashboard-token-0123456789\n', { mode: 0o600 });
      const agentLab = new SlurmAgentLab(lab, shared);
      for (const name of names) await agentLab.addHost(name);
      return agentLab;
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  }

  /** Adds and configures host `name`. */
  async addHost(name: string): Promise<LabHost> {
    const host = await this.lab.addHost(name);
    const config = {
      cluster: { name: 'lab', auth_key_file: 'cluster.key' },
      node: { name },
      network: { provider: 'static', bind: host.ip, seeds: SEED_IPS.map((ip) => `${ip}:7946`) },
      roles: { enabled: ['cluster-coordinator', 'slurm-controller', 'slurm-worker'] },
      dashboard: { bind: host.ip, token_file: 'dashboard.token' },
      slurm: { cluster_name: 'lab' },
      data_dir: '/var/lib/clusteros/data',
    };
    await writeFile(this.configOf(name), stringify(config), { mode: 0o600 });
    return host;
  }

  /** The current boot of host `name`. */
  host(name: string): LabHost {
    return this.lab.host(name);
  }

  /** Node `name`'s config file. */
  configOf(name: string): string {
    return join(this.shared, `${name}.yaml`);
  }

  /** Starts `node-agent start` on host `name`. */
  startAgent(name: string): LabProcess {
    const agent = this.host(name).spawn([...NODE_AGENT, 'start', '--config', this.configOf(name)], {
      logFile: join(this.shared, `${name}.log`),
    });
    this.agents.set(name, agent);
    void agent.exited.then(() => this.#exited.add(agent));
    return agent;
  }

  /** Forgets agent `name` (it is expected to end); returns its process. */
  release(name: string): LabProcess | undefined {
    const agent = this.agents.get(name);
    this.agents.delete(name);
    return agent;
  }

  /** Throws {@link AgentExited} when an agent that should run has ended. */
  agentsAlive(): void {
    const gone = [...this.agents].filter(([, agent]) => this.#exited.has(agent)).map(([name]) => name);
    if (gone.length > 0) throw new AgentExited(`agent(s) exited: ${gone.join(', ')}`);
  }

  /** Runs `node-agent handoff ROLE --to NODE` on host `from`. */
  async handoff(from: string, role: string, to: string): Promise<void> {
    const out = await this.host(from).run(
      [...NODE_AGENT, 'handoff', role, '--to', to, '--config', this.configOf(from)],
      { timeoutMs: 60_000 },
    );
    if (out.code !== 0) throw new Error(`handoff ${role} to ${to}: ${out.stdout}${out.stderr}`);
  }

  /** The warnings and errors of every agent's log (last 15 each), for a failure report. */
  async warnings(): Promise<string> {
    const parts: string[] = [];
    for (const host of this.lab.hosts()) {
      const log = await readFile(join(this.shared, `${host.name}.log`), 'utf8').catch(() => '');
      const lines = log
        .split('\n')
        .filter((l) => /"level":(40|50)|error|warn/i.test(l))
        .slice(-15);
      if (lines.length > 0) parts.push(`--- ${host.name} warnings:\n${lines.join('\n')}`);
    }
    return parts.join('\n');
  }

  /**
   * Every host's slurmctld log lines and agent log lines within `ms` of time `at` (epoch ms), for
   * a failure report (a failed client call is explained by what the controllers did then).
   */
  async logsAround(at: number, ms: number): Promise<string> {
    const near = (time: number): boolean => Math.abs(time - at) <= ms;
    const parts: string[] = [];
    for (const host of this.lab.hosts()) {
      const ctld = await readFile(host.path('/var/log/slurm/slurmctld.log'), 'utf8').catch(() => '');
      const ctldLines = ctld.split('\n').filter((line) => near(slurmLogTime(line)));
      const agent = await readFile(join(this.shared, `${host.name}.log`), 'utf8').catch(() => '');
      const agentLines = agent.split('\n').filter((line) => {
        const time = AGENT_LOG_TIME.exec(line)?.[1];
        return time !== undefined && near(Number(time));
      });
      parts.push(`--- ${host.name} slurmctld.log:\n${ctldLines.join('\n')}`);
      parts.push(`--- ${host.name} agent log:\n${agentLines.join('\n')}`);
    }
    return parts.join('\n');
  }

  /** Kills every agent and tears the lab down. */
  async teardown(): Promise<void> {
    for (const agent of this.agents.values()) agent.kill('SIGKILL');
    this.agents.clear();
    await this.lab.teardown();
  }
}

/** The controller as `scontrol ping` on `host` sees it: the UP controller's host name, or null. */
export async function controllerSeenFrom(host: LabHost): Promise<string | null> {
  const ping = await host.run(['scontrol', 'ping'], { timeoutMs: 10_000 });
  const up = parseScontrolPing(ping.stdout).find((c) => c.state === 'UP');
  return up?.controller ?? null;
}

/** Every job SLURM lists, asked on `host`. */
export async function squeue(host: LabHost): Promise<SlurmJobInfo[]> {
  const out = await host.run(['squeue', '--json'], { timeoutMs: 30_000 });
  if (out.code !== 0) throw new Error(`squeue: ${out.stderr.trim()}`);
  return parseSqueueJson(out.stdout);
}

/** Job `id` as SLURM lists it, asked on `host`. */
export async function jobState(host: LabHost, id: number): Promise<SlurmJobInfo | undefined> {
  return (await squeue(host)).find((j) => j.id === id);
}

/** The nodes as sinfo lists them, asked on `host`. */
export async function sinfo(host: LabHost) {
  return parseSinfoJson((await host.run(['sinfo', '--json'], { timeoutMs: 20_000 })).stdout);
}

/** Submits `script` from `host` to run on node `node`; its output goes to /var/log/slurm/job-<id>.out there. */
export async function submit(host: LabHost, node: string, script: string): Promise<number> {
  const out = await host.run(
    ['sbatch', '--parsable', '-w', node, '-o', '/var/log/slurm/job-%j.out', '--wrap', script],
    { timeoutMs: 30_000 },
  );
  const id = Number(out.stdout.trim().split(';')[0]);
  if (out.code !== 0 || !Number.isSafeInteger(id)) throw new Error(`sbatch: ${out.stderr.trim()}`);
  return id;
}

/** `GET path` of the dashboard on `host` (asked from inside it). */
export async function api<T>(host: LabHost, path: string): Promise<T> {
  const out = await host.run(
    [
      process.execPath,
      '-e',
      `fetch('http://${host.ip}:9090${path}').then((r) => r.text()).then((t) => process.stdout.write(t))`,
    ],
    { timeoutMs: 20_000 },
  );
  return JSON.parse(out.stdout) as T;
}

/** A running probe and where it writes. */
export interface Probe {
  readonly process: LabProcess;
  /** `<epoch ms> <exit code>` per `scontrol ping`. */
  readonly pingLog: string;
  /** `<epoch ms> <exit code> <duration ms> <first line of stderr>` per `squeue`. */
  readonly squeueLog: string;
}

/**
 * A probe on `host`: `scontrol ping` every 50 ms, and `squeue` every 200 ms, each with a
 * timestamp and exit code, for at most `seconds`, into files named after `tag`.
 */
export function startProbe(host: LabHost, seconds: number, tag = 'probe'): Probe {
  const ping = `/var/log/slurm/${tag}-ping.txt`;
  const sq = `/var/log/slurm/${tag}-squeue.txt`;
  const script = `
    end=$(( $(date +%s) + ${seconds} ))
    ( while [ "$(date +%s)" -lt "$end" ]; do
        t=$(date +%s%3N); err=$(timeout 30 squeue -h 2>&1 >/dev/null); echo "$t $? $(( $(date +%s%3N) - t )) \${err%%$'\n'*}" >> ${sq}; sleep 0.2
      done ) &
    while [ "$(date +%s)" -lt "$end" ]; do
      t=$(date +%s%3N); scontrol ping >/dev/null 2>&1; echo "$t $?" >> ${ping}; sleep 0.05
    done
    wait`;
  const process = host.spawn(['bash', '-c', script], { logFile: host.path(`/var/log/slurm/${tag}.out`) });
  return { process, pingLog: host.path(ping), squeueLog: host.path(sq) };
}

/** Stops `probe` and reads it: the longest ping outage (ms), the squeue calls, which failed, and the slowest. */
export async function readProbe(
  probe: Probe,
): Promise<{ outageMs: number; squeueCalls: number; failed: string[]; slowestSqueueMs: number }> {
  probe.process.kill('SIGKILL');
  await probe.process.exited;
  const pings = await readFile(probe.pingLog, 'utf8').catch(() => '');
  const calls = (await readFile(probe.squeueLog, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  return {
    outageMs: longestOutage(pings),
    squeueCalls: calls.length,
    failed: calls.filter((line) => line.split(' ')[1] !== '0'),
    slowestSqueueMs: Math.max(0, ...calls.map((line) => Number(line.split(' ')[2]) || 0)),
  };
}

/** The longest stretch (ms) in which `scontrol ping` failed, from the first failure to the next success. */
export function longestOutage(pingLog: string): number {
  let longest = 0;
  let downSince: number | undefined;
  for (const line of pingLog.trim().split('\n')) {
    const [t, code] = line.split(' ').map(Number);
    if (t === undefined || code === undefined || Number.isNaN(t)) continue;
    if (code !== 0) downSince ??= t;
    else if (downSince !== undefined) {
      longest = Math.max(longest, t - downSince);
      downSince = undefined;
    }
  }
  return longest;
}

/** Waits until job `id` runs (and has run `minSeconds`), asked on `host`. */
export async function waitRunning(host: LabHost, id: number, minSeconds = 0): Promise<SlurmJobInfo> {
  return until(
    `job ${id} running${minSeconds > 0 ? ` for ${minSeconds} s` : ''}`,
    30_000 + minSeconds * 1000,
    async () => {
      const job = await jobState(host, id);
      return job?.state === 'RUNNING' && jobRuntimeSeconds(job, Date.now() / 1000) >= minSeconds
        ? job
        : undefined;
    },
    250,
  );
}

/** Waits until job `id` has ended (any final state), asked on `host`. */
export async function waitEnded(host: LabHost, id: number, limitMs = 90_000): Promise<SlurmJobInfo> {
  return until(
    `job ${id} ended`,
    limitMs,
    async () => {
      const job = await jobState(host, id);
      return job !== undefined && jobHasEnded(job.state) ? job : undefined;
    },
    250,
  );
}
