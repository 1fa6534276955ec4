/**
 * The `node-agent` command line: `start` (the agent itself, see src/agent/run.ts), `demo` (a
 * local cluster of agent processes), `info` (from the config), and `status`, `handoff` and
 * `leave` (over a running agent's dashboard API). `main(argv, io)` runs one command line and
 * resolves to the exit status, so tests run it in-process; `src/cli.ts` is the executable
 * around it.
 *
 * Exit statuses: 0 success / healthy; 1 degraded (`status`) or refused by the agent (actions);
 * 2 bad arguments, an unusable config, or the agent unreachable / answering nonsense. Errors are
 * one line on stderr, never a stack trace.
 */

import { HANDOFF_USAGE, LEAVE_USAGE, runHandoff, runLeave } from './actions.js';
import { quote, UsageError, wantsHelp } from './args.js';
import { DEMO_USAGE, runDemo } from './demo.js';
import { AgentUnreachableError, type FetchLike, oneLine } from './http.js';
import { INFO_USAGE, runInfo } from './info.js';
import type { Writer } from './output.js';
import { runStart, START_USAGE } from './start.js';
import { runStatus, STATUS_USAGE } from './status.js';

/** Where `main` writes, and the `fetch` it uses (the global one by default). */
export interface CliIo {
  /** Normal output. */
  readonly stdout: Writer;
  /** Error messages. */
  readonly stderr: Writer;
  /** The `fetch` for the agent's API. @defaultValue `globalThis.fetch` */
  readonly fetch?: FetchLike;
}

type Io = Required<CliIo>;

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly run: (argv: readonly string[], io: Io) => Promise<number>;
}

/** The commands, in the order `--help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  start: { summary: 'run the agent (until SIGTERM or SIGINT)', usage: START_USAGE, run: runStart },
  demo: {
    summary: 'run a local cluster of agents on 127.0.0.1, with a live summary',
    usage: DEMO_USAGE,
    run: (argv, io) => runDemo(argv, io),
  },
  info: {
    summary: "this node's identity, addresses and capabilities, from its config",
    usage: INFO_USAGE,
    run: runInfo,
  },
  status: {
    summary: "a running agent's node, network, leadership, roles and discovery",
    usage: STATUS_USAGE,
    run: runStatus,
  },
  handoff: { summary: 'hand a singleton role over to another node', usage: HANDOFF_USAGE, run: runHandoff },
  leave: {
    summary: 'make the running agent leave the cluster gracefully',
    usage: LEAVE_USAGE,
    run: runLeave,
  },
};

const NAMES = Object.keys(COMMANDS);

/** Help text of the program. */
export const USAGE = `usage: node-agent <command> [options]

The ClusterOS node agent's command line.

commands:
${NAMES.map((name) => `  ${name.padEnd(9)}${COMMANDS[name]?.summary ?? ''}`).join('\n')}

Run node-agent <command> --help for a command's options.
Exit status: 0 success, 1 degraded or refused, 2 bad arguments or the agent unreachable.`;

/** Runs one `node-agent` command line (without `node` and the script); resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const full: Io = {
    stdout: io.stdout,
    stderr: io.stderr,
    fetch: io.fetch ?? ((input, init) => fetch(input, init)),
  };
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(`node-agent: missing command (commands: ${NAMES.join(', ')}; see node-agent --help)\n`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    const what = name.startsWith('-') ? 'unknown flag' : 'unknown command';
    io.stderr.write(
      `node-agent: ${what} ${quote(name)} (commands: ${NAMES.join(', ')}; see node-agent --help)\n`,
    );
    return 2;
  }
  if (wantsHelp(rest)) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, full);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`node-agent ${name}: ${error.message} (see node-agent ${name} --help)\n`);
      return 2;
    }
    if (error instanceof AgentUnreachableError) {
      io.stderr.write(`node-agent ${name}: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    io.stderr.write(`node-agent ${name}: ${oneLine(message)}\n`);
    return 2;
  }
}
