/**
 * Production Raft for ClusterOS.
 *
 * - {@link RaftCore}: the deterministic consensus core — `step`, `tick`, `propose`, then a
 *   {@link Ready} batch to persist, send and apply, then `advance`. No timers, sockets or disk.
 * - {@link RaftNode}: the driver that owns the clock, the {@link RaftTransport} and the
 *   {@link RaftStorage}, keeps Raft's ordering rules (persist before send, apply after commit),
 *   and resolves proposals with the state machine's results.
 * - {@link FileStorage}: a segmented, checksummed, group-committed write-ahead log with atomic
 *   snapshots and crash recovery; {@link MemoryStorage} for tests.
 * - {@link StreamTransport}: authenticated (HMAC challenge–response on the cluster key, then a
 *   MAC on every frame under per-connection session keys), length-prefixed msgpack over TCP with
 *   reconnect, backpressure and chunked snapshots;
 *   {@link SimRaftBus} for deterministic simulation.
 * - {@link KvStateMachine}: revisions, compare-and-swap transactions, prefix ranges, leases whose
 *   expiry is driven by leader-proposed time, and client sessions that drop duplicate retries.
 *
 * @packageDocumentation
 */

export {
  LEASE_GUARD_TICKS,
  RAFT_CORE_DEFAULTS,
  type RaftCoreConfig,
  type RaftCoreDefaults,
  type ReadMode,
} from './core/config.js';
export { RaftCore, type RaftCoreStats } from './core/raft-core.js';
export {
  type AppendRequest,
  type AppendResponse,
  type ConfChange,
  type ConfChangeStep,
  type ConfState,
  EMPTY_CONF,
  EMPTY_SNAPSHOT,
  type Entry,
  type EntryKind,
  type HardState,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type Message,
  type MessageType,
  type NodeId,
  type ProgressStatus,
  type ProposeRequest,
  type RaftRole,
  type RaftStatus,
  type ReadIndexRequest,
  type ReadIndexResponse,
  type ReadState,
  type Ready,
  type Snapshot,
  type SnapshotMeta,
  type SnapshotRequest,
  type SoftState,
  type TimeoutNowRequest,
  type VoteRequest,
  type VoteResponse,
} from './core/types.js';
export {
  ConfChangeError,
  DecodeError,
  InvariantError,
  isConfChangeError,
  isDecodeError,
  isInvariantError,
  isLogCompactedError,
  isLogUnavailableError,
  isNotLeaderError,
  isProposalDroppedError,
  isRaftConfigError,
  isRaftStoppedError,
  isRaftTimeoutError,
  isStorageCorruptError,
  isStorageLockLostError,
  LogCompactedError,
  LogUnavailableError,
  NotLeaderError,
  ProposalDroppedError,
  RaftConfigError,
  RaftStoppedError,
  RaftTimeoutError,
  StorageCorruptError,
  StorageLockLostError,
} from './errors.js';
export type { RaftNodeEvents, SnapshotEventInfo } from './events.js';
export {
  compareKeys,
  decodeKvCommand,
  decodeKvQuery,
  encodeKvCommand,
  encodeKvQuery,
  isKvErrorResult,
  KV_MAX_CLIENT_ID_BYTES,
  KV_MAX_COMMAND_BYTES,
  KV_MAX_KEY_BYTES,
  KV_MAX_LEASE_TTL_MS,
  KV_MAX_TIME_MS,
  KV_MAX_TXN_OPS,
  KV_MAX_VALUE_BYTES,
  type KvCommand,
  type KvCompare,
  type KvCompareOp,
  type KvCompareTarget,
  type KvDelete,
  type KvDeleteResult,
  type KvEnvelope,
  type KvErrorResult,
  type KvKeyValue,
  type KvLeaseGrant,
  type KvLeaseGrantResult,
  type KvLeaseKeepAlive,
  type KvLeaseKeepAliveResult,
  type KvLeaseRevoke,
  type KvLeaseRevokeResult,
  type KvLeasesQuery,
  type KvLeasesResult,
  type KvLeaseTimeToLiveQuery,
  type KvLeaseTimeToLiveResult,
  type KvNoopResult,
  type KvPut,
  type KvPutResult,
  type KvQuery,
  type KvQueryResult,
  type KvRange,
  type KvRangeResult,
  type KvResult,
  type KvTick,
  type KvTickResult,
  type KvTxn,
  type KvTxnOp,
  type KvTxnOpResult,
  type KvTxnResult,
  kvBytes,
  kvPrefixEnd,
  restampKvCommand,
} from './kv/commands.js';
export {
  isKvCompactedError,
  isKvDecodeError,
  isKvFutureRevisionError,
  isKvLeaseExistsError,
  isKvLeaseNotFoundError,
  isKvSnapshotError,
  isKvStaleRequestError,
  KvCompactedError,
  KvDecodeError,
  type KvError,
  type KvErrorData,
  KvFutureRevisionError,
  KvLeaseExistsError,
  KvLeaseNotFoundError,
  KvSnapshotError,
  KvStaleRequestError,
  kvErrorFromData,
} from './kv/errors.js';
export {
  KV_DEFAULT_MAX_SESSIONS,
  type KvBytesLike,
  type KvLeaseInfo,
  type KvProposeOptions,
  type KvRangeOptions,
  KvStateMachine,
  type KvStateMachineOptions,
  kv,
} from './kv/kv-state-machine.js';
export {
  isKvSessionPoolExhaustedError,
  KV_SESSION_POOL_DEFAULT_LIMIT,
  KvSessionPool,
  KvSessionPoolExhaustedError,
  type KvSessionPoolOptions,
} from './kv/session-pool.js';
export { type Logger, silentLogger } from './logger.js';
export { type RaftMemberStatus, RaftNode, type RaftNodeStatus } from './node.js';
export type { RaftNodeOptions, TimeCommand } from './node-options.js';
export type { StateMachine } from './state-machine.js';
export { DEFAULT_SEGMENT_BYTES, FileStorage, type FileStorageOptions } from './storage/file-storage.js';
export { MemoryStorage, type MemoryStorageOptions } from './storage/memory-storage.js';
export type { InitialState, LogReader, RaftStorage, StorageStats, StorageUpdate } from './storage/storage.js';
export {
  AuthError,
  type AuthFailure,
  cryptoNonces,
  isAuthError,
  MIN_CLUSTER_KEY_BYTES,
  type NonceSource,
  seededNonces,
} from './transport/auth.js';
export { CODEC_LIMITS, decodeMessage, encodeMessage } from './transport/codec.js';
export {
  SimRaftBus,
  type SimRaftBusDrops,
  type SimRaftBusOptions,
  type SimRaftBusStats,
} from './transport/sim-bus.js';
export {
  type ReconnectBackoff,
  STREAM_TRANSPORT_DEFAULTS,
  StreamTransport,
  type StreamTransportOptions,
} from './transport/stream-transport.js';
export type { RaftTransport, RaftTransportStats } from './transport/transport.js';
export { type RaftWarmUpOptions, type RaftWarmUpReport, warmUpRaft } from './warm-up.js';
