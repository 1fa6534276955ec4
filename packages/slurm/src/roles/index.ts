/**
 * The `slurm-controller` and `slurm-worker` roles on the `@clusteros/roles` contract, the node
 * runtime they share (munged, the controller alias, slurm.conf), and what they keep in the
 * cluster store.
 */
export {
  MAX_SHIPPED_STATE_BYTES,
  SLURM_CONTROLLER_ROLE,
  SlurmControllerRole,
  type SlurmControllerRoleOptions,
} from './controller-role.js';
export { isSlurmRoleError, SlurmRoleError, type SlurmRoleErrorReason } from './errors.js';
export { DEBIAN_SLURM_LAYOUT, type SlurmNodeLayout } from './layout.js';
export {
  modelForRecord,
  type SlurmLogger,
  SlurmNodeRuntime,
  type SlurmNodeRuntimeOptions,
  type SlurmRuntimeStatus,
} from './node-runtime.js';
export {
  decodeShippedState,
  encodeShippedState,
  type ShippedState,
  type ShippedStateHeader,
  type ShippedStateReason,
} from './shipped-state.js';
export {
  decodeControllerRecord,
  encodeControllerRecord,
  isNewerRecord,
  MAX_CONTROLLER_RECORD_BYTES,
  recordVersion,
  SLURM_STORE_KEYS,
  type SlurmControllerRecord,
  SlurmRecordError,
  type SlurmStore,
} from './store.js';
export { SlurmWorkerRole, type SlurmWorkerRoleOptions } from './worker-role.js';
