/**
 * The schema of the agent's YAML configuration file (zod v4), with every default filled in.
 *
 * Every object is strict: an unknown key is an error, so a typo (`gosip_port`) never passes
 * silently. Every message is phrased `expected …`; `formatIssues` (load.ts) prefixes the dotted
 * path of the field and appends what was found, e.g. `raft.voters: expected an odd number from 1
 * to 7, got 4`. See docs/configuration.md for the meaning of each field.
 *
 * The schema alone does not read files: `cluster.auth_key_file` and `dashboard.token_file` are
 * read (relative to the config file) by `parseConfig`, which turns the result into an
 * {@link AgentConfig} whose secrets are {@link Secret}s.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { Secret } from './secret.js';

const obj = 'expected a mapping';

/** Shortest accepted cluster auth key, in characters. */
export const MIN_AUTH_KEY_LENGTH = 32;
/** Longest accepted cluster auth key, in characters. */
export const MAX_AUTH_KEY_LENGTH = 4096;
/** Shortest accepted dashboard token (what `@clusteros/dashboard` accepts). */
export const MIN_TOKEN_LENGTH = 16;
/** At most this many node tags. */
export const MAX_TAGS = 16;
/** Longest tag key, in characters. */
export const MAX_TAG_KEY_LENGTH = 32;
/** Longest tag value, in characters. */
export const MAX_TAG_VALUE_LENGTH = 64;
/** Upper bound of the sum of the lengths of all tag keys and values (they travel in gossip). */
export const MAX_TAGS_TOTAL_LENGTH = 384;
/** At most this many seeds. */
export const MAX_SEEDS = 64;
/** At most this many enabled roles. */
export const MAX_ROLES = 64;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const NAME_TEXT = "a name of 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit";
const TAG_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const TAG_VALUE_RE = /^[\x20-\x7e]*$/;
const ROLE_RE = /^[a-z][a-z0-9-]{0,62}$/;
const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Whether `value` is an IP literal or a DNS host name (no port). */
export function isHost(value: string): boolean {
  return isIP(value) !== 0 || HOSTNAME_RE.test(value);
}

/** Splits `host:port` (`[v6]:port` for IPv6); undefined when malformed. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value);
  if (m === null) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined ? isIP(host) !== 6 : !isHost(host)) return undefined;
  return { host, port };
}

/** A string schema whose every failure says `expected <text>`. */
const str = (text: string) => z.string({ error: `expected ${text}` });

/** An integer in `[min, max]`; every failure says `expected <text>`. */
function int(min: number, max: number, text = `an integer from ${min} to ${max}`) {
  const error = `expected ${text}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

const name = () => str(NAME_TEXT).regex(NAME_RE, { error: `expected ${NAME_TEXT}` });
const port = () => int(1, 65535, 'a port number from 1 to 65535');
const ipText = 'an IPv4 or IPv6 address';
const ip = () => str(ipText).refine((v) => isIP(v) !== 0, { error: `expected ${ipText}` });
const pathText = 'a file path';
const path = () =>
  str(pathText)
    .min(1, { error: `expected ${pathText}` })
    .max(4096, { error: `expected ${pathText} of at most 4096 characters` })
    .refine((v) => !v.includes('\0'), { error: `expected ${pathText} without NUL characters` });

const clusterSchema = z
  .strictObject(
    {
      /** The cluster's name: nodes of different clusters never merge by accident. */
      name: name(),
      /** Region label (free-form name). */
      region: name().default('default'),
      /** Datacenter label (free-form name). */
      datacenter: name().default('default'),
      /** The cluster auth key, inline. Prefer `auth_key_file`. */
      auth_key: str(`a key of at least ${MIN_AUTH_KEY_LENGTH} characters`)
        .min(MIN_AUTH_KEY_LENGTH, { error: `expected a key of at least ${MIN_AUTH_KEY_LENGTH} characters` })
        .max(MAX_AUTH_KEY_LENGTH, { error: `expected a key of at most ${MAX_AUTH_KEY_LENGTH} characters` })
        .transform((key) => new Secret(key))
        .optional(),
      /** A file holding the cluster auth key, relative to the config file. */
      auth_key_file: path().optional(),
    },
    { error: obj },
  )
  .superRefine((c, ctx) => {
    const both = c.auth_key !== undefined && c.auth_key_file !== undefined;
    if (both || (c.auth_key === undefined && c.auth_key_file === undefined))
      ctx.addIssue({
        code: 'custom',
        params: { complete: true },
        path: both ? ['auth_key_file'] : [],
        message: `expected exactly one of cluster.auth_key and cluster.auth_key_file, got ${both ? 'both' : 'neither'}`,
      });
  });

const tagsSchema = z
  .record(z.string(), str('a tag value (a string)'), { error: 'expected a mapping of tag names to strings' })
  .superRefine((tags, ctx) => {
    const entries = Object.entries(tags);
    if (entries.length > MAX_TAGS)
      ctx.addIssue({ code: 'custom', path: [], message: `expected at most ${MAX_TAGS} tags` });
    let total = 0;
    for (const [key, value] of entries) {
      total += key.length + value.length;
      if (key.length > MAX_TAG_KEY_LENGTH || !TAG_KEY_RE.test(key))
        ctx.addIssue({
          code: 'custom',
          params: { complete: true },
          path: [key],
          message: `expected a tag name of 1 to ${MAX_TAG_KEY_LENGTH} letters, digits, '.', '_', '/' or '-', starting with a letter or digit`,
        });
      if (value.length > MAX_TAG_VALUE_LENGTH || !TAG_VALUE_RE.test(value))
        ctx.addIssue({
          code: 'custom',
          params: { complete: true },
          path: [key],
          message: `expected a tag value of at most ${MAX_TAG_VALUE_LENGTH} printable ASCII characters`,
        });
    }
    if (total > MAX_TAGS_TOTAL_LENGTH)
      ctx.addIssue({
        code: 'custom',
        params: { complete: true },
        path: [],
        message: `expected tags of at most ${MAX_TAGS_TOTAL_LENGTH} characters in all (keys and values)`,
      });
  });

const nodeSchema = z.strictObject(
  {
    /** This node's name (unique in the cluster). Defaults to the host name. */
    name: name().default(() => hostname()),
    /** Free-form labels carried in gossip. */
    tags: tagsSchema.default({}),
  },
  { error: obj },
);

const hostText = 'a host name or IP address (without a port)';
const seedText = 'a seed as host:port ([address]:port for IPv6)';
const networkSchema = z.strictObject(
  {
    /** How peers are found: `static` (the seeds list) or `tailscale` (the tailnet's peers). */
    provider: z
      .enum(['tailscale', 'static'], { error: "expected 'tailscale' or 'static'" })
      .default('static'),
    /** Address the gossip and Raft listeners bind to. */
    bind: ip().default('127.0.0.1'),
    /** Address other nodes should use to reach this one. */
    advertise: str(hostText)
      .refine(isHost, { error: `expected ${hostText}` })
      .optional(),
    /** Gossip (memberlist) port, UDP and TCP. */
    gossip_port: port().default(7946),
    /** Raft transport port, TCP. */
    raft_port: port().default(7947),
    /** Nodes to join at start. */
    seeds: z
      .array(
        str(seedText).refine((s) => parseHostPort(s) !== undefined, { error: `expected ${seedText}` }),
        {
          error: 'expected a list of host:port seeds',
        },
      )
      .max(MAX_SEEDS, { error: `expected at most ${MAX_SEEDS} seeds` })
      .default([]),
  },
  { error: obj },
);

const roleText = "a role name of 1 to 63 lowercase letters, digits or '-', starting with a letter";
const rolesSchema = z.strictObject(
  {
    /** Roles this node may run. */
    enabled: z
      .array(str(roleText).regex(ROLE_RE, { error: `expected ${roleText}` }), {
        error: 'expected a list of role names',
      })
      .max(MAX_ROLES, { error: `expected at most ${MAX_ROLES} roles` })
      .refine((list) => new Set(list).size === list.length, {
        error: 'expected role names without duplicates',
      })
      .default([]),
    preferences: z
      .strictObject(
        {
          /** Election preference: higher wins among eligible nodes. */
          priority: int(-1000, 1000).default(0),
        },
        { error: obj },
      )
      .prefault({}),
  },
  { error: obj },
);

const raftSchema = z
  .strictObject(
    {
      /** Target number of Raft voters. */
      voters: z
        .number({ error: 'expected an odd number from 1 to 7' })
        .int({ error: 'expected an odd number from 1 to 7' })
        .min(1, { error: 'expected an odd number from 1 to 7' })
        .max(7, { error: 'expected an odd number from 1 to 7' })
        .refine((n) => n % 2 === 1, { error: 'expected an odd number from 1 to 7' })
        .default(3),
      /** Base election timeout. */
      election_timeout_ms: int(100, 60_000).default(1000),
      /** Leader heartbeat interval. */
      heartbeat_ms: int(10, 30_000).default(100),
    },
    { error: obj },
  )
  .superRefine((r, ctx) => {
    if (r.heartbeat_ms * 2 > r.election_timeout_ms)
      ctx.addIssue({
        code: 'custom',
        params: { complete: true },
        path: ['heartbeat_ms'],
        message: `expected at most half of raft.election_timeout_ms (${r.election_timeout_ms / 2})`,
      });
  });

const dashboardSchema = z.strictObject(
  {
    /** Dashboard HTTP port. */
    port: port().default(9090),
    /** Dashboard bind address; defaults to `network.bind`. */
    bind: ip().optional(),
    /** A file holding the dashboard bearer token, relative to the config file. */
    token_file: path().optional(),
  },
  { error: obj },
);

const mergeSchema = z.strictObject(
  {
    /** Whether this cluster may merge with another one it discovers. */
    enabled: z.boolean({ error: 'expected true or false' }).default(false),
    /** Whether a merge waits for an operator (`manual`) or proceeds (`auto`). */
    approval: z.enum(['manual', 'auto'], { error: "expected 'manual' or 'auto'" }).default('manual'),
  },
  { error: obj },
);

const SLURM_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const SLURM_NAME_TEXT = "a SLURM cluster name of 1 to 63 lower-case letters, digits, '_' or '-'";
const ALIAS_RE = /^[a-z][a-z0-9-]{0,62}$/;
const ALIAS_TEXT = "a host name of 1 to 63 lower-case letters, digits or '-', starting with a letter";

const slurmSchema = z.strictObject(
  {
    /** `ClusterName` in slurm.conf (the same on every node). */
    cluster_name: str(SLURM_NAME_TEXT)
      .regex(SLURM_NAME_RE, { error: `expected ${SLURM_NAME_TEXT}` })
      .default('clusteros'),
    /** The stable controller name every node's hosts file points at the current holder. */
    controller_alias: str(ALIAS_TEXT)
      .regex(ALIAS_RE, { error: `expected ${ALIAS_TEXT}` })
      .default('slurmctl'),
    /**
     * How job processes are tracked: `cgroup` (confined), `linuxproc` (works without cgroups), or
     * `auto` (cgroup where the host supports it).
     */
    process_tracking: z
      .enum(['auto', 'linuxproc', 'cgroup'], { error: "expected 'auto', 'linuxproc' or 'cgroup'" })
      .default('auto'),
    /** `SlurmctldPort`. */
    slurmctld_port: port().default(6817),
    /** `SlurmdPort`. */
    slurmd_port: port().default(6818),
    /** An existing slurmdbd for job accounting (`host` or `host:port`); absent: no accounting. */
    accounting: str('a host or host:port')
      .refine((v) => isHost(v) || parseHostPort(v) !== undefined, {
        error: 'expected a host name, an IP address, or host:port',
      })
      .optional(),
  },
  { error: obj },
);

const CNI_RE = /^[a-z][a-z0-9-]{0,62}$/;
const CNI_TEXT = "a CNI name of 1 to 63 lower-case letters, digits or '-' (e.g. cilium, calico)";
const IFACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const IFACE_TEXT = 'a network interface name (at most 15 characters)';

const k3sSchema = z
  .strictObject(
    {
      /** How many nodes run `k3s server` (embedded-etcd voters): 1, 3 or 5. */
      servers: z
        .union([z.literal(1), z.literal(3), z.literal(5)], {
          error: 'expected 1, 3 or 5 (an odd number of etcd voters)',
        })
        .default(3),
      /** k3s's `--data-dir`. */
      data_dir: path().default('/var/lib/rancher/k3s'),
      /** The k3s executable (a path, or a name on PATH). */
      binary: str('a path or a command name')
        .min(1, { error: 'expected a path or a command name' })
        .default('k3s'),
      /** Pod networking: flannel over the tailnet, or `cni` with a CNI the operator installs. */
      network: z.enum(['flannel', 'cni'], { error: "expected 'flannel' or 'cni'" }).default('flannel'),
      /** The interface flannel uses (`--flannel-iface`). */
      flannel_iface: str(IFACE_TEXT)
        .regex(IFACE_RE, { error: `expected ${IFACE_TEXT}` })
        .default('tailscale0'),
      /** The CNI you install yourself when `network: cni` (k3s runs with `--flannel-backend=none`). */
      cni: str(CNI_TEXT)
        .regex(CNI_RE, { error: `expected ${CNI_TEXT}` })
        .optional(),
      /** Extra names on the API server certificate (`--tls-san`), besides the node's addresses. */
      tls_san: z
        .array(str(hostText).refine(isHost, { error: `expected ${hostText}` }))
        .max(16)
        .default([]),
      /** How long a server handoff (replacement join, drain, etcd member removal) may take. */
      handoff_timeout_s: int(30, 3600).default(600),
    },
    { error: obj },
  )
  .superRefine((k, ctx) => {
    if (k.network === 'cni' && k.cni === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['cni'],
        message:
          'expected the name of the CNI you install when network is cni: Tailscale is not a CNI, and without one every node stays NotReady',
      });
  });

/** The whole file. Parse with `parseConfig` (load.ts), which also reads the key and token files. */
export const agentConfigSchema = z
  .strictObject(
    {
      cluster: clusterSchema,
      node: nodeSchema.prefault({}),
      network: networkSchema.prefault({}),
      roles: rolesSchema.prefault({}),
      raft: raftSchema.prefault({}),
      dashboard: dashboardSchema.prefault({}),
      merge: mergeSchema.prefault({}),
      slurm: slurmSchema.prefault({}),
      k3s: k3sSchema.prefault({}),
      /** Where the agent keeps its state (Raft log, snapshots); relative to the config file. */
      data_dir: path().default('/var/lib/clusteros'),
    },
    { error: obj },
  )
  .superRefine((c, ctx) => {
    if (c.network.gossip_port === c.network.raft_port)
      ctx.addIssue({
        code: 'custom',
        params: { complete: true },
        path: ['network', 'raft_port'],
        message: `expected a port other than network.gossip_port (${c.network.gossip_port})`,
      });
    if (c.dashboard.port === c.network.gossip_port || c.dashboard.port === c.network.raft_port)
      ctx.addIssue({
        code: 'custom',
        params: { complete: true },
        path: ['dashboard', 'port'],
        message: 'expected a port other than network.gossip_port and network.raft_port',
      });
  })
  .transform((c) => ({ ...c, dashboard: { ...c.dashboard, bind: c.dashboard.bind ?? c.network.bind } }));

/** The file's shape as written (everything optional that has a default). */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** What the schema produces: every default filled in, files not read yet. */
export type ParsedAgentConfig = z.output<typeof agentConfigSchema>;

/**
 * The agent's configuration, fully defaulted, as `parseConfig`/`loadConfig` return it:
 * `cluster.auth_key` is always set (read from `auth_key_file` when that was given),
 * `dashboard.token` is set when `token_file` was given, and every path (`auth_key_file`,
 * `token_file`, `data_dir`) is absolute. Secrets are {@link Secret}s: printing, logging or
 * JSON-encoding the config shows `[redacted]`.
 */
export type AgentConfig = Omit<ParsedAgentConfig, 'cluster' | 'dashboard'> & {
  readonly cluster: Omit<ParsedAgentConfig['cluster'], 'auth_key'> & { readonly auth_key: Secret };
  readonly dashboard: ParsedAgentConfig['dashboard'] & { readonly token?: Secret };
};
