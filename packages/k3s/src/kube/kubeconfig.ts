/**
 * Loading the admin kubeconfig k3s writes (`--write-kubeconfig`, mode 0600): YAML with clusters,
 * users and contexts, credentials inline (client certificate data or a token). Errors name the
 * file and the problem but never quote it: the YAML parser's own messages include a snippet of the
 * offending lines, which may hold the credentials.
 */
import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from './errors.js';

/** Messages of client-node's kubeconfig validation that name a field, never a value. */
const FIELD_MESSAGE = /^(clusters|users|contexts)\[\d+\]\.[\w.]+ is missing$/;

/** A {@link KubeApiError} with reason `'kubeconfig'` about `path`. */
function kubeconfigError(path: string, problem: string): KubeApiError {
  return new KubeApiError('kubeconfig', `kubeconfig ${path}: ${problem}`);
}

/**
 * Reads and checks a kubeconfig file: it must parse, and its current context must name a cluster
 * with an `http(s)` server URL and a user. Throws {@link KubeApiError} with reason `'kubeconfig'`.
 */
export async function loadKubeConfigFile(path: string): Promise<KubeConfig> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT') throw kubeconfigError(path, 'no such file (has k3s written it yet?)');
    if (code === 'EACCES' || code === 'EPERM')
      throw kubeconfigError(path, 'permission denied (k3s writes it with mode 0600 for its owner)');
    throw kubeconfigError(path, `cannot read it (${typeof code === 'string' ? code : 'error'})`);
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromString(content);
  } catch (error) {
    const e = error as { name?: unknown; message?: unknown; mark?: { line?: unknown } };
    if (e.name === 'YAMLException') {
      const line = typeof e.mark?.line === 'number' ? ` near line ${e.mark.line + 1}` : '';
      throw kubeconfigError(path, `not valid YAML${line}`);
    }
    const message =
      typeof e.message === 'string' && FIELD_MESSAGE.test(e.message) ? e.message : 'invalid entry';
    throw kubeconfigError(path, message);
  }
  const problem = kubeConfigProblem(kc);
  if (problem !== undefined) throw kubeconfigError(path, problem);
  return kc;
}

/**
 * What makes `kc` unusable, or `undefined`: its current context must name a cluster with an
 * `http(s)` server URL (plain `http` only with `insecure-skip-tls-verify`, which client-node 1.4.0
 * requires) and a user.
 */
export function kubeConfigProblem(kc: KubeConfig): string | undefined {
  const contextName = kc.getCurrentContext();
  if (typeof contextName !== 'string' || contextName === '') return 'no current-context';
  if (kc.getContextObject(contextName) === null)
    return `current-context ${JSON.stringify(contextName)} is not among its contexts`;
  const cluster = kc.getCurrentCluster();
  if (cluster === null) return 'the current context names no known cluster';
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    return 'the cluster server is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return 'the cluster server is not an http(s) URL';
  if (url.username !== '' || url.password !== '')
    return 'the cluster server URL carries credentials; put them in the user entry';
  if (url.protocol === 'http:' && cluster.skipTLSVerify !== true)
    return 'a plain http server needs insecure-skip-tls-verify: true (client-node refuses it otherwise)';
  if (kc.getCurrentUser() === null) return 'the current context names no known user';
  return undefined;
}

/** The API server URL of `kc`'s current cluster (no credentials), or `''` when there is none. */
export function serverOf(kc: KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? '';
}
