import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRwRegister } from '../../checkers/elle/index.js';
import type { WrMop } from '../../checkers/elle/txn.js';
import { unlimitedBudget } from '../../checkers/result.js';
import { createRng } from '../../harness/random.js';
import { WrWorkload } from '../../workloads/wr.js';
import { etcdBin, shortRun, skipReason } from './append-e2e.js';
import { driveConcurrently, FakeEtcd } from './append-fake-etcd.js';

skipReason('wr');

describe('WrWorkload', () => {
  it('writes each key at most once per txn, with unique values per key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), (seed) => {
        const w = new WrWorkload({ rng: createRng(seed), opsPerKey: 20, serializable: false });
        const seen = new Set<string>();
        for (let i = 0; i < 200; i++) {
          const writes = w.next().value.filter((m) => m[0] === 'w');
          expect(new Set(writes.map((m) => m[1])).size).toBe(writes.length);
          for (const m of writes) {
            expect(seen.has(`${m[1]}/${m[2]}`)).toBe(false);
            seen.add(`${m[1]}/${m[2]}`);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('records header revisions and each read\'s mod_revision', async () => {
    const fake = new FakeEtcd();
    const w = new WrWorkload({ rng: createRng(1), opsPerKey: 10, serializable: false });
    const c = await w.invoke(fake.client(), { f: 'txn', value: [['r', 'w0', null], ['w', 'w0', 1], ['r', 'w0', null]] as WrMop[] });
    expect(c).toMatchObject({ type: 'ok', revision: 2, value: [['r', 'w0', null], ['w', 'w0', 1], ['r', 'w0', 1, 2]] });
  });

  it('concurrent transactions give a strict-serializable history', async () => {
    const fake = new FakeEtcd();
    const w = new WrWorkload({ rng: createRng(4), opsPerKey: 30, serializable: false });
    const r = checkRwRegister(await driveConcurrently(w, fake, 6, 300), { budget: unlimitedBudget });
    expect(r.valid).toBe(true);
    expect(r.stats.edges.ww).toBeGreaterThan(50);
  });
});

describe.skipIf(!etcdBin)('wr against real etcd', () => {
  it('a short run with kill faults is valid', async () => {
    const r = await shortRun('wr');
    expect(r.exitCode, r.text).toBe(0);
  }, 30_000);
});
