// The register workload, as jepsen.etcd's: independent keys, each a register
// with read (Range), write (Put) and compare-and-set (Txn on VALUE). Every
// value written to a key is unique within that key, so a read identifies the
// write it observed. After --ops-per-key operations the workload moves on to a
// fresh key, which bounds the linearizability search per key.
import { classifyError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { RegisterCas, RegisterRead, RegisterValue, RegisterWrite } from '../harness/history.js';
import type { Rng } from '../harness/random.js';
import type { Completion, Invocation, Workload } from './types.js';

export interface RegisterOptions {
  rng: Rng;
  opsPerKey: number;
  /** Serializable reads may be served from a member's local, possibly stale, state. */
  serializable: boolean;
  keyPrefix?: string;
  /** Relative weights of read, write and cas. */
  mix?: { read: number; write: number; cas: number };
}

export const DEFAULT_MIX = { read: 0.4, write: 0.3, cas: 0.3 };

interface KeyState {
  key: string;
  /** Next unique value to write. */
  nextValue: number;
  /** Values handed out to writes/cas so far. */
  written: number[];
  /** The latest value seen in an ok completion; the likeliest current value, so CAS succeeds often. */
  lastSeen: number | null;
}

export class RegisterWorkload implements Workload<RegisterValue> {
  readonly name = 'register';
  private readonly keys: KeyState[] = [];
  private current: KeyState;
  private opsOnCurrent = 0;
  private readonly mix: { read: number; write: number; cas: number };

  constructor(private readonly opts: RegisterOptions) {
    if (!(opts.opsPerKey >= 1)) throw new Error('opsPerKey must be at least 1');
    this.mix = opts.mix ?? DEFAULT_MIX;
    this.current = this.freshKey();
  }

  private freshKey(): KeyState {
    const state: KeyState = { key: `${this.opts.keyPrefix ?? 'r'}${this.keys.length}`, nextValue: 1, written: [], lastSeen: null };
    this.keys.push(state);
    return state;
  }

  private state(key: string): KeyState | undefined {
    return this.keys.find((k) => k.key === key);
  }

  get keysUsed(): string[] {
    return this.keys.map((k) => k.key);
  }

  next(): Invocation<RegisterValue> {
    if (this.opsOnCurrent >= this.opts.opsPerKey) {
      this.current = this.freshKey();
      this.opsOnCurrent = 0;
    }
    this.opsOnCurrent++;
    const k = this.current;
    const total = this.mix.read + this.mix.write + this.mix.cas;
    const roll = this.opts.rng.next() * total;
    if (roll < this.mix.read) return { f: 'read', value: { key: k.key, value: null } satisfies RegisterRead };
    if (roll < this.mix.read + this.mix.write || k.written.length === 0) {
      return { f: 'write', value: { key: k.key, value: this.take(k) } satisfies RegisterWrite };
    }
    const from = k.lastSeen !== null && this.opts.rng.next() < 0.75 ? k.lastSeen : this.opts.rng.pick(k.written);
    return { f: 'cas', value: { key: k.key, from, to: this.take(k) } satisfies RegisterCas };
  }

  private take(k: KeyState): number {
    const v = k.nextValue++;
    k.written.push(v);
    return v;
  }

  finalReads(): Invocation<RegisterValue>[] {
    return this.keys.map((k) => ({ f: 'read', value: { key: k.key, value: null } satisfies RegisterRead }));
  }

  async invoke(client: EtcdClient, op: Invocation<RegisterValue>): Promise<Completion<RegisterValue>> {
    const idempotent = op.f === 'read';
    try {
      switch (op.f) {
        case 'read': {
          const v = op.value as RegisterRead;
          const res = await client.range(v.key, { serializable: this.opts.serializable });
          const kv = res.kvs[0];
          const value: RegisterRead = kv ? { key: v.key, value: decodeValue(kv.value), modRevision: kv.modRevision } : { key: v.key, value: null };
          this.observe(v.key, value.value);
          return { type: 'ok', value, revision: res.header.revision, memberId: res.header.memberId };
        }
        case 'write': {
          const v = op.value as RegisterWrite;
          const res = await client.put(v.key, String(v.value));
          this.observe(v.key, v.value);
          return { type: 'ok', value: v, revision: res.header.revision, memberId: res.header.memberId };
        }
        case 'cas': {
          const v = op.value as RegisterCas;
          const res = await client.compareAndSet(v.key, String(v.from), String(v.to));
          if (res.succeeded) this.observe(v.key, v.to);
          return {
            type: res.succeeded ? 'ok' : 'fail',
            value: v,
            revision: res.header.revision,
            memberId: res.header.memberId,
            ...(res.succeeded ? {} : { error: 'compare failed' }),
          };
        }
        default:
          return { type: 'fail', value: op.value, error: `unknown register op ${op.f}` };
      }
    } catch (err) {
      const outcome = classifyError(err, idempotent);
      return { type: outcome.type, value: op.value, error: outcome.error };
    }
  }

  private observe(key: string, value: number | null): void {
    const k = this.state(key);
    if (k) k.lastSeen = value;
  }
}

/**
 * Values are decimal strings. Bytes that are not one of ours become -1, a value
 * never written, so the checkers flag the read instead of mistaking it for an
 * absent key.
 */
export function decodeValue(buf: Buffer): number {
  const text = buf.toString('utf8');
  const n = Number(text);
  return text !== '' && Number.isSafeInteger(n) ? n : -1;
}
