// Public surface of the Raft core.

export * from './types.js';
export { type ConfChange, type ConfChangeType, encodeConfChange, decodeConfChange } from './confchange.js';
export {
  MemoryStorage,
  StorageError,
  isStorageError,
  type RaftStorage,
  type InitialState,
  type StorageErrorCode,
} from './storage.js';
export { RawNode, canSendBeforePersist, type Ready, type RawNodeConfig } from './node.js';
export type { RaftConfig } from './raft.js';
export { bootstrapStorage } from './bootstrap.js';
export { seededRandom, type Random } from './prng.js';
