/** From ClusterOS members to SLURM nodes. */
export {
  type SkippedMember,
  SLURM_WORKER_ROLE,
  type SlurmMember,
  type SlurmNodeSelection,
  slurmNodesFromMembers,
} from './nodes.js';
