import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../../etcd/errors.js';
import { MvccStore } from '../../../etcd/mvcc/store.js';
import { applyDeleteRange, applyPut, applyRange, applyTxn } from '../../../etcd/mvcc/txn.js';
import type { EtcdServer } from '../../../etcd/server/server.js';
import { b, cmp, ctx, delReq, openServer, putReq, rangeReq, tempDir, txnReq } from './helpers.js';

type Op =
  | { t: 'put'; key: string; value: string; prevKv: boolean }
  | { t: 'del'; key: string; end: string }
  | { t: 'txn'; key: string; version: number; value: string; other: string }
  | { t: 'compact'; back: number }
  | { t: 'range'; key: string; end: string; back: number }
  | { t: 'restart'; crash: boolean };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 4 }), prevKv: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), key: keyArb, end: fc.constantFrom('', 'c', 'f') }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('txn' as const), key: keyArb, version: fc.nat(3), value: fc.string({ maxLength: 3 }), other: keyArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('range' as const), key: keyArb, end: fc.constantFrom('', 'f'), back: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), crash: fc.boolean() }) },
);

const noLeases = { exists: () => false };

/** Runs fn, returning its value or the etcd error message, so both sides compare the same way. */
async function outcome<T>(fn: () => T | Promise<T>): Promise<T | string> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof EtcdError) return `error: ${err.message}`;
    throw err;
  }
}

describe('EtcdServer agrees with MvccStore applied directly', () => {
  it('for random sequences of writes, reads, compactions and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const tmp = tempDir();
        const model = new MvccStore();
        let server: EtcdServer = await openServer(tmp.dir);
        try {
          for (const op of ops) {
            switch (op.t) {
              case 'put': {
                const req = putReq(op.key, op.value, { prevKv: op.prevKv });
                const want = await outcome(() => applyPut(model, req, noLeases).response);
                const got = await outcome(async () => (await server.put(req, ctx)).response);
                expect(got).toEqual(want);
                break;
              }
              case 'del': {
                const req = delReq(op.key, { rangeEnd: b(op.end), prevKv: true });
                const want = await outcome(() => applyDeleteRange(model, req).response);
                const got = await outcome(async () => (await server.deleteRange(req, ctx)).response);
                expect(got).toEqual(want);
                break;
              }
              case 'txn': {
                const req = txnReq(
                  [cmp(op.key, { target: 'VERSION', result: 'EQUAL', version: op.version })],
                  [{ type: 'put', put: putReq(op.key, op.value) }, { type: 'range', range: rangeReq(op.other) }],
                  [{ type: 'deleteRange', deleteRange: delReq(op.key) }],
                );
                const want = await outcome(() => applyTxn(model, req, noLeases, { maxTxnOps: 128 }).response);
                const got = await outcome(async () => (await server.txn(req, ctx)).response);
                expect(got).toEqual(want);
                break;
              }
              case 'compact': {
                const rev = Math.max(1, model.currentRevision - op.back);
                const want = await outcome(() => model.compact(rev));
                const got = await outcome(async () => {
                  await server.compact({ revision: rev, physical: false }, ctx);
                });
                expect(got).toEqual(want);
                break;
              }
              case 'range': {
                const req = rangeReq(op.key, { rangeEnd: b(op.end), revision: Math.max(0, model.currentRevision - op.back) });
                const want = await outcome(() => applyRange(model, req).response);
                const got = await outcome(async () => (await server.range(req, ctx)).response);
                expect(got).toEqual(want);
                break;
              }
              case 'restart':
                if (op.crash) await server.crash();
                else await server.close();
                server = await openServer(tmp.dir);
                break;
            }
            expect(server.currentHeader().revision).toBe(model.currentRevision);
          }
          expect((await server.hash(ctx)).hash).toBe(model.hash());
          expect((await server.hashKV(0, ctx)).hash).toBe(model.hashKV(0).hash);
        } finally {
          await server.close();
          tmp.cleanup();
        }
      }),
      { numRuns: 25 },
    );
  });
});
