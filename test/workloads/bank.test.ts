import { describe, expect, it } from 'vitest';
import { checkBank } from '../../checkers/bank.js';
import { createRng } from '../../harness/random.js';
import { BankWorkload } from '../../workloads/bank.js';
import { etcdBin, shortRun, skipReason } from './append-e2e.js';
import { driveConcurrently, FakeEtcd } from './append-fake-etcd.js';

skipReason('bank');

describe('BankWorkload', () => {
  it('concurrent transfers keep the total; reads see every account', async () => {
    const fake = new FakeEtcd();
    const w = new BankWorkload({ rng: createRng(2), serializable: false });
    const h = await driveConcurrently(w, fake, 6, 300);
    const r = checkBank(h);
    expect(r.valid).toBe(true);
    expect(r.transfers.ok).toBeGreaterThan(100);
    expect(r.reads.ok).toBeGreaterThan(30);
    const stored = [...fake.kvs.values()].reduce((n, kv) => n + Number(kv.value.toString()), 0);
    expect(stored + (5 - fake.kvs.size) * 10).toBe(50);
  });

  it('refuses to overdraw', async () => {
    const fake = new FakeEtcd();
    const w = new BankWorkload({ rng: createRng(2), serializable: false });
    const c = await w.invoke(fake.client(), { f: 'transfer', value: { from: 'b0', to: 'b1', amount: 11 } });
    expect(c).toMatchObject({ type: 'fail', error: expect.stringMatching(/insufficient funds/) });
  });
});

describe.skipIf(!etcdBin)('bank against real etcd', () => {
  it('a short run with kill faults is valid', async () => {
    const r = await shortRun('bank');
    expect(r.exitCode, r.text).toBe(0);
  }, 30_000);
});
