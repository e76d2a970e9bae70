import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coalesceMessages } from '../../../etcd/raft/coalesce.js';
import type { Entry, Message, MsgApp, MsgAppResp, MsgProp } from '../../../etcd/raft/types.js';
import { id, TestCluster } from './harness.js';

const A = id(1);
const B = id(2);
const C = id(3);

function ent(index: number, term = 2, size = 4): Entry {
  return { index, term, type: 'normal', data: Buffer.alloc(size, index) };
}

function app(to: string, index: number, logTerm: number, entries: Entry[], commit: number, term = 2): MsgApp {
  return { type: 'app', from: A, to, term, index, logTerm, entries, commit };
}

function ack(to: string, index: number, reject = false, term = 2): MsgAppResp {
  return { type: 'appResp', from: B, to, term, index, reject, rejectHint: 0, logTerm: 0 };
}

function prop(to: string, ...values: string[]): MsgProp {
  return { type: 'prop', from: B, to, term: 0, entries: values.map((v) => ({ type: 'normal' as const, data: Buffer.from(v) })) };
}

describe('coalesceMessages', () => {
  it('merges appends that continue each other into one with every entry and the last commit', () => {
    const out = coalesceMessages([app(B, 4, 2, [ent(5)], 4), app(C, 4, 2, [ent(5)], 4), app(B, 5, 2, [ent(6), ent(7)], 5), app(B, 7, 2, [], 7)], 1 << 20);
    expect(out).toHaveLength(2);
    const toB = out[0] as MsgApp;
    expect(toB.to).toBe(B);
    expect([toB.index, toB.logTerm, toB.commit]).toEqual([4, 2, 7]);
    expect(toB.entries.map((e) => e.index)).toEqual([5, 6, 7]);
    expect((out[1] as MsgApp).to).toBe(C);
  });

  it('keeps appends that do not continue the previous one (a resend, another term, a gap)', () => {
    const resend = [app(B, 4, 2, [ent(5), ent(6)], 4), app(B, 4, 2, [ent(5), ent(6)], 4)];
    expect(coalesceMessages(resend, 1 << 20)).toHaveLength(2);
    const termChange = [app(B, 4, 2, [ent(5)], 4), app(B, 5, 3, [ent(6, 3)], 4, 3)];
    expect(coalesceMessages(termChange, 1 << 20)).toHaveLength(2);
    const gap = [app(B, 4, 2, [ent(5)], 4), app(B, 6, 2, [ent(7)], 4)];
    expect(coalesceMessages(gap, 1 << 20)).toHaveLength(2);
    const wrongLogTerm = [app(B, 4, 2, [ent(5, 1)], 4), app(B, 5, 2, [ent(6)], 4)];
    expect(coalesceMessages(wrongLogTerm, 1 << 20)).toHaveLength(2);
  });

  it('never merges across another kind of message to the same member', () => {
    const hb: Message = { type: 'heartbeat', from: A, to: B, term: 2, commit: 4, readRound: 0 };
    const out = coalesceMessages([app(B, 4, 2, [ent(5)], 4), hb, app(B, 5, 2, [ent(6)], 5)], 1 << 20);
    expect(out.map((m) => m.type)).toEqual(['app', 'heartbeat', 'app']);
  });

  it('stops growing an append at the size bound', () => {
    // Each entry counts 4 bytes of data + 16 of overhead.
    const msgs = [1, 2, 3, 4].map((k) => app(B, 4 + k - 1, 2, [ent(4 + k)], 4));
    const out = coalesceMessages(msgs, 40) as MsgApp[];
    expect(out.map((m) => m.entries.length)).toEqual([2, 2]);
    expect(out[1]!.index).toBe(6);
  });

  it('keeps the highest of successful acknowledgements, and every rejection', () => {
    const out = coalesceMessages([ack(A, 5), ack(A, 9), ack(A, 7), ack(A, 3, true), ack(A, 10)], 1 << 20) as MsgAppResp[];
    expect(out.map((m) => [m.index, m.reject])).toEqual([
      [9, false],
      [3, true],
      [10, false],
    ]);
  });

  it('merges forwarded proposals of normal entries in order, but not conf changes', () => {
    const out = coalesceMessages([prop(A, 'a'), prop(A, 'b', 'c'), prop(A, 'd')], 1 << 20) as MsgProp[];
    expect(out).toHaveLength(1);
    expect(out[0]!.entries.map((e) => Buffer.from(e.data).toString())).toEqual(['a', 'b', 'c', 'd']);
    const conf: MsgProp = { type: 'prop', from: B, to: A, term: 0, entries: [{ type: 'conf', data: Buffer.from('cc') }] };
    expect(coalesceMessages([prop(A, 'a'), conf, prop(A, 'b')], 1 << 20)).toHaveLength(3);
  });

  it('leaves a single message and an empty list as they are', () => {
    const one = [app(B, 4, 2, [ent(5)], 4)];
    expect(coalesceMessages(one, 1)).toBe(one);
    expect(coalesceMessages([], 1)).toEqual([]);
  });
});

describe('a burst of proposals in one Ready', () => {
  it('goes out as one append per follower and comes back as one acknowledgement each', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.sent = [];
    for (let k = 0; k < 20; k++) c.node(1).r.propose(Buffer.from(`v${k}`));
    c.stabilize();
    const withEntries = c.sent.filter((m): m is MsgApp => m.type === 'app' && m.entries.length > 0);
    expect(withEntries).toHaveLength(2);
    for (const m of withEntries) expect(m.entries).toHaveLength(20);
    const acks = c.sent.filter((m) => m.type === 'appResp');
    expect(acks.filter((m) => m.from === id(2)).length).toBeLessThanOrEqual(2);
    const want = Array.from({ length: 20 }, (_, k) => `v${k}`);
    for (const n of c.nodes.values()) expect(n.values()).toEqual(want);
  });

  it('forwarded from a follower, reaches the leader as one proposal', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.sent = [];
    for (let k = 0; k < 10; k++) c.node(3).r.propose(Buffer.from(`f${k}`));
    c.stabilize();
    const props = c.sent.filter((m): m is MsgProp => m.type === 'prop');
    expect(props).toHaveLength(1);
    expect(props[0]!.entries).toHaveLength(10);
    c.tickAll(2);
    for (const n of c.nodes.values()) expect(n.values()).toEqual(Array.from({ length: 10 }, (_, k) => `f${k}`));
  });
});

/** A follower's log and commit, as far as appends from one leader change them. */
interface FollowerModel {
  terms: number[]; // terms[i - 1] is the term of entry i
  commit: number;
}

function deliver(f: FollowerModel, m: MsgApp): void {
  if (m.index > f.terms.length) return; // a gap: rejected
  if (m.index > 0 && f.terms[m.index - 1] !== m.logTerm) return;
  for (const e of m.entries) {
    if (f.terms[e.index - 1] !== e.term) f.terms.length = e.index - 1;
    f.terms[e.index - 1] = e.term;
  }
  f.commit = Math.max(f.commit, Math.min(m.commit, m.index + m.entries.length));
}

describe('coalesceMessages, any interleaving of one leader\'s appends', () => {
  it('leaves every follower with the same log and commit, keeps other messages in order, and bounds sizes', () => {
    const step = fc.record({
      to: fc.integer({ min: 2, max: 3 }),
      kind: fc.constantFrom('app', 'app', 'app', 'heartbeat'),
      from: fc.integer({ min: 0, max: 30 }),
      len: fc.integer({ min: 0, max: 4 }),
      commit: fc.integer({ min: 0, max: 30 }),
    });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 30, maxLength: 30 }), fc.array(step, { maxLength: 25 }), fc.integer({ min: 20, max: 200 }), (rawTerms, steps, maxBytes) => {
        // The leader's log: terms never decrease.
        const terms = rawTerms.map((_, i) => Math.max(...rawTerms.slice(0, i + 1)));
        const entry = (i: number): Entry => ({ index: i, term: terms[i - 1]!, type: 'normal', data: Buffer.alloc(i % 3, i) });
        const msgs: Message[] = steps.map((st) => {
          const to = id(st.to);
          if (st.kind === 'heartbeat') return { type: 'heartbeat', from: A, to, term: 3, commit: st.commit, readRound: 0 };
          const index = Math.min(st.from, 29);
          const entries = Array.from({ length: Math.min(st.len, 30 - index) }, (_, k) => entry(index + 1 + k));
          return app(to, index, index === 0 ? 0 : terms[index - 1]!, entries, st.commit, 3);
        });
        const copy = (ms: Message[]): Message[] => ms.map((m) => (m.type === 'app' ? { ...m, entries: [...m.entries] } : { ...m }));
        const out = coalesceMessages(copy(msgs), maxBytes);
        for (const to of [B, C]) {
          const before: FollowerModel = { terms: [1, 1], commit: 0 };
          const after: FollowerModel = { terms: [1, 1], commit: 0 };
          for (const m of msgs) if (m.to === to && m.type === 'app') deliver(before, m);
          for (const m of out) if (m.to === to && m.type === 'app') deliver(after, m);
          expect(after).toEqual(before);
          const kinds = (ms: Message[]) => ms.filter((m) => m.to === to && m.type !== 'app').map((m) => JSON.stringify(m));
          expect(kinds(out)).toEqual(kinds(msgs));
        }
        for (const m of out) {
          if (m.type !== 'app' || m.entries.length < 2) continue;
          const original = msgs.some((o) => o.type === 'app' && o.to === m.to && o.index === m.index && o.entries.length === m.entries.length);
          // Entries were added to this append by merging: it stays within the bound.
          if (!original) expect(m.entries.reduce((n, e) => n + e.data.byteLength + 16, 0)).toBeLessThanOrEqual(maxBytes);
        }
        expect(out.length).toBeLessThanOrEqual(msgs.length);
      }),
      { numRuns: 500 },
    );
  });
});
