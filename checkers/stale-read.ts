// Stale reads, found through revisions instead of a search. etcd orders every
// acknowledged write by the revision it created, so a read that began after a
// write completed must observe that write or a later one: the version it
// returns (its mod_revision) must not be older than the write's revision.
// One sort and one sweep.

import type { Op } from '../harness/history.js';
import { callsByKey, describeCall, registerCalls, reportedOp, showValue } from './register-calls.js';
import type { RegisterCall } from './register-calls.js';
import { AnomalyLog } from './result.js';
import type { Anomaly, CheckResult } from './result.js';

export interface StaleReadResult extends CheckResult {
  /** ok reads whose observed revision was known and compared. */
  readsChecked: number;
  /** ok reads with no mod_revision whose value could not be traced to one acknowledged write. */
  readsSkipped: number;
  /** Exact number of anomalies per type (the list keeps at most maxPerType of each). */
  counts: Record<string, number>;
}

export interface StaleReadOptions {
  /** Anomalies kept per type; default 100. */
  maxPerType?: number;
}

export function checkStaleReads(history: readonly Op[], opts: StaleReadOptions = {}): StaleReadResult {
  return checkStaleReadsCalls(registerCalls(history), opts);
}

export function checkStaleReadsCalls(calls: readonly RegisterCall[], opts: StaleReadOptions = {}): StaleReadResult {
  const log = new AnomalyLog(opts.maxPerType);
  const tally = { checked: 0, skipped: 0 };
  for (const [key, keyCalls] of callsByKey(calls)) checkKey(key, keyCalls, log, tally);
  return {
    valid: log.size === 0,
    anomalies: log.anomalies,
    readsChecked: tally.checked,
    readsSkipped: tally.skipped,
    counts: log.counts,
  };
}

function checkKey(key: string, calls: readonly RegisterCall[], log: AnomalyLog, tally: { checked: number; skipped: number }): void {
  const writersOf = new Map<number | null, RegisterCall[]>();
  const failedWriters = new Map<number | null, RegisterCall>();
  for (const c of calls) {
    if (c.f === 'read') continue;
    if (c.outcome === 'fail') {
      failedWriters.set(c.value, c);
      continue;
    }
    const list = writersOf.get(c.value);
    if (list === undefined) writersOf.set(c.value, [c]);
    else list.push(c);
  }

  const reads: { call: RegisterCall; observed: number }[] = [];
  for (const read of calls) {
    if (read.f !== 'read' || read.outcome !== 'ok') continue;
    const writers = read.value === null ? [] : (writersOf.get(read.value) ?? []);
    if (read.value !== null && writers.length === 0) {
      log.add(unwritten(key, read, failedWriters.get(read.value)));
      continue;
    }
    const only = writers.length === 1 ? writers[0] : undefined;
    const known = only?.outcome === 'ok' && only.revision !== undefined ? only : undefined;
    if (read.modRevision !== undefined && known !== undefined && known.revision !== read.modRevision) {
      log.add({
        type: 'mod-revision-mismatch',
        key,
        ops: [reportedOp(read), reportedOp(known)],
        explanation:
          `${describeCall(read)} reports mod_revision ${read.modRevision}, ` +
          `but the only write of ${showValue(read.value)} is ${describeCall(known)}, which created revision ${String(known.revision)}.`,
      });
    }
    const observed = read.modRevision ?? (read.value === null ? 0 : known?.revision);
    if (observed === undefined) {
      tally.skipped++;
      continue;
    }
    reads.push({ call: read, observed });
  }
  tally.checked += reads.length;

  // Sweep in real time: acknowledged writes by completion, reads by invocation.
  const writes = calls
    .filter((c) => c.f !== 'read' && c.outcome === 'ok' && c.revision !== undefined)
    .sort((a, b) => a.end - b.end);
  reads.sort((a, b) => a.call.start - b.call.start);
  let latest: RegisterCall | undefined;
  let w = 0;
  for (const { call: read, observed } of reads) {
    while (w < writes.length && writes[w]!.end < read.start) {
      const write = writes[w++]!;
      if (latest === undefined || write.revision! > latest.revision!) latest = write;
    }
    if (latest !== undefined && latest.revision! > observed) {
      const saw = observed === 0 ? 'it observed no version of the key' : `it observed the version at revision ${observed}`;
      log.add({
        type: 'stale-read',
        key,
        ops: [reportedOp(read), reportedOp(latest)],
        explanation:
          `${describeCall(read)} is stale: ${saw}, but ${describeCall(latest)} ` +
          `had already completed at revision ${String(latest.revision)} before the read began.`,
      });
    }
  }
}

function unwritten(key: string, read: RegisterCall, failed: RegisterCall | undefined): Anomaly {
  const ops = [reportedOp(read)];
  let explanation = `${describeCall(read)} returned a value no operation ever wrote.`;
  if (failed !== undefined) {
    ops.push(reportedOp(failed));
    explanation = `${describeCall(read)} returned a value written only by ${describeCall(failed)}, which failed and so never took effect.`;
  }
  return { type: 'read-of-unwritten-value', key, ops, explanation };
}
