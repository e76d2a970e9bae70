import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConvergence, checkConvergence, judgeConvergence, type ConvergenceAttempt } from '../../checkers/convergence.js';
import type { CheckSummary } from '../../harness/check.js';
import { EtcdClient } from '../../harness/client/etcd-client.js';
import { startServer, which, type RunningServer } from '../support/servers.js';

const attempt = (members: [string, number, number, number][]): ConvergenceAttempt => ({
  commonRevision: Math.min(...members.map((m) => m[1])),
  members: members.map(([member, revision, hash, compactRevision]) => ({ member, revision, hash, compactRevision })),
});

const summary = (): CheckSummary => ({
  valid: true,
  checkers: {},
  anomalies: [],
  anomalyCounts: {},
  opCounts: { total: 0, ok: 0, fail: 0, info: 0, open: 0, byF: {} },
  checkMs: 0,
});

describe('judgeConvergence', () => {
  it('accepts members at one revision with one hash', () => {
    const r = judgeConvergence([attempt([['n1', 10, 5, 0], ['n2', 10, 5, 0], ['n3', 10, 5, 0]])]);
    expect(r.valid).toBe(true);
    expect(r.summary).toBe('3 members agree at revision 10 (hash 0x5, compacted to 0) after 1 attempt');
  });

  it('names a hash mismatch at the common revision', () => {
    const r = judgeConvergence([attempt([['n1', 10, 5, 3], ['n2', 10, 6, 3], ['n3', 10, 5, 3]])]);
    expect(r.valid).toBe(false);
    expect(r.anomaly).toBe('hash-divergence');
    expect(r.explanation).toContain('n2: 0x6');
  });

  it('names revisions that still differ after settling, judging only the last attempt', () => {
    const stuck = attempt([['n1', 10, 5, 0], ['n2', 12, 5, 0]]);
    const r = judgeConvergence([stuck, stuck]);
    expect(r.valid).toBe(false);
    expect(r.anomaly).toBe('revision-divergence');
    expect(judgeConvergence([stuck, attempt([['n1', 12, 7, 0], ['n2', 12, 7, 0]])]).valid).toBe(true);
  });

  it('is unknown when a member does not answer or compaction points differ', () => {
    expect(judgeConvergence([{ commonRevision: 5, members: [{ member: 'n1', revision: 5, hash: 1, compactRevision: 0 }, { member: 'n2', error: 'UNAVAILABLE' }] }]).valid).toBe('unknown');
    expect(judgeConvergence([attempt([['n1', 10, 5, 3], ['n2', 10, 6, 4]])]).valid).toBe('unknown');
  });

  it('makes the run invalid with the named anomaly', () => {
    const s = summary();
    applyConvergence(s, judgeConvergence([attempt([['n1', 10, 5, 3], ['n2', 10, 6, 3]])]));
    expect(s.valid).toBe(false);
    expect(s.anomalyCounts['hash-divergence']).toBe(1);
    const ok = summary();
    applyConvergence(ok, judgeConvergence([attempt([['n1', 10, 5, 3], ['n2', 10, 5, 3]])]));
    expect(ok.valid).toBe(true);
    expect(ok.anomalies).toEqual([]);
  });
});

describe.skipIf(which('etcd') === undefined)('checkConvergence against real etcd', () => {
  let server: RunningServer;
  let client: EtcdClient;
  beforeAll(async () => {
    server = await startServer({ kind: 'etcd' });
    client = new EtcdClient(`127.0.0.1:${server.clientPort}`, { timeoutMs: 3000 });
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
    server?.cleanup();
  });

  it('hashes a member at its revision, stably', async () => {
    for (let i = 0; i < 5; i++) await client.put(`k${i}`, String(i));
    const r = await checkConvergence([{ name: 'a', client }, { name: 'b', client }], { attempts: 2, settleMs: 10 });
    expect(r.valid).toBe(true);
    expect(r.attempts[0]!.commonRevision).toBe(6);
    expect(r.attempts[0]!.members[0]!.hash).toBeGreaterThan(0);
    await client.put('k9', 'x');
    const after = await checkConvergence([{ name: 'a', client }], { attempts: 1 });
    expect(after.attempts[0]!.members[0]!.hash).not.toBe(r.attempts[0]!.members[0]!.hash);
  });
});
