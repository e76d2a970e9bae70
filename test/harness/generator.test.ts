import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EtcdClient } from '../../harness/client/etcd-client.js';
import { createClock } from '../../harness/clock.js';
import { memberForWorker, nextProcessId, planPhases, staggerMs, WorkerPool, type OpCounters } from '../../harness/generator.js';
import { HistoryWriter } from '../../harness/history-log.js';
import { pairOps } from '../../harness/history.js';
import { createRng } from '../../harness/random.js';
import type { Completion, Invocation, Workload } from '../../workloads/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('planPhases', () => {
  it('splits the time limit into warm-up and faults, with recovery after', () => {
    expect(planPhases(60, true)).toEqual({ warmupMs: 5000, faultsMs: 55_000, recoveryMs: 10_000 });
    const short = planPhases(10, true);
    expect(short.warmupMs + short.faultsMs).toBe(10_000);
    expect(short.warmupMs).toBe(2000);
    expect(short.recoveryMs).toBe(2000);
  });
  it('has no warm-up or recovery without faults', () => {
    expect(planPhases(5, false)).toEqual({ warmupMs: 0, faultsMs: 5000, recoveryMs: 0 });
  });
});

describe('staggerMs', () => {
  it('averages concurrency/rate seconds with values in [0, 2·concurrency/rate)', () => {
    const rng = createRng(7);
    const xs = Array.from({ length: 20_000 }, () => staggerMs(rng, 100, 10));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(95);
    expect(mean).toBeLessThan(105);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(200);
  });
  it('is deterministic for a seed', () => {
    const a = createRng(3);
    const b = createRng(3);
    expect([1, 2, 3].map(() => staggerMs(a, 50, 4))).toEqual([1, 2, 3].map(() => staggerMs(b, 50, 4)));
  });
});

describe('process ids and member binding', () => {
  it('binds workers round-robin and renumbers by concurrency', () => {
    expect([0, 1, 2, 3, 4].map((w) => memberForWorker(w, ['n1', 'n2', 'n3']))).toEqual(['n1', 'n2', 'n3', 'n1', 'n2']);
    expect(nextProcessId(2, 6)).toBe(8);
    expect(nextProcessId(8, 6) % 6).toBe(2);
  });
});

/** A workload whose outcomes follow a script: every third op is info. */
class ScriptedWorkload implements Workload<{ key: string; n: number }> {
  readonly name = 'scripted';
  private n = 0;
  constructor(private readonly limit: number) {}
  next(): Invocation<{ key: string; n: number }> | null {
    if (this.n >= this.limit) return null;
    return { f: 'write', value: { key: 'k', n: this.n++ } };
  }
  async invoke(_client: EtcdClient, op: Invocation<{ key: string; n: number }>): Promise<Completion<{ key: string; n: number }>> {
    await new Promise((r) => setTimeout(r, 1));
    const type = op.value.n % 3 === 2 ? 'info' : 'ok';
    return { type, value: op.value, ...(type === 'ok' ? { revision: op.value.n + 1 } : { error: 'timeout' }) };
  }
  finalReads(): Invocation<{ key: string; n: number }>[] {
    return [0, 1, 2, 3].map((i) => ({ f: 'read', value: { key: `k${i}`, n: -1 } }));
  }
}

function fakeClient(member: string, closed: string[]): EtcdClient {
  return { target: member, close: () => closed.push(member) } as unknown as EtcdClient;
}

describe('WorkerPool', () => {
  it('records every op as invoke then completion, and moves a worker to a new process after info', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-gen-'));
    dirs.push(dir);
    const history = new HistoryWriter(join(dir, 'h.jsonl'));
    const counters: OpCounters = { ok: 0, fail: 0, info: 0 };
    const closed: string[] = [];
    const connects: string[] = [];
    const pool = new WorkerPool({
      concurrency: 3,
      members: ['n1', 'n2', 'n3'],
      rate: 10_000,
      workload: new ScriptedWorkload(30),
      history,
      clock: createClock(),
      rng: createRng(1),
      connect: (m) => {
        connects.push(m);
        return fakeClient(m, closed);
      },
      counters,
    });
    await pool.run(new AbortController().signal);
    history.close();
    const ops = history.ops;
    expect(ops).toHaveLength(60);
    const pairs = pairOps(ops);
    expect(pairs).toHaveLength(30);
    expect(counters).toEqual({ ok: 20, fail: 0, info: 10 });
    // Ten info completions: ten retired processes, each replaced by a fresh client on the same member.
    const processes = new Set(ops.map((o) => o.process));
    const infos = pairs.filter((p) => p.complete!.type === 'info');
    // Each info hands its worker over to process + concurrency (unless that worker had nothing left to do).
    const continued = infos.filter((p) => processes.has(Number(p.invoke.process) + 3));
    expect(continued.length).toBeGreaterThanOrEqual(10 - 3);
    expect(processes.size).toBe(3 + continued.length);
    expect(closed).toHaveLength(10);
    expect(connects).toHaveLength(13);
    for (const p of pairs) {
      // A process's ops never continue after an info completion.
      expect(p.complete).toBeDefined();
      expect(p.invoke.member).toBe(memberForWorker(Number(p.invoke.process) % 3, ['n1', 'n2', 'n3']));
      expect(p.complete!.time).toBeGreaterThanOrEqual(p.invoke.time);
    }
    const infoProcs = pairs.filter((p) => p.complete!.type === 'info').map((p) => p.invoke.process);
    for (const pid of infoProcs) {
      const later = pairs.filter((p) => p.invoke.process === pid && p.invoke.index > ops.findIndex((o) => o.process === pid && o.type === 'info'));
      expect(later).toHaveLength(0);
    }
  });

  it('stops issuing ops when aborted and reads every key once per member at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-gen-'));
    dirs.push(dir);
    const history = new HistoryWriter(join(dir, 'h.jsonl'));
    const pool = new WorkerPool({
      concurrency: 6,
      members: ['n1', 'n2', 'n3'],
      rate: 100,
      workload: new ScriptedWorkload(1_000_000),
      history,
      clock: createClock(),
      rng: createRng(2),
      connect: (m) => fakeClient(m, []),
      counters: { ok: 0, fail: 0, info: 0 },
    });
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 300);
    await pool.run(stop.signal);
    expect(Date.now() - started).toBeLessThan(1500);
    const during = history.ops.length / 2;
    // ~100 ops/s for 0.3 s: far fewer than an unthrottled loop would issue.
    expect(during).toBeGreaterThan(5);
    expect(during).toBeLessThan(120);
    const before = history.ops.length;
    await pool.finalReads();
    const reads = history.ops.slice(before).filter((o) => o.type === 'invoke');
    expect(reads).toHaveLength(4 * 3);
    for (const key of ['k0', 'k1', 'k2', 'k3']) {
      const members = reads.filter((o) => (o.value as { key: string }).key === key).map((o) => o.member).sort();
      expect(members).toEqual(['n1', 'n2', 'n3']);
    }
  });
});
