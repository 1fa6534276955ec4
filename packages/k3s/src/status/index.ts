/** k3s status for dashboards. */
export {
  isExecutableOnPath,
  type K3sEtcdMemberStatus,
  type K3sPodSummary,
  type K3sProcessState,
  type K3sStatus,
  K3sStatusReader,
  type K3sStatusReaderOptions,
} from './reader.js';
