/** The stable controller name in the hosts file: a managed block, re-pointed atomically when the controller moves. */
export {
  DEFAULT_HOSTS_PATH,
  HOSTS_BLOCK_BEGIN,
  HOSTS_BLOCK_END,
  type HostsEntries,
  HostsFileError,
  type HostsFileErrorField,
  type HostsWriteOptions,
  isHostsFileError,
  MAX_HOST_LABEL_LENGTH,
  MAX_HOST_NAME_LENGTH,
  NEW_HOSTS_FILE_MODE,
  pointAlias,
  readManagedHosts,
  writeManagedHosts,
} from './hosts-file.js';
