// Connects client watch streams (the EtcdBackend.WatchStream the front door
// drives) to the pure watch hub: maps requests, drains queued responses when
// the transport can take them, and keeps the hub's catch-up loop running.

import type { MvccEvent } from '../types.js';
import type { MvccStore } from '../mvcc/store.js';
import { WatchHub, type EventHistory, type WatchResponse } from '../mvcc/watch.js';
import type { ResponseHeader, WatchCreate, WatchResponseOut, WatchStream } from './backend.js';

export interface WatchWiringOptions {
  /** The current store (it is replaced on snapshot restore, so read it through a function). */
  store: () => MvccStore;
  header: (revision: number) => ResponseHeader;
  fragmentMaxBytes: number;
  /** Events per catch-up step; each step yields to the event loop. */
  syncBatch?: number;
}

/** The hub's history, read through the current store (replaced wholesale on snapshot restore). */
function historyOf(store: () => MvccStore): EventHistory {
  return {
    get currentRevision() {
      return store().currentRevision;
    },
    get compactRevision() {
      return store().compactRevision;
    },
    eventsFrom(from: number, max: number): MvccEvent[] {
      return store().eventsFrom(from, max);
    },
  };
}

export class WatchWiring {
  readonly hub: WatchHub;
  private syncScheduled = false;
  private stopped = false;
  private readonly streams = new Set<() => void>();

  constructor(private readonly opts: WatchWiringOptions) {
    this.hub = new WatchHub(historyOf(opts.store), {
      fragmentMaxBytes: opts.fragmentMaxBytes,
      onSyncNeeded: () => this.scheduleSync(),
    });
  }

  private scheduleSync(): void {
    if (this.syncScheduled || this.stopped) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      if (this.stopped) return;
      if (this.hub.sync(this.opts.syncBatch ?? 1000)) this.scheduleSync();
    });
  }

  /** After the state machine applied a revision with events. */
  notify(events: MvccEvent[], revision: number): void {
    this.hub.notify(events, revision);
  }

  open(onResponse: (res: WatchResponseOut) => void): WatchStream {
    let writable = true;
    let closed = false;
    let drainScheduled = false;
    const toOut = (r: WatchResponse): WatchResponseOut => ({
      header: this.opts.header(r.revision),
      watchId: r.watchId,
      created: r.created,
      canceled: r.canceled,
      compactRevision: r.compactRevision,
      cancelReason: r.cancelReason,
      fragment: r.fragment,
      events: r.events,
    });
    const drain = (): void => {
      drainScheduled = false;
      if (closed || !writable || this.stopped) return;
      // Pull everything queued: the hub signals readiness only when the queue goes from empty to non-empty.
      for (const r of stream.pull()) {
        if (closed) return;
        onResponse(toOut(r));
      }
    };
    const scheduleDrain = (): void => {
      if (drainScheduled || closed) return;
      drainScheduled = true;
      queueMicrotask(drain);
    };
    const stream = this.hub.openStream(scheduleDrain);
    const closeStream = (): void => {
      if (closed) return;
      closed = true;
      this.streams.delete(closeStream);
      stream.close();
    };
    this.streams.add(closeStream);
    return {
      create: (req: WatchCreate) => {
        // etcd treats an empty watch key as "\0".
        const key = req.key.length === 0 ? Buffer.from([0]) : req.key;
        stream.watch({ ...req, key });
        this.scheduleSync();
      },
      cancel: (watchId: number) => {
        stream.cancel(watchId);
      },
      requestProgress: () => {
        stream.requestProgress();
      },
      setWritable: (w: boolean) => {
        writable = w;
        if (w) scheduleDrain();
      },
      close: closeStream,
    };
  }

  /** A --experimental-watch-progress-notify-interval tick. */
  progressTick(): void {
    this.hub.progressNotify();
  }

  /** The store was replaced wholesale (snapshot restore). */
  restored(): void {
    this.hub.restored();
  }

  stop(): void {
    this.stopped = true;
    for (const close of [...this.streams]) close();
  }
}
