/** The agent's configuration: schema, loading and the secrets derived from the auth key. */
export {
  type ClusterSecrets,
  deriveClusterSecrets,
  HKDF_LABELS,
  HKDF_SALT,
} from './cluster-secrets.js';
export {
  ConfigError,
  type ConfigIssue,
  formatIssue,
  formatPath,
  isConfigError,
  loadConfig,
  MAX_ALIAS_COUNT,
  MAX_CONFIG_BYTES,
  MAX_DEPTH,
  MAX_REPORTED_ISSUES,
  MAX_SECRET_FILE_BYTES,
  type ParseConfigOptions,
  parseConfig,
} from './load.js';
export {
  type AgentConfig,
  type AgentConfigInput,
  agentConfigSchema,
  isHost,
  MAX_AUTH_KEY_LENGTH,
  MAX_ROLES,
  MAX_SEEDS,
  MAX_TAG_KEY_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  MAX_TAGS,
  MAX_TAGS_TOTAL_LENGTH,
  MIN_AUTH_KEY_LENGTH,
  MIN_TOKEN_LENGTH,
  type ParsedAgentConfig,
  parseHostPort,
} from './schema.js';
export { isSecret, REDACTED, Secret } from './secret.js';
