/**
 * The logging seam, shaped like pino's. Roles already build on `@clusteros/raft`, so they use its
 * seam instead of declaring a copy: one `Logger` serves a node's Raft member and its roles.
 */
export { type Logger, silentLogger } from '@clusteros/raft';
