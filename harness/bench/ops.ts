// What one request of each --op is. Worker w always uses connection
// w mod conns, as etcd's benchmark shares its connections among clients.
import { WATCH_PREFIX, type BenchOp } from './args.js';
import type { Conn, RawTxnResponse } from './conns.js';
import { KeyChooser, keyAt, ValueSource } from './keys.js';
import type { Kind } from './load.js';

export interface OpShape {
  op: BenchOp;
  keySize: number;
  valueSize: number;
  keySpace: number;
  sequentialKeys: boolean;
  readFraction: number;
}

export interface CasStats {
  succeeded: number;
  failed: number;
}

export interface Issuer {
  issue: (worker: number, startMs: number) => Promise<Kind>;
  cas: CasStats;
}

export function makeIssuer(shape: OpShape, conns: readonly Conn[], random: () => number = Math.random): Issuer {
  const prefix = shape.op === 'watch-fanout' ? WATCH_PREFIX : '';
  const keys = new KeyChooser(shape.keySpace, shape.keySize, shape.sequentialKeys, prefix, random);
  const values = new ValueSource(shape.valueSize);
  const connFor = (w: number) => conns[w % conns.length]!;
  const cas: CasStats = { succeeded: 0, failed: 0 };
  // Last mod revision seen per key index, shared by all workers: a CAS that
  // loses a race learns the winner's revision from the failure branch's read.
  const known = new Map<number, string>();

  const issue = async (w: number, startMs: number): Promise<Kind> => {
    const conn = connFor(w);
    switch (shape.op) {
      case 'put':
        await conn.put(keys.next(), values.next());
        return 'write';
      case 'range':
        await conn.range(keys.next(), false);
        return 'read';
      case 'range-serializable':
        await conn.range(keys.next(), true);
        return 'read';
      case 'mixed':
        if (random() < shape.readFraction) {
          await conn.range(keys.next(), false);
          return 'read';
        }
        await conn.put(keys.next(), values.next());
        return 'write';
      case 'txn-cas': {
        const i = keys.nextIndex();
        const res = await conn.cas(keyAt(i, shape.keySize), known.get(i) ?? '0', values.next());
        const rev = casRevision(res);
        if (rev !== undefined) known.set(i, rev);
        if (res.succeeded) cas.succeeded++;
        else cas.failed++;
        return 'write';
      }
      case 'watch-fanout':
        await conn.put(keys.next(), values.stamped(startMs));
        return 'write';
    }
  };
  return { issue, cas };
}

/** The key's mod revision after a CAS: the txn's revision if it wrote, else what the failure branch read ("0" if absent). */
export function casRevision(res: RawTxnResponse): string | undefined {
  if (res.succeeded) return res.header?.revision;
  const kvs = res.responses?.[0]?.response_range?.kvs;
  if (!kvs) return undefined;
  return kvs[0]?.mod_revision ?? '0';
}

/** Reads should find something: these ops get the key space written once before the clock starts. */
export function needsPreload(op: BenchOp): boolean {
  return op === 'range' || op === 'range-serializable' || op === 'mixed';
}

/** Beyond this many keys a preload would take longer than the benchmark; reads then miss. */
export const PRELOAD_LIMIT = 100_000;

export async function preloadKeys(shape: OpShape, conns: readonly Conn[], concurrency = 64, signal?: AbortSignal): Promise<number> {
  const n = Math.min(shape.keySpace, PRELOAD_LIMIT);
  const values = new ValueSource(shape.valueSize);
  let next = 0;
  const worker = async (w: number) => {
    while (next < n && !signal?.aborted) {
      const i = next++;
      await conns[w % conns.length]!.put(keyAt(i, shape.keySize), values.next());
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, (_, w) => worker(w)));
  return n;
}
