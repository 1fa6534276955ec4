/**
 * Size limits of the SLURM output parsers. Input over a limit is rejected with a
 * `SlurmParseError`, never truncated. Lengths count UTF-16 code units (JavaScript string length).
 */

/**
 * The largest command output any parser accepts: 64 MiB. `squeue --json` spends about 3.5 KiB per
 * job, so this holds well over ten thousand jobs. Use it as the runner's output buffer limit too.
 */
export const SLURM_OUTPUT_MAX_CHARS = 64 * 1024 * 1024;

/** The longest free-text field accepted (names, reasons, states, partitions, scontrol values): 64 KiB. */
export const SLURM_FIELD_MAX_CHARS = 64 * 1024;

/**
 * The longest host list accepted (`nodes` of a job, `NodeList=`, sacct `NodeList`): 1 MiB. Host
 * lists are usually compressed (`n[1-4096]`) but need not be.
 */
export const SLURM_HOSTLIST_MAX_CHARS = 1024 * 1024;

/** The most entries accepted in one list field (a node's partitions or state flags): 4096. */
export const SLURM_LIST_MAX_ITEMS = 4096;
