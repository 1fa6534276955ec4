/**
 * One bounded snapshot of the SLURM cluster (is a controller answering, which nodes in which
 * state, which jobs) for the dashboard, which polls it. Three rules shape it:
 *
 * - liveness comes from `scontrol ping`, which answers at once; `squeue` and `sinfo` retry for
 *   ~10 s when no controller answers (SLURM-NOTES §6.7), so they are not run then;
 * - `--json` is preferred, and the plain-text forms are the fallback for each command on its own
 *   (a build without the openapi plugin, or output the JSON parsers refuse);
 * - {@link SlurmOverviewReader} caches a snapshot briefly and shares a read in progress, so many
 *   dashboard clients polling at once cost one set of commands.
 */
import { runSlurmCommand, SlurmCommandError } from '../daemons/command.js';
import { isSlurmParseError } from '../parse/errors.js';
import { parseScontrolPing } from '../parse/scontrol.js';
import { parseSinfoJson } from '../parse/sinfo.js';
import { jobRuntimeSeconds, parseSqueueJson, type SlurmJobInfo } from '../parse/squeue.js';
import {
  parseSinfoText,
  parseSqueueText,
  SINFO_TEXT_ARGS,
  type SlurmJobTextRow,
  SQUEUE_TEXT_ARGS,
} from '../parse/text-fallback.js';

/**
 * One job in a {@link SlurmOverview}, the same from either source: the fields of a text-form
 * squeue line. From the JSON form, a job array task's id is written `'<array job>_<task>'` too,
 * so a job keeps its id when the source changes.
 */
export type SlurmJobSummary = SlurmJobTextRow;

/** One node in a {@link SlurmOverview}. */
export interface SlurmNodeSummary {
  /** The SLURM node name. */
  readonly name: string;
  /**
   * The node state in lower case without flags: `idle`, `mixed`, `allocated`, `down`, ... From
   * the text form a drained node reads `drained`/`draining`; from the JSON it reads as its base
   * state (`idle`, `mixed`), since `sinfo --json` reports draining as a flag.
   */
  readonly state: string;
}

/**
 * What {@link readSlurmOverview} found. A reader may hand the same object to several callers
 * (see {@link SlurmOverviewReader}): treat it as read-only.
 */
export interface SlurmOverview {
  /** Whether `scontrol ping` found a controller (primary or backup) answering. */
  readonly controllerUp: boolean;
  /** The nodes in sinfo's order; empty when no controller is up. */
  readonly nodes: SlurmNodeSummary[];
  /** The jobs in squeue's order, finished ones included while SLURM keeps them; empty when no controller is up. */
  readonly jobs: SlurmJobSummary[];
  /**
   * `'json'` when every listing came from `--json` (or none was read because no controller is up);
   * `'text'` when the squeue or the sinfo listing came from its text fallback.
   */
  readonly source: 'json' | 'text';
  /** When the snapshot was complete, in milliseconds of the `now` clock (epoch ms by default). */
  readonly at: number;
}

/** Options of {@link readSlurmOverview}. */
export interface SlurmOverviewOptions {
  /** Path of the `slurm.conf` the client commands read (`SLURM_CONF`). */
  readonly slurmConf: string;
  /** The clock, in epoch milliseconds; job runtimes are computed against it. @defaultValue `Date.now` */
  readonly now?: () => number;
  /**
   * Bound on each `squeue`/`sinfo` call, in ms. `scontrol ping` gets at most 5 s of it: it answers
   * at once even when no controller is up. @defaultValue 20000 (longer than the clients' own
   * ~10–16 s retry while a backup controller takes over)
   */
  readonly timeoutMs?: number;
  /** Runs one client command; a seam for tests. @defaultValue {@link runSlurmCommand} */
  readonly run?: typeof runSlurmCommand;
}

/** Options of {@link SlurmOverviewReader}: those of {@link readSlurmOverview} and the cache's age. */
export interface SlurmOverviewReaderOptions extends SlurmOverviewOptions {
  /** How long a snapshot is served from the cache, in ms of the `now` clock. @defaultValue 2000 */
  readonly maxAgeMs?: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;
const PING_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_AGE_MS = 2_000;

/**
 * Reads the cluster's state once: `scontrol ping`; then, only when a controller answers,
 * `squeue --json` and `sinfo --json` (run concurrently). When the JSON call of either command
 * fails or its output does not parse, that command is run again in its text form
 * ({@link SQUEUE_TEXT_ARGS}, {@link SINFO_TEXT_ARGS}) and the overview says `source: 'text'`.
 *
 * When no controller answers the result is `controllerUp: false` with no nodes and no jobs, at
 * once: squeue and sinfo would only block ~10 s and fail.
 *
 * @throws SlurmCommandError when `scontrol ping` fails (it exits 1 when every controller is down,
 *   which is an answer, not a failure; exit 1 without a controller line is a failure), or when
 *   squeue or sinfo fails in both forms (the error of the text form is thrown).
 * @throws SlurmParseError when the output of `scontrol ping` is not understood, or when squeue or
 *   sinfo output does not parse in either form.
 * @throws RangeError when `timeoutMs` is not a positive number.
 */
export async function readSlurmOverview(options: SlurmOverviewOptions): Promise<SlurmOverview> {
  const run = options.run ?? runSlurmCommand;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  const slurmConf = options.slurmConf;

  if (!(await controllerAnswers(run, slurmConf, Math.min(timeoutMs, PING_TIMEOUT_MS)))) {
    return { controllerUp: false, nodes: [], jobs: [], source: 'json', at: now() };
  }

  const command = async (program: string, args: readonly string[]): Promise<string> =>
    (await run(program, args, { slurmConf, timeoutMs })).stdout;
  const [jobs, nodes] = await Promise.all([
    withTextFallback(
      async () => parseSqueueJson(await command('squeue', ['--json'])),
      async () => parseSqueueText(await command('squeue', SQUEUE_TEXT_ARGS)),
    ),
    withTextFallback(
      async () => parseSinfoJson(await command('sinfo', ['--json'])),
      async () => parseSinfoText(await command('sinfo', SINFO_TEXT_ARGS)),
    ),
  ]);
  // One clock reading for the snapshot, so every running job's runtime is measured to the same
  // instant, and that instant is the `at` the caller sees.
  const at = now();
  return {
    controllerUp: true,
    jobs:
      jobs.form === 'json'
        ? jobs.value.map((job) => summarizeJob(job, at / 1000))
        : jobs.value.map(({ id, name, state, user, runtimeSeconds, nodes: hosts }) => ({
            id,
            name,
            state,
            user,
            runtimeSeconds,
            nodes: hosts,
          })),
    nodes: nodes.value.map(({ name, state }) => ({ name, state })),
    source: jobs.form === 'json' && nodes.form === 'json' ? 'json' : 'text',
    at,
  };
}

/** True when `scontrol ping` reports at least one controller UP. */
async function controllerAnswers(
  run: typeof runSlurmCommand,
  slurmConf: string,
  timeoutMs: number,
): Promise<boolean> {
  const ping = await run('scontrol', ['ping'], { slurmConf, timeoutMs, okCodes: [0, 1] });
  try {
    return parseScontrolPing(ping.stdout).some((c) => c.state === 'UP');
  } catch (error) {
    // Exit 1 is an answer only with the controller lines; without them scontrol failed before
    // pinging (e.g. an unreadable slurm.conf), and its stderr says why.
    if (ping.code !== 0 && isSlurmParseError(error)) {
      throw new SlurmCommandError(
        ['scontrol', 'ping'],
        ping.code,
        ping.stderr,
        `exit ${ping.code} without a controller line`,
      );
    }
    throw error;
  }
}

type Read<Json, Text> =
  | { readonly form: 'json'; readonly value: Json }
  | { readonly form: 'text'; readonly value: Text };

/**
 * `json()`, or `text()` when it fails with a command or parse error. Any other error is a bug (or
 * a bad `now`), not a SLURM problem, so it is not hidden behind the fallback.
 */
async function withTextFallback<Json, Text>(
  json: () => Promise<Json>,
  text: () => Promise<Text>,
): Promise<Read<Json, Text>> {
  try {
    return { form: 'json', value: await json() };
  } catch (error) {
    if (!isCommandError(error) && !isSlurmParseError(error)) throw error;
  }
  return { form: 'text', value: await text() };
}

/** A {@link SlurmCommandError}, recognised by name too: an injected `run` may come from another copy of the package. */
function isCommandError(error: unknown): boolean {
  return error instanceof SlurmCommandError || (error instanceof Error && error.name === 'SlurmCommandError');
}

function summarizeJob(job: SlurmJobInfo, nowSeconds: number): SlurmJobSummary {
  // squeue's own column names an array task `<array job>_<task>`; its JSON gives the task's own
  // job id. Use the squeue form so a job keeps its id when the source changes between reads.
  const id =
    job.arrayJobId !== null && job.arrayTaskId !== null
      ? `${job.arrayJobId}_${job.arrayTaskId}`
      : `${job.id}`;
  return {
    id,
    name: job.name,
    state: job.state,
    user: job.user,
    runtimeSeconds: jobRuntimeSeconds(job, nowSeconds),
    nodes: job.nodes,
  };
}

/**
 * {@link readSlurmOverview} behind a short cache, for pollers: a snapshot younger than `maxAgeMs`
 * is returned as is, and callers that ask while a read is running share that read. Failed reads
 * are not cached (the next call tries again), and a failure is not papered over with an older
 * snapshot: the caller decides whether stale data is worth showing.
 *
 * @example
 * ```ts
 * const slurm = new SlurmOverviewReader({ slurmConf: '/etc/clusteros/slurm/slurm.conf' });
 * const { controllerUp, jobs } = await slurm.read();
 * ```
 */
export class SlurmOverviewReader {
  readonly #options: SlurmOverviewOptions;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #cached: { readonly overview: SlurmOverview; readonly takenAt: number } | undefined;
  #inFlight: Promise<SlurmOverview> | undefined;

  /**
   * Creates the reader; nothing runs until {@link SlurmOverviewReader.read}.
   *
   * @throws RangeError when `maxAgeMs` is negative or not finite.
   */
  constructor(options: SlurmOverviewReaderOptions) {
    const { maxAgeMs = DEFAULT_MAX_AGE_MS, ...readOptions } = options;
    if (!(maxAgeMs >= 0) || !Number.isFinite(maxAgeMs)) {
      throw new RangeError(`maxAgeMs must be a non-negative number of milliseconds, got ${maxAgeMs}`);
    }
    this.#options = readOptions;
    this.#maxAgeMs = maxAgeMs;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The latest snapshot: the cached one while it is younger than `maxAgeMs`, else the result of
   * the read in progress, else of a new read.
   *
   * @throws whatever {@link readSlurmOverview} throws, to every caller sharing that read.
   */
  read(): Promise<SlurmOverview> {
    const cached = this.#cached;
    if (cached !== undefined) {
      const age = this.#now() - cached.takenAt;
      // A clock that stepped back makes the age negative: read again rather than trusting it.
      if (age >= 0 && age < this.#maxAgeMs) return Promise.resolve(cached.overview);
    }
    // Cache and clear in the same callback, so no caller can see neither the result nor the read.
    this.#inFlight ??= readSlurmOverview(this.#options).then(
      (overview) => {
        this.#cached = { overview, takenAt: this.#now() };
        this.#inFlight = undefined;
        return overview;
      },
      (error: unknown) => {
        this.#inFlight = undefined;
        throw error;
      },
    );
    return this.#inFlight;
  }
}
