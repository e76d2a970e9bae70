// A model of etcd's watch behaviour that produces valid watch-workload
// histories: writes applied in revision order, watchers resuming from their
// last revision + 1, responses grouping whole revisions, progress
// notifications only once everything up to them was delivered, and
// compaction cancels for watches that start below the compact revision.
import type { Op, ProcessId } from '../../harness/history.js';
import { createRng, type Rng } from '../../harness/random.js';
import type { WatchEvent, WatchOpValue, WatchResponseRecord, WatchSession, WatchWrite } from '../../workloads/watch-types.js';

export interface ModelParams {
  seed: number;
  writes: number;
  watchers: number;
  /** Chance a write's outcome is recorded as info. */
  infoRate: number;
  compact: boolean;
}

interface Applied {
  rev: number;
  events: WatchEvent[];
}

const KEYS = ['w/0', 'w/1', 'w/2'];

export class OpLog {
  readonly ops: Op[] = [];
  private t = 0;
  invoke(process: ProcessId, f: string, value: unknown): Op {
    const op: Op = { index: this.ops.length, type: 'invoke', process, f, value, time: (this.t += 1000) };
    this.ops.push(op);
    return op;
  }
  complete(process: ProcessId, f: string, type: 'ok' | 'fail' | 'info', value: unknown, revision?: number): Op {
    const op: Op = { index: this.ops.length, type, process, f, value, time: (this.t += 1000) };
    if (revision !== undefined) op.revision = revision;
    this.ops.push(op);
    return op;
  }
}

export function watchHistory(p: ModelParams): Op[] {
  const rng = createRng(p.seed);
  const log = new OpLog();
  const state = new Map<string, { value: number; rev: number }>();
  const applied: Applied[] = [];
  let rev = 1;
  let value = 1;
  let compactRev = 0;
  const watchers = Array.from({ length: p.watchers }, (_, id) => ({ id, next: 1, single: id % 3 === 2 }));

  const write = (process: number) => {
    const roll = rng.next();
    let w: WatchWrite;
    const live = KEYS.filter((k) => state.has(k));
    if (roll < 0.15 && live.length > 0) w = { ops: [{ type: 'delete', key: rng.pick(live) }] };
    else if (roll < 0.4) {
      const [a, b] = rng.shuffle(KEYS);
      w = { ops: [{ type: 'put', key: a!, value: value++ }, { type: 'put', key: b!, value: value++ }] };
    } else w = { ops: [{ type: 'put', key: rng.pick(KEYS), value: value++ }] };
    log.invoke(process, 'write', w);
    rev++;
    const events: WatchEvent[] = [];
    for (const o of w.ops) {
      const prev = state.get(o.key);
      const ev: WatchEvent = o.type === 'put' ? { type: 'put', key: o.key, value: o.value!, rev } : { type: 'delete', key: o.key, value: null, rev };
      if (prev) {
        ev.prev = prev.value;
        ev.prevRev = prev.rev;
      }
      if (o.type === 'put') state.set(o.key, { value: o.value!, rev });
      else state.delete(o.key);
      events.push(ev);
    }
    applied.push({ rev, events });
    const done = w.ops[0]!.type === 'delete' ? { ...w, deleted: 1 } : w;
    if (rng.next() < p.infoRate) log.complete(process, 'write', 'info', done);
    else log.complete(process, 'write', 'ok', done, rev);
  };

  const watch = (process: number, wi: number, final: boolean) => {
    const w = watchers[wi]!;
    const key = w.single ? 'w/0' : 'w/';
    const rangeEnd = w.single ? '' : 'w0';
    const match = (k: string) => (w.single ? k === 'w/0' : k.startsWith('w/'));
    const inv: WatchOpValue = { watcher: w.id, key, rangeEnd, start: w.next, durationMs: 1000, ...(final ? { final: true } : {}) };
    log.invoke(process, 'watch', inv);
    const session: WatchSession = { start: w.next, created: true, responses: [] };
    if (w.next < compactRev) {
      session.canceled = true;
      session.compactRevision = compactRev;
      w.next = compactRev;
    } else {
      const end = final ? rev : w.next + rng.int(Math.max(1, rev - w.next + 1));
      if (final) session.target = rev;
      let pending: WatchEvent[] = [];
      const flush = () => {
        if (pending.length) session.responses.push({ rev, events: pending });
        pending = [];
      };
      let lastDelivered = w.next - 1;
      for (const a of applied) {
        if (a.rev < w.next || a.rev > end) continue;
        const evs = a.events.filter((e) => match(e.key)).map((e) => ({ ...e }));
        if (evs.length === 0) continue;
        pending.push(...evs);
        lastDelivered = a.rev;
        if (rng.next() < 0.6) flush();
        if (rng.next() < 0.2) {
          flush();
          session.responses.push({ rev: a.rev, progress: true });
        }
      }
      flush();
      if (rng.next() < 0.5 || final) session.responses.push({ rev: Math.min(end, rev), progress: true } satisfies WatchResponseRecord);
      if (final) session.reachedTarget = true;
      w.next = Math.max(w.next, lastDelivered + 1);
    }
    log.complete(process, 'watch', 'ok', { ...inv, sessions: [session] });
  };

  const workers = Math.max(2, p.watchers + 1);
  for (let i = 0; i < p.writes; i++) {
    write(p.watchers + rng.int(workers - p.watchers));
    if (rng.next() < 0.4) {
      const wi = rng.int(p.watchers);
      watch(wi, wi, false);
    }
    if (p.compact && rng.next() < 0.05 && rev > compactRev + 3) {
      const target = rev - rng.int(3);
      log.invoke(99, 'compact', { lag: rev - target });
      compactRev = target;
      log.complete(99, 'compact', 'ok', { lag: rev - target, revision: target });
    }
  }
  for (let wi = 0; wi < p.watchers; wi++) watch(wi, wi, true);
  return log.ops;
}

export function randomRng(seed: number): Rng {
  return createRng(seed ^ 0x5bd1e995);
}
