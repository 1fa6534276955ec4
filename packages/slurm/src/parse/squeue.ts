/**
 * `squeue --json` of SLURM 22.05 (the `openapi/v0.0.38` envelope: `meta`, `errors`, `jobs`),
 * reduced to the fields ClusterOS uses, with the quirks of that version handled:
 *
 * - filters are ignored: `squeue --json -j 2` still lists every job, so use {@link filterJobs};
 * - finished jobs stay listed for `MinJobAge` (300 s by default);
 * - `exit_code` is the raw wait status (exit 3 → `768`), decoded here;
 * - `time_limit` is `null` when unlimited; times are epoch seconds, `0` when unset;
 * - `end_time` of a job that has not ended is a projection (start + time limit, or start + one
 *   year when the limit is unlimited), not an end.
 */

import { isSlurmParseError, SlurmParseError } from './errors.js';
import { decodeWaitStatus, type SlurmExitCode } from './exit-code.js';
import {
  fail,
  isJsonObject,
  type JsonObject,
  MAX_EPOCH_SECONDS,
  ownField,
  parseJsonObject,
  readArray,
  readEpochSeconds,
  readInteger,
  readNullableInteger,
  readObject,
  readString,
  readStringOr,
  SLURM_INFINITE,
  SLURM_NO_VAL,
  throwOnReportedErrors,
  UINT32_MAX,
} from './json-fields.js';
import { SLURM_FIELD_MAX_CHARS, SLURM_HOSTLIST_MAX_CHARS, SLURM_OUTPUT_MAX_CHARS } from './limits.js';

const SOURCE = 'squeue --json';
const SUPPORTED_PLUGIN = 'openapi/v0.0.38';
const JOB_STATE = /^[A-Z][A-Z0-9_]*$/;
const JOB_STATE_MAX_CHARS = 64;

/** One job as `squeue --json` reports it (SLURM 22.05). */
export interface SlurmJobInfo {
  /** The job id (`job_id`). For a job array task this is the task's own id. */
  readonly id: number;
  /** The id of the job array this job belongs to (`array_job_id`), `null` when it is not an array task. */
  readonly arrayJobId: number | null;
  /** The task index within its job array (`array_task_id`), `null` when it is not an array task. */
  readonly arrayTaskId: number | null;
  /** The job name (`name`). */
  readonly name: string;
  /** The name of the user who owns the job (`user_name`). */
  readonly user: string;
  /**
   * The job state as SLURM spells it, upper case (`job_state`): `PENDING`, `RUNNING`,
   * `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, `COMPLETING`, ...
   */
  readonly state: string;
  /** Why the job is in its state (`state_reason`): `None`, `Resources`, `Priority`, `NonZeroExitCode`, ... */
  readonly reason: string;
  /** The partition (or comma-separated partitions while pending) the job is in (`partition`). */
  readonly partition: string;
  /** The job's nodes as a SLURM host list (`n[1-3]`), `''` when it has none (`nodes`). */
  readonly nodes: string;
  /** When the job was submitted, epoch seconds (`submit_time`); `null` when unset. */
  readonly submitTime: number | null;
  /**
   * When the job started, epoch seconds (`start_time`); `null` when unset. For a pending job a
   * non-null value is the scheduler's expected start, not a start.
   */
  readonly startTime: number | null;
  /**
   * When the job ended, epoch seconds (`end_time`); `null` when unset. While the job runs this
   * is the projected end (start + time limit; start + 365 days when unlimited).
   */
  readonly endTime: number | null;
  /** When the job was last suspended or resumed, epoch seconds (`suspend_time`); `null` when never. */
  readonly suspendTime: number | null;
  /** Seconds the job ran before its last suspend/resume (`pre_sus_time`); 0 when never suspended. */
  readonly preSuspendSeconds: number;
  /** The time limit in minutes (`time_limit`); `null` when unlimited or not set. */
  readonly timeLimitMinutes: number | null;
  /**
   * How the job ended, decoded from `exit_code`. squeue reports the raw wait status, so a job
   * that ran `exit 3` shows `768`, which is `{ code: 3, signal: 0 }` here (see
   * {@link decodeWaitStatus}). `{ code: 0, signal: 0 }` for jobs that have not ended; `null` when
   * squeue gives no status (`null`, absent, or SLURM's `NO_VAL`).
   */
  readonly exitCode: SlurmExitCode | null;
}

/**
 * Parses the output of `squeue --json` (SLURM 22.05, `openapi/v0.0.38`). Jobs come back in
 * squeue's order; squeue ignores `-j`/`-u`/`-t` filters in JSON mode, so apply
 * {@link filterJobs} afterwards.
 *
 * @throws SlurmParseError when the text is not JSON, is larger than
 *   {@link SLURM_OUTPUT_MAX_CHARS}, has a non-empty top-level `errors` list (the message quotes
 *   SLURM's errors), lacks the `jobs` list, or any job has a missing, mistyped or out-of-range
 *   field that is read.
 */
export function parseSqueueJson(text: string): SlurmJobInfo[] {
  const document = parseJsonObject(SOURCE, text);
  try {
    throwOnReportedErrors(SOURCE, document);
    const jobs = readArray(SOURCE, 'jobs', ownField(document, 'jobs'), SLURM_OUTPUT_MAX_CHARS);
    return jobs.map((job, i) => readJob(readObject(SOURCE, `jobs[${i}]`, job), `jobs[${i}]`));
  } catch (error) {
    throw withVersionHint(error, document);
  }
}

function readJob(job: JsonObject, at: string): SlurmJobInfo {
  const state = readString(SOURCE, job, at, 'job_state', JOB_STATE_MAX_CHARS);
  if (!JOB_STATE.test(state)) fail(SOURCE, `${at}.job_state`, 'an upper-case state name', state);
  const arrayJobId = readNullableInteger(SOURCE, job, at, 'array_job_id', 0, UINT32_MAX);
  const status = readNullableInteger(SOURCE, job, at, 'exit_code', 0, 0xffff, [SLURM_NO_VAL, SLURM_INFINITE]);
  return {
    id: readInteger(SOURCE, job, at, 'job_id', 1, UINT32_MAX),
    arrayJobId: arrayJobId === 0 ? null : arrayJobId,
    arrayTaskId: readNullableInteger(SOURCE, job, at, 'array_task_id', 0, UINT32_MAX, [
      SLURM_NO_VAL,
      SLURM_INFINITE,
    ]),
    name: readString(SOURCE, job, at, 'name', SLURM_FIELD_MAX_CHARS),
    user: readString(SOURCE, job, at, 'user_name', SLURM_FIELD_MAX_CHARS),
    state,
    reason: readString(SOURCE, job, at, 'state_reason', SLURM_FIELD_MAX_CHARS),
    partition: readString(SOURCE, job, at, 'partition', SLURM_FIELD_MAX_CHARS),
    nodes: readStringOr(SOURCE, job, at, 'nodes', SLURM_HOSTLIST_MAX_CHARS, ''),
    submitTime: readEpochSeconds(SOURCE, job, at, 'submit_time'),
    startTime: readEpochSeconds(SOURCE, job, at, 'start_time'),
    endTime: readEpochSeconds(SOURCE, job, at, 'end_time'),
    suspendTime: readEpochSeconds(SOURCE, job, at, 'suspend_time'),
    preSuspendSeconds: readNullableInteger(SOURCE, job, at, 'pre_sus_time', 0, MAX_EPOCH_SECONDS) ?? 0,
    timeLimitMinutes: readNullableInteger(SOURCE, job, at, 'time_limit', 0, UINT32_MAX, [
      SLURM_NO_VAL,
      SLURM_INFINITE,
    ]),
    exitCode: status === null ? null : decodeWaitStatus(status),
  };
}

/** Adds "this is not the format this parser reads" to a shape error when `meta` names another plugin. */
function withVersionHint(error: unknown, document: JsonObject): unknown {
  if (!isSlurmParseError(error)) return error;
  const meta = ownField(document, 'meta');
  const plugin = isJsonObject(meta) ? ownField(meta, 'plugin') : undefined;
  const type = isJsonObject(plugin) ? ownField(plugin, 'type') : undefined;
  if (typeof type !== 'string' || type === SUPPORTED_PLUGIN) return error;
  const hint = ` (the output says ${JSON.stringify(type.slice(0, 60))}; this parser reads ${SUPPORTED_PLUGIN}, SLURM 22.05)`;
  return new SlurmParseError(error.source, `${error.detail}${hint}`, { cause: error });
}

/** States whose `start_time` is an expectation, not a start: the job has not run (again) yet. */
const NOT_STARTED_STATES: ReadonlySet<string> = new Set([
  'PENDING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'SPECIAL_EXIT',
  'RESV_DEL_HOLD',
]);

/** States in which the job is on its nodes now, so its `end_time` is only a projection. */
const ACTIVE_STATES: ReadonlySet<string> = new Set([
  'RUNNING',
  'CONFIGURING',
  'POWER_UP_NODE',
  'RESIZING',
  'SIGNALING',
  'STOPPED',
]);

/**
 * How long `job` has run (or ran), in whole seconds, computed the way squeue's `TIME` column does:
 *
 * - pending (and held/requeued) jobs, or jobs without a start time: 0;
 * - `SUSPENDED`: the seconds it ran before the suspend (`preSuspendSeconds`);
 * - running (`RUNNING`, `CONFIGURING`, ...) or without an end time: `nowSeconds − startTime`;
 * - finished (`COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, `COMPLETING`, ...): `endTime − startTime`;
 * - a job that was suspended and resumed counts from the resume (`suspendTime`) plus
 *   `preSuspendSeconds`.
 *
 * Never negative (a clock step or a future start gives 0).
 *
 * @param nowSeconds - the current time in epoch seconds (the caller's clock).
 * @throws RangeError when `nowSeconds` is not a finite number.
 */
export function jobRuntimeSeconds(
  job: Pick<SlurmJobInfo, 'state' | 'startTime' | 'endTime' | 'suspendTime' | 'preSuspendSeconds'>,
  nowSeconds: number,
): number {
  if (!Number.isFinite(nowSeconds)) throw new RangeError(`nowSeconds must be finite, got ${nowSeconds}`);
  if (job.startTime === null || NOT_STARTED_STATES.has(job.state)) return 0;
  if (job.state === 'SUSPENDED') return Math.max(0, job.preSuspendSeconds);
  const end = ACTIVE_STATES.has(job.state) || job.endTime === null ? nowSeconds : job.endTime;
  const ran = job.suspendTime === null ? end - job.startTime : end - job.suspendTime + job.preSuspendSeconds;
  return Math.max(0, Math.floor(ran));
}

/** The states a job ends in: it has left its nodes and will not run again unless requeued. */
const ENDED_STATES: ReadonlySet<string> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'OUT_OF_MEMORY',
]);

/**
 * Whether a job in `state` has ended for good. `COMPLETING` is not an end: the job's processes
 * may still be on their nodes (epilog, slow exit), and squeue reports the final state only after
 * every node confirmed. Wait for this rather than for "not running".
 */
export function jobHasEnded(state: string): boolean {
  return ENDED_STATES.has(state);
}

/**
 * The jobs whose id — or, for job array tasks, whose array job id — is in `ids`, in their
 * original order. This is what `squeue -j` would have selected; `squeue --json` ignores `-j` in
 * SLURM 22.05, so filter client-side.
 */
export function filterJobs<Job extends Pick<SlurmJobInfo, 'id' | 'arrayJobId'>>(
  jobs: readonly Job[],
  ids: Iterable<number>,
): Job[] {
  const wanted = new Set(ids);
  return jobs.filter((job) => wanted.has(job.id) || (job.arrayJobId !== null && wanted.has(job.arrayJobId)));
}
