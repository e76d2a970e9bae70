// Per-stream watch IDs, allocated the way etcd's watchStream does
// (server/storage/mvcc/watcher.go): IDs start at 0, a requested ID of 0 means
// "pick one", automatic IDs come from a counter that only moves forward and
// skips IDs the client claimed explicitly, and an explicit ID already in use
// on the stream is refused. The refusal reaches the client as the
// cancel_reason of a created+canceled response, so the texts below are etcd's
// mvcc error strings verbatim (they carry no "etcdserver: " prefix).

/** etcd's ErrWatcherDuplicateID. */
export const WATCHER_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';
/** etcd's ErrEmptyWatcherRange: key >= range_end. */
export const WATCHER_RANGE_EMPTY = 'mvcc: watcher range is empty';

/** A watch create refused before the watcher existed; the message becomes the cancel_reason. */
export class WatchCreateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchCreateError';
  }
}

/** The value of watch_id in a create request that asks the server to choose. */
export const AUTO_WATCH_ID = 0;

export class WatchIdAllocator {
  private nextId = 0;
  private readonly inUse = new Set<number>();

  /** Returns the ID for a new watcher; throws WatchCreateError for an explicit ID already in use. */
  allocate(requested: number): number {
    if (requested === AUTO_WATCH_ID) {
      while (this.inUse.has(this.nextId)) this.nextId++;
      const id = this.nextId;
      // etcd never hands the same automatic ID out twice on a stream, even after a cancel.
      this.nextId++;
      this.inUse.add(id);
      return id;
    }
    if (this.inUse.has(requested)) throw new WatchCreateError(WATCHER_DUPLICATE_ID);
    this.inUse.add(requested);
    return requested;
  }

  release(id: number): boolean {
    return this.inUse.delete(id);
  }

  has(id: number): boolean {
    return this.inUse.has(id);
  }

  get size(): number {
    return this.inUse.size;
  }
}
