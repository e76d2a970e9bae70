// History values of the watch workload. Writers record the writes they
// invoked and, on ok, the revision etcd gave them (Op.revision); watchers
// record one op per watch op: the sessions it opened, each with every
// response in arrival order, so the checker can judge ordering, atomicity,
// progress notifications and cancellation from the raw facts.

/** One op of a write: a Put of a unique value, or a Delete. */
export interface WatchWriteOp {
  type: 'put' | 'delete';
  key: string;
  /** Put only: unique over the whole test. */
  value?: number;
}

/** f 'write': one Put, one Delete, or a Txn of several Puts sharing one revision. */
export interface WatchWrite {
  ops: WatchWriteOp[];
  /** Completion only: keys a Delete removed (0: no revision was created). */
  deleted?: number;
}

/** f 'compact': invoked with how far behind the current revision to compact; completes with the revision. */
export interface WatchCompact {
  lag: number;
  revision?: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** Put: the value written; delete: null. */
  value: number | null;
  /** kv.mod_revision: the revision of the write. */
  rev: number;
  create?: number;
  version?: number;
  /** prev_kv's value; absent when the event carried no prev_kv. */
  prev?: number;
  /** prev_kv's mod_revision. */
  prevRev?: number;
}

/** One WatchResponse: events, or a progress notification (header.revision only). */
export interface WatchResponseRecord {
  /** header.revision */
  rev: number;
  events?: WatchEvent[];
  progress?: true;
}

export interface WatchSession {
  start: number;
  created: boolean;
  responses: WatchResponseRecord[];
  canceled?: boolean;
  /** Set when the server canceled the watch because start < its compact revision. */
  compactRevision?: number;
  cancelReason?: string;
  /** The stream broke (after creation, when created is true). */
  error?: string;
  /** Final sessions only: the revision current when the final watch began; everything up to it must arrive. */
  target?: number;
  reachedTarget?: boolean;
}

/** f 'watch': invoked with the watcher and where to start; completes with the sessions. */
export interface WatchOpValue {
  watcher: number;
  key: string;
  /** '' for a single key. */
  rangeEnd: string;
  start: number;
  durationMs: number;
  /** Final catch-up watch after healing. */
  final?: boolean;
  sessions?: WatchSession[];
}

export type WatchValue = WatchWrite | WatchCompact | WatchOpValue;
