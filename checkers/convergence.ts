// End-of-run replica convergence, as etcd's robustness tests do it: after
// the final reads, every member must reach the same revision and the same
// HashKV hash at a common revision R (the lowest current revision among the
// members, so every member can hash it). Members still catching up get a
// few settles before their differing revisions count against them.

import type { EtcdClient } from '../harness/client/etcd-client.js';
import { describeError } from '../harness/client/errors.js';
import type { CheckSummary } from '../harness/check.js';
import type { Validity } from './result.js';

export interface MemberHash {
  member: string;
  /** The member's current revision (its Status header). */
  revision?: number;
  /** HashKV at the common revision. */
  hash?: number;
  compactRevision?: number;
  error?: string;
}

export interface ConvergenceAttempt {
  commonRevision: number | null;
  members: MemberHash[];
}

export interface ConvergenceResult {
  valid: Validity;
  /** A named anomaly when invalid: revision-divergence or hash-divergence. */
  anomaly?: string;
  explanation: string;
  /** What was compared, e.g. "3 members agree at revision 1234 (hash 0x1a2b3c4d) after 1 attempt". */
  summary: string;
  attempts: ConvergenceAttempt[];
}

/** Judges the last attempt (the earlier ones only show how long settling took). */
export function judgeConvergence(attempts: readonly ConvergenceAttempt[]): ConvergenceResult {
  const last = attempts[attempts.length - 1];
  const base = { attempts: [...attempts] };
  if (!last || last.members.length === 0) return { ...base, valid: 'unknown', explanation: 'no member was asked', summary: 'not checked' };
  const failed = last.members.filter((m) => m.error !== undefined || m.revision === undefined || m.hash === undefined);
  if (failed.length > 0) {
    return {
      ...base,
      valid: 'unknown',
      explanation: `could not hash every member: ${failed.map((m) => `${m.member}: ${m.error ?? 'no answer'}`).join('; ')}`,
      summary: `unknown: ${failed.length} of ${last.members.length} members did not answer`,
    };
  }
  const tries = `${attempts.length} attempt${attempts.length === 1 ? '' : 's'}`;
  const byHash = new Map<string, string[]>();
  for (const m of last.members) {
    const k = `${m.hash}@${m.compactRevision}`;
    byHash.set(k, [...(byHash.get(k) ?? []), m.member]);
  }
  if (byHash.size > 1) {
    const groups = [...last.members].map((m) => `${m.member}: 0x${(m.hash! >>> 0).toString(16)} (compacted to ${m.compactRevision})`).join(', ');
    const sameCompaction = new Set(last.members.map((m) => m.compactRevision)).size === 1;
    if (sameCompaction) {
      return {
        ...base,
        valid: false,
        anomaly: 'hash-divergence',
        explanation: `members disagree on the key-value history up to revision ${last.commonRevision}: HashKV ${groups}; replicas that applied the same log must hold the same data`,
        summary: `hash mismatch at revision ${last.commonRevision} after ${tries}`,
      };
    }
    return {
      ...base,
      valid: 'unknown',
      explanation: `members hashed from different compaction points (${groups}), so their hashes are not comparable`,
      summary: `hashes not comparable at revision ${last.commonRevision}`,
    };
  }
  const revisions = new Set(last.members.map((m) => m.revision));
  if (revisions.size > 1) {
    return {
      ...base,
      valid: false,
      anomaly: 'revision-divergence',
      explanation: `after ${tries} the members still report different revisions (${last.members.map((m) => `${m.member}: ${m.revision}`).join(', ')}) with no writes in flight`,
      summary: `revisions differ after ${tries}`,
    };
  }
  const m0 = last.members[0]!;
  return {
    ...base,
    valid: true,
    explanation: 'every member reports the same revision and the same HashKV hash at it',
    summary: `${last.members.length} members agree at revision ${last.commonRevision} (hash 0x${(m0.hash! >>> 0).toString(16)}, compacted to ${m0.compactRevision}) after ${tries}`,
  };
}

/** One round: each member's revision, then HashKV at the lowest one. */
export async function sampleConvergence(members: readonly { name: string; client: EtcdClient }[], timeoutMs = 5000): Promise<ConvergenceAttempt> {
  const out: MemberHash[] = members.map((m) => ({ member: m.name }));
  await Promise.all(
    members.map(async (m, i) => {
      try {
        out[i]!.revision = (await m.client.status(timeoutMs)).header.revision;
      } catch (err) {
        out[i]!.error = describeError(err);
      }
    }),
  );
  const revs = out.filter((m) => m.revision !== undefined).map((m) => m.revision!);
  if (revs.length === 0) return { commonRevision: null, members: out };
  const common = Math.min(...revs);
  await Promise.all(
    members.map(async (m, i) => {
      if (out[i]!.error) return;
      try {
        const h = await m.client.hashKV(common, timeoutMs);
        out[i]!.hash = h.hash;
        out[i]!.compactRevision = h.compactRevision;
      } catch (err) {
        out[i]!.error = describeError(err);
      }
    }),
  );
  return { commonRevision: common, members: out };
}

/** Samples until every member agrees or `attempts` run out, settling between rounds. */
export async function checkConvergence(
  members: readonly { name: string; client: EtcdClient }[],
  opts: { attempts?: number; settleMs?: number; timeoutMs?: number } = {},
): Promise<ConvergenceResult> {
  const attempts: ConvergenceAttempt[] = [];
  const max = opts.attempts ?? 5;
  for (let i = 0; i < max; i++) {
    attempts.push(await sampleConvergence(members, opts.timeoutMs));
    const r = judgeConvergence(attempts);
    if (r.valid === true || i === max - 1) return r;
    await new Promise((res) => setTimeout(res, opts.settleMs ?? 1000));
  }
  return judgeConvergence(attempts);
}

/** Folds the convergence verdict into a run's results: a mismatch makes the run invalid with a named anomaly. */
export function applyConvergence(results: CheckSummary & { convergence?: ConvergenceResult }, c: ConvergenceResult): void {
  results.convergence = c;
  if (c.valid !== false) return;
  results.valid = false;
  const type = c.anomaly ?? 'replica-divergence';
  results.anomalies.push({ type, explanation: c.explanation, opIndexes: [], ops: [] });
  results.anomalyCounts[type] = (results.anomalyCounts[type] ?? 0) + 1;
}
