// The watch hub: routes each applied revision's events to the watchers that
// match them and hands the resulting responses to the stream writers.
//
// The design follows etcd's watchable store (server/storage/mvcc/
// watchable_store.go). A watcher is either *synced* (it has everything up to
// the hub's revision queued, so new writes go straight to it) or *unsynced*
// (it starts in the past, or fell behind; a `sync` step replays history to
// it in bounded chunks). Nothing here blocks and nothing here has a clock or
// timer: the server calls `notify` after each applied write, `sync` while
// `needsSync` says so, `progressNotify` from its ticker, and pulls responses
// from each stream when the transport can take them.
//
// Memory stays bounded with a slow consumer: a watcher whose queue reaches
// its bound stops receiving new events and turns unsynced, remembering the
// first revision it did not get; once its consumer drains the queue it
// catches up from history. etcd parks such watchers as "victims" holding one
// pending batch; here the already-queued events stay queued and the rest
// comes from history, which gives the same guarantees with less copying.
//
// Guarantees per watcher: events arrive in (revision, position in the
// revision) order, never twice, never with a gap (unless the watcher is
// canceled for compaction), and all events of one revision in one response
// (a `fragment` watcher may see a response split into pieces, all but the
// last flagged fragment=true, exactly as etcd does).
//
// Header revisions follow etcd: a response for a live write carries that
// write's revision; a catch-up response carries the store revision at the
// time of the sync; created, canceled and progress responses carry the hub's
// current revision. (etcd leaves the header revision of a compaction cancel
// at 0; this hub reports the current revision, which clients ignore there.)

import type { Bytes, MvccEvent } from '../types.js';
import { EtcdError, Errors } from '../errors.js';
import { WatcherIndex } from './watch-index.js';
import { WatchCreateError, WatchIdAllocator, WATCHER_RANGE_EMPTY } from './watch-ids.js';
import { DEFAULT_MAX_REQUEST_BYTES, eventSize, splitFragments } from './watch-fragment.js';

/** What the hub needs from the MVCC store to replay history. */
export interface EventHistory {
  readonly currentRevision: number;
  readonly compactRevision: number;
  /**
   * Events with revision >= from, in order; a revision's events are never
   * split between calls; roughly `max` events (more when one revision is
   * larger). Each event carries prevKv when the key existed before it.
   * `from` is never below compactRevision; a history that still cannot serve
   * it may throw Errors.compacted().
   */
  eventsFrom(from: number, max: number): MvccEvent[];
}

export type WatchFilter = 'NOPUT' | 'NODELETE';

export interface WatchCreateRequest {
  key: Bytes;
  /** Empty: the single key. "\0": every key >= key. Otherwise [key, rangeEnd). */
  rangeEnd: Bytes;
  /** 0: the next revision. */
  startRevision: number;
  progressNotify: boolean;
  filters: readonly WatchFilter[];
  prevKv: boolean;
  /** 0: let the stream choose. */
  watchId: number;
  fragment: boolean;
}

/** A WatchResponse without its header; `revision` is header.revision. */
export interface WatchResponse {
  watchId: number;
  revision: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  fragment: boolean;
  events: MvccEvent[];
}

/** The watch_id of the answer to a progress_request, and of a refused create (clientv3.InvalidWatchID). */
export const INVALID_WATCH_ID = -1;

export interface WatchHubOptions {
  /** Events a watcher may have queued before it falls back to history. Default 1024. */
  maxPendingEvents?: number;
  /** Encoded event bytes a watcher may have queued before it falls back to history. Default 16 MiB. */
  maxPendingBytes?: number;
  /** Responses of fragment watchers are split at this encoded size (etcd: --max-request-bytes). */
  fragmentMaxBytes?: number;
  /**
   * Called when a `sync` step has become possible. It may fire often and
   * from inside other hub calls: schedule the sync, do not run it inline.
   */
  onSyncNeeded?: () => void;
}

interface Watcher {
  readonly id: number;
  readonly stream: StreamState;
  readonly key: Buffer;
  /** null: the single key. Empty: every key >= key. Otherwise [key, end). */
  readonly end: Buffer | null;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
  /**
   * Synced: the lowest revision it accepts (above the hub revision when it
   * starts in the future). Unsynced: the first revision not yet queued.
   */
  nextRev: number;
  synced: boolean;
  live: boolean;
  queuedEvents: number;
  queuedBytes: number;
  progressQueued: boolean;
  /** etcd skips a periodic progress notification when events went out since the previous tick. */
  quietSinceTick: boolean;
  syncMark: number;
}

type QueuedKind = 'events' | 'progress' | 'streamProgress' | 'control';

interface Queued {
  readonly kind: QueuedKind;
  readonly response: WatchResponse;
  readonly watcher: Watcher | null;
  readonly events: number;
  readonly bytes: number;
  readonly fragment: boolean;
}

/** A FIFO with O(1) removal at the head. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  last(): T | undefined {
    return this.head < this.items.length ? this.items[this.items.length - 1] : undefined;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

class StreamState {
  readonly ids = new WatchIdAllocator();
  readonly watchers = new Map<number, Watcher>();
  readonly queue = new Fifo<Queued>();
  unsyncedCount = 0;
  queuedEvents = 0;
  progressPending = false;
  closed = false;

  constructor(
    readonly id: number,
    readonly onReady: (() => void) | undefined,
  ) {}
}

const blank = (watchId: number, revision: number): WatchResponse => ({
  watchId,
  revision,
  created: false,
  canceled: false,
  compactRevision: 0,
  cancelReason: '',
  fragment: false,
  events: [],
});

function isCompactedError(err: unknown): boolean {
  return err instanceof EtcdError && err.message === Errors.compacted().message;
}

/** The request's range end in the index's terms. */
function watcherEnd(rangeEnd: Buffer): Buffer | null {
  if (rangeEnd.length === 0) return null;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return Buffer.alloc(0);
  return rangeEnd;
}

class HubCore {
  revision: number;
  readonly streams = new Set<StreamState>();
  private readonly synced = new WatcherIndex<Watcher>();
  private readonly unsynced = new WatcherIndex<Watcher>();
  /** Unsynced watchers with nothing queued: the ones a sync step may feed. */
  private readonly syncReady = new Set<Watcher>();
  private nextStreamId = 1;
  private syncMark = 0;
  private readonly maxPendingEvents: number;
  private readonly maxPendingBytes: number;
  private readonly fragmentMaxBytes: number;
  private readonly onSyncNeeded: (() => void) | undefined;

  constructor(
    private readonly history: EventHistory,
    options: WatchHubOptions,
  ) {
    this.revision = history.currentRevision;
    this.maxPendingEvents = Math.max(1, options.maxPendingEvents ?? 1024);
    this.maxPendingBytes = Math.max(1, options.maxPendingBytes ?? 16 * 1024 * 1024);
    this.fragmentMaxBytes = options.fragmentMaxBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.onSyncNeeded = options.onSyncNeeded;
  }

  get watcherCount(): number {
    return this.synced.size + this.unsynced.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  get needsSync(): boolean {
    return this.syncReady.size > 0;
  }

  openStream(onReady: (() => void) | undefined): StreamState {
    const s = new StreamState(this.nextStreamId++, onReady);
    this.streams.add(s);
    return s;
  }

  watch(s: StreamState, req: WatchCreateRequest): number {
    if (s.closed) return INVALID_WATCH_ID;
    const end = watcherEnd(req.rangeEnd);
    let id: number;
    try {
      if (end !== null && end.length > 0 && Buffer.compare(req.key, end) >= 0) {
        throw new WatchCreateError(WATCHER_RANGE_EMPTY);
      }
      id = s.ids.allocate(req.watchId);
    } catch (err) {
      if (!(err instanceof WatchCreateError)) throw err;
      this.enqueueControl(s, {
        ...blank(INVALID_WATCH_ID, this.revision),
        created: true,
        canceled: true,
        cancelReason: err.message,
      });
      return INVALID_WATCH_ID;
    }
    // etcd turns 0 into current+1; a negative start would be "compacted at 0", which no client could act on.
    const start = req.startRevision === 0 ? this.revision + 1 : Math.max(1, req.startRevision);
    const w: Watcher = {
      id,
      stream: s,
      key: req.key,
      end,
      noPut: req.filters.includes('NOPUT'),
      noDelete: req.filters.includes('NODELETE'),
      prevKv: req.prevKv,
      progressNotify: req.progressNotify,
      fragment: req.fragment,
      nextRev: start,
      synced: start > this.revision,
      live: true,
      queuedEvents: 0,
      queuedBytes: 0,
      progressQueued: false,
      quietSinceTick: true,
      syncMark: 0,
    };
    s.watchers.set(id, w);
    this.enqueueControl(s, { ...blank(id, this.revision), created: true });
    if (w.synced) {
      this.synced.add(w);
    } else {
      this.unsynced.add(w);
      s.unsyncedCount++;
      this.syncReady.add(w);
      this.onSyncNeeded?.();
    }
    return id;
  }

  cancel(s: StreamState, watchId: number): boolean {
    const w = s.watchers.get(watchId);
    if (!w) return false;
    this.remove(w);
    // Events already queued for it still go out, before the cancel confirmation.
    this.enqueueControl(s, { ...blank(watchId, this.revision), canceled: true });
    this.answerDeferredProgress(s);
    return true;
  }

  requestProgress(s: StreamState): void {
    if (s.closed || s.progressPending) return;
    if (!this.answerProgress(s)) s.progressPending = true;
  }

  close(s: StreamState): void {
    for (const w of [...s.watchers.values()]) this.remove(w);
    s.queue.clear();
    s.queuedEvents = 0;
    s.progressPending = false;
    s.closed = true;
    this.streams.delete(s);
  }

  notify(events: readonly MvccEvent[], revision: number): void {
    // A revision already covered (a replay after restore, a duplicate call) has nothing new for anyone.
    if (revision <= this.revision) return;
    this.revision = revision;
    if (this.synced.size === 0 || events.length === 0) return;
    const batches = new Map<Watcher, MvccEvent[]>();
    for (const ev of events) {
      this.synced.forEachMatch(ev.kv.key, (w) => {
        if (w.nextRev > revision || !accepts(w, ev)) return;
        let batch = batches.get(w);
        if (!batch) {
          batch = [];
          batches.set(w, batch);
        }
        batch.push(shaped(w, ev));
      });
    }
    for (const [w, batch] of batches) {
      const bytes = batchBytes(batch);
      const overflow =
        w.queuedEvents > 0 &&
        (w.queuedEvents + batch.length > this.maxPendingEvents || w.queuedBytes + bytes > this.maxPendingBytes);
      if (overflow) {
        this.fallBehind(w, revision);
      } else {
        this.enqueueEvents(w, batch, bytes, revision);
      }
    }
  }

  sync(maxEvents: number): boolean {
    if (this.syncReady.size === 0) return false;
    const compactRev = this.history.compactRevision;
    const current = this.history.currentRevision;
    const mark = ++this.syncMark;
    const touched = new Set<StreamState>();
    let from = Infinity;
    for (const w of [...this.syncReady]) {
      // etcd's rule (watcher_group.go chooseAll): a watcher needing a revision below the compaction point is canceled.
      if (w.nextRev < compactRev) {
        this.cancelCompacted(w, compactRev);
        touched.add(w.stream);
        continue;
      }
      w.syncMark = mark;
      if (w.nextRev < from) from = w.nextRev;
    }
    if (from !== Infinity) this.replay(from, mark, current, Math.max(1, maxEvents), touched);
    for (const s of touched) this.answerDeferredProgress(s);
    return this.syncReady.size > 0;
  }

  progressNotify(): void {
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        if (!w.progressNotify) continue;
        if (w.quietSinceTick && w.synced && !w.progressQueued) {
          w.progressQueued = true;
          this.enqueue(s, {
            kind: 'progress',
            response: blank(w.id, this.revision),
            watcher: w,
            events: 0,
            bytes: 0,
            fragment: false,
          });
        }
        w.quietSinceTick = true;
      }
    }
  }

  restored(): void {
    const before = this.revision;
    this.revision = this.history.currentRevision;
    let any = false;
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        if (!w.synced) continue;
        this.fallBehind(w, Math.max(w.nextRev, before + 1));
        if (w.queuedEvents === 0) this.syncReady.add(w);
        any = true;
      }
    }
    if (any) this.onSyncNeeded?.();
  }

  pull(s: StreamState, max: number): WatchResponse[] {
    const out: WatchResponse[] = [];
    let becameReady = false;
    while (out.length < max) {
      const item = s.queue.shift();
      if (!item) break;
      s.queuedEvents -= item.events;
      const w = item.watcher;
      if (w) {
        w.queuedEvents -= item.events;
        w.queuedBytes -= item.bytes;
        if (item.kind === 'progress') w.progressQueued = false;
        if (w.live && !w.synced && w.queuedEvents === 0 && !this.syncReady.has(w)) {
          this.syncReady.add(w);
          becameReady = true;
        }
      }
      if (item.fragment) out.push(...splitFragments(item.response, this.fragmentMaxBytes));
      else out.push(item.response);
    }
    if (becameReady) this.onSyncNeeded?.();
    return out;
  }

  /** Replays history from `from` to the sync-ready watchers marked with `mark`. */
  private replay(from: number, mark: number, current: number, maxEvents: number, touched: Set<StreamState>): void {
    let events: MvccEvent[] = [];
    if (from <= current) {
      try {
        events = this.history.eventsFrom(from, maxEvents);
      } catch (err) {
        if (!isCompactedError(err)) throw err;
        // The history lost revisions it still claimed to hold; the watchers that need them cannot be served.
        const compactRev = Math.max(this.history.compactRevision, from + 1);
        for (const w of [...this.syncReady]) {
          if (w.syncMark === mark && w.nextRev === from) {
            this.cancelCompacted(w, compactRev);
            touched.add(w.stream);
          }
        }
        return;
      }
    }
    const last = events[events.length - 1];
    // Every revision in [from, caughtUp] has been seen in full.
    const caughtUp = last ? Math.max(last.kv.modRevision, from) : current;
    const batches = new Map<Watcher, MvccEvent[]>();
    for (const ev of events) {
      const rev = ev.kv.modRevision;
      if (rev < from) continue;
      this.unsynced.forEachMatch(ev.kv.key, (w) => {
        if (w.syncMark !== mark || w.nextRev > rev || !accepts(w, ev)) return;
        let batch = batches.get(w);
        if (!batch) {
          batch = [];
          batches.set(w, batch);
        }
        batch.push(shaped(w, ev));
      });
    }
    const headerRev = Math.max(current, caughtUp);
    const syncedFrom = Math.max(current, this.revision);
    for (const w of [...this.syncReady]) {
      if (w.syncMark !== mark) continue;
      if (w.nextRev <= caughtUp) {
        const batch = batches.get(w);
        if (batch) this.enqueueEvents(w, batch, batchBytes(batch), headerRev);
        w.nextRev = caughtUp + 1;
        touched.add(w.stream);
      }
      if (w.nextRev > syncedFrom) {
        this.unsynced.delete(w);
        this.syncReady.delete(w);
        w.synced = true;
        w.stream.unsyncedCount--;
        this.synced.add(w);
        touched.add(w.stream);
      } else if (w.queuedEvents > 0) {
        this.syncReady.delete(w);
      }
    }
  }

  private fallBehind(w: Watcher, nextRev: number): void {
    this.synced.delete(w);
    w.synced = false;
    w.nextRev = nextRev;
    this.unsynced.add(w);
    w.stream.unsyncedCount++;
  }

  private remove(w: Watcher): void {
    const s = w.stream;
    w.live = false;
    s.watchers.delete(w.id);
    s.ids.release(w.id);
    if (w.synced) {
      this.synced.delete(w);
    } else {
      this.unsynced.delete(w);
      this.syncReady.delete(w);
      s.unsyncedCount--;
    }
  }

  private cancelCompacted(w: Watcher, compactRev: number): void {
    this.remove(w);
    this.enqueueControl(w.stream, {
      ...blank(w.id, this.revision),
      canceled: true,
      compactRevision: compactRev,
    });
  }

  /** Queues the answer to a progress_request if every watcher of the stream is synced. */
  private answerProgress(s: StreamState): boolean {
    if (s.unsyncedCount > 0) return false;
    // etcd answers through one of the stream's watchers, so a stream without watchers gets no answer.
    if (s.watchers.size === 0) return true;
    const last = s.queue.last();
    if (last?.kind === 'streamProgress') {
      // Nothing was queued after it, so it can speak for the newer revision instead of queuing a twin.
      last.response.revision = this.revision;
      return true;
    }
    this.enqueue(s, {
      kind: 'streamProgress',
      response: blank(INVALID_WATCH_ID, this.revision),
      watcher: null,
      events: 0,
      bytes: 0,
      fragment: false,
    });
    return true;
  }

  private answerDeferredProgress(s: StreamState): void {
    if (s.progressPending && this.answerProgress(s)) s.progressPending = false;
  }

  private enqueueEvents(w: Watcher, events: MvccEvent[], bytes: number, revision: number): void {
    w.quietSinceTick = false;
    this.enqueue(w.stream, {
      kind: 'events',
      response: { ...blank(w.id, revision), events },
      watcher: w,
      events: events.length,
      bytes,
      fragment: w.fragment,
    });
  }

  private enqueueControl(s: StreamState, response: WatchResponse): void {
    this.enqueue(s, { kind: 'control', response, watcher: null, events: 0, bytes: 0, fragment: false });
  }

  private enqueue(s: StreamState, item: Queued): void {
    if (s.closed) return;
    const wasEmpty = s.queue.length === 0;
    s.queue.push(item);
    s.queuedEvents += item.events;
    if (item.watcher) {
      item.watcher.queuedEvents += item.events;
      item.watcher.queuedBytes += item.bytes;
    }
    if (wasEmpty) s.onReady?.();
  }
}

function accepts(w: Watcher, ev: MvccEvent): boolean {
  return ev.type === 'PUT' ? !w.noPut : !w.noDelete;
}

/** The event as this watcher sees it: prev_kv only when asked for. */
function shaped(w: Watcher, ev: MvccEvent): MvccEvent {
  if (w.prevKv || ev.prevKv === undefined) return ev;
  return { type: ev.type, kv: ev.kv };
}

function batchBytes(events: readonly MvccEvent[]): number {
  let n = 0;
  for (const ev of events) n += eventSize(ev);
  return n;
}

/** One client watch stream (one gRPC Watch call). Created by WatchHub.openStream. */
export class WatchStream {
  readonly #core: HubCore;
  readonly #state: StreamState;

  /** @internal */
  constructor(core: HubCore, state: StreamState) {
    this.#core = core;
    this.#state = state;
  }

  get id(): number {
    return this.#state.id;
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  /**
   * Creates a watcher and queues its created response (created+canceled with
   * watch ID -1 and a cancel_reason when refused). Returns the watch ID, or -1.
   */
  watch(req: WatchCreateRequest): number {
    return this.#core.watch(this.#state, req);
  }

  /** Queues the canceled confirmation; false (and nothing queued, as in etcd) for an unknown ID. */
  cancel(watchId: number): boolean {
    return this.#core.cancel(this.#state, watchId);
  }

  /** A progress_request: answered with watch ID -1 once every watcher of the stream is synced. */
  requestProgress(): void {
    this.#core.requestProgress(this.#state);
  }

  /** Takes up to `max` queued responses (a fragmented response counts once) in the order they must be sent. */
  pull(max = Number.POSITIVE_INFINITY): WatchResponse[] {
    return this.#core.pull(this.#state, max);
  }

  get pendingResponses(): number {
    return this.#state.queue.length;
  }

  get pendingEvents(): number {
    return this.#state.queuedEvents;
  }

  get watchIds(): number[] {
    return [...this.#state.watchers.keys()];
  }

  /** The client went away: drops every watcher and everything queued. */
  close(): void {
    if (!this.#state.closed) this.#core.close(this.#state);
  }
}

export class WatchHub {
  readonly #core: HubCore;

  constructor(history: EventHistory, options: WatchHubOptions = {}) {
    this.#core = new HubCore(history, options);
  }

  /** The latest revision whose events have been routed (or the history's revision at start). */
  get revision(): number {
    return this.#core.revision;
  }

  get watcherCount(): number {
    return this.#core.watcherCount;
  }

  get unsyncedCount(): number {
    return this.#core.unsyncedCount;
  }

  get streamCount(): number {
    return this.#core.streams.size;
  }

  /** True while a `sync` call would make progress. */
  get needsSync(): boolean {
    return this.#core.needsSync;
  }

  /** `onReady` fires when the stream's queue goes from empty to non-empty; pull from it when writable. */
  openStream(onReady?: () => void): WatchStream {
    return new WatchStream(this.#core, this.#core.openStream(onReady));
  }

  /** After the store applied `revision`, with that revision's events (prevKv filled in). */
  notify(events: readonly MvccEvent[], revision: number): void {
    this.#core.notify(events, revision);
  }

  /** One bounded catch-up step for unsynced watchers; returns whether another step could make progress. */
  sync(maxEvents = 1000): boolean {
    return this.#core.sync(maxEvents);
  }

  /** A tick of --experimental-watch-progress-notify-interval: empty responses for quiet synced progress_notify watchers. */
  progressNotify(): void {
    this.#core.progressNotify();
  }

  /** The store was replaced by a snapshot: every watcher catches up from the restored history. */
  restored(): void {
    this.#core.restored();
  }
}
