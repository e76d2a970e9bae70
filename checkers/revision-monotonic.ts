// Revisions are etcd's logical clock: the store revision only grows, and each
// acknowledged write creates a new one. So, in one sweep over the history:
// - a process never sees the revision go down across its own completions;
// - no response carries a revision lower than one already returned to anyone
//   before the op was invoked (real time across processes), and a write must
//   create a revision strictly newer than any seen before its invocation;
// - two acknowledged writes never share a revision (each write here is its own request);
// - a read's kv cannot have been modified after the revision the read observed.

import type { Op, ProcessId, RegisterRead } from '../harness/history.js';
import { isRegisterOp } from './register-calls.js';
import { AnomalyLog } from './result.js';
import type { CheckResult } from './result.js';

export interface RevisionResult extends CheckResult {
  /** Completions that carried a revision. */
  revisionsChecked: number;
  counts: Record<string, number>;
}

export interface RevisionOptions {
  /** Anomalies kept per type; default 100. */
  maxPerType?: number;
}

interface Seen {
  revision: number;
  op: Op;
}

export function checkRevisions(history: readonly Op[], opts: RevisionOptions = {}): RevisionResult {
  const log = new AnomalyLog(opts.maxPerType);
  let latest: Seen | undefined;
  /** For each open invocation: the newest revision returned before it. */
  const openSince = new Map<ProcessId, { invoke: Op; before: Seen | undefined }>();
  const lastOfProcess = new Map<ProcessId, Seen>();
  const writeAt = new Map<number, Op>();
  let checked = 0;

  for (const op of history) {
    if (op.process === 'nemesis') continue;
    if (op.type === 'invoke') {
      openSince.set(op.process, { invoke: op, before: latest });
      continue;
    }
    const open = openSince.get(op.process);
    openSince.delete(op.process);
    const rev = op.revision;
    if (rev === undefined) continue;
    checked++;
    const what = describe(op);

    const mine = lastOfProcess.get(op.process);
    if (mine !== undefined && rev < mine.revision) {
      log.add({
        type: 'revision-decreased-in-process',
        ops: [mine.op, op],
        explanation: `${what} returned revision ${rev}, but the same process had already seen revision ${mine.revision} (${describe(mine.op)}).`,
      });
    }
    lastOfProcess.set(op.process, { revision: rev, op });

    const isWrite = op.type === 'ok' && isRegisterOp(op) && (op.f === 'write' || op.f === 'cas');
    const before = open?.before;
    if (before !== undefined && (rev < before.revision || (isWrite && rev === before.revision))) {
      const because = isWrite
        ? `created revision ${rev}, which is not newer than revision ${before.revision}`
        : `returned revision ${rev}, older than revision ${before.revision}`;
      log.add({
        type: 'revision-went-back-in-time',
        ops: [before.op, op],
        explanation: `${what} ${because} already returned by ${describe(before.op)} before it was invoked.`,
      });
    }

    if (isWrite) {
      const other = writeAt.get(rev);
      if (other !== undefined) {
        log.add({
          type: 'duplicate-write-revision',
          ops: [other, op],
          explanation: `${what} and ${describe(other)} were both acknowledged with revision ${rev}, but every write creates its own revision.`,
        });
      } else {
        writeAt.set(rev, op);
      }
    }

    if (op.type === 'ok' && isRegisterOp(op) && op.f === 'read') {
      const mod = (op.value as RegisterRead).modRevision;
      if (mod !== undefined && mod > rev) {
        log.add({
          type: 'mod-revision-after-header-revision',
          ops: [op],
          explanation: `${what} returned a key modified at revision ${mod}, after the revision ${rev} the read observed.`,
        });
      }
    }

    if (latest === undefined || rev > latest.revision) latest = { revision: rev, op };
  }

  return { valid: log.size === 0, anomalies: log.anomalies, revisionsChecked: checked, counts: log.counts };
}

function describe(op: Op): string {
  const key = isRegisterOp(op) ? ` of key ${op.value.key}` : '';
  return `${op.f}${key} by process ${String(op.process)} (op #${op.index}, ${op.type})`;
}
