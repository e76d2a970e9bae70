import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { driveLoad, Recorder, type Kind } from '../../../harness/bench/load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function grpcError(code: grpc.status): Error {
  return Object.assign(new Error(`code ${code}`), { code });
}

describe('driveLoad, closed loop', () => {
  it('keeps one request per worker in flight and counts successes and errors by gRPC code', async () => {
    let inflight = 0;
    let maxInflight = 0;
    let n = 0;
    const rec = new Recorder(performance.now());
    const out = await driveLoad({
      clients: 4,
      rate: 0,
      durationMs: 300,
      maxOutstanding: 1,
      recorder: rec,
      drainTimeoutMs: 1000,
      issue: async (): Promise<Kind> => {
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        await sleep(5);
        inflight--;
        const i = n++;
        if (i % 10 === 3) throw grpcError(grpc.status.UNAVAILABLE);
        if (i % 10 === 7) throw grpcError(grpc.status.DEADLINE_EXCEEDED);
        if (i % 10 === 9) throw new Error('not a grpc error');
        return i % 2 === 0 ? 'write' : 'read';
      },
    });
    expect(maxInflight).toBe(4);
    expect(out.issued).toBe(n);
    const errs = Object.fromEntries(rec.errors);
    expect(errs.UNAVAILABLE).toBe(Math.floor((n + 6) / 10));
    expect(errs.DEADLINE_EXCEEDED).toBe(Math.floor((n + 2) / 10));
    expect(errs.CLIENT_ERROR).toBe(Math.floor(n / 10));
    expect(rec.ok.read + rec.ok.write + rec.errorCount).toBe(n);
    expect(rec.latency.count).toBe(rec.ok.read + rec.ok.write);
    expect(rec.latency.min).toBeGreaterThanOrEqual(4000);
    expect(rec.dropped).toBe(0);
    // every request started before the deadline; it finished soon after
    expect(out.endMs - out.startMs).toBeGreaterThanOrEqual(300);
    expect(out.endMs - out.startMs).toBeLessThan(1500);
  });

  it('stops early when aborted', async () => {
    const ac = new AbortController();
    const rec = new Recorder(performance.now());
    setTimeout(() => ac.abort(), 50);
    const out = await driveLoad({ clients: 2, rate: 0, durationMs: 10_000, maxOutstanding: 1, recorder: rec, drainTimeoutMs: 1000, signal: ac.signal, issue: async () => (await sleep(2), 'write') });
    expect(out.stopMs - out.startMs).toBeLessThan(1000);
    expect(rec.ok.write).toBeGreaterThan(0);
  });
});

describe('driveLoad, open loop', () => {
  it('issues at the requested aggregate rate, round-robin over workers', async () => {
    const perWorker = [0, 0, 0];
    const rec = new Recorder(performance.now());
    const out = await driveLoad({
      clients: 3,
      rate: 300,
      durationMs: 500,
      // a busy machine can stall the loop and release a burst at once: no cap here, drops are tested below
      maxOutstanding: 1000,
      recorder: rec,
      drainTimeoutMs: 1000,
      issue: async (w) => {
        perWorker[w]!++;
        await sleep(1);
        return 'write';
      },
    });
    expect(out.issued).toBe(150);
    expect(perWorker).toEqual([50, 50, 50]);
    expect(rec.ok.write).toBe(150);
    expect(rec.dropped).toBe(0);
  });

  it('measures latency from the scheduled start (no coordinated omission) and drops starts past the cap', async () => {
    // A server that stalls for 200 ms once: requests due during the stall must show the wait.
    const rec = new Recorder(performance.now());
    const stallUntil = rec.origin + 250;
    const out = await driveLoad({
      clients: 1,
      rate: 100,
      durationMs: 500,
      maxOutstanding: 5,
      recorder: rec,
      drainTimeoutMs: 2000,
      issue: async (_w, due) => {
        const now = performance.now();
        if (due >= rec.origin + 50 && now < stallUntil) await sleep(stallUntil - now);
        else await sleep(1);
        return 'write';
      },
    });
    // 50 requests are due; at most 5 may wait on the stall at once, the rest are dropped
    expect(out.issued + rec.dropped).toBe(50);
    expect(rec.dropped).toBeGreaterThanOrEqual(5);
    expect(rec.ok.write).toBe(out.issued);
    // the first request held during the stall waited from its due time (≈ 50 ms) to the end (250 ms)
    expect(rec.latency.max).toBeGreaterThanOrEqual(150_000);
    expect(rec.seconds[0]!.dropped).toBe(rec.dropped);
  });
});

describe('Recorder', () => {
  it('buckets by second of completion and keeps watch events out of request latency', () => {
    const rec = new Recorder(1000);
    rec.success('write', 2000, 1500);
    rec.success('event', 9000, 2500);
    rec.success('read', 3000, 3999);
    rec.failure('UNAVAILABLE', 2100);
    expect(rec.seconds.map((s) => s.ok)).toEqual([1, 1, 1]);
    expect(rec.seconds[1]!.errors).toBe(1);
    expect(rec.latency.count).toBe(2);
    expect(rec.latency.max).toBe(3000);
    expect(rec.byKind.event.count).toBe(1);
    expect(rec.lastAt).toBe(3999);
  });
});
