/**
 * Parsers for SLURM 22.05 command output: `squeue --json`, `sinfo --json`, `scontrol -o show
 * job|node`, `scontrol ping` and `sacct -P`, and the plain-text forms of squeue and sinfo used when
 * their JSON fails. Every parser treats its input as untrusted and either
 * returns well-typed values or throws {@link SlurmParseError}.
 */
export { isSlurmParseError, SlurmParseError } from './errors.js';
export { decodeWaitStatus, parseExitCode, type SlurmExitCode } from './exit-code.js';
export {
  SLURM_FIELD_MAX_CHARS,
  SLURM_HOSTLIST_MAX_CHARS,
  SLURM_LIST_MAX_ITEMS,
  SLURM_OUTPUT_MAX_CHARS,
} from './limits.js';
export { parseSacctParsable } from './sacct.js';
export { parseScontrolPing, parseScontrolRecords, type SlurmControllerPing } from './scontrol.js';
export { parseSinfoJson, type SlurmNodeInfo } from './sinfo.js';
export { filterJobs, jobHasEnded, jobRuntimeSeconds, parseSqueueJson, type SlurmJobInfo } from './squeue.js';
export {
  parseSinfoText,
  parseSqueueText,
  SINFO_TEXT_ARGS,
  type SlurmJobTextRow,
  type SlurmNodeTextRow,
  SQUEUE_TEXT_ARGS,
} from './text-fallback.js';
