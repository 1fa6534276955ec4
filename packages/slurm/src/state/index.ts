/**
 * slurmctld's StateSaveLocation moved between hosts: a deterministic, checksummed archive of the
 * directory ({@link packState}), checked as untrusted input ({@link verifyState}), unpacked with
 * an atomic swap that keeps the old state as `<dir>.previous` ({@link unpackState}), and a digest
 * to compare two directories ({@link stateDigest}).
 */
export {
  DEFAULT_STATE_MAX_BYTES,
  DEFAULT_STATE_MAX_FILES,
  isStateArchiveError,
  type PackStateOptions,
  packState,
  recoverStateDir,
  STATE_ARCHIVE_MAGIC,
  STATE_ARCHIVE_VERSION,
  STATE_PATH_MAX_BYTES,
  StateArchiveError,
  type StateArchiveErrorReason,
  type StateArchiveSummary,
  stateDigest,
  unpackState,
  verifyState,
} from './pack.js';
