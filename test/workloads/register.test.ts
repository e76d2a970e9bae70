import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EtcdClient } from '../../harness/client/etcd-client.js';
import type { RegisterCas, RegisterRead, RegisterWrite } from '../../harness/history.js';
import { createRng } from '../../harness/random.js';
import { decodeValue, RegisterWorkload } from '../../workloads/register.js';

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: undefined });
}

/** An in-memory register store answering like etcd, or failing with a given error. */
function fakeClient(store: Map<string, { value: string; mod: number }>, failWith?: Error): EtcdClient {
  let rev = 1;
  const header = () => ({ revision: rev, memberId: 'a1', raftTerm: 2 });
  const fail = () => {
    if (failWith) throw failWith;
  };
  return {
    async range(key: string) {
      fail();
      const kv = store.get(key);
      return { header: header(), kvs: kv ? [{ key: Buffer.from(key), value: Buffer.from(kv.value), modRevision: kv.mod, createRevision: kv.mod, version: 1 }] : [] };
    },
    async put(key: string, value: string) {
      fail();
      store.set(key, { value, mod: ++rev });
      return { header: header() };
    },
    async compareAndSet(key: string, expected: string, next: string) {
      fail();
      const kv = store.get(key);
      if (kv?.value !== expected) return { header: header(), succeeded: false };
      store.set(key, { value: next, mod: ++rev });
      return { header: header(), succeeded: true };
    },
  } as unknown as EtcdClient;
}

describe('RegisterWorkload generation', () => {
  it('writes unique values per key and rotates keys after ops-per-key ops', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 40 }), (seed, perKey) => {
        const w = new RegisterWorkload({ rng: createRng(seed), opsPerKey: perKey, serializable: false });
        const ops = Array.from({ length: 300 }, () => w.next());
        const written = new Map<string, Set<number>>();
        const perKeyCount = new Map<string, number>();
        for (const op of ops) {
          const key = (op.value as { key: string }).key;
          perKeyCount.set(key, (perKeyCount.get(key) ?? 0) + 1);
          const v = op.f === 'write' ? (op.value as RegisterWrite).value : op.f === 'cas' ? (op.value as RegisterCas).to : undefined;
          if (v === undefined) continue;
          const seen = written.get(key) ?? new Set<number>();
          if (seen.has(v)) return false;
          seen.add(v);
          written.set(key, seen);
          if (op.f === 'cas' && !seen.has((op.value as RegisterCas).from)) return false; // from must be a value handed out before
        }
        for (const n of perKeyCount.values()) if (n > perKey) return false;
        return perKeyCount.size === Math.ceil(300 / perKey);
      }),
      { numRuns: 60 },
    );
  });

  it('mixes reads, writes and cas', () => {
    const w = new RegisterWorkload({ rng: createRng(5), opsPerKey: 1000, serializable: false });
    const fs = new Set(Array.from({ length: 200 }, () => w.next().f));
    expect([...fs].sort()).toEqual(['cas', 'read', 'write']);
  });

  it('final reads cover every key used', () => {
    const w = new RegisterWorkload({ rng: createRng(1), opsPerKey: 3, serializable: false });
    for (let i = 0; i < 10; i++) w.next();
    expect(w.finalReads().map((r) => (r.value as RegisterRead).key)).toEqual(['r0', 'r1', 'r2', 'r3']);
  });
});

describe('RegisterWorkload execution', () => {
  it('records values, mod revisions and header revisions; a failed compare is fail', async () => {
    const store = new Map<string, { value: string; mod: number }>();
    const client = fakeClient(store);
    const w = new RegisterWorkload({ rng: createRng(1), opsPerKey: 100, serializable: false });
    const absent = await w.invoke(client, { f: 'read', value: { key: 'r0', value: null } });
    expect(absent).toMatchObject({ type: 'ok', value: { key: 'r0', value: null }, revision: 1, memberId: 'a1' });
    expect(await w.invoke(client, { f: 'write', value: { key: 'r0', value: 1 } })).toMatchObject({ type: 'ok', revision: 2 });
    expect(await w.invoke(client, { f: 'read', value: { key: 'r0', value: null } })).toMatchObject({ type: 'ok', value: { key: 'r0', value: 1, modRevision: 2 } });
    expect(await w.invoke(client, { f: 'cas', value: { key: 'r0', from: 1, to: 2 } })).toMatchObject({ type: 'ok' });
    expect(await w.invoke(client, { f: 'cas', value: { key: 'r0', from: 1, to: 3 } })).toMatchObject({ type: 'fail', error: 'compare failed' });
  });

  it('classifies errors: definite ones fail, ambiguous writes are info, any failed read is fail', async () => {
    const w = new RegisterWorkload({ rng: createRng(1), opsPerKey: 100, serializable: false });
    const write = { f: 'write', value: { key: 'r0', value: 1 } };
    const read = { f: 'read', value: { key: 'r0', value: null } };
    const cases: [Error, string, string][] = [
      [grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), 'info', 'fail'],
      [grpcError(status.UNAVAILABLE, 'etcdserver: request timed out'), 'info', 'fail'],
      [grpcError(status.UNAVAILABLE, 'read ECONNRESET'), 'info', 'fail'],
      [grpcError(status.UNAVAILABLE, 'etcdserver: leader changed'), 'info', 'fail'],
      [grpcError(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED'), 'fail', 'fail'],
      [grpcError(status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'), 'fail', 'fail'],
      [grpcError(status.INVALID_ARGUMENT, 'etcdserver: key is not provided'), 'fail', 'fail'],
      [grpcError(status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'), 'fail', 'fail'],
      [new Error('socket hang up'), 'info', 'fail'],
    ];
    for (const [err, writeType, readType] of cases) {
      const c = fakeClient(new Map(), err);
      const wr = await w.invoke(c, write);
      expect([err.message, wr.type]).toEqual([err.message, writeType]);
      expect(wr.error).toBeTruthy();
      expect((await w.invoke(c, read)).type).toBe(readType);
      expect((await w.invoke(c, { f: 'cas', value: { key: 'r0', from: 1, to: 2 } })).type).toBe(writeType);
    }
  });

  it('passes serializable to reads', async () => {
    let seen: unknown;
    const client = { range: async (_k: string, o: unknown) => ((seen = o), { header: { revision: 1, memberId: 'a', raftTerm: 1 }, kvs: [] }) } as unknown as EtcdClient;
    const w = new RegisterWorkload({ rng: createRng(1), opsPerKey: 100, serializable: true });
    await w.invoke(client, { f: 'read', value: { key: 'r0', value: null } });
    expect(seen).toEqual({ serializable: true });
  });

  it('decodes foreign bytes as a never-written value, not as absent', () => {
    expect(decodeValue(Buffer.from('17'))).toBe(17);
    expect(decodeValue(Buffer.from('x'))).toBe(-1);
    expect(decodeValue(Buffer.from(''))).toBe(-1);
  });
});
