/**
 * Checks on the values that go onto a k3s command line. Each either returns the value to use or
 * throws {@link K3sConfigError} naming the field. Values are never echoed for fields that could
 * carry a secret; addresses, names and paths are echoed so that a wrong one is easy to spot.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { isAbsolute } from 'node:path';
import { K3sConfigError } from './errors.js';

/** Longest node name: k3s uses it as the prefix of the etcd member name `<node>-<8 hex>`. */
export const MAX_NODE_NAME_LENGTH = 63;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_LABEL_ANY_CASE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Quotes a value for a message, bounded so that a pasted blob cannot flood a log line. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * A Kubernetes node name: a lowercase RFC 1123 subdomain (labels of `a-z0-9-`, not starting or
 * ending with `-`, joined by `.`), at most {@link MAX_NODE_NAME_LENGTH} characters.
 */
export function checkNodeName(value: unknown, field = 'nodeName'): string {
  if (typeof value !== 'string' || value === '')
    throw new K3sConfigError('missing-field', field, 'a node name is required');
  if (value.length > MAX_NODE_NAME_LENGTH)
    throw new K3sConfigError(
      'invalid-value',
      field,
      `node name ${shown(value)} is longer than ${MAX_NODE_NAME_LENGTH} characters (it prefixes the etcd member name)`,
    );
  if (!value.split('.').every((label) => DNS_LABEL.test(label)))
    throw new K3sConfigError(
      'invalid-value',
      field,
      `node name ${shown(value)} is not a lowercase RFC 1123 name (a-z, 0-9, '-', '.'; starting and ending alphanumeric)`,
    );
  return value;
}

/** An IPv4 address in dotted-quad form. IPv6 is refused with its own reason. */
export function checkIpv4(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '')
    throw new K3sConfigError('missing-field', field, 'an IPv4 address is required');
  if (isIPv6(value) || isIPv6(value.replace(/^\[(.*)\]$/, '$1')))
    throw new K3sConfigError(
      'ipv6-unsupported',
      field,
      `${shown(value)} is IPv6; k3s roles take the node's Tailscale IPv4 address for now`,
    );
  if (!isIPv4(value))
    throw new K3sConfigError('invalid-value', field, `${shown(value)} is not an IPv4 address`);
  return value;
}

/** A DNS name (case-insensitive labels, at most 253 characters, not all-numeric like a broken IPv4). */
export function isDnsName(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  const labels = value.split('.');
  if (!labels.every((label) => DNS_LABEL_ANY_CASE.test(label))) return false;
  // "10.0.0" or "1.2.3.4.5" would be read as (broken) addresses by some parsers: not names.
  return !labels.every((label) => /^[0-9]+$/.test(label));
}

/** A `--tls-san` entry: a DNS name, an IPv4 or an IPv6 address (without brackets). */
export function checkTlsSan(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '')
    throw new K3sConfigError('missing-field', field, 'an empty TLS SAN');
  if (isIPv4(value) || isIPv6(value) || isDnsName(value)) return value;
  throw new K3sConfigError(
    'invalid-value',
    field,
    `${shown(value)} is neither a DNS name nor an IP address (a MagicDNS name goes without its trailing dot)`,
  );
}

/**
 * The URL of a k3s server to join: `https://<host>:<port>` where host is an IPv4 address, a
 * bracketed IPv6 address or a DNS name, the port explicit (k3s listens on 6443), nothing else
 * (no user, path, query or fragment; one trailing `/` is dropped). Checked on the text itself:
 * WHATWG URL parsing would silently turn `https://10.1:6443` into `https://10.0.0.1:6443`.
 * Returns the normalized URL.
 */
export function checkJoinUrl(value: unknown, field = 'joinUrl'): string {
  if (typeof value !== 'string' || value === '')
    throw new K3sConfigError('missing-field', field, 'the URL of a k3s server to join is required');
  const match = /^https:\/\/(\[[^\]]*\]|[^/:?#@[\]]+):([0-9]{1,5})\/?$/.exec(value);
  if (match === null)
    throw new K3sConfigError(
      'invalid-value',
      field,
      `${shown(value)} is not https://<host>:<port> (e.g. https://100.64.0.1:6443)`,
    );
  const host = match[1] as string;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535 || (match[2] as string).startsWith('0'))
    throw new K3sConfigError('invalid-value', field, `${shown(value)} has no valid port`);
  const hostOk = host.startsWith('[') ? isIPv6(host.slice(1, -1)) : isIPv4(host) || isDnsName(host);
  if (!hostOk)
    throw new K3sConfigError(
      'invalid-value',
      field,
      `${shown(value)}: the host is not an IPv4 address, a bracketed IPv6 address or a DNS name`,
    );
  return `https://${host}:${port}`;
}

/** An absolute path without NUL or line breaks (it goes on a command line and into logs). */
export function checkAbsolutePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '')
    throw new K3sConfigError('missing-field', field, 'a path is required');
  if (/[\0\r\n]/.test(value))
    throw new K3sConfigError('invalid-value', field, 'a path with NUL or a line break');
  if (!isAbsolute(value))
    throw new K3sConfigError('invalid-value', field, `${shown(value)} is not an absolute path`);
  return value;
}

/** A Linux network interface name (1–15 characters, no `/`, whitespace or `:`), e.g. `tailscale0`. */
export function checkInterfaceName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '')
    throw new K3sConfigError('missing-field', field, 'an interface name is required');
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value) || value === '.' || value === '..')
    throw new K3sConfigError('invalid-value', field, `${shown(value)} is not a network interface name`);
  return value;
}

/** The name of a CNI (`cilium`, `calico`): lowercase letters, digits, `.`, `_`, `-`, ≤ 63 characters. */
export function checkCniName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new K3sConfigError(
      'cni-required',
      field,
      'Tailscale is not a CNI: with no CNI nodes stay NotReady. Name the CNI the operator installs ' +
        "(e.g. 'cilium' or 'calico'), or use network kind 'flannel' with the tailscale0 interface",
    );
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(value))
    throw new K3sConfigError('invalid-value', field, `${shown(value)} is not a CNI name`);
  return value;
}
