/** A cached, bounded overview of the SLURM cluster (controller, nodes, jobs) for the dashboard. */
export {
  readSlurmOverview,
  type SlurmJobSummary,
  type SlurmNodeSummary,
  type SlurmOverview,
  type SlurmOverviewOptions,
  SlurmOverviewReader,
  type SlurmOverviewReaderOptions,
} from './overview.js';
