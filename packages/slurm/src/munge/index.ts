/** The cluster's munge key: creation, a value that never prints, and the private key file. */
export {
  MAX_MUNGE_KEY_BYTES,
  MIN_MUNGE_KEY_BYTES,
  MUNGE_KEY_BYTES,
  MungeKey,
  MungeKeyError,
  mungeKeyFileIsPrivate,
  writeMungeKeyFile,
} from './key.js';
