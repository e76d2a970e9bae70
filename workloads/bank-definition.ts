// The bank workload's entry in the registry: transfers between accounts,
// checked by the total invariant on every read.
import { BANK_DEFAULTS, checkBank } from '../checkers/bank.js';
import { BankWorkload } from './bank.js';
import type { WorkloadDefinition } from './registry.js';

export const bankDefinition: WorkloadDefinition = {
  name: 'bank',
  summary: 'transfers between accounts in guarded Txns; every read must see the same total and no negative balance',
  create: (o) => new BankWorkload({ rng: o.rng, serializable: o.serializable }),
  check(history) {
    const r = checkBank(history, BANK_DEFAULTS);
    const { anomalies, valid, ...rest } = r;
    return { valid, checkers: { bank: rest }, anomalies, anomalyCounts: r.counts };
  },
};
