// Elle's read/write-register workload on etcd: transactions of 1–4 reads and
// writes over a few rotating keys, each one etcd Txn with no compares (reads
// see the txn's own earlier writes). Written values are unique per key and a
// key is written at most once per txn (etcd rejects duplicate puts). etcd
// gives the version order for free: the completion records the Txn's header
// revision, which is the mod_revision of everything it wrote, and each read
// records the mod_revision of the version it saw as a fourth element.
import { classifyError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { WrMop } from '../checkers/elle/txn.js';
import { KeyRotation, type TxnWorkloadOptions } from './append.js';
import { decodeInt, runSteps } from './txn-client.js';
import type { Completion, Invocation, Workload } from './types.js';

export class WrWorkload implements Workload<WrMop[]> {
  readonly name = 'wr';
  private readonly keys: KeyRotation;

  constructor(private readonly opts: TxnWorkloadOptions) {
    if (!(opts.opsPerKey >= 1)) throw new Error('opsPerKey must be at least 1');
    this.keys = new KeyRotation(opts.keyPrefix ?? 'w', opts.activeKeys ?? 3, opts.opsPerKey);
  }

  get keysUsed(): readonly string[] {
    return this.keys.keys;
  }

  next(): Invocation<WrMop[]> {
    const rng = this.opts.rng;
    const n = 1 + rng.int(this.opts.maxMops ?? 4);
    const mops: WrMop[] = [];
    const written = new Set<string>();
    for (let i = 0; i < n; i++) {
      const key = this.keys.pick(rng);
      if (rng.next() < 0.5 || written.has(key)) mops.push(['r', key, null]);
      else {
        written.add(key);
        mops.push(['w', key, this.keys.value(key)]);
      }
    }
    return { f: 'txn', value: mops };
  }

  finalReads(): Invocation<WrMop[]>[] {
    return this.keys.keys.map((k) => ({ f: 'txn', value: [['r', k, null]] }));
  }

  async invoke(client: EtcdClient, op: Invocation<WrMop[]>): Promise<Completion<WrMop[]>> {
    const mops = op.value;
    const readOnly = mops.every((m) => m[0] === 'r');
    try {
      const r = await runSteps(
        client,
        mops.map((m) => (m[0] === 'w' ? { put: m[1], value: String(m[2]) } : { get: m[1] })),
        { serializable: readOnly && this.opts.serializable },
      );
      const value = mops.map((m, i): WrMop => {
        if (m[0] === 'w') return m;
        const v = r.results[i]!;
        return v.value === null ? ['r', m[1], null] : ['r', m[1], decodeInt(v.value), v.modRevision];
      });
      return { type: 'ok', value, revision: r.revision, memberId: r.memberId };
    } catch (err) {
      const outcome = classifyError(err, readOnly);
      return { type: outcome.type, value: mops, error: outcome.error };
    }
  }
}
