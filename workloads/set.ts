// The set workload, as jepsen.etcd's: unique integers added to a set stored
// in one key, by a compare-and-set loop (read the key, then a Txn that writes
// set + element only if the key's mod_revision is unchanged); readers read
// the whole set. The set moves to a fresh key after --ops-per-key adds, which
// keeps values small; the final reads read every key used.
import type { SetAdd, SetRead, SetValue } from '../checkers/set.js';
import { classifyError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { Rng } from '../harness/random.js';
import { decodeList, encodeList, guardedPut, readKeys, runSteps } from './txn-client.js';
import type { Completion, Invocation, Workload } from './types.js';

export interface SetOptions {
  rng: Rng;
  opsPerKey: number;
  serializable: boolean;
  /** Share of reads among operations (default 0.3). */
  readShare?: number;
  /** Compare failures retried before the add counts as failed (default 10). */
  attempts?: number;
  keyPrefix?: string;
}

export class SetWorkload implements Workload<SetValue> {
  readonly name = 'set';
  private readonly keys: string[] = [];
  private adds = 0;
  private nextElement = 1;

  constructor(private readonly opts: SetOptions) {
    if (!(opts.opsPerKey >= 1)) throw new Error('opsPerKey must be at least 1');
    this.keys.push(this.keyName(0));
  }

  private keyName(i: number): string {
    return `${this.opts.keyPrefix ?? 's'}${i}`;
  }

  private get current(): string {
    return this.keys[this.keys.length - 1]!;
  }

  next(): Invocation<SetValue> {
    if (this.opts.rng.next() < (this.opts.readShare ?? 0.3)) return { f: 'read', value: { key: this.current, elements: null } satisfies SetRead };
    if (this.adds >= this.opts.opsPerKey) {
      this.keys.push(this.keyName(this.keys.length));
      this.adds = 0;
    }
    this.adds++;
    return { f: 'add', value: { key: this.current, element: this.nextElement++ } satisfies SetAdd };
  }

  finalReads(): Invocation<SetValue>[] {
    return this.keys.map((key) => ({ f: 'read', value: { key, elements: null } }));
  }

  async invoke(client: EtcdClient, op: Invocation<SetValue>): Promise<Completion<SetValue>> {
    if (op.f === 'read') {
      const v = op.value as SetRead;
      try {
        const r = await runSteps(client, [{ get: v.key }], { serializable: this.opts.serializable });
        return { type: 'ok', value: { key: v.key, elements: decodeList(r.results[0]!.value) }, revision: r.revision, memberId: r.memberId };
      } catch (err) {
        const outcome = classifyError(err, true);
        return { type: outcome.type, value: v, error: outcome.error };
      }
    }
    const add = op.value as SetAdd;
    let sent = false;
    try {
      const attempts = this.opts.attempts ?? 10;
      for (let attempt = 0; attempt < attempts; attempt++) {
        const snap = await readKeys(client, [add.key]);
        const cur = snap.versions.get(add.key)!;
        const list = decodeList(cur.value);
        list.push(add.element);
        sent = true;
        const res = await guardedPut(client, new Map([[add.key, cur.modRevision]]), new Map([[add.key, encodeList(list)]]));
        if (res.succeeded) return { type: 'ok', value: add, revision: res.revision, memberId: res.memberId };
        sent = false;
      }
      return { type: 'fail', value: add, error: `compare failed ${attempts} times: the set kept changing` };
    } catch (err) {
      const outcome = classifyError(err, !sent);
      return { type: outcome.type, value: add, error: outcome.error };
    }
  }
}
