// Elle's list-append workload on etcd. A transaction is 1–4 micro-ops over a
// few active keys: reads return a key's whole list, appends add an element
// unique to that key. etcd has no append, so a transaction with appends reads
// every key it touches at one revision, computes the new lists, and commits
// them in one Txn guarded by each key's mod_revision: it applies only if none
// of those keys changed, which makes the read-modify-write atomic. A guard
// that fails is retried a few times (the failed attempt definitely did not
// apply); read-only transactions are a single Txn of ranges. A key retires
// after --ops-per-key appends, which keeps lists and the checker's work bounded.
import { classifyError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { Rng } from '../harness/random.js';
import type { AppendMop } from '../checkers/elle/txn.js';
import { decodeList, encodeList, guardedPut, readKeys, runSteps } from './txn-client.js';
import type { Completion, Invocation, Workload } from './types.js';

export interface TxnWorkloadOptions {
  rng: Rng;
  /** Writes to a key before it is retired for a fresh one. */
  opsPerKey: number;
  serializable: boolean;
  /** Keys in use at once (default 3). */
  activeKeys?: number;
  /** Most micro-ops per transaction (default 4). */
  maxMops?: number;
  /** Guard failures retried before the transaction counts as failed (default 5). */
  attempts?: number;
  keyPrefix?: string;
}

/** Rotating key slots with a write counter per key, shared by the append and wr workloads. */
export class KeyRotation {
  private readonly slots: string[] = [];
  private readonly writes = new Map<string, number>();
  private readonly used: string[] = [];
  private next = 0;

  constructor(
    private readonly prefix: string,
    count: number,
    private readonly maxWrites: number,
  ) {
    for (let i = 0; i < count; i++) this.slots.push(this.fresh());
  }

  private fresh(): string {
    const k = `${this.prefix}${this.next++}`;
    this.used.push(k);
    return k;
  }

  pick(rng: Rng): string {
    const i = rng.int(this.slots.length);
    if ((this.writes.get(this.slots[i]!) ?? 0) >= this.maxWrites) this.slots[i] = this.fresh();
    return this.slots[i]!;
  }

  /** A fresh value for a write to `key`: 1, 2, 3, ... per key. */
  value(key: string): number {
    const n = (this.writes.get(key) ?? 0) + 1;
    this.writes.set(key, n);
    return n;
  }

  get keys(): readonly string[] {
    return this.used;
  }
}

export class AppendWorkload implements Workload<AppendMop[]> {
  readonly name = 'append';
  private readonly keys: KeyRotation;

  constructor(private readonly opts: TxnWorkloadOptions) {
    if (!(opts.opsPerKey >= 1)) throw new Error('opsPerKey must be at least 1');
    this.keys = new KeyRotation(opts.keyPrefix ?? 'a', opts.activeKeys ?? 3, opts.opsPerKey);
  }

  get keysUsed(): readonly string[] {
    return this.keys.keys;
  }

  next(): Invocation<AppendMop[]> {
    const rng = this.opts.rng;
    const n = 1 + rng.int(this.opts.maxMops ?? 4);
    const mops: AppendMop[] = [];
    for (let i = 0; i < n; i++) {
      const key = this.keys.pick(rng);
      mops.push(rng.next() < 0.5 ? ['r', key, null] : ['append', key, this.keys.value(key)]);
    }
    return { f: 'txn', value: mops };
  }

  finalReads(): Invocation<AppendMop[]>[] {
    return this.keys.keys.map((k) => ({ f: 'txn', value: [['r', k, null]] }));
  }

  async invoke(client: EtcdClient, op: Invocation<AppendMop[]>): Promise<Completion<AppendMop[]>> {
    const mops = op.value;
    const readOnly = mops.every((m) => m[0] === 'r');
    let wrote = false;
    try {
      if (readOnly) {
        const r = await runSteps(client, mops.map((m) => ({ get: m[1] })), { serializable: this.opts.serializable });
        const value = mops.map((m, i): AppendMop => ['r', m[1], decodeList(r.results[i]!.value)]);
        return { type: 'ok', value, revision: r.revision, memberId: r.memberId };
      }
      const keys = [...new Set(mops.map((m) => m[1]))];
      const attempts = this.opts.attempts ?? 5;
      for (let attempt = 0; attempt < attempts; attempt++) {
        const snapshot = await readKeys(client, keys);
        const lists = new Map<string, number[]>();
        for (const k of keys) lists.set(k, decodeList(snapshot.versions.get(k)!.value));
        const value = mops.map((m): AppendMop => {
          const list = lists.get(m[1])!;
          if (m[0] === 'append') {
            list.push(m[2]);
            return m;
          }
          return ['r', m[1], [...list]];
        });
        const guards = new Map(keys.map((k) => [k, snapshot.versions.get(k)!.modRevision]));
        const puts = new Map<string, string>();
        for (const m of mops) if (m[0] === 'append') puts.set(m[1], encodeList(lists.get(m[1])!));
        wrote = true;
        const res = await guardedPut(client, guards, puts);
        if (res.succeeded) return { type: 'ok', value, revision: res.revision, memberId: res.memberId };
        wrote = false;
      }
      return { type: 'fail', value: mops, error: `compare failed ${attempts} times: the keys kept changing` };
    } catch (err) {
      // Until the guarded write is sent nothing can have taken effect.
      const outcome = classifyError(err, !wrote);
      return { type: outcome.type, value: mops, error: outcome.error };
    }
  }
}
