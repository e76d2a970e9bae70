// A small in-memory MVCC history for watch tests: writes make revisions and
// events the way the store does (prevKv when the key existed, DELETE events
// with key and mod revision only), compaction hides older revisions.

import type { EventHistory } from '../../../etcd/mvcc/watch.js';
import type { KeyValue, MvccEvent } from '../../../etcd/types.js';
import { Errors } from '../../../etcd/errors.js';

export type WriteOp = { key: string; value: string } | { key: string; delete: true };

export class FakeHistory implements EventHistory {
  currentRevision = 1;
  compactRevision = 0;
  /** Every event ever written, compaction notwithstanding: the model's view. */
  readonly log: MvccEvent[] = [];
  reads = 0;
  private readonly state = new Map<string, KeyValue>();

  /** Applies the ops as one transaction; returns its events (none, and no new revision, for a no-op). */
  write(ops: readonly WriteOp[]): { revision: number; events: MvccEvent[] } {
    const rev = this.currentRevision + 1;
    const events: MvccEvent[] = [];
    const seen = new Set<string>();
    for (const op of ops) {
      if (seen.has(op.key)) continue;
      seen.add(op.key);
      const prev = this.state.get(op.key);
      const key = Buffer.from(op.key);
      if ('delete' in op) {
        if (!prev) continue;
        this.state.delete(op.key);
        events.push({
          type: 'DELETE',
          kv: { key, createRevision: 0, modRevision: rev, version: 0, value: Buffer.alloc(0), lease: 0n },
          prevKv: prev,
        });
      } else {
        const kv: KeyValue = {
          key,
          createRevision: prev ? prev.createRevision : rev,
          modRevision: rev,
          version: prev ? prev.version + 1 : 1,
          value: Buffer.from(op.value),
          lease: 0n,
        };
        this.state.set(op.key, kv);
        events.push(prev ? { type: 'PUT', kv, prevKv: prev } : { type: 'PUT', kv });
      }
    }
    if (events.length === 0) return { revision: this.currentRevision, events };
    this.currentRevision = rev;
    this.log.push(...events);
    return { revision: rev, events };
  }

  compact(revision: number): void {
    if (revision <= this.compactRevision || revision > this.currentRevision) throw new Error('bad compaction');
    this.compactRevision = revision;
  }

  eventsFrom(from: number, max: number): MvccEvent[] {
    this.reads++;
    if (from < this.compactRevision) throw Errors.compacted();
    const out: MvccEvent[] = [];
    for (const ev of this.log) {
      const rev = ev.kv.modRevision;
      if (rev < from) continue;
      const last = out[out.length - 1];
      if (out.length >= max && last && last.kv.modRevision !== rev) break;
      out.push(ev);
    }
    return out;
  }
}

/** A comparable rendering of an event, prevKv included. */
export function eventSig(ev: MvccEvent): string {
  const prev = ev.prevKv ? `${ev.prevKv.value.toString()}@${ev.prevKv.modRevision}` : '-';
  return `${ev.type} ${ev.kv.key.toString()}@${ev.kv.modRevision}=${ev.kv.value.toString()} prev:${prev}`;
}
