// The bank workload: a few accounts, each an etcd key holding a balance (an
// absent key still holds the initial balance, so no setup phase is needed).
// A transfer reads both balances at one revision, refuses to overdraw, and
// writes both in one Txn guarded by both keys' mod_revisions; a read reads
// every account in one Txn, i.e. at one revision. The total never changes.
import { BANK_DEFAULTS, type BankConfig, type BankRead, type BankTransfer, type BankValue } from '../checkers/bank.js';
import { classifyError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { Rng } from '../harness/random.js';
import { decodeInt, guardedPut, readKeys, runSteps } from './txn-client.js';
import type { Completion, Invocation, Workload } from './types.js';

export interface BankOptions {
  rng: Rng;
  serializable: boolean;
  config?: BankConfig;
  /** Largest amount moved at once (default 5). */
  maxTransfer?: number;
  /** Share of reads among operations (default 0.3). */
  readShare?: number;
  /** Guard failures retried before the transfer counts as failed (default 5). */
  attempts?: number;
}

export class BankWorkload implements Workload<BankValue> {
  readonly name = 'bank';
  readonly config: BankConfig;

  constructor(private readonly opts: BankOptions) {
    this.config = opts.config ?? BANK_DEFAULTS;
    if (this.config.accounts.length < 2) throw new Error('bank needs at least two accounts');
  }

  next(): Invocation<BankValue> {
    const rng = this.opts.rng;
    if (rng.next() < (this.opts.readShare ?? 0.3)) return { f: 'read', value: { balances: null } satisfies BankRead };
    const accounts = this.config.accounts;
    const from = rng.int(accounts.length);
    const to = (from + 1 + rng.int(accounts.length - 1)) % accounts.length;
    return { f: 'transfer', value: { from: accounts[from]!, to: accounts[to]!, amount: 1 + rng.int(this.opts.maxTransfer ?? 5) } satisfies BankTransfer };
  }

  finalReads(): Invocation<BankValue>[] {
    return [{ f: 'read', value: { balances: null } }];
  }

  private balance(text: string | null): number {
    return text === null ? this.config.initialBalance : decodeInt(text)!;
  }

  async invoke(client: EtcdClient, op: Invocation<BankValue>): Promise<Completion<BankValue>> {
    if (op.f === 'read') {
      try {
        const r = await runSteps(client, this.config.accounts.map((a) => ({ get: a })), { serializable: this.opts.serializable });
        const balances: Record<string, number | null> = {};
        this.config.accounts.forEach((a, i) => (balances[a] = decodeInt(r.results[i]!.value)));
        return { type: 'ok', value: { balances }, revision: r.revision, memberId: r.memberId };
      } catch (err) {
        const outcome = classifyError(err, true);
        return { type: outcome.type, value: op.value, error: outcome.error };
      }
    }
    const t = op.value as BankTransfer;
    let sent = false;
    try {
      const attempts = this.opts.attempts ?? 5;
      for (let attempt = 0; attempt < attempts; attempt++) {
        const snap = await readKeys(client, [t.from, t.to]);
        const from = snap.versions.get(t.from)!;
        const to = snap.versions.get(t.to)!;
        const fromBalance = this.balance(from.value);
        if (fromBalance < t.amount) return { type: 'fail', value: t, error: `insufficient funds: ${t.from} holds ${fromBalance}` };
        sent = true;
        const res = await guardedPut(
          client,
          new Map([
            [t.from, from.modRevision],
            [t.to, to.modRevision],
          ]),
          new Map([
            [t.from, String(fromBalance - t.amount)],
            [t.to, String(this.balance(to.value) + t.amount)],
          ]),
        );
        if (res.succeeded) return { type: 'ok', value: t, revision: res.revision, memberId: res.memberId };
        sent = false;
      }
      return { type: 'fail', value: t, error: `compare failed ${attempts} times: the balances kept changing` };
    } catch (err) {
      const outcome = classifyError(err, !sent);
      return { type: outcome.type, value: t, error: outcome.error };
    }
  }
}
