import { describe, expect, it } from 'vitest';
import { checkSet } from '../../checkers/set.js';
import { createRng } from '../../harness/random.js';
import { SetWorkload } from '../../workloads/set.js';
import { etcdBin, shortRun, skipReason } from './append-e2e.js';
import { driveConcurrently, FakeEtcd } from './append-fake-etcd.js';

skipReason('set');

describe('SetWorkload', () => {
  it('concurrent CAS-loop adds lose nothing; keys rotate after ops-per-key adds', async () => {
    const fake = new FakeEtcd();
    const w = new SetWorkload({ rng: createRng(3), opsPerKey: 50, serializable: false });
    const h = await driveConcurrently(w, fake, 6, 300);
    const finals = w.finalReads();
    expect(finals.length).toBeGreaterThan(2);
    for (const op of finals) {
      const c = await w.invoke(fake.client(), op);
      h.push({ index: h.length, type: 'invoke', process: 99, f: op.f, value: op.value, time: h.length }, { index: h.length + 1, type: c.type, process: 99, f: op.f, value: c.value, time: h.length + 1 });
    }
    const r = checkSet(h);
    expect(r.valid).toBe(true);
    expect(r.keys.reduce((n, k) => n + k.acknowledged, 0)).toBeGreaterThan(150);
    expect(r.keys.every((k) => k.neverRead === 0)).toBe(true);
  });
});

describe.skipIf(!etcdBin)('set against real etcd', () => {
  it('a short run with kill faults is valid', async () => {
    const r = await shortRun('set');
    expect(r.exitCode, r.text).toBe(0);
  }, 30_000);
});
