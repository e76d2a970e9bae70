import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkListAppend } from '../../checkers/elle/index.js';
import type { AppendMop } from '../../checkers/elle/txn.js';
import { unlimitedBudget } from '../../checkers/result.js';
import { createRng } from '../../harness/random.js';
import { AppendWorkload } from '../../workloads/append.js';
import { etcdBin, shortRun, skipReason } from './append-e2e.js';
import { driveConcurrently, FakeEtcd } from './append-fake-etcd.js';

const grpcError = (code: number, details: string) => Object.assign(new Error(details), { code, details, metadata: undefined });

describe('AppendWorkload', () => {
  it('generates 1–4 micro-ops, unique elements per key, and rotates keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 30 }), (seed, perKey) => {
        const w = new AppendWorkload({ rng: createRng(seed), opsPerKey: perKey, serializable: false });
        const seen = new Set<string>();
        for (let i = 0; i < 200; i++) {
          const mops = w.next().value;
          expect(mops.length).toBeGreaterThanOrEqual(1);
          expect(mops.length).toBeLessThanOrEqual(4);
          for (const m of mops) {
            if (m[0] !== 'append') continue;
            const id = `${m[1]}/${m[2]}`;
            expect(seen.has(id)).toBe(false);
            seen.add(id);
            expect(m[2]).toBeLessThanOrEqual(perKey);
          }
        }
        expect(w.finalReads().map((r) => r.value[0]![1])).toEqual([...w.keysUsed]);
      }),
      { numRuns: 40 },
    );
  });

  it('concurrent transactions against an etcd-like store give a strict-serializable history', async () => {
    const fake = new FakeEtcd();
    const w = new AppendWorkload({ rng: createRng(9), opsPerKey: 30, serializable: false });
    const history = await driveConcurrently(w, fake, 6, 300);
    const r = checkListAppend(history, { budget: unlimitedBudget });
    expect(r.valid).toBe(true);
    expect(r.stats.ok).toBeGreaterThan(200);
    expect(r.stats.edges.rw + r.stats.edges.wr).toBeGreaterThan(50);
  });

  it('reads see the txn\'s own appends; appends are guarded read-modify-writes', async () => {
    const fake = new FakeEtcd();
    const w = new AppendWorkload({ rng: createRng(1), opsPerKey: 10, serializable: false });
    const c = await w.invoke(fake.client(), { f: 'txn', value: [['append', 'a0', 1], ['r', 'a0', null], ['append', 'a0', 2], ['r', 'a1', null]] as AppendMop[] });
    expect(c).toMatchObject({ type: 'ok', revision: 2, value: [['append', 'a0', 1], ['r', 'a0', [1]], ['append', 'a0', 2], ['r', 'a1', []]] });
    expect(fake.kvs.get('a0')!.value.toString()).toBe('1 2');
  });

  it('an error before the guarded write is fail; during it, info', async () => {
    const fake = new FakeEtcd();
    const w = new AppendWorkload({ rng: createRng(1), opsPerKey: 10, serializable: false });
    const op = { f: 'txn', value: [['append', 'a0', 1]] as AppendMop[] };
    fake.failNext = { error: grpcError(status.UNAVAILABLE, 'read ECONNRESET'), count: 1 };
    expect((await w.invoke(fake.client(), op)).type).toBe('fail');
    // The read succeeds, then the write fails ambiguously.
    const client = fake.client();
    let calls = 0;
    const flaky = { txnRaw: async (req: object) => (++calls === 2 ? Promise.reject(grpcError(status.UNAVAILABLE, 'read ECONNRESET')) : client.txnRaw(req)) } as typeof client;
    expect((await w.invoke(flaky, op)).type).toBe('info');
    fake.failNext = { error: grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), count: 1 };
    expect((await w.invoke(fake.client(), { f: 'txn', value: [['r', 'a0', null]] as AppendMop[] })).type).toBe('fail');
  });
});

describe.skipIf(!etcdBin)('append against real etcd', () => {
  skipReason('append');
  it('a short run with kill faults is valid', async () => {
    const r = await shortRun('append');
    expect(r.exitCode, r.text).toBe(0);
    const checkers = r.results.checkers as Record<string, { stats: { ok: number } } | undefined>;
    expect(checkers.append?.stats.ok).toBeGreaterThan(20);
  }, 30_000);
});
