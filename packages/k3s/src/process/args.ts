/**
 * The k3s command line for a node's role, built from the cluster's facts. Everything the adapter
 * relies on is a flag here, so that nothing in the host's environment or in
 * /etc/rancher/k3s/config.yaml can change it: `--config` points at the adapter's own (empty) file,
 * and the process supervisor drops `K3S_*` variables from k3s's environment.
 *
 * The token is never an argument: argv is world-readable through `ps` and /proc. k3s reads it
 * from `--token-file` (written 0600 by {@link writeTokenFile}). The input has no token field at
 * all, so no input can put it here.
 *
 * The order is fixed (mode, data and identity, cluster, token, server-only, networking, extras)
 * so that the same input always gives the same argv: tests compare it with goldens, and a changed
 * argv means a changed k3s configuration.
 */
import { K3sConfigError } from './errors.js';
import { checkExtraArgs } from './extra-args.js';
import {
  checkAbsolutePath,
  checkCniName,
  checkInterfaceName,
  checkIpv4,
  checkJoinUrl,
  checkNodeName,
  checkTlsSan,
} from './validate.js';

/** Which k3s subcommand a node runs: a server (control plane + embedded etcd member) or an agent. */
export type K3sMode = 'server' | 'agent';

/** The interface flannel uses when none is given: Tailscale's. */
export const DEFAULT_FLANNEL_IFACE = 'tailscale0';

/** The name of the adapter's own k3s config file inside the data dir (see {@link defaultConfigFile}). */
export const CONFIG_FILE_NAME = 'clusteros-k3s.yaml';

/**
 * How pod networking is set up.
 * - `flannel` (k3s's default CNI) pinned to an interface, by default `tailscale0`, so that the
 *   VXLAN traffic between nodes goes over the tailnet.
 * - `cni`: flannel off (`--flannel-backend=none --disable-network-policy`); the operator installs
 *   the named CNI. Tailscale carries node traffic but is not a CNI: nodes stay NotReady until one
 *   is installed, so a name is required.
 */
export type K3sNetwork =
  | {
      /** Flannel over a given interface. */
      readonly kind: 'flannel';
      /** The interface flannel uses; default {@link DEFAULT_FLANNEL_IFACE}. */
      readonly iface?: string;
    }
  | {
      /** Flannel disabled; another CNI is installed by the operator. */
      readonly kind: 'cni';
      /** Name of the CNI the operator installs (`cilium`, `calico`). */
      readonly cni: string;
    };

/** The facts {@link buildK3sArgs} turns into a k3s command line. */
export interface K3sArgsInput {
  /** `server` or `agent`. */
  readonly mode: K3sMode;
  /** Server only: start a new cluster (`--cluster-init`). Must be false for agents and joiners. */
  readonly bootstrap: boolean;
  /** `https://<ip>:6443` of a server to join; required unless bootstrapping. */
  readonly joinUrl?: string;
  /** The node name (also the etcd member-name prefix): lowercase RFC 1123, ≤ 63 characters. */
  readonly nodeName: string;
  /** The node's Tailscale IPv4 (`--node-ip`; on servers also the etcd peer address). */
  readonly nodeIp: string;
  /** Server only: `--advertise-address`; defaults to {@link K3sArgsInput.nodeIp}. */
  readonly advertiseAddress?: string;
  /** Server only: extra SANs for the server certificate (the MagicDNS name), in order, duplicates dropped. */
  readonly tlsSans?: readonly string[];
  /** k3s's data dir (absolute). Embedded etcd lives in `${dataDir}/server/db/etcd`. */
  readonly dataDir: string;
  /** The token file (absolute), written by {@link writeTokenFile}. */
  readonly tokenFile: string;
  /** Server only: where k3s writes the admin kubeconfig (mode 0600). Ignored for agents. */
  readonly kubeconfigPath: string;
  /** k3s's `--config` file (absolute); default {@link defaultConfigFile}(dataDir). */
  readonly configFile?: string;
  /** Pod networking. */
  readonly network: K3sNetwork;
  /** Extra arguments, checked by {@link checkExtraArgs}: no secrets, no flags the adapter owns. */
  readonly extraArgs?: readonly string[];
}

/** `${dataDir}/clusteros-k3s.yaml`: the config file passed with `--config` unless another is given. */
export function defaultConfigFile(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, '')}/${CONFIG_FILE_NAME}`;
}

/**
 * The k3s argv (without the binary) for `input`. Every field is validated whichever mode uses it
 * (so that a bad value is found before a mode switch needs it), except `kubeconfigPath`, which
 * agents ignore. Agents also ignore `advertiseAddress` and `tlsSans`. Throws
 * {@link K3sConfigError} (reason + field) on bad input. Never contains the token.
 */
export function buildK3sArgs(input: K3sArgsInput): string[] {
  const mode = input.mode;
  if (mode !== 'server' && mode !== 'agent')
    throw new K3sConfigError('invalid-value', 'mode', "must be 'server' or 'agent'");
  if (typeof input.bootstrap !== 'boolean')
    throw new K3sConfigError('invalid-value', 'bootstrap', 'must be true or false');
  if (input.bootstrap && mode === 'agent')
    throw new K3sConfigError(
      'conflict',
      'bootstrap',
      'an agent cannot bootstrap a cluster; only a server can',
    );
  if (input.bootstrap && input.joinUrl !== undefined)
    throw new K3sConfigError(
      'conflict',
      'joinUrl',
      'a bootstrapping server starts a new cluster (--cluster-init) and joins none; give one or the other',
    );
  const joinUrl = input.bootstrap ? undefined : checkJoinUrl(input.joinUrl);
  const nodeName = checkNodeName(input.nodeName);
  const nodeIp = checkIpv4(input.nodeIp, 'nodeIp');
  const advertise =
    input.advertiseAddress === undefined ? nodeIp : checkIpv4(input.advertiseAddress, 'advertiseAddress');
  const tlsSans = [...new Set((input.tlsSans ?? []).map((san, i) => checkTlsSan(san, `tlsSans[${i}]`)))];
  const dataDir = checkAbsolutePath(input.dataDir, 'dataDir');
  const tokenFile = checkAbsolutePath(input.tokenFile, 'tokenFile');
  const configFile = checkAbsolutePath(input.configFile ?? defaultConfigFile(dataDir), 'configFile');
  const kubeconfig =
    mode === 'server' ? checkAbsolutePath(input.kubeconfigPath, 'kubeconfigPath') : undefined;
  const network = networkArgs(input.network, mode);
  const extra = checkExtraArgs(input.extraArgs);

  const args: string[] = [mode, '--config', configFile, '--data-dir', dataDir, '--node-name', nodeName];
  args.push('--node-ip', nodeIp);
  if (mode === 'server') args.push('--advertise-address', advertise);
  if (joinUrl === undefined) args.push('--cluster-init');
  else args.push('--server', joinUrl);
  args.push('--token-file', tokenFile);
  if (kubeconfig !== undefined) {
    for (const san of tlsSans) args.push('--tls-san', san);
    args.push('--write-kubeconfig', kubeconfig, '--write-kubeconfig-mode', '0600');
  }
  args.push(...network, ...extra);
  return args;
}

function networkArgs(network: K3sNetwork | undefined, mode: K3sMode): string[] {
  if (network === undefined || typeof network !== 'object')
    throw new K3sConfigError('missing-field', 'network', "give { kind: 'flannel' } or { kind: 'cni', cni }");
  if (network.kind === 'flannel')
    return ['--flannel-iface', checkInterfaceName(network.iface ?? DEFAULT_FLANNEL_IFACE, 'network.iface')];
  if (network.kind === 'cni') {
    checkCniName((network as { cni?: unknown }).cni, 'network.cni');
    // --flannel-backend and --disable-network-policy are server flags (critical configuration:
    // the same on every server); an agent simply runs no flannel once the servers say so.
    return mode === 'server' ? ['--flannel-backend=none', '--disable-network-policy'] : [];
  }
  throw new K3sConfigError('invalid-value', 'network.kind', "must be 'flannel' or 'cni'");
}
