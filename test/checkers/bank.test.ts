import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BANK_DEFAULTS, checkBank, type BankRead, type BankTransfer, type BankValue } from '../../checkers/bank.js';
import type { Op } from '../../harness/history.js';
import { simulateOps } from './set-sim.js';

function history(seed: number, processes: number): Op[] {
  const balances = new Map<string, number>();
  const accounts = BANK_DEFAULTS.accounts;
  return simulateOps<BankValue>(seed, processes, 200, {
    next: (rng) => {
      if (rng.next() < 0.3) return { f: 'read', value: { balances: null } };
      const from = rng.int(accounts.length);
      const to = (from + 1 + rng.int(accounts.length - 1)) % accounts.length;
      return { f: 'transfer', value: { from: accounts[from]!, to: accounts[to]!, amount: 1 + rng.int(5) } };
    },
    apply: (f, value) => {
      if (f === 'read') {
        // Untouched accounts read as absent (null), as the workload records them.
        const out: Record<string, number | null> = {};
        for (const a of accounts) out[a] = balances.get(a) ?? null;
        return { type: 'ok', value: { balances: out } };
      }
      const t = value as BankTransfer;
      const from = balances.get(t.from) ?? BANK_DEFAULTS.initialBalance;
      if (from < t.amount) return { type: 'fail', value };
      balances.set(t.from, from - t.amount);
      balances.set(t.to, (balances.get(t.to) ?? BANK_DEFAULTS.initialBalance) + t.amount);
      return { type: 'ok', value };
    },
  });
}

const okReads = (h: Op[]) => h.filter((o) => o.type === 'ok' && o.f === 'read');

describe('bank checker', () => {
  it('accepts histories from a serial bank', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 8 }), (seed, p) => {
        const r = checkBank(history(seed, p));
        expect(r.anomalies).toEqual([]);
        expect(r.valid).toBe(true);
        expect(r.totals.min === null || (r.totals.min === 50 && r.totals.max === 50)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('reports every read with a wrong total, a negative balance or the wrong accounts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
        const h = history(seed, 4);
        const reads = okReads(h);
        fc.pre(reads.length >= 3);
        const [a, b, c] = reads.map((r) => (r.value as BankRead).balances!);
        a!.b0 = (a!.b0 ?? 10) + 1;
        b!.b1 = -((b!.b1 ?? 10) + 1);
        b!.b2 = (b!.b2 ?? 10) + 2 * ((b!.b1 ?? 0) < 0 ? -b!.b1! : 0);
        delete c!.b3;
        c!.zz = 0;
        const r = checkBank(h);
        expect(r.valid).toBe(false);
        expect(r.counts['wrong-total']).toBeGreaterThanOrEqual(2);
        expect(r.counts['negative-balance']).toBe(1);
        expect(r.counts['wrong-accounts']).toBe(1);
        expect(r.reads.bad).toBe(3);
        expect(r.anomalies.find((x) => x.type === 'wrong-accounts')!.explanation).toMatch(/missing b3; unexpected zz/);
      }),
      { numRuns: 20 },
    );
  });
});
