/**
 * Operator-supplied extra k3s arguments. They may tune k3s (`--disable=traefik`,
 * `--kube-apiserver-arg=…`), but never set what the adapter owns (the join URL, the node's
 * identity and addresses, the data dir, the networking mode every server must agree on) and never
 * put a secret on the command line, where every local user can read it in `ps`.
 *
 * k3s parses flags like Go's `flag` package: `-name` and `--name` are the same flag, and a value
 * follows either `=` or as the next argument. Every argument that starts with `-` is checked;
 * values are never echoed in errors (one could be a token).
 */
import { K3sConfigError } from './errors.js';

/** Flags the adapter sets itself (long names and k3s's short aliases), with the input field that sets each. */
export const K3S_OWNED_FLAGS: Readonly<Record<string, string>> = Object.freeze({
  server: 'joinUrl',
  s: 'joinUrl',
  'cluster-init': 'bootstrap',
  'cluster-reset': 'nothing: cluster reset is disaster recovery, never a role start',
  'cluster-reset-restore-path': 'nothing: cluster reset is disaster recovery, never a role start',
  'node-ip': 'nodeIp',
  i: 'nodeIp',
  'advertise-address': 'advertiseAddress',
  'node-name': 'nodeName',
  'data-dir': 'dataDir',
  d: 'dataDir',
  'write-kubeconfig': 'kubeconfigPath',
  o: 'kubeconfigPath',
  'write-kubeconfig-mode': 'kubeconfigPath (always 0600)',
  'write-kubeconfig-group': 'kubeconfigPath (owner only)',
  config: 'configFile',
  c: 'configFile',
  'tls-san': 'tlsSans',
  'flannel-backend': 'network',
  'flannel-iface': 'network',
  'disable-network-policy': 'network',
  'datastore-endpoint': 'nothing: the roles use k3s embedded etcd',
  'token-file': 'tokenFile',
  'agent-token-file': 'tokenFile: agents join with the cluster token',
  'vpn-auth-file': 'network',
});

/**
 * Whether the value of flag `name` is a secret: `--token`/`-t`, `--agent-token`, `--vpn-auth`
 * (its joinKey) and anything named like a credential. `…-file` flags name a file, which is how a
 * secret is passed safely (`--token-file`).
 */
function isSecretFlag(name: string): boolean {
  if (name.endsWith('-file')) return false;
  return (
    name === 't' ||
    name === 'vpn-auth' ||
    name.includes('token') ||
    name.includes('secret') ||
    name.includes('password') ||
    name.includes('access-key')
  );
}

/**
 * Checks `args` (the `extraArgs` input, or a whole argv when `field` says so) and returns a copy.
 * Throws {@link K3sConfigError} `token-on-command-line` for any secret-bearing flag (`--token`,
 * `-t`, `-tVALUE`, `--agent-token`, `--vpn-auth`, `--etcd-s3-secret-key`, …) and
 * `flag-not-allowed` for a flag the adapter owns ({@link K3S_OWNED_FLAGS}).
 */
export function checkExtraArgs(args: readonly unknown[] | undefined, field = 'extraArgs'): string[] {
  if (args === undefined) return [];
  if (!Array.isArray(args)) throw new K3sConfigError('invalid-value', field, 'must be an array of strings');
  return args.map((arg, index) => {
    const at = `${field}[${index}]`;
    if (typeof arg !== 'string') throw new K3sConfigError('invalid-value', at, 'must be a string');
    if (arg.includes('\0')) throw new K3sConfigError('invalid-value', at, 'contains NUL');
    checkSecretFlag(arg, at);
    const name = flagName(arg);
    if (name !== undefined && Object.hasOwn(K3S_OWNED_FLAGS, name))
      throw new K3sConfigError(
        'flag-not-allowed',
        at,
        `${name.length === 1 ? '-' : '--'}${name} is set by the adapter (from ${K3S_OWNED_FLAGS[name]}); it cannot be an extra argument`,
      );
    return arg;
  });
}

/**
 * Throws {@link K3sConfigError} `token-on-command-line` when `arg` is a flag that carries a
 * secret. Used on extra arguments and, as a last guard, on every argv the process supervisor
 * starts.
 */
export function checkSecretFlag(arg: string, field: string): void {
  const name = flagName(arg);
  if (name === undefined) return;
  // `-tVALUE` is how a short flag with a glued value looks: refuse any single-dash `-t…` that is
  // not a long flag (`-tls-san`, `-token-file`), rather than risk a token on the command line.
  const gluedShortT = /^-t/.test(arg) && !name.startsWith('tls-') && !name.endsWith('-file');
  if (isSecretFlag(name) || gluedShortT)
    throw new K3sConfigError(
      'token-on-command-line',
      field,
      `${arg.startsWith('--') ? '--' : '-'}${gluedShortT && !isSecretFlag(name) ? 't' : name} would put a secret ` +
        'on the command line (visible in ps): the token goes in the token file (--token-file) only',
    );
}

/** The flag name of `arg` (`--node-ip=1.2.3.4` → `node-ip`, `-t` → `t`), lowercase; undefined for a value. */
function flagName(arg: string): string | undefined {
  const match = /^--?([^=]+)/.exec(arg);
  if (match === null || arg === '-' || arg === '--') return undefined;
  return (match[1] as string).toLowerCase();
}
