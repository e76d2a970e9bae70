// Checks watch sessions against etcd's documented watch guarantees (ordered,
// unique, reliable, atomic, resumable, bookmarkable), prev_kv, agreement
// between watchers, and compaction cancels.
//
// Ground truth is what happened at each revision. Acknowledged writes give it
// exactly (their response header carries the revision); revisions written by
// writes whose outcome is unknown are learned from the watchers themselves,
// taking the fullest report. Revisions nobody reported stay unknown, and a
// check that would depend on one is skipped rather than guessed.

import type { Op, ProcessId } from '../harness/history.js';
import type { WatchCompact, WatchEvent, WatchOpValue, WatchSession, WatchWrite } from '../workloads/watch-types.js';
import { AnomalyLog } from './result.js';
import type { CheckResult } from './result.js';

export interface WatchCoverage {
  sessions: number;
  watchers: number;
  events: number;
  responses: number;
  revisionsKnown: number;
  revisionsFromWrites: number;
  /** Revision/session pairs the reliability check covered. */
  reliableChecks: number;
  progressNotifies: number;
  prevKvChecked: number;
  prevKvUndecided: number;
  /** Revisions delivered to two or more sessions, compared event by event. */
  agreementRevisions: number;
  compactionCancels: number;
  finalWatchers: number;
}

export interface WatchCheckResult extends CheckResult {
  counts: Record<string, number>;
  coverage: WatchCoverage;
  /** One line per guarantee, with what it covered. */
  summary: Record<string, string>;
}

interface TruthEvent {
  type: 'put' | 'delete';
  key: string;
  value: number | null;
}

interface Truth {
  events: TruthEvent[];
  from: 'write' | 'watch';
  op: Op;
  /** False when only single-key watches reported the revision: other keys' events may be missing. */
  full: boolean;
}

interface SessionRef {
  op: Op<WatchOpValue>;
  watcher: number;
  key: string;
  rangeEnd: string;
  final: boolean;
  session: WatchSession;
}

function matcher(key: string, rangeEnd: string): (k: string) => boolean {
  if (rangeEnd === '') return (k) => k === key;
  if (rangeEnd === '\0') return (k) => k >= key;
  return (k) => Buffer.compare(Buffer.from(k), Buffer.from(key)) >= 0 && Buffer.compare(Buffer.from(k), Buffer.from(rangeEnd, 'latin1')) < 0;
}

const sig = (e: TruthEvent) => `${e.type}:${e.key}:${e.value === null ? '' : e.value}`;
const sameSeq = (a: TruthEvent[], b: TruthEvent[]) => a.length === b.length && a.every((e, i) => sig(e) === sig(b[i]!));

/** Upper bound: first index with arr[i] > x. */
function upper(arr: readonly number[], x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function checkWatch(history: readonly Op[], opts: { maxPerType?: number } = {}): WatchCheckResult {
  const log = new AnomalyLog(opts.maxPerType ?? 100);
  const invokes = new Map<ProcessId, Op>();
  const writesOk: { op: Op<WatchWrite>; revision: number }[] = [];
  const invokedValues = new Set<number>();
  const compactRevisions = new Set<number>();
  const compactions: { revision: number; invokedAt: number }[] = [];
  const sessions: SessionRef[] = [];
  const finalOps: Op<WatchOpValue>[] = [];

  for (const op of history) {
    if (op.process === 'nemesis') continue;
    if (op.type === 'invoke') {
      invokes.set(op.process, op);
      if (op.f === 'write') for (const w of (op.value as WatchWrite).ops) if (w.value !== undefined) invokedValues.add(w.value);
      continue;
    }
    const invokedAt = invokes.get(op.process)?.index ?? op.index;
    invokes.delete(op.process);
    if (op.f === 'write' && op.type === 'ok' && op.revision !== undefined) writesOk.push({ op: op as Op<WatchWrite>, revision: op.revision });
    if (op.f === 'compact' && op.type !== 'fail') {
      const r = (op.value as WatchCompact).revision;
      if (r !== undefined) {
        compactRevisions.add(r);
        compactions.push({ revision: r, invokedAt });
      }
    }
    if (op.f === 'watch' && op.type === 'ok') {
      const v = op.value as WatchOpValue;
      if (v.final) finalOps.push(op as Op<WatchOpValue>);
      for (const s of v.sessions ?? []) {
        if (s.created) sessions.push({ op: op as Op<WatchOpValue>, watcher: v.watcher, key: v.key, rangeEnd: v.rangeEnd, final: Boolean(v.final), session: s });
      }
    }
  }

  // ---- Ground truth per revision ------------------------------------------
  const truth = new Map<number, Truth>();
  let fromWrites = 0;
  for (const { op, revision } of writesOk) {
    const v = op.value;
    const events: TruthEvent[] = [];
    for (const w of v.ops) {
      if (w.type === 'put') events.push({ type: 'put', key: w.key, value: w.value ?? null });
      else if ((v.deleted ?? 0) > 0) events.push({ type: 'delete', key: w.key, value: null });
    }
    if (events.length === 0) continue; // a Delete of nothing creates no revision
    const prior = truth.get(revision);
    if (prior) {
      log.add({
        type: 'duplicate-revision',
        ops: [prior.op, op],
        explanation: `two acknowledged writes (ops ${prior.op.index} and ${op.index}) both report revision ${revision}; every modifying request must get its own revision`,
      });
      continue;
    }
    truth.set(revision, { events, from: 'write', op, full: true });
    fromWrites++;
  }
  // Revisions only watchers saw: take the fullest report (a filtered watch sees a subset).
  const reported = new Map<number, { events: TruthEvent[]; op: Op; full: boolean }[]>();
  for (const ref of sessions) {
    for (const [rev, evs] of eventsByRevision(ref.session)) {
      if (truth.has(rev)) continue;
      const list = reported.get(rev) ?? [];
      list.push({ events: evs.map(strip), op: ref.op, full: ref.rangeEnd !== '' });
      reported.set(rev, list);
    }
  }
  for (const [rev, list] of reported) {
    let best = list[0]!;
    for (const r of list) if (r.events.length > best.events.length || (r.full && !best.full)) best = r;
    truth.set(rev, { events: best.events, from: 'watch', op: best.op, full: best.full });
  }
  const knownRevs = [...truth.keys()].sort((a, b) => a - b);
  const fullRevs = knownRevs.filter((r) => truth.get(r)!.full);
  // Per key: revisions of known writes to it, ascending.
  const keyWrites = new Map<string, { rev: number; ev: TruthEvent }[]>();
  const keyWriteRevs = new Map<string, number[]>();
  for (const rev of knownRevs) {
    for (const ev of truth.get(rev)!.events) {
      const list = keyWrites.get(ev.key) ?? [];
      list.push({ rev, ev });
      keyWrites.set(ev.key, list);
    }
  }
  for (const [k, list] of keyWrites) keyWriteRevs.set(k, list.map((w) => w.rev));
  /** Every revision strictly between a and b is known (revision 1 is the empty store). */
  const completeBetween = (a: number, b: number) => {
    const lo = Math.max(a, 1);
    if (b - lo - 1 <= 0) return true;
    return upper(fullRevs, b - 1) - upper(fullRevs, lo) === b - lo - 1;
  };

  const coverage: WatchCoverage = {
    sessions: sessions.length,
    watchers: new Set(sessions.map((s) => s.watcher)).size,
    events: 0,
    responses: 0,
    revisionsKnown: knownRevs.length,
    revisionsFromWrites: fromWrites,
    reliableChecks: 0,
    progressNotifies: 0,
    prevKvChecked: 0,
    prevKvUndecided: 0,
    agreementRevisions: 0,
    compactionCancels: 0,
    finalWatchers: finalOps.length,
  };
  const deliveredCount = new Map<number, number>();

  // ---- Per session -----------------------------------------------------------
  const seenByWatcher = new Map<string, Map<string, Op>>();
  for (const ref of sessions) {
    const s = ref.session;
    const op = ref.op;
    const match = matcher(ref.key, ref.rangeEnd);
    const where = `watcher ${ref.watcher} (op ${op.index}, from revision ${s.start})`;
    // Final catch-up watches run once per member, concurrently: each is its own scope for uniqueness.
    const scope = ref.final ? `final-${op.index}` : `w-${ref.watcher}`;
    const seen = seenByWatcher.get(scope) ?? new Map<string, Op>();
    seenByWatcher.set(scope, seen);
    let prevRev = 0;
    let lastProgress = 0;
    const delivered = new Set<number>();
    const responsesOfRev = new Map<number, number>();
    let flaggedOrder = false;
    for (const r of s.responses) {
      coverage.responses++;
      if (r.progress) {
        coverage.progressNotifies++;
        if (r.rev < lastProgress) {
          log.add({ type: 'watch-stale-progress', ops: [op], explanation: `${where}: progress notification at revision ${r.rev} after one at ${lastProgress}; notifications must not go back` });
        }
        lastProgress = Math.max(lastProgress, r.rev);
        continue;
      }
      const seenInResponse = new Set<number>();
      for (const e of r.events ?? []) {
        coverage.events++;
        if (!flaggedOrder && e.rev < prevRev) {
          flaggedOrder = true;
          log.add({ type: 'watch-unordered', ops: [op], explanation: `${where}: event at revision ${e.rev} (${e.key}) arrived after one at revision ${prevRev}; events must come in revision order` });
        }
        if (e.rev < s.start) {
          log.add({ type: 'watch-resume-violation', ops: [op], explanation: `${where}: delivered an event at revision ${e.rev}, before the requested start revision ${s.start}` });
        }
        if (e.rev <= lastProgress) {
          log.add({
            type: 'watch-stale-progress',
            ops: [op],
            explanation: `${where}: progress notification at revision ${lastProgress} came before the event at revision ${e.rev} (${e.key}); a notification promises every event up to its revision was already delivered`,
          });
        }
        if (!match(e.key)) {
          log.add({ type: 'watch-filter-violation', ops: [op], explanation: `${where}: delivered ${e.key}, which the watched range does not include` });
        }
        if (e.type === 'put' && e.value !== null && !invokedValues.has(e.value)) {
          log.add({ type: 'watch-phantom-event', ops: [op], explanation: `${where}: event at revision ${e.rev} carries value ${e.value} on ${e.key}, which no write ever wrote` });
        }
        const id = `${e.rev}/${e.key}`;
        const earlier = seen.get(id);
        if (earlier) {
          log.add({
            type: 'watch-duplicate',
            ops: earlier === op ? [op] : [earlier, op],
            explanation: `watcher ${ref.watcher} received the event at revision ${e.rev} on ${e.key} twice${earlier === op ? ' in one watch' : ` (ops ${earlier.index} and ${op.index}, across a reconnect)`}; an event must never be delivered twice`,
          });
        }
        seen.set(id, op);
        if (!seenInResponse.has(e.rev)) {
          seenInResponse.add(e.rev);
          responsesOfRev.set(e.rev, (responsesOfRev.get(e.rev) ?? 0) + 1);
        }
        delivered.add(e.rev);
        prevRev = Math.max(prevRev, e.rev);
        checkPrevKv(e, ref, where);
      }
    }

    // Atomic and per-revision content.
    for (const [rev, evs] of eventsByRevision(s)) {
      deliveredCount.set(rev, (deliveredCount.get(rev) ?? 0) + 1);
      if ((responsesOfRev.get(rev) ?? 0) > 1) {
        log.add({ type: 'watch-split-revision', ops: [op], explanation: `${where}: the events of revision ${rev} came in ${responsesOfRev.get(rev)} responses; all events of one revision must arrive in one response` });
      }
      const t = truth.get(rev);
      if (!t) continue;
      const expected = t.events.filter((e) => match(e.key));
      const got = evs.map(strip);
      if (sameSeq(got, expected)) continue;
      const gotSigs = got.map(sig);
      if (new Set(gotSigs).size < gotSigs.length) continue; // already reported as a duplicate
      const expSigs = new Set(expected.map(sig));
      const foreign = got.filter((e) => !expSigs.has(sig(e)));
      const describe = (l: TruthEvent[]) => l.map((e) => `${e.type} ${e.key}${e.value === null ? '' : `=${e.value}`}`).join(', ') || 'nothing';
      if (foreign.length === 0 && got.length < expected.length) {
        log.add({ type: 'watch-missing-event', ops: [t.op, op], explanation: `${where}: revision ${rev} delivered only ${describe(got)} of ${describe(expected)}` });
      } else if (foreign.length === 0) {
        log.add({ type: 'watch-unordered', ops: [t.op, op], explanation: `${where}: events of revision ${rev} came as ${describe(got)}, not in the transaction's order ${describe(expected)}` });
      } else {
        log.add({
          type: t.from === 'write' ? 'watch-wrong-event' : 'watch-divergent',
          ops: [t.op, op],
          explanation:
            t.from === 'write'
              ? `${where}: revision ${rev} delivered ${describe(got)}, but the write acknowledged at that revision (op ${t.op.index}) did ${describe(expected)}`
              : `${where}: revision ${rev} delivered ${describe(got)}, while another watcher (op ${t.op.index}) saw ${describe(expected)}; watchers must agree on every revision`,
        });
      }
    }

    // Reliable and resumable: every known matching revision in [start, last delivered or notified] arrived.
    // A final catch-up watch must cover everything up to the revision current when it began.
    const windowEnd = Math.max(prevRev, lastProgress, ref.final && !s.canceled && !s.error ? (s.target ?? 0) : 0);
    const missing: number[] = [];
    for (let i = upper(knownRevs, s.start - 1); i < knownRevs.length && knownRevs[i]! <= windowEnd; i++) {
      const rev = knownRevs[i]!;
      if (!truth.get(rev)!.events.some((e) => match(e.key))) continue;
      coverage.reliableChecks++;
      if (!delivered.has(rev)) missing.push(rev);
    }
    if (missing.length > 0) {
      const firstTruth = truth.get(missing[0]!)!;
      log.add({
        type: 'watch-missing-event',
        ops: [firstTruth.op, op],
        explanation: `${where}: never delivered revision${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}, inside the window it covered up to revision ${windowEnd}`,
      });
    }

    // Compaction cancels.
    if (s.canceled && s.compactRevision !== undefined) {
      coverage.compactionCancels++;
      if (s.start >= s.compactRevision) {
        log.add({ type: 'watch-bad-compaction', ops: [op], explanation: `${where}: canceled for compaction at revision ${s.compactRevision}, but it started at ${s.start}, inside the history window` });
      } else if (!compactRevisions.has(s.compactRevision)) {
        log.add({ type: 'watch-bad-compaction', ops: [op], explanation: `${where}: canceled for compaction at revision ${s.compactRevision}, but no compaction to that revision was requested` });
      }
    }
  }

  for (const [rev, n] of deliveredCount) if (n > 1 && truth.has(rev)) coverage.agreementRevisions++;

  function checkPrevKv(e: WatchEvent, ref: SessionRef, where: string): void {
    const writes = keyWrites.get(e.key) ?? [];
    // The latest known write to the key before this event.
    const i = upper(keyWriteRevs.get(e.key) ?? [], e.rev - 1);
    const before = i > 0 ? writes[i - 1] : undefined;
    if (e.prev !== undefined) {
      const at = truth.get(e.prevRev ?? -1);
      const prevWrite = at?.events.find((x) => x.key === e.key);
      // A revision learned only from a filtered watch is known in part: its
      // silence about this key proves nothing.
      const contradicts = prevWrite ? prevWrite.type !== 'put' || prevWrite.value !== e.prev : at?.full === true;
      if (at && contradicts) {
        coverage.prevKvChecked++;
        log.add({ type: 'watch-wrong-prev-kv', ops: [ref.op], explanation: `${where}: event at revision ${e.rev} on ${e.key} has prev_kv ${e.prev} from revision ${e.prevRev}, which is not what revision ${e.prevRev} wrote there` });
        return;
      }
      if (before && before.rev > (e.prevRev ?? 0)) {
        coverage.prevKvChecked++;
        log.add({
          type: 'watch-wrong-prev-kv',
          ops: [ref.op],
          explanation: `${where}: event at revision ${e.rev} on ${e.key} has prev_kv ${e.prev} from revision ${e.prevRev}, but revision ${before.rev} wrote the key later (${before.ev.type}${before.ev.value === null ? '' : ` ${before.ev.value}`})`,
        });
        return;
      }
      if (at && completeBetween(e.prevRev ?? 0, e.rev)) coverage.prevKvChecked++;
      else coverage.prevKvUndecided++;
      return;
    }
    // No prev_kv: correct if the key did not exist just before, or if revision rev-1 may have been
    // compacted away before delivery (etcd then cannot read the previous value and omits it).
    if (compactions.some((c) => c.revision >= e.rev && c.invokedAt < ref.op.index)) {
      coverage.prevKvUndecided++;
      return;
    }
    const lastRev = before?.rev ?? 1;
    if (!completeBetween(lastRev, e.rev)) {
      coverage.prevKvUndecided++;
      return;
    }
    coverage.prevKvChecked++;
    if (before && before.ev.type === 'put') {
      log.add({
        type: 'watch-wrong-prev-kv',
        ops: [ref.op],
        explanation: `${where}: event at revision ${e.rev} on ${e.key} carries no prev_kv, but the key held ${before.ev.value} (written at revision ${before.rev})`,
      });
    }
  }

  const c = coverage;
  const summary: Record<string, string> = {
    ordered: `${c.events} events in ${c.sessions} watch sessions of ${c.watchers} watchers`,
    unique: `${c.events} events checked for repeats within and across reconnects`,
    reliable: `${c.reliableChecks} revision deliveries checked against ${c.revisionsKnown} known revisions (${c.revisionsFromWrites} from acknowledged writes)`,
    atomic: `${c.responses} responses checked for split revisions`,
    resumable: `${c.sessions} sessions checked from their start revision`,
    bookmarkable: `${c.progressNotifies} progress notifications checked`,
    prevKv: `${c.prevKvChecked} prev_kv values checked, ${c.prevKvUndecided} undecidable (unknown or compacted revisions)`,
    agreement: `${c.agreementRevisions} revisions compared across watchers`,
    compaction: `${c.compactionCancels} compaction cancels checked`,
    final: `${c.finalWatchers} final catch-up watches (one per watcher and member) checked for every event up to the latest revision`,
  };
  return { valid: log.size === 0, anomalies: log.anomalies, counts: log.counts, coverage, summary };
}

function strip(e: WatchEvent): TruthEvent {
  return { type: e.type, key: e.key, value: e.value };
}

/** A session's events grouped by revision, in arrival order. */
function eventsByRevision(s: WatchSession): Map<number, WatchEvent[]> {
  const out = new Map<number, WatchEvent[]>();
  for (const r of s.responses) {
    for (const e of r.events ?? []) {
      const list = out.get(e.rev) ?? [];
      list.push(e);
      out.set(e.rev, list);
    }
  }
  return out;
}
