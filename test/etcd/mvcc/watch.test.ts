import { describe, expect, it } from 'vitest';
import { WatchHub, type WatchCreateRequest, type WatchResponse } from '../../../etcd/mvcc/watch.js';
import { WatchIdAllocator, WATCHER_DUPLICATE_ID, WATCHER_RANGE_EMPTY } from '../../../etcd/mvcc/watch-ids.js';
import { splitFragments, watchResponseSize } from '../../../etcd/mvcc/watch-fragment.js';
import { prefixEnd } from '../../../etcd/types.js';
import { FakeHistory, eventSig, type WriteOp } from './watch-fixtures.js';

function req(over: Partial<Omit<WatchCreateRequest, 'key'>> & { key: string }): WatchCreateRequest {
  return {
    rangeEnd: Buffer.alloc(0),
    startRevision: 0,
    progressNotify: false,
    filters: [],
    prevKv: false,
    watchId: 0,
    fragment: false,
    ...over,
    key: Buffer.from(over.key),
  };
}

function setup(options: ConstructorParameters<typeof WatchHub>[1] = {}) {
  const history = new FakeHistory();
  const hub = new WatchHub(history, options);
  const write = (...ops: WriteOp[]) => {
    const { revision, events } = history.write(ops);
    hub.notify(events, revision);
    return revision;
  };
  const put = (key: string, value = 'v') => write({ key, value });
  const del = (key: string) => write({ key, delete: true });
  const drainSync = () => {
    let steps = 0;
    while (hub.sync(1000)) if (++steps > 10_000) throw new Error('sync does not converge');
  };
  return { history, hub, write, put, del, drainSync };
}

const eventsOf = (rs: WatchResponse[], id: number) => rs.filter((r) => r.watchId === id).flatMap((r) => r.events);
const keysOf = (rs: WatchResponse[], id: number) => eventsOf(rs, id).map((e) => `${e.type} ${e.kv.key.toString()}`);

describe('WatchIdAllocator', () => {
  it('starts at 0, counts up, and skips IDs claimed explicitly', () => {
    const ids = new WatchIdAllocator();
    expect(ids.allocate(0)).toBe(0);
    expect(ids.allocate(0)).toBe(1);
    expect(ids.allocate(3)).toBe(3);
    expect(ids.allocate(0)).toBe(2);
    expect(ids.allocate(0)).toBe(4);
  });

  it('never reuses an automatic ID after release, but frees explicit ones', () => {
    const ids = new WatchIdAllocator();
    expect(ids.allocate(0)).toBe(0);
    expect(ids.release(0)).toBe(true);
    expect(ids.allocate(0)).toBe(1);
    expect(ids.allocate(7)).toBe(7);
    expect(() => ids.allocate(7)).toThrow(WATCHER_DUPLICATE_ID);
    ids.release(7);
    expect(ids.allocate(7)).toBe(7);
    expect(ids.release(42)).toBe(false);
  });
});

describe('WatchHub basics', () => {
  it('answers a create with created=true at the current revision, then streams matching events', () => {
    const { hub, put } = setup();
    put('a');
    const s = hub.openStream();
    const id = s.watch(req({ key: 'a' }));
    expect(id).toBe(0);
    put('a', 'x');
    put('b');
    const out = s.pull();
    expect(out[0]).toMatchObject({ watchId: 0, created: true, canceled: false, revision: 2, events: [] });
    expect(out).toHaveLength(2);
    expect(out[1]!.revision).toBe(3);
    expect(out[1]!.events.map(eventSig)).toEqual(['PUT a@3=x prev:-']);
  });

  it('matches single keys, prefixes, from-key and all-keys ranges', () => {
    const { hub, put, del } = setup();
    const s = hub.openStream();
    const single = s.watch(req({ key: 'ab' }));
    const prefix = s.watch(req({ key: 'a', rangeEnd: prefixEnd(Buffer.from('a')) }));
    const fromKey = s.watch(req({ key: 'b', rangeEnd: Buffer.from([0]) }));
    const all = s.watch(req({ key: '\0', rangeEnd: Buffer.from([0]) }));
    put('a');
    put('ab');
    put('abc');
    put('b');
    put('zz');
    del('ab');
    const out = s.pull();
    expect(keysOf(out, single)).toEqual(['PUT ab', 'DELETE ab']);
    expect(keysOf(out, prefix)).toEqual(['PUT a', 'PUT ab', 'PUT abc', 'DELETE ab']);
    expect(keysOf(out, fromKey)).toEqual(['PUT b', 'PUT zz']);
    expect(keysOf(out, all)).toHaveLength(6);
  });

  it('keeps all events of one revision in one response, in transaction order', () => {
    const { hub, write } = setup();
    const s = hub.openStream();
    const id = s.watch(req({ key: 'a', rangeEnd: Buffer.from('z') }));
    write({ key: 'c', value: '1' }, { key: 'b', value: '2' });
    const out = s.pull().filter((r) => r.events.length);
    expect(out).toHaveLength(1);
    expect(keysOf(out, id)).toEqual(['PUT c', 'PUT b']);
  });

  it('applies NOPUT / NODELETE filters and sends nothing when everything is filtered', () => {
    const { hub, put, del } = setup();
    const s = hub.openStream();
    const noPut = s.watch(req({ key: 'k', filters: ['NOPUT'] }));
    const noDel = s.watch(req({ key: 'k', filters: ['NODELETE'] }));
    s.pull();
    put('k');
    expect(s.pull().map((r) => r.watchId)).toEqual([noDel]);
    del('k');
    const out = s.pull();
    expect(out.map((r) => r.watchId)).toEqual([noPut]);
    expect(keysOf(out, noPut)).toEqual(['DELETE k']);
  });

  it('includes prevKv only for watchers that asked for it', () => {
    const { hub, put } = setup();
    put('k', 'old');
    const s = hub.openStream();
    const withPrev = s.watch(req({ key: 'k', prevKv: true }));
    const without = s.watch(req({ key: 'k' }));
    put('k', 'new');
    const out = s.pull();
    expect(eventsOf(out, withPrev)[0]!.prevKv?.value.toString()).toBe('old');
    expect(eventsOf(out, without)[0]!.prevKv).toBeUndefined();
    expect(eventsOf(out, without)[0]!.kv.value.toString()).toBe('new');
  });

  it('refuses an empty range and a duplicate explicit ID with created+canceled, watch ID -1', () => {
    const { hub } = setup();
    const s = hub.openStream();
    expect(s.watch(req({ key: 'b', rangeEnd: Buffer.from('a') }))).toBe(-1);
    expect(s.watch(req({ key: 'a', watchId: 5 }))).toBe(5);
    expect(s.watch(req({ key: 'a', watchId: 5 }))).toBe(-1);
    const out = s.pull();
    expect(out[0]).toMatchObject({ watchId: -1, created: true, canceled: true, cancelReason: WATCHER_RANGE_EMPTY });
    expect(out[1]).toMatchObject({ watchId: 5, created: true, canceled: false });
    expect(out[2]).toMatchObject({ watchId: -1, created: true, canceled: true, cancelReason: WATCHER_DUPLICATE_ID });
    expect(hub.watcherCount).toBe(1);
  });

  it('confirms a cancel, delivers nothing afterwards, and ignores unknown IDs', () => {
    const { hub, put } = setup();
    const s = hub.openStream();
    const id = s.watch(req({ key: 'k' }));
    put('k');
    expect(s.cancel(id)).toBe(true);
    expect(s.cancel(id)).toBe(false);
    expect(s.cancel(99)).toBe(false);
    put('k');
    const out = s.pull();
    expect(out.map((r) => [r.watchId, r.created, r.canceled, r.events.length])).toEqual([
      [id, true, false, 0],
      [id, false, false, 1],
      [id, false, true, 0],
    ]);
    expect(hub.watcherCount).toBe(0);
  });

  it('drops every watcher of a closed stream', () => {
    const { hub, put } = setup();
    const a = hub.openStream();
    const b = hub.openStream();
    a.watch(req({ key: 'k' }));
    a.watch(req({ key: 'j', startRevision: 1 }));
    b.watch(req({ key: 'k' }));
    expect(hub.watcherCount).toBe(3);
    a.close();
    expect(hub.watcherCount).toBe(1);
    expect(hub.unsyncedCount).toBe(0);
    expect(hub.streamCount).toBe(1);
    put('k');
    expect(a.pull()).toEqual([]);
    expect(eventsOf(b.pull(), 0)).toHaveLength(1);
    expect(a.watch(req({ key: 'k' }))).toBe(-1);
  });

  it('fires onReady when a stream queue becomes non-empty', () => {
    const { hub, put } = setup();
    let ready = 0;
    const s = hub.openStream(() => ready++);
    s.watch(req({ key: 'k' }));
    put('k');
    expect(ready).toBe(1);
    s.pull();
    put('k');
    expect(ready).toBe(2);
  });
});

describe('WatchHub history replay', () => {
  it('replays from a past start revision in bounded chunks, then follows live writes', () => {
    const { hub, history, put } = setup();
    for (let i = 0; i < 10; i++) put(`k${i % 3}`, `v${i}`);
    let syncRequests = 0;
    const s = hub.openStream();
    const id = s.watch(req({ key: 'k', rangeEnd: Buffer.from('l'), startRevision: 3 }));
    expect(hub.unsyncedCount).toBe(1);
    // The chunk is queued; the next step waits until the consumer has taken it.
    expect(hub.sync(2)).toBe(false);
    expect(hub.needsSync).toBe(false);
    const first = s.pull();
    expect(first[0]!.created).toBe(true);
    expect(first[1]!.events.map((e) => e.kv.modRevision)).toEqual([3, 4]);
    // Its queue is empty again, so it may sync once more.
    expect(hub.needsSync).toBe(true);
    for (let i = 0; i < 100 && hub.needsSync; i++) {
      hub.sync(2);
      first.push(...s.pull());
    }
    syncRequests = history.reads;
    expect(syncRequests).toBeGreaterThan(1);
    expect(hub.unsyncedCount).toBe(0);
    put('k1', 'live');
    const all = [...first, ...s.pull()];
    expect(eventsOf(all, id).map((e) => e.kv.modRevision)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // Catch-up responses carry the store revision at sync time; live ones carry the write's revision.
    const last = all[all.length - 1]!;
    expect(last.revision).toBe(12);
  });

  it('cancels a watcher whose start revision is below the compaction point, but not one at it', () => {
    const { hub, history, put, drainSync } = setup();
    for (let i = 0; i < 6; i++) put('k', `v${i}`);
    history.compact(5);
    const s = hub.openStream();
    const below = s.watch(req({ key: 'k', startRevision: 4 }));
    const at = s.watch(req({ key: 'k', startRevision: 5 }));
    drainSync();
    const out = s.pull();
    const cancel = out.find((r) => r.watchId === below && r.canceled);
    expect(cancel).toMatchObject({ compactRevision: 5, canceled: true, events: [] });
    expect(out.filter((r) => r.watchId === below && r.events.length)).toEqual([]);
    expect(eventsOf(out, at).map((e) => e.kv.modRevision)).toEqual([5, 6, 7]);
    expect(hub.watcherCount).toBe(1);
  });

  it('a start revision in the future is synced and skips earlier writes', () => {
    const { hub, put } = setup();
    const s = hub.openStream();
    const id = s.watch(req({ key: 'k', startRevision: 4 }));
    expect(hub.unsyncedCount).toBe(0);
    put('k', '2');
    put('k', '3');
    put('k', '4');
    expect(eventsOf(s.pull(), id).map((e) => e.kv.modRevision)).toEqual([4]);
  });

  it('never blocks writers on a slow consumer and bounds its queue, then catches up without gaps', () => {
    let syncNeeded = 0;
    const { hub, put, drainSync } = setup({ maxPendingEvents: 8, onSyncNeeded: () => syncNeeded++ });
    const s = hub.openStream();
    const fast = hub.openStream();
    const id = s.watch(req({ key: 'k', prevKv: true }));
    const fid = fast.watch(req({ key: 'k' }));
    const seenFast: WatchResponse[] = [];
    for (let i = 0; i < 500; i++) {
      put('k', `v${i}`);
      seenFast.push(...fast.pull());
      expect(s.pendingEvents).toBeLessThanOrEqual(8);
    }
    expect(hub.unsyncedCount).toBe(1);
    const got: WatchResponse[] = [];
    for (let round = 0; round < 1000 && (hub.needsSync || s.pendingResponses > 0 || hub.unsyncedCount > 0); round++) {
      got.push(...s.pull(3));
      hub.sync(7);
      if (round % 5 === 0) put('k', `late${round}`);
      seenFast.push(...fast.pull());
    }
    drainSync();
    got.push(...s.pull());
    expect(hub.unsyncedCount).toBe(0);
    expect(syncNeeded).toBeGreaterThan(0);
    const revs = eventsOf(got, id).map((e) => e.kv.modRevision);
    const fastRevs = eventsOf(seenFast, fid).map((e) => e.kv.modRevision);
    expect(revs).toEqual(fastRevs);
    expect(revs[0]).toBe(2);
    expect(revs.length).toBeGreaterThan(500);
    for (const ev of eventsOf(got, id).slice(1)) expect(ev.prevKv?.modRevision).toBe(ev.kv.modRevision - 1);
  });

  it('moves every watcher to history after a snapshot restore', () => {
    const { hub, history, put, drainSync } = setup();
    const s = hub.openStream();
    const id = s.watch(req({ key: 'k' }));
    put('k', '1');
    // The store jumps ahead (as a follower does when it installs a snapshot) without notify.
    history.write([{ key: 'k', value: '2' }]);
    history.write([{ key: 'k', value: '3' }]);
    hub.restored();
    expect(hub.revision).toBe(4);
    expect(hub.unsyncedCount).toBe(1);
    const out = s.pull();
    drainSync();
    out.push(...s.pull());
    expect(eventsOf(out, id).map((e) => e.kv.value.toString())).toEqual(['1', '2', '3']);
    expect(hub.unsyncedCount).toBe(0);
  });
});

describe('WatchHub progress', () => {
  it('answers a progress request with watch ID -1 at the current revision when all watchers are synced', () => {
    const { hub, put } = setup();
    const s = hub.openStream();
    s.watch(req({ key: 'k' }));
    put('k');
    s.requestProgress();
    const out = s.pull();
    const last = out[out.length - 1]!;
    expect(last).toMatchObject({ watchId: -1, revision: 2, events: [], created: false, canceled: false, compactRevision: 0 });
  });

  it('defers the answer until an unsynced watcher has caught up', () => {
    const { hub, put, drainSync } = setup();
    for (let i = 0; i < 5; i++) put('k', `${i}`);
    const s = hub.openStream();
    const id = s.watch(req({ key: 'k', startRevision: 2 }));
    s.requestProgress();
    s.requestProgress();
    expect(s.pull().some((r) => r.watchId === -1)).toBe(false);
    drainSync();
    const out = s.pull();
    const progress = out.filter((r) => r.watchId === -1);
    expect(progress).toHaveLength(1);
    expect(progress[0]!.revision).toBe(6);
    // The catch-up events come before the answer.
    expect(out.findIndex((r) => r.watchId === id && r.events.length)).toBeLessThan(out.indexOf(progress[0]!));
  });

  it('sends no answer to a stream without watchers, as etcd does', () => {
    const { hub } = setup();
    const s = hub.openStream();
    s.requestProgress();
    expect(s.pull()).toEqual([]);
  });

  it('progress ticks notify quiet synced progress_notify watchers only', () => {
    const { hub, put } = setup();
    const s = hub.openStream();
    const quiet = s.watch(req({ key: 'q', progressNotify: true }));
    const busy = s.watch(req({ key: 'b', progressNotify: true }));
    const plain = s.watch(req({ key: 'p' }));
    s.pull();
    put('b');
    hub.progressNotify();
    let out = s.pull();
    expect(out.filter((r) => r.events.length === 0).map((r) => [r.watchId, r.revision])).toEqual([[quiet, 2]]);
    hub.progressNotify();
    out = s.pull();
    expect(out.map((r) => r.watchId).sort()).toEqual([quiet, busy].sort());
    expect(out.every((r) => r.revision === 2 && r.events.length === 0)).toBe(true);
    expect(out.some((r) => r.watchId === plain)).toBe(false);
    // A notification not yet pulled is not duplicated.
    hub.progressNotify();
    hub.progressNotify();
    expect(s.pull()).toHaveLength(2);
  });
});

describe('fragments', () => {
  it('splits large responses of fragment watchers the way etcd does', () => {
    const { hub, write } = setup({ fragmentMaxBytes: 300 });
    const s = hub.openStream();
    const frag = s.watch(req({ key: 'a', rangeEnd: Buffer.from('z'), fragment: true }));
    const whole = s.watch(req({ key: 'a', rangeEnd: Buffer.from('z') }));
    const ops: WriteOp[] = [];
    for (let i = 0; i < 10; i++) ops.push({ key: `k${i}`, value: 'x'.repeat(60) });
    write(...ops);
    write({ key: 'big', value: 'y'.repeat(1000) });
    const out = s.pull().filter((r) => r.events.length);
    const pieces = out.filter((r) => r.watchId === frag);
    expect(out.filter((r) => r.watchId === whole)).toHaveLength(2);
    expect(pieces.length).toBeGreaterThan(3);
    const firstRev = pieces.filter((r) => r.events[0]!.kv.modRevision === 2);
    expect(firstRev.length).toBeGreaterThan(2);
    expect(firstRev.slice(0, -1).every((r) => r.fragment)).toBe(true);
    expect(firstRev[firstRev.length - 1]!.fragment).toBe(false);
    expect(firstRev.flatMap((r) => r.events).map((e) => e.kv.key.toString())).toEqual(ops.map((o) => o.key));
    for (const p of firstRev) if (p.events.length > 1) expect(watchResponseSize(p)).toBeLessThan(300);
    // A single large event is never split.
    const big = pieces.filter((r) => r.events[0]!.kv.modRevision === 3);
    expect(big).toHaveLength(1);
    expect(big[0]!.fragment).toBe(false);
  });

  it('leaves responses under the limit alone', () => {
    const resp: WatchResponse = {
      watchId: 1,
      revision: 5,
      created: false,
      canceled: false,
      compactRevision: 0,
      cancelReason: '',
      fragment: false,
      events: [],
    };
    expect(splitFragments(resp, 10)).toEqual([resp]);
  });
});

describe('scale', () => {
  it('routes writes to thousands of single-key watchers without scanning them all', () => {
    const { hub, put } = setup();
    const s = hub.openStream();
    for (let i = 0; i < 5000; i++) s.watch(req({ key: `key${i}` }));
    for (let i = 0; i < 20; i++) s.watch(req({ key: `key${i}`, rangeEnd: prefixEnd(Buffer.from(`key${i}`)) }));
    s.pull();
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) put(`key${i % 5000}`);
    const elapsed = performance.now() - t0;
    const out = s.pull();
    expect(out.reduce((n, r) => n + r.events.length, 0)).toBeGreaterThan(20_000);
    // Scanning 5000 watchers per write would take several seconds here.
    expect(elapsed).toBeLessThan(3000);
  });
});
