/**
 * `slurm.conf`, `gres.conf` and `cgroup.conf` for a ClusterOS cluster, rendered from a typed
 * model, and the checks that keep every value of the model from breaking the files.
 */

export { detectProcessTracking, type TrackingProbePaths } from './detect-tracking.js';
export {
  BYTES_PER_MIB,
  MEMORY_HEADROOM_PERCENT,
  MIN_MEMORY_HEADROOM_MIB,
  realMemoryMiB,
} from './memory.js';
export {
  DEFAULT_PARTITION_NAME,
  DEFAULT_SLURM_DEBUG_LEVEL,
  DEFAULT_SLURM_PORTS,
  DEFAULT_SLURM_USERS,
  DEFAULT_SLURMCTLD_TIMEOUT_SECONDS,
  DEFAULT_SLURMD_TIMEOUT_SECONDS,
  DEFAULT_SLURMDBD_PORT,
  SLURM_DEBUG_LEVELS,
  type SlurmAccountingSpec,
  type SlurmClusterModel,
  type SlurmControllerSpec,
  type SlurmDebugLevel,
  type SlurmDebugLevels,
  type SlurmGpuSpec,
  type SlurmNodeSpec,
  type SlurmPartitionSpec,
  type SlurmPaths,
  type SlurmPorts,
  type SlurmProcessTracking,
  type SlurmTimeouts,
  type SlurmUsers,
} from './model.js';
export {
  nodeListChanged,
  renderCgroupConf,
  renderDynamicNodeConf,
  renderGresConf,
  renderSlurmConf,
  type SlurmDaemonFiles,
  type SlurmDynamicNodeSpec,
  slurmDaemonFiles,
} from './render.js';
export {
  isSlurmConfigError,
  isSlurmName,
  MAX_SLURM_NAME_LENGTH,
  SlurmConfigError,
  validateSlurmClusterModel,
} from './validate.js';
