/**
 * How much of a machine's memory is offered to SLURM jobs.
 *
 * slurmd measures the memory it runs on and refuses to register a node whose configured
 * `RealMemory` exceeds it (the node is drained as `inval`). The total an agent reads
 * (`os.totalmem()`, MemTotal) can differ slightly from what slurmd detects, and the operating
 * system, munged, slurmd and the ClusterOS agent need memory of their own, so the configured value
 * keeps headroom below the total.
 */

/** Bytes in one MiB (SLURM's memory unit in slurm.conf). */
export const BYTES_PER_MIB = 1024 * 1024;

/** The least headroom kept back from jobs, in MiB: the OS, munged, slurmd and the ClusterOS agent. */
export const MIN_MEMORY_HEADROOM_MIB = 512;

/** The percentage of total memory kept back from jobs when that is more than {@link MIN_MEMORY_HEADROOM_MIB}. */
export const MEMORY_HEADROOM_PERCENT = 10;

/**
 * The `RealMemory` (MiB) to configure for a machine with `totalBytes` of memory:
 *
 * `max(1, floor(totalBytes / 2^20) - max(512, ceil(0.1 * floor(totalBytes / 2^20))))`
 *
 * i.e. the total in whole MiB minus the larger of 512 MiB and 10 %, and never less than 1 (SLURM
 * needs a positive value; a machine this small cannot run jobs anyway). Examples: 24 GiB → 22118,
 * 4 GiB → 3584, 1 GiB → 512, 512 MiB → 1.
 *
 * Throws `RangeError` unless `totalBytes` is a non-negative safe integer (model validation reports
 * such values as a `SlurmConfigError` before this is reached).
 */
export function realMemoryMiB(totalBytes: number): number {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0)
    throw new RangeError(`memory must be a non-negative safe integer of bytes, got ${String(totalBytes)}`);
  const totalMiB = Math.floor(totalBytes / BYTES_PER_MIB);
  const headroom = Math.max(MIN_MEMORY_HEADROOM_MIB, Math.ceil((totalMiB * MEMORY_HEADROOM_PERCENT) / 100));
  return Math.max(1, totalMiB - headroom);
}
