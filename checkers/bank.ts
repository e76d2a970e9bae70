// The bank checker: money moves between accounts but is never created or
// destroyed, so every successful read (all accounts at one revision) must
// see the same total, no negative balance (transfers refuse to overdraw),
// and exactly the configured accounts. Every bad read is reported.

import { pairOps, type Op } from '../harness/history.js';
import { AnomalyLog, type CheckResult } from './result.js';

export interface BankTransfer {
  from: string;
  to: string;
  amount: number;
}

/** Balances by account; null = the account's key is absent, which means it still holds the initial balance. */
export interface BankRead {
  balances: Record<string, number | null> | null;
}

export type BankValue = BankTransfer | BankRead;

export interface BankConfig {
  accounts: readonly string[];
  initialBalance: number;
}

export const BANK_DEFAULTS: BankConfig = { accounts: ['b0', 'b1', 'b2', 'b3', 'b4'], initialBalance: 10 };

export interface BankResult extends CheckResult {
  total: number;
  reads: { ok: number; bad: number };
  transfers: { ok: number; fail: number; info: number };
  /** Lowest and highest totals seen by ok reads. */
  totals: { min: number | null; max: number | null };
  counts: Record<string, number>;
  summary: string;
}

export function checkBank(history: readonly Op[], config: BankConfig = BANK_DEFAULTS, opts: { maxPerType?: number } = {}): BankResult {
  const log = new AnomalyLog(opts.maxPerType ?? 50);
  const total = config.accounts.length * config.initialBalance;
  const expected = new Set(config.accounts);
  const transfers = { ok: 0, fail: 0, info: 0 };
  const reads = { ok: 0, bad: 0 };
  let min: number | null = null;
  let max: number | null = null;
  const ops = history.filter((o) => o.process !== 'nemesis' && (o.f === 'transfer' || o.f === 'read'));
  for (const { invoke, complete } of pairOps(ops)) {
    const outcome = complete === undefined ? 'info' : complete.type === 'invoke' ? 'info' : complete.type;
    if (invoke.f === 'transfer') {
      transfers[outcome]++;
      continue;
    }
    if (outcome !== 'ok' || complete === undefined) continue;
    reads.ok++;
    const balances = (complete.value as BankRead | null)?.balances;
    if (balances === null || balances === undefined || typeof balances !== 'object') {
      reads.bad++;
      log.add({ type: 'malformed-read', ops: [complete], explanation: `read ${complete.index} succeeded without balances` });
      continue;
    }
    let bad = false;
    const names = Object.keys(balances);
    const missing = config.accounts.filter((a) => !(a in balances));
    const extra = names.filter((n) => !expected.has(n));
    if (missing.length > 0 || extra.length > 0) {
      bad = true;
      const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unexpected ${extra.join(', ')}` : ''].filter(Boolean);
      log.add({ type: 'wrong-accounts', ops: [complete], explanation: `read ${complete.index} saw accounts ${names.join(', ')}: ${parts.join('; ')}` });
    }
    let sum = 0;
    const negative: string[] = [];
    for (const a of config.accounts) {
      const b = balances[a];
      const v = b === null || b === undefined ? (a in balances ? config.initialBalance : 0) : b;
      sum += v;
      if (v < 0) negative.push(`${a} = ${v}`);
    }
    if (negative.length > 0) {
      bad = true;
      log.add({ type: 'negative-balance', ops: [complete], explanation: `read ${complete.index} saw negative balances: ${negative.join(', ')}` });
    }
    if (sum !== total) {
      bad = true;
      log.add({ type: 'wrong-total', ops: [complete], explanation: `read ${complete.index} saw a total of ${sum}, not ${total}: ${show(balances)}` });
    }
    if (bad) reads.bad++;
    min = min === null ? sum : Math.min(min, sum);
    max = max === null ? sum : Math.max(max, sum);
  }
  const valid = log.size === 0;
  return {
    valid,
    anomalies: log.anomalies,
    total,
    reads,
    transfers,
    totals: { min, max },
    counts: log.counts,
    summary: `bank total invariant: ${valid ? 'holds' : 'VIOLATED'} (${reads.ok} reads of ${config.accounts.length} accounts, ${reads.bad} bad; ${transfers.ok} transfers ok, ${transfers.info} indeterminate; totals seen ${min ?? '-'}..${max ?? '-'}, expected ${total})`,
  };
}

function show(balances: Record<string, number | null>): string {
  return `{${Object.entries(balances)
    .map(([k, v]) => `${k} ${v ?? 'nil'}`)
    .join(', ')}}`;
}
