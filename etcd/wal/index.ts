// Durable storage for faultline-etcd: WAL, snapshot files and the data dir.
export { Wal, DEFAULT_SEGMENT_BYTES, type WalOptions, type WalLogger, type WalStats } from './wal.js';
export { SnapshotStore, type SnapshotFile } from './snapshots.js';
export { DataDir } from './datadir.js';
export { WalCorruptError, SnapshotCorruptError, DataDirLockedError } from './errors.js';
export type { Entry, HardState, SnapshotMeta, ConfState } from './records.js';
export type { RecoveredState } from './replay.js';
