// Concurrent histories of single-object operations from a serial model: each
// op takes effect at one point inside its interval. Used by the bank and set
// checker tests.
import type { Op } from '../../harness/history.js';
import { createRng, type Rng } from '../../harness/random.js';

export interface SerialModel<V> {
  /** The next invocation value and f. */
  next(rng: Rng): { f: string; value: V };
  /** Applies the op at its linearization point; returns the completion type and value. */
  apply(f: string, value: V): { type: 'ok' | 'fail'; value: V };
}

export function simulateOps<V>(seed: number, processes: number, count: number, model: SerialModel<V>, infoRate = 0.03): Op[] {
  const rng = createRng(seed);
  const ops: Op[] = [];
  const emit = (op: Omit<Op, 'index' | 'time'>) => ops.push({ ...op, index: ops.length, time: ops.length * 1_000_000 });
  const running = new Map<number, { process: number; f: string; value: V; result?: { type: 'ok' | 'fail'; value: V } }>();
  const procOf = Array.from({ length: processes }, (_, i) => i);
  let started = 0;
  while (started < count || running.size > 0) {
    const w = rng.int(processes);
    const r = running.get(w);
    if (!r) {
      if (started >= count) continue;
      started++;
      const { f, value } = model.next(rng);
      running.set(w, { process: procOf[w]!, f, value });
      emit({ type: 'invoke', process: procOf[w]!, f, value });
    } else if (!r.result) {
      if (rng.next() < infoRate) {
        // Indeterminate: applied or not, we never learn which.
        if (rng.next() < 0.5) model.apply(r.f, r.value);
        running.delete(w);
        emit({ type: 'info', process: r.process, f: r.f, value: r.value, error: 'timeout' });
        procOf[w] = procOf[w]! + processes;
      } else r.result = model.apply(r.f, r.value);
    } else {
      running.delete(w);
      emit({ type: r.result.type, process: r.process, f: r.f, value: r.result.value });
    }
  }
  return ops;
}
