/**
 * `node-agent start`: runs the agent in this process until SIGTERM/SIGINT or the dashboard's
 * `leave` action, then leaves gracefully (see `src/agent/run.ts`) and exits 0; 1 when the
 * graceful stop failed or overran its bound, 2 when the agent could not start.
 */
import { resolve } from 'node:path';
import { createLogger, LOG_LEVELS, type LogLevel } from '../agent/logger.js';
import { AgentStartError, type RunningAgent, startAgent } from '../agent/run.js';
import type { AgentConfig } from '../config/index.js';
import { isNetworkNotReadyError } from '../network/provider.js';
import { parseFlags, quote, UsageError } from './args.js';
import { DEFAULT_CONFIG_PATH } from './info.js';
import { loadConfigOrReport } from './load-config.js';
import type { Writer } from './output.js';

/** Bound on the whole graceful shutdown; past it the process exits 1. */
export const SHUTDOWN_LIMIT_MS = 60_000;

/** Help text of `node-agent start`. */
export const START_USAGE = `usage: node-agent start [--config FILE] [--foreground] [--log-level LEVEL] [--data-dir DIR]

Runs the ClusterOS node agent: waits for the network (Tailscale or static addresses), joins the
gossip pool, founds or joins the Raft cluster (later nodes join as learners and are promoted up
to raft.voters), elects holders of singleton roles, and serves the dashboard API. Logs are JSON
lines on stdout (readable lines when stdout is a terminal).

SIGTERM or SIGINT: hands every singleton role this node holds to another node, moves Raft
leadership away, leaves the Raft voters when a replacement exists, leaves the gossip pool, stops
the roles, and exits 0 (1 if that takes over ${SHUTDOWN_LIMIT_MS / 1000} s).

  --config FILE      the agent's config file (default ${DEFAULT_CONFIG_PATH})
  --foreground       run in the foreground (the only mode; for service managers)
  --log-level LEVEL  ${LOG_LEVELS.join(', ')} (default info)
  --data-dir DIR     overrides data_dir from the config
  -h, --help         show this help

Exit status: 0 stopped cleanly, 1 shutdown failed, 2 bad arguments, config or start failure.`;

/** Runs `node-agent start`; resolves with the exit status once the agent has stopped. */
export async function runStart(
  argv: readonly string[],
  out: { stdout: Writer; stderr: Writer },
): Promise<number> {
  const args = parseFlags(argv, {
    '--config': 'string',
    '--foreground': 'boolean',
    '--log-level': 'string',
    '--data-dir': 'string',
  });
  if (args.positionals.length > 0)
    throw new UsageError(`unexpected argument ${quote(args.positionals[0] ?? '')}`);
  const level = args.values.get('--log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${quote(level)}`);
  const path = args.values.get('--config') ?? DEFAULT_CONFIG_PATH;
  const loaded = await loadConfigOrReport('start', path, out.stderr);
  if (loaded === undefined) return 2;
  let config: AgentConfig = loaded;
  const dataDir = args.values.get('--data-dir');
  if (dataDir !== undefined) config = { ...config, data_dir: resolve(dataDir) };

  const logger = createLogger({ level: level as LogLevel });
  const aborter = new AbortController();
  let agent: RunningAgent | undefined;
  let stopRequested: ((reason: string) => void) | undefined;
  const stopped = new Promise<string>((done) => {
    stopRequested = done;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    aborter.abort();
    stopRequested?.(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    try {
      agent = await startAgent({
        config,
        logger,
        signal: aborter.signal,
        onLeaveRequested: () => stopRequested?.('leave requested through the dashboard'),
      });
    } catch (error) {
      if (aborter.signal.aborted) {
        logger.info('stopped before the agent had started');
        return 0;
      }
      if (error instanceof AgentStartError || isNetworkNotReadyError(error)) {
        logger.error({ error: error.message }, 'agent could not start');
        out.stderr.write(`node-agent start: ${error.message}\n`);
        return 2;
      }
      throw error;
    }
    const reason = await stopped;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      agent.stop(reason).then(
        () => 'stopped' as const,
        (error: unknown) => {
          logger.error({ error: error instanceof Error ? error.message : String(error) }, 'shutdown failed');
          return 'failed' as const;
        },
      ),
      new Promise<'timeout'>((done) => {
        timer = setTimeout(() => done('timeout'), SHUTDOWN_LIMIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout')
      logger.error({ limitMs: SHUTDOWN_LIMIT_MS }, 'graceful shutdown overran its bound');
    return outcome === 'stopped' ? 0 : 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    logger.flush();
  }
}
