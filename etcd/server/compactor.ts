// Auto-compaction as etcd's v3compactor does it, driven by the server's
// clock and timers.
//
// periodic (retention R as a duration): sample the store revision every
// R/10 (R capped at 1h for the sampling and compaction interval); once R has
// passed since start, compact to the revision sampled about R ago, then again
// every min(R, 1h).
// revision (retention N revisions): every 5 minutes compact to current − N
// when that moved since the last compaction.

export interface CompactorHost {
  currentRevision(): number;
  compact(revision: number): Promise<void>;
  now(): number;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
}

const HOUR_MS = 3600_000;
const REVISION_CHECK_MS = 5 * 60_000;

export interface Compactor {
  stop(): void;
}

export function startPeriodicCompactor(host: CompactorHost, retentionMs: number, checkMs?: number): Compactor {
  const capped = Math.min(retentionMs, HOUR_MS);
  const sampleMs = checkMs ?? Math.max(1, capped / 10);
  const slots = Math.max(1, Math.round(retentionMs / sampleMs));
  const revs: number[] = [];
  const start = host.now();
  let lastCompactAt = -Infinity;
  let lastRev = 0;
  let busy = false;
  const timer = setInterval(() => {
    revs.push(host.currentRevision());
    if (revs.length > slots + 1) revs.shift();
    const now = host.now();
    if (busy || now - start < retentionMs || now - lastCompactAt < capped) return;
    const rev = revs[0]!;
    if (rev === lastRev) return;
    busy = true;
    host
      .compact(rev)
      .then(() => {
        lastRev = rev;
        lastCompactAt = now;
        host.log('info', 'completed auto periodic compaction', { 'compact-revision': rev, 'retention-ms': retentionMs });
      })
      .catch((err: unknown) => host.log('warn', 'failed auto periodic compaction', { 'compact-revision': rev, error: String(err) }))
      .finally(() => {
        busy = false;
      });
  }, sampleMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

export function startRevisionCompactor(host: CompactorHost, retention: number, checkMs = REVISION_CHECK_MS): Compactor {
  let lastRev = 0;
  let busy = false;
  const timer = setInterval(() => {
    const rev = host.currentRevision() - retention;
    if (busy || rev <= 0 || rev === lastRev) return;
    busy = true;
    host
      .compact(rev)
      .then(() => {
        lastRev = rev;
        host.log('info', 'completed auto revision compaction', { 'revision-compaction-retention': retention, 'compact-revision': rev });
      })
      .catch((err: unknown) => host.log('warn', 'failed auto revision compaction', { 'compact-revision': rev, error: String(err) }))
      .finally(() => {
        busy = false;
      });
  }, checkMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
