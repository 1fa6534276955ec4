/** The k3s roles and what they share on a node. */
export { K3S_AGENT_ROLE, K3sAgentRole } from './agent-role.js';
export { type DesiredProcess, type DesiredProcessInput, desiredProcess, serverUrl } from './desired.js';
export { isK3sHandoffError, K3sHandoffError, type K3sHandoffErrorReason } from './errors.js';
export { type K3sLogger, silentK3sLogger } from './logger.js';
export {
  checkVoters,
  nodeNameOfMember,
  type RetireReport,
  type RetireServerInput,
  retireServer,
  undoRetirement,
} from './retire.js';
export {
  type K3sExtraArgs,
  K3sNodeRuntime,
  type K3sNodeRuntimeOptions,
  type K3sRestartPolicy,
  type K3sRuntimeState,
  type K3sRuntimeStatus,
} from './runtime.js';
export { K3S_SERVER_ROLE, K3sServerRole, type K3sServerRoleOptions } from './server-role.js';
export { isK3sServerCount, type K3sServerCount, planServers, sameServers } from './server-set.js';
export {
  decodeClusterRecord,
  decodeRetiringRecord,
  encodeClusterRecord,
  encodeRetiringRecord,
  isK3sRecordError,
  isNewerClusterRecord,
  isValidK3sNodeName,
  K3S_STORE_KEYS,
  type K3sClusterRecord,
  K3sRecordError,
  type K3sRetiringRecord,
  type K3sRetiringStep,
  type K3sServerEntry,
  type K3sStore,
  MAX_K3S_RECORD_BYTES,
  readClusterRecord,
  readRetiringRecord,
} from './store.js';
export { stopStrayK3s, writePidFile } from './stray.js';
