/**
 * `node-agent info`: who this node is and what it offers, from the config file and local
 * detection only (the agent need not run). Shows the cluster fingerprint, never the key.
 */
import { resolve } from 'node:path';
import { type Capabilities, detectCapabilities } from '../capabilities.js';
import { type AgentConfig, deriveClusterSecrets } from '../config/index.js';
import { parseFlags, quote, UsageError } from './args.js';
import { loadConfigOrReport } from './load-config.js';
import { block, cell, formatBytes, type Writer } from './output.js';

/** Where the config is read from when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = '/etc/clusteros/agent.yaml';

/** Help text of `node-agent info`. */
export const INFO_USAGE = `usage: node-agent info [--config FILE] [--json]

Prints this node's identity as its config describes it (node name, cluster name, region,
datacenter and the cluster fingerprint; never the key), its addresses and ports, and the
capabilities detected on this machine (CPU cores, memory, architecture, NVIDIA GPUs). Does not
need the agent to run.

  --config FILE  the agent's config file (default ${DEFAULT_CONFIG_PATH})
  --json         print JSON instead of a table
  -h, --help     show this help

Exit status: 0 printed, 2 bad arguments or an unusable config file.`;

/** What `node-agent info --json` prints. */
export interface InfoReport {
  readonly config: string;
  readonly node: { readonly name: string; readonly tags: Readonly<Record<string, string>> };
  readonly cluster: {
    readonly name: string;
    readonly region: string;
    readonly datacenter: string;
    readonly fingerprint: string;
  };
  readonly network: {
    readonly provider: string;
    readonly bind: string;
    readonly advertise: string | null;
    readonly gossip_port: number;
    readonly raft_port: number;
    readonly seeds: readonly string[];
  };
  readonly dashboard: { readonly bind: string; readonly port: number };
  readonly roles: readonly string[];
  readonly capabilities: {
    readonly cpu_cores: number;
    readonly ram_bytes: number;
    readonly arch: string;
    readonly gpus: readonly { readonly name: string; readonly memory_bytes: number | null }[];
  };
}

/** Builds the report from a loaded config and detected capabilities. */
export function infoReport(path: string, config: AgentConfig, caps: Capabilities): InfoReport {
  return {
    config: path,
    node: { name: config.node.name, tags: config.node.tags },
    cluster: {
      name: config.cluster.name,
      region: config.cluster.region,
      datacenter: config.cluster.datacenter,
      fingerprint: deriveClusterSecrets(config.cluster.auth_key).fingerprint,
    },
    network: {
      provider: config.network.provider,
      bind: config.network.bind,
      advertise: config.network.advertise ?? null,
      gossip_port: config.network.gossip_port,
      raft_port: config.network.raft_port,
      seeds: config.network.seeds,
    },
    dashboard: { bind: config.dashboard.bind, port: config.dashboard.port },
    roles: config.roles.enabled,
    capabilities: {
      cpu_cores: caps.cpuCores,
      ram_bytes: caps.ramBytes,
      arch: caps.arch,
      gpus: caps.gpus.map((g) => ({ name: g.name, memory_bytes: g.memoryBytes })),
    },
  };
}

/** The report as text. */
export function renderInfo(report: InfoReport): string {
  const tags = Object.entries(report.node.tags).map(([k, v]) => `${k}=${v}`);
  const gpus = report.capabilities.gpus;
  return [
    block('NODE', [
      ['name', cell(report.node.name)],
      ['tags', tags.length === 0 ? '-' : cell(tags.join(', '))],
      ['roles', report.roles.length === 0 ? '-' : cell(report.roles.join(', '))],
      ['config', cell(report.config)],
    ]),
    block('CLUSTER', [
      ['name', cell(report.cluster.name)],
      ['region', cell(report.cluster.region)],
      ['datacenter', cell(report.cluster.datacenter)],
      ['fingerprint', report.cluster.fingerprint],
    ]),
    block('NETWORK', [
      ['provider', report.network.provider],
      ['bind', report.network.bind],
      ['advertise', cell(report.network.advertise)],
      ['gossip port', String(report.network.gossip_port)],
      ['raft port', String(report.network.raft_port)],
      ['dashboard', `${report.dashboard.bind}:${report.dashboard.port}`],
      ['seeds', report.network.seeds.length === 0 ? '-' : cell(report.network.seeds.join(', '))],
    ]),
    block('CAPABILITIES', [
      ['cpu cores', String(report.capabilities.cpu_cores)],
      ['memory', formatBytes(report.capabilities.ram_bytes)],
      ['arch', report.capabilities.arch],
      [
        'gpus',
        gpus.length === 0
          ? 'none'
          : gpus
              .map(
                (g) => `${cell(g.name)}${g.memory_bytes === null ? '' : ` (${formatBytes(g.memory_bytes)})`}`,
              )
              .join(', '),
      ],
    ]),
  ].join('\n');
}

/** Runs `node-agent info` with the arguments after the command name; returns the exit status. */
export async function runInfo(
  argv: readonly string[],
  out: { stdout: Writer; stderr: Writer },
): Promise<number> {
  const args = parseFlags(argv, { '--config': 'string', '--json': 'boolean' });
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument ${quote(args.positionals[0] ?? '')}`);
  const path = args.values.get('--config') ?? DEFAULT_CONFIG_PATH;
  const config = await loadConfigOrReport('info', path, out.stderr);
  if (config === undefined) return 2;
  const caps = await detectCapabilities({ timeoutMs: 3000 });
  const report = infoReport(resolve(path), config, caps);
  out.stdout.write(args.switches.has('--json') ? `${JSON.stringify(report, null, 2)}\n` : renderInfo(report));
  return 0;
}
