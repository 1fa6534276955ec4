/**
 * How to reach a k3s server's embedded etcd: its HTTP listener on `https://127.0.0.1:2382` (k3s's
 * "etcd legacy HTTP API" port, which serves the v3 JSON gateway), with the client certificate k3s
 * keeps for its own etcd client under `${dataDir}/server/tls/etcd/`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdGatewayOptions } from './types.js';

/** The gateway on a k3s server: loopback only, so only a process on the server itself can use it. */
export const K3S_ETCD_GATEWAY_ENDPOINT = 'https://127.0.0.1:2382';

/** The certificate files k3s writes for its etcd client. */
export interface K3sEtcdCertificatePaths {
  /** The etcd server CA: `server/tls/etcd/server-ca.crt`. */
  readonly ca: string;
  /** The client certificate of current k3s: `server/tls/etcd/server-client.crt`. */
  readonly cert: string;
  /** Its key: `server/tls/etcd/server-client.key`. */
  readonly key: string;
  /** The client certificate of older k3s releases: `server/tls/etcd/client.crt`. */
  readonly legacyCert: string;
  /** Its key: `server/tls/etcd/client.key`. */
  readonly legacyKey: string;
}

/** Where k3s with data dir `k3sDataDir` (e.g. `/var/lib/rancher/k3s`) keeps its etcd client certificates. */
export function k3sEtcdCertificatePaths(k3sDataDir: string): K3sEtcdCertificatePaths {
  const dir = join(k3sDataDir, 'server', 'tls', 'etcd');
  return {
    ca: join(dir, 'server-ca.crt'),
    cert: join(dir, 'server-client.crt'),
    key: join(dir, 'server-client.key'),
    legacyCert: join(dir, 'client.crt'),
    legacyKey: join(dir, 'client.key'),
  };
}

/**
 * Why k3s's etcd client certificates could not be read:
 * - `'missing-file'`: a file does not exist (k3s not started as a server yet, or another data dir);
 * - `'unreadable-file'`: it exists but cannot be read (permissions: the files are root's, mode 0600).
 */
export type EtcdCredentialsErrorReason = 'missing-file' | 'unreadable-file';

/** k3s's etcd client certificates could not be read; `path` names the file. Never holds key material. */
export class EtcdCredentialsError extends Error {
  /** Always `'EtcdCredentialsError'`. */
  override readonly name = 'EtcdCredentialsError' as const;
  /** What was wrong. */
  readonly reason: EtcdCredentialsErrorReason;
  /** The file that is missing or unreadable. */
  readonly path: string;

  /** Creates the error; `options.cause` keeps the file system error. */
  constructor(reason: EtcdCredentialsErrorReason, path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.path = path;
  }
}

/** True when `error` is an {@link EtcdCredentialsError} (from any copy of this package). */
export function isEtcdCredentialsError(error: unknown): error is EtcdCredentialsError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'EtcdCredentialsError' &&
    typeof (error as { reason?: unknown }).reason === 'string' &&
    typeof (error as { path?: unknown }).path === 'string'
  );
}

/** Overrides for {@link k3sEtcdGatewayOptions}. */
export interface K3sEtcdGatewayOverrides {
  /**
   * Another endpoint than {@link K3S_ETCD_GATEWAY_ENDPOINT}. For tests that run etcd with k3s's
   * certificate layout on a free port, and for a k3s whose etcd listens elsewhere.
   */
  readonly endpoint?: string;
  /** Bound on each request. @defaultValue 5000 */
  readonly timeoutMs?: number;
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function read(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isMissing(error))
      throw new EtcdCredentialsError('missing-file', path, `missing ${path}`, { cause: error });
    throw new EtcdCredentialsError('unreadable-file', path, `cannot read ${path}`, { cause: error });
  }
}

/**
 * Options for an {@link EtcdGateway} to the embedded etcd of the k3s server whose data dir is
 * `k3sDataDir`: `https://127.0.0.1:2382` with `server-ca.crt`, `server-client.crt` and
 * `server-client.key` from `${k3sDataDir}/server/tls/etcd/`, or `client.crt`/`client.key` there when
 * `server-client.crt` does not exist (older k3s). Rejects with {@link EtcdCredentialsError} naming
 * the first file that is missing or unreadable; reads the files once (call again after k3s rotates
 * its certificates).
 */
export async function k3sEtcdGatewayOptions(
  k3sDataDir: string,
  overrides: K3sEtcdGatewayOverrides = {},
): Promise<EtcdGatewayOptions> {
  const paths = k3sEtcdCertificatePaths(k3sDataDir);
  const ca = await read(paths.ca);
  let cert: Buffer;
  let keyPath = paths.key;
  try {
    cert = await read(paths.cert);
  } catch (error) {
    if (!(error instanceof EtcdCredentialsError) || error.reason !== 'missing-file') throw error;
    try {
      cert = await read(paths.legacyCert);
    } catch (legacyError) {
      if (!(legacyError instanceof EtcdCredentialsError) || legacyError.reason !== 'missing-file')
        throw legacyError;
      throw new EtcdCredentialsError(
        'missing-file',
        paths.cert,
        `missing ${paths.cert} (and the older ${paths.legacyCert})`,
        { cause: error },
      );
    }
    keyPath = paths.legacyKey;
  }
  const key = await read(keyPath);
  return {
    endpoint: overrides.endpoint ?? K3S_ETCD_GATEWAY_ENDPOINT,
    tls: { ca, cert, key },
    ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
  };
}
