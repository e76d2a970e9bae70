// Random interleavings of writes, watch creation at random start revisions,
// slow consumers, cancels, stream closes, compaction and progress requests,
// checked against a model: each watcher's delivered events must be exactly
// the history's matching events from its start revision (ordered, unique,
// complete, one revision per response), or a prefix of them ending in a
// compaction cancel or a user cancel; every progress notification must come
// after all events up to its revision.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WatchHub, type WatchFilter, type WatchResponse, type WatchStream } from '../../../etcd/mvcc/watch.js';
import { type MvccEvent, prefixEnd } from '../../../etcd/types.js';
import { FakeHistory, eventSig, type WriteOp } from './watch-fixtures.js';

const KEYS = ['a', 'ab', 'abc', 'b', 'ba', 'c'];

type KeySpec =
  | { kind: 'key'; key: string }
  | { kind: 'prefix'; key: string }
  | { kind: 'from'; key: string }
  | { kind: 'all' };

type Cmd =
  | { t: 'write'; ops: { k: number; del: boolean; len: number }[] }
  | {
      t: 'watch';
      s: number;
      spec: KeySpec;
      start: { kind: 'now' } | { kind: 'rel'; back: number };
      filters: WatchFilter[];
      prevKv: boolean;
      fragment: boolean;
      progressNotify: boolean;
    }
  | { t: 'cancel'; s: number; pick: number }
  | { t: 'pull'; s: number; max: number }
  | { t: 'sync'; max: number }
  | { t: 'compact'; ahead: number }
  | { t: 'tick' }
  | { t: 'progress'; s: number }
  | { t: 'reopen'; s: number };

const STREAMS = 2;

const keySpec: fc.Arbitrary<KeySpec> = fc.oneof(
  fc.constantFrom(...KEYS).map((key): KeySpec => ({ kind: 'key', key })),
  fc.constantFrom('a', 'ab', 'b').map((key): KeySpec => ({ kind: 'prefix', key })),
  fc.constantFrom('ab', 'b').map((key): KeySpec => ({ kind: 'from', key })),
  fc.constant<KeySpec>({ kind: 'all' }),
);

const stream = fc.integer({ min: 0, max: STREAMS - 1 });

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(fc.record({ k: fc.integer({ min: 0, max: KEYS.length - 1 }), del: fc.boolean(), len: fc.integer({ min: 0, max: 40 }) }), {
        minLength: 1,
        maxLength: 3,
      })
      .map((ops): Cmd => ({ t: 'write', ops })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        s: stream,
        spec: keySpec,
        start: fc.oneof(
          fc.constant({ kind: 'now' as const }),
          // Negative: a start revision in the future.
          fc.integer({ min: -3, max: -1 }).map((back) => ({ kind: 'rel' as const, back })),
          fc.integer({ min: 0, max: 8 }).map((back) => ({ kind: 'rel' as const, back })),
        ),
        filters: fc.subarray<WatchFilter>(['NOPUT', 'NODELETE']),
        prevKv: fc.boolean(),
        fragment: fc.boolean(),
        progressNotify: fc.boolean(),
      })
      .map((r): Cmd => ({ t: 'watch', ...r })),
  },
  { weight: 1, arbitrary: fc.record({ s: stream, pick: fc.nat() }).map((r): Cmd => ({ t: 'cancel', ...r })) },
  {
    weight: 3,
    arbitrary: fc.record({ s: stream, max: fc.integer({ min: 1, max: 6 }) }).map((r): Cmd => ({ t: 'pull', ...r })),
  },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 5 }).map((max): Cmd => ({ t: 'sync', max })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((ahead): Cmd => ({ t: 'compact', ahead })) },
  { weight: 1, arbitrary: fc.constant<Cmd>({ t: 'tick' }) },
  { weight: 2, arbitrary: stream.map((s): Cmd => ({ t: 'progress', s })) },
  { weight: 1, arbitrary: stream.map((s): Cmd => ({ t: 'reopen', s })) },
);

interface Record {
  readonly id: number;
  readonly spec: KeySpec;
  readonly start: number;
  readonly filters: WatchFilter[];
  readonly prevKv: boolean;
  created: boolean;
  delivered: MvccEvent[];
  compactCancel: number | null;
  userCancel: boolean;
  streamClosed: boolean;
}

interface StreamModel {
  hub: WatchStream;
  records: Map<number, Record>;
  /** Concatenates fragment pieces until the last one. */
  partial: WatchResponse | null;
  createdEver: number;
}

function matches(spec: KeySpec, key: string): boolean {
  const k = Buffer.from(key);
  switch (spec.kind) {
    case 'key':
      return key === spec.key;
    case 'prefix':
      return Buffer.compare(k, Buffer.from(spec.key)) >= 0 && Buffer.compare(k, prefixEnd(Buffer.from(spec.key))) < 0;
    case 'from':
      return Buffer.compare(k, Buffer.from(spec.key)) >= 0;
    case 'all':
      return true;
  }
}

function expectedFor(r: Record, log: readonly MvccEvent[]): string[] {
  return log
    .filter(
      (ev) =>
        ev.kv.modRevision >= r.start &&
        matches(r.spec, ev.kv.key.toString()) &&
        !(ev.type === 'PUT' && r.filters.includes('NOPUT')) &&
        !(ev.type === 'DELETE' && r.filters.includes('NODELETE')),
    )
    .map((ev) => eventSig(r.prevKv ? ev : { type: ev.type, kv: ev.kv }));
}

function toRequest(spec: KeySpec): { key: Buffer; rangeEnd: Buffer } {
  switch (spec.kind) {
    case 'key':
      return { key: Buffer.from(spec.key), rangeEnd: Buffer.alloc(0) };
    case 'prefix':
      return { key: Buffer.from(spec.key), rangeEnd: prefixEnd(Buffer.from(spec.key)) };
    case 'from':
      return { key: Buffer.from(spec.key), rangeEnd: Buffer.from([0]) };
    case 'all':
      return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  }
}

function run(cmds: Cmd[], maxPendingEvents: number): void {
  const history = new FakeHistory();
  const hub = new WatchHub(history, { maxPendingEvents, fragmentMaxBytes: 160 });
  const finished: Record[] = [];
  let value = 0;
  let largestSyncBatch = 3;

  const open = (): StreamModel => ({ hub: hub.openStream(), records: new Map(), partial: null, createdEver: 0 });
  const streams: StreamModel[] = Array.from({ length: STREAMS }, open);

  /** Checks that a watcher has seen every event up to `rev` and nothing of a later revision out of place. */
  const assertCaughtUp = (r: Record, rev: number, what: string) => {
    const want = expectedFor(r, history.log.filter((ev) => ev.kv.modRevision <= rev));
    expect(r.delivered.map(eventSig), `${what} at ${rev} for watcher ${r.id}`).toEqual(want);
  };

  const receive = (sm: StreamModel, raw: WatchResponse) => {
    expect(raw.revision).toBeLessThanOrEqual(history.currentRevision);
    let resp = raw;
    if (sm.partial) {
      expect(raw.watchId).toBe(sm.partial.watchId);
      resp = { ...raw, events: [...sm.partial.events, ...raw.events] };
      sm.partial = null;
    }
    if (resp.fragment) {
      expect(resp.events.length).toBeGreaterThan(0);
      sm.partial = resp;
      return;
    }
    if (resp.watchId === -1) {
      expect(resp.created || resp.canceled || resp.events.length > 0).toBe(false);
      for (const r of sm.records.values()) if (r.created && !r.userCancel && r.compactCancel === null) assertCaughtUp(r, resp.revision, 'stream progress');
      return;
    }
    const r = sm.records.get(resp.watchId);
    expect(r, `response for unknown watcher ${resp.watchId}`).toBeDefined();
    if (!r) return;
    expect(r.compactCancel, 'response after compaction cancel').toBeNull();
    if (resp.created) {
      expect(r.created).toBe(false);
      expect(resp.canceled).toBe(false);
      r.created = true;
      return;
    }
    expect(r.created, 'response before created').toBe(true);
    if (resp.canceled) {
      expect(resp.events).toEqual([]);
      if (resp.compactRevision > 0) r.compactCancel = resp.compactRevision;
      else expect(r.userCancel).toBe(true);
      return;
    }
    if (resp.events.length === 0) {
      assertCaughtUp(r, resp.revision, 'progress notify');
      return;
    }
    const prev = r.delivered[r.delivered.length - 1];
    // Atomic: a revision never continues into the next response.
    if (prev) expect(resp.events[0]!.kv.modRevision).toBeGreaterThan(prev.kv.modRevision);
    for (const ev of resp.events) expect(ev.kv.modRevision).toBeLessThanOrEqual(resp.revision);
    r.delivered.push(...resp.events);
  };

  const pull = (sm: StreamModel, max?: number) => {
    for (const resp of sm.hub.pull(max)) receive(sm, resp);
  };

  for (const c of cmds) {
    switch (c.t) {
      case 'write': {
        const ops: WriteOp[] = c.ops.map((o) =>
          o.del ? { key: KEYS[o.k]!, delete: true } : { key: KEYS[o.k]!, value: `${value++}:${'x'.repeat(o.len)}` },
        );
        const { revision, events } = history.write(ops);
        if (events.length) hub.notify(events, revision);
        break;
      }
      case 'watch': {
        const sm = streams[c.s]!;
        const startRevision = c.start.kind === 'now' ? 0 : Math.max(1, hub.revision - c.start.back);
        const id = sm.hub.watch({
          ...toRequest(c.spec),
          startRevision,
          progressNotify: c.progressNotify,
          filters: c.filters,
          prevKv: c.prevKv,
          watchId: 0,
          fragment: c.fragment,
        });
        expect(id).toBe(sm.createdEver++);
        sm.records.set(id, {
          id,
          spec: c.spec,
          start: startRevision === 0 ? hub.revision + 1 : startRevision,
          filters: c.filters,
          prevKv: c.prevKv,
          created: false,
          delivered: [],
          compactCancel: null,
          userCancel: false,
          streamClosed: false,
        });
        break;
      }
      case 'cancel': {
        const sm = streams[c.s]!;
        const live = sm.hub.watchIds;
        if (live.length === 0) break;
        const id = live[c.pick % live.length]!;
        expect(sm.hub.cancel(id)).toBe(true);
        sm.records.get(id)!.userCancel = true;
        break;
      }
      case 'pull':
        pull(streams[c.s]!, c.max);
        break;
      case 'sync':
        largestSyncBatch = Math.max(largestSyncBatch, c.max + 3);
        hub.sync(c.max);
        break;
      case 'compact': {
        const target = Math.min(history.currentRevision, history.compactRevision + 1 + c.ahead);
        if (target > history.compactRevision) history.compact(target);
        break;
      }
      case 'tick':
        hub.progressNotify();
        break;
      case 'progress':
        streams[c.s]!.hub.requestProgress();
        break;
      case 'reopen': {
        const sm = streams[c.s]!;
        // What the client read before it vanished must still be a clean prefix.
        pull(sm, 2);
        sm.hub.close();
        for (const r of sm.records.values()) {
          r.streamClosed = true;
          finished.push(r);
        }
        streams[c.s] = open();
        break;
      }
    }
    // Memory stays bounded: no watcher holds more than its bound plus one catch-up chunk.
    for (const sm of streams) {
      expect(sm.hub.pendingEvents).toBeLessThanOrEqual(sm.createdEver * Math.max(maxPendingEvents, largestSyncBatch));
    }
  }

  // Quiesce: consumers read everything and history replay finishes.
  for (let round = 0; ; round++) {
    expect(round).toBeLessThan(100_000);
    for (const sm of streams) pull(sm);
    if (!hub.sync(4) && !hub.needsSync && streams.every((sm) => sm.hub.pendingResponses === 0)) break;
  }
  expect(hub.unsyncedCount).toBe(0);
  for (const sm of streams) {
    expect(sm.partial).toBeNull();
    finished.push(...sm.records.values());
  }

  for (const r of finished) {
    const want = expectedFor(r, history.log);
    const got = r.delivered.map(eventSig);
    const lastRev = r.delivered[r.delivered.length - 1]?.kv.modRevision;
    const next = lastRev === undefined ? r.start : lastRev + 1;
    if (r.compactCancel !== null) {
      expect(r.created).toBe(true);
      // Canceled only if it needed a revision below the compaction point, and got everything before it.
      expect(next).toBeLessThan(r.compactCancel);
      expect(r.compactCancel).toBeLessThanOrEqual(history.compactRevision);
      expect(got).toEqual(expectedFor(r, history.log.filter((ev) => ev.kv.modRevision < next)));
    } else if (r.userCancel || r.streamClosed) {
      expect(got).toEqual(want.slice(0, got.length));
      // Ends on a revision boundary: everything of the last revision it saw is there.
      if (lastRev !== undefined) expect(got).toEqual(expectedFor(r, history.log.filter((ev) => ev.kv.modRevision <= lastRev)));
    } else {
      expect(r.created).toBe(true);
      expect(got).toEqual(want);
    }
  }
}

describe('WatchHub against a model', () => {
  it('delivers ordered, unique, complete, atomic event streams to every watcher', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 100 }), fc.integer({ min: 1, max: 6 }), (cmds, bound) => {
        run(cmds, bound);
      }),
      { numRuns: 1500 },
    );
  });
});
