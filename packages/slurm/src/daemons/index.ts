/** Running the SLURM and munge daemons and client commands on one host, every wait bounded. */
export {
  runSlurmCommand,
  SlurmCommandError,
  type SlurmCommandOptions,
  type SlurmCommandResult,
} from './command.js';
export { type DaemonOptions, SlurmDaemon } from './daemon.js';
export {
  logErrors,
  type MungedPaths,
  SlurmDaemonError,
  startMunged,
  startSlurmctld,
  startSlurmd,
} from './start.js';
export { stopStrayDaemon } from './stray.js';
export { WaitAbortedError, waitUntil } from './wait.js';
