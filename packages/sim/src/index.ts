/**
 * Deterministic simulation kit for ClusterOS, and the seams it simulates.
 *
 * Every ClusterOS component takes its time ({@link Clock}), randomness ({@link Random}),
 * network ({@link Network}) and storage ({@link Disk}) by injection. This package defines those
 * interfaces once, with the real implementations ({@link SystemClock}, {@link systemRandom},
 * {@link NodeNetwork}, {@link NodeDisk}) beside simulated ones ({@link SimClock},
 * {@link SeededRandom}, {@link SimNetwork}, {@link SimDisk}). A {@link Simulation} runs a whole
 * cluster in one process under one seed and fingerprints the run; {@link runSeeds} sweeps seeds
 * and reports a failure with the command that replays it.
 *
 * @packageDocumentation
 */

export {
  type Clock,
  SystemClock,
  type SystemClockOptions,
  sanitizeDelay,
  type TimerHandle,
} from './clock.js';
export type { Disk, DiskLock, FileInfo } from './disk.js';
export {
  DiskFaultError,
  DiskLockedError,
  type DiskLockHolder,
  isDiskFaultError,
  isDiskLockedError,
  isPathKindError,
  type PathKind,
  PathKindError,
} from './disk-errors.js';
export {
  basenameOf,
  dirnameOf,
  joinDiskPath,
  MAX_DISK_NAME_BYTES,
  MAX_DISK_PATH_LENGTH,
  normalizeDiskDir,
  normalizeDiskPath,
} from './disk-path.js';
export {
  AddressInUseError,
  ConnectError,
  type ConnectFailure,
  FileNotFoundError,
  HostDownError,
  InvalidAddressError,
  InvalidPathError,
  isAddressInUseError,
  isConnectError,
  isFileNotFoundError,
  isHostDownError,
  isInvalidAddressError,
  isInvalidPathError,
  isSeedFailedError,
  isSimTimeoutError,
  isSocketClosedError,
  isStreamResetError,
  SeedFailedError,
  SimTimeoutError,
  SocketClosedError,
  StreamResetError,
} from './errors.js';
export { DEFAULT_FOLDER_LOCK_TIMING, type FolderLockTiming } from './folder-lock.js';
export { freePort } from './free-port.js';
export {
  type LatencyModel,
  type LinkConfig,
  latency,
  type ResolvedLink,
  resolveLink,
  swarmLink,
} from './link.js';
export {
  type Address,
  type ByteStream,
  type ByteStreamEvents,
  type ConnectOptions,
  type DatagramHandler,
  type DatagramSocket,
  formatAddress,
  type Network,
  parseAddress,
  type StreamServer,
} from './network.js';
export { NodeDisk, type NodeDiskOptions } from './node-disk.js';
export { NodeDatagramSocket, NodeNetwork } from './node-network.js';
export { NodeByteStream } from './node-stream.js';
export { type Random, SeededRandom, systemRandom } from './random.js';
export { type RunSeedsOptions, runSeeds, type SeedRunReport } from './seeds.js';
export { type ClockViewOptions, SimClock, type SimClockOptions, SimClockView } from './sim-clock.js';
export { SimDatagramSocket } from './sim-datagram.js';
export {
  DISK_OPS,
  type DiskOp,
  SimDisk,
  type SimDiskCrashOptions,
  type SimDiskOptions,
  type SimDiskStats,
} from './sim-disk.js';
export { SimNetwork, type SimNetworkOptions, type SimNetworkStats } from './sim-network.js';
export { SimByteStream } from './sim-stream.js';
export { SimNode, type SimNodeOptions, Simulation, type SimulationOptions } from './simulation.js';
export { Trace, type TraceOptions } from './trace.js';
