/**
 * The agent's structured logger: pino JSON lines on stdout, or pino-pretty's readable lines when
 * stdout is a terminal. Every package logger seam (`(fields, message)`) is satisfied by a pino
 * child logger, so the agent hands children with a `component` field to each package.
 */
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

/** Log levels the CLI accepts. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface AgentLoggerOptions {
  /** The lowest level written. */
  readonly level: LogLevel;
  /** Readable lines instead of JSON. @defaultValue whether stdout is a TTY */
  readonly pretty?: boolean;
}

/** Creates the agent's root logger. */
export function createLogger(options: AgentLoggerOptions): Logger {
  const wantPretty = options.pretty ?? process.stdout.isTTY === true;
  const base = { level: options.level, base: { pid: process.pid } };
  if (wantPretty) {
    // Synchronous in-process stream (no worker thread), so a crash loses no line.
    return pino(base, pretty({ destination: 1, sync: true, colorize: true }));
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}
