// Model-based tests: random request sequences run against MvccStore (through
// the request-level functions in txn.ts) and against ReferenceModel must agree
// on every response, error, revision and event, on replay from any revision,
// and after a snapshot round trip.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../../etcd/errors.js';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import { applyDeleteRange, applyPut, applyRange, applyTxn } from '../../../etcd/mvcc/txn.js';
import type { KeyValue, MvccEvent, RangeRequest, ResponseOp, TxnResponse } from '../../../etcd/types.js';
import type { Step } from './arbitraries.js';
import { stepArb } from './arbitraries.js';
import { rangeReq } from './helpers.js';
import type { MEvent, MKV, MResp, MTxnResp } from './reference-model.js';
import { ModelError, ReferenceModel } from './reference-model.js';

const LEASES = { exists: (id: bigint) => id === 1n || id === 2n };

const kv = (k: KeyValue): MKV => ({
  key: k.key.toString('latin1'),
  createRevision: k.createRevision,
  modRevision: k.modRevision,
  version: k.version,
  value: k.value.toString('latin1'),
  lease: k.lease,
});

const ev = (e: MvccEvent): MEvent => (e.prevKv ? { type: e.type, kv: kv(e.kv), prevKv: kv(e.prevKv) } : { type: e.type, kv: kv(e.kv) });

function resp(r: ResponseOp): MResp {
  switch (r.type) {
    case 'range':
      return { type: 'range', range: { ...r.range, kvs: r.range.kvs.map(kv) } };
    case 'put':
      return { type: 'put', put: r.put.prevKv ? { revision: r.put.revision, prevKv: kv(r.put.prevKv) } : { revision: r.put.revision } };
    case 'deleteRange':
      return { type: 'deleteRange', deleteRange: { ...r.deleteRange, prevKvs: r.deleteRange.prevKvs.map(kv) } };
    case 'txn':
      return { type: 'txn', txn: txnResp(r.txn) };
  }
}

function txnResp(t: TxnResponse): MTxnResp {
  return { revision: t.revision, succeeded: t.succeeded, responses: t.responses.map(resp) };
}

type Outcome<T> = { ok: T } | { error: string };

function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: fn() };
  } catch (e) {
    if (e instanceof EtcdError || e instanceof ModelError) return { error: e.message };
    throw e;
  }
}

/** Runs one step on both sides and returns what each produced, in the model's vocabulary. */
function runStep(store: MvccStore, model: ReferenceModel, step: Step, maxTxnOps: number): [Outcome<unknown>, Outcome<unknown>, MEvent[] | undefined] {
  let events: MEvent[] | undefined;
  const track = <T>(r: { response: T; events: MvccEvent[] }): T => {
    events = r.events.map(ev);
    return r.response;
  };
  switch (step.kind) {
    case 'put':
      return [
        outcome(() => {
          const r = track(applyPut(store, step.req, LEASES));
          return r.prevKv ? { revision: r.revision, prevKv: kv(r.prevKv) } : { revision: r.revision };
        }),
        outcome(() => model.put(step.req)),
        events,
      ];
    case 'delete':
      return [
        outcome(() => {
          const r = track(applyDeleteRange(store, step.req));
          return { ...r, prevKvs: r.prevKvs.map(kv) };
        }),
        outcome(() => model.deleteRange(step.req)),
        events,
      ];
    case 'range':
      return [
        outcome(() => {
          const r = track(applyRange(store, step.req));
          return { ...r, kvs: r.kvs.map(kv) };
        }),
        outcome(() => model.range(step.req)),
        events,
      ];
    case 'txn':
      return [outcome(() => txnResp(track(applyTxn(store, step.req, LEASES, { maxTxnOps })))), outcome(() => model.txn(step.req, maxTxnOps)), events];
    case 'compact': {
      const rev = store.currentRevision - step.back;
      const got = outcome(() => store.compact(rev));
      // Tidy the slabs right away (the server does it in slices later), so the checks after every step see moved bytes.
      for (const _ of store.tidySlabs());
      return [got, outcome(() => model.compact(rev)), undefined];
    }
  }
}

function fullRange(key: string, end: string, revision: number): RangeRequest {
  return rangeReq(key, end, { revision });
}

/** Reads of the whole key space at every revision, compacted and future ones included. */
function everyRevisionView(store: MvccStore): Outcome<unknown>[] {
  const out: Outcome<unknown>[] = [];
  for (let rev = 0; rev <= store.currentRevision + 1; rev++) {
    out.push(outcome(() => store.range(fullRange('\0', '\0', rev))));
  }
  return out;
}

function replay(store: MvccStore, start: number, pageSize: number): Outcome<MEvent[]> {
  return outcome(() => {
    const all: MEvent[] = [];
    let next = start;
    for (let guard = 0; guard < 1000; guard++) {
      const batch = store.eventBatch(next, pageSize);
      if (batch.events.length === 0) {
        expect(batch.nextRevision).toBe(Math.max(next, store.currentRevision + 1));
        return all;
      }
      const revs = batch.events.map((e) => e.kv.modRevision);
      // A batch never ends in the middle of a revision, and only exceeds the page for a single revision.
      expect(batch.nextRevision).toBeGreaterThan(revs[revs.length - 1]!);
      if (batch.events.length > pageSize) expect(new Set(revs).size).toBe(1);
      all.push(...batch.events.map(ev));
      next = batch.nextRevision;
    }
    throw new Error('eventsFrom did not converge');
  });
}

describe('MvccStore against the reference model', () => {
  it('agrees on every response, error, revision and event', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }), fc.constantFrom(2, 5, 128), fc.integer({ min: 1, max: 3 }), fc.constantFrom(8, 24, undefined), (steps, maxTxnOps, pageSize, slabBytes) => {
        // Tiny slabs make compaction move keys and values between them.
        const store = new MvccStore(slabBytes === undefined ? {} : { slabBytes });
        const model = new ReferenceModel();
        model.leases.add(1n).add(2n);
        for (const step of steps) {
          const revBefore = model.currentRev;
          const [got, want, events] = runStep(store, model, step, maxTxnOps);
          expect(got).toEqual(want);
          expect(store.currentRevision).toBe(model.currentRev);
          if (events !== undefined) {
            const expected = model.currentRev > revBefore ? model.allEvents().filter((e) => e.kv.modRevision === model.currentRev) : [];
            expect(events).toEqual(expected);
          }
        }
        expect(store.compactRevision).toBe(Math.max(0, model.compactRev));

        // Historical reads at every revision.
        const modelViews = [];
        for (let rev = 0; rev <= model.currentRev + 1; rev++) modelViews.push(outcome(() => model.range(fullRange('\0', '\0', rev))));
        const storeViews = everyRevisionView(store).map((o) => ('ok' in o ? { ok: { ...(o.ok as object), kvs: (o.ok as { kvs: KeyValue[] }).kvs.map(kv) } } : o));
        expect(storeViews).toEqual(modelViews);

        // Replay from every start revision, paged.
        for (let start = -1; start <= model.currentRev + 2; start++) {
          expect(replay(store, start, pageSize)).toEqual(outcome(() => model.eventsFrom(start)));
        }

        // Live size matches the model's current key space.
        const live = [...model.stateAt(model.currentRev).values()];
        expect(store.keyCount).toBe(live.length);
        expect(store.liveSizeBytes()).toBe(live.reduce((n, k) => n + k.key.length + k.value.length + 64, 0));
        expect(store.sizeBytes()).toBeGreaterThanOrEqual(store.liveSizeBytes());

        // A snapshot round trip preserves everything observable.
        const copy = MvccStore.deserialize(store.serialize());
        expect(copy.hash()).toBe(store.hash());
        expect(copy.serialize().equals(store.serialize())).toBe(true);
        expect(copy.currentRevision).toBe(store.currentRevision);
        expect(copy.compactMainRevision).toBe(store.compactMainRevision);
        expect(everyRevisionView(copy)).toEqual(everyRevisionView(store));
        expect(replay(copy, store.compactRevision, 100)).toEqual(replay(store, store.compactRevision, 100));
        expect(copy.hashKV(0)).toEqual(store.hashKV(0));
        expect(copy.sizeBytes()).toBe(store.sizeBytes());
        expect(copy.liveSizeBytes()).toBe(store.liveSizeBytes());

        // Compacting everything leaves exactly the live data.
        if (store.currentRevision > store.compactMainRevision) {
          const views = everyRevisionView(store);
          store.compact(store.currentRevision);
          for (const _ of store.tidySlabs());
          expect(store.sizeBytes()).toBe(store.liveSizeBytes());
          // What compaction keeps reads the same, wherever its bytes now live.
          expect(everyRevisionView(store).at(-2)).toEqual(views.at(-2));
          model.compact(store.currentRevision);
          for (let start = store.compactRevision - 1; start <= model.currentRev + 1; start++) {
            expect(replay(store, start, pageSize)).toEqual(outcome(() => model.eventsFrom(start)));
          }
        }
      }),
      { numRuns: Number(process.env.MVCC_MODEL_RUNS ?? 1000) },
    );
  });
});
