/**
 * How the CLI's commands read the agent's config: `start` and `info` print every problem the
 * config has (multi-line, exit 2); `status`, `handoff` and `leave` need only a part of it and
 * report the first problem as a one-line usage error. Also the dashboard address a config gives.
 */
import { type AgentConfig, isConfigError, loadConfig } from '../config/index.js';
import { UsageError } from './args.js';
import { oneLine } from './http.js';
import type { Writer } from './output.js';

/** The dashboard URL a config describes (a wildcard bind is asked on loopback). */
export function apiFromConfig(config: AgentConfig): string {
  const bind = config.dashboard.bind;
  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '::1' : bind;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.dashboard.port}`;
}

/** Loads a config for a command that needs only part of it; an unusable one is a usage error (exit 2). */
export async function loadConfigForCli(path: string): Promise<AgentConfig> {
  try {
    return await loadConfig(path);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    const first = error.issues[0];
    const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : '';
    throw new UsageError(
      `invalid configuration ${error.source}: ${first === undefined ? 'unusable' : oneLine(`${first.path === '' ? '' : `${first.path}: `}${first.message}`)}${more}`,
    );
  }
}

/**
 * Loads the config for `node-agent <command>`; on an invalid or unreadable one writes every
 * problem to `stderr` and resolves undefined (the command then exits 2).
 */
export async function loadConfigOrReport(
  command: string,
  path: string,
  stderr: Writer,
): Promise<AgentConfig | undefined> {
  try {
    return await loadConfig(path);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    stderr.write(`node-agent ${command}: ${error.message}\n`);
    return undefined;
  }
}
