/**
 * The k3s binary: its command line (built from the cluster's facts, never with the token on it),
 * the token and config files it reads, the parts of its data dir the adapter touches, and the
 * supervision of one `k3s server` / `k3s agent` process.
 */
export {
  buildK3sArgs,
  CONFIG_FILE_NAME,
  DEFAULT_FLANNEL_IFACE,
  defaultConfigFile,
  type K3sArgsInput,
  type K3sMode,
  type K3sNetwork,
} from './args.js';
export { etcdDataDir, etcdInitialized, serverDbDir, wipeServerDb, writeEmptyConfigFile } from './data-dir.js';
export {
  isK3sConfigError,
  isK3sFileError,
  isK3sProcessError,
  K3sConfigError,
  type K3sConfigErrorReason,
  K3sFileError,
  type K3sFileErrorReason,
  K3sProcessError,
  type K3sProcessErrorReason,
} from './errors.js';
export { checkExtraArgs, K3S_OWNED_FLAGS } from './extra-args.js';
export {
  DEFAULT_K3S_RECENT_LINES,
  DEFAULT_K3S_STOP_TIMEOUT_MS,
  type K3sExitInfo,
  K3sProcess,
  type K3sProcessEvents,
  type K3sProcessLogger,
  type K3sProcessOptions,
} from './k3s-process.js';
export { isRemovedMemberLine, K3S_REMOVED_MEMBER_MESSAGES } from './messages.js';
export {
  K3S_TOKEN_BYTES,
  K3sToken,
  MAX_K3S_TOKEN_LENGTH,
  MIN_K3S_TOKEN_LENGTH,
  writeTokenFile,
} from './token.js';
export { MAX_NODE_NAME_LENGTH } from './validate.js';
