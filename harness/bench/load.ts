// Drives requests for a fixed time, closed or open loop, and records what
// came back.
//
// Closed loop (rate 0): each worker issues one request at a time; latency is
// from issue to reply. Open loop (rate R): request n is due at start + n/R,
// handed to worker n mod clients; latency counts from the due time, not from
// when the request actually went out, so a stalled server or a busy event
// loop shows up in the latency instead of silently lowering the load
// (coordinated omission). A worker with maxOutstanding requests in flight
// drops further starts, and the drops are counted.
import { grpcCodeName } from './conns.js';
import { Histogram } from './histogram.js';

export type Kind = 'read' | 'write' | 'event';

/** One second of the run, by completion time. */
export interface SecondBucket {
  ok: number;
  byKind: Record<Kind, number>;
  errors: number;
  dropped: number;
  latency: Histogram;
}

/** Per-second histograms only feed the plots: two significant digits keep them small. */
const SECOND_PRECISION = { significantDigits: 2 } as const;

export class Recorder {
  /** Every successful request (reads and writes; not watch events). */
  readonly latency = new Histogram();
  readonly byKind: Record<Kind, Histogram> = { read: new Histogram(), write: new Histogram(), event: new Histogram() };
  readonly ok: Record<Kind, number> = { read: 0, write: 0, event: 0 };
  readonly errors = new Map<string, number>();
  dropped = 0;
  readonly seconds: SecondBucket[] = [];
  /** Time of the last completion, on the performance clock. */
  lastAt: number;

  /** `origin` is the load's start on the performance clock; second buckets count from it. */
  constructor(public origin: number) {
    this.lastAt = origin;
  }

  /** Moves the start (a recorder can exist before the load, e.g. for watchers that must be in place first). */
  begin(origin: number): void {
    this.origin = origin;
    this.lastAt = origin;
  }

  private bucket(atMs: number): SecondBucket {
    const i = Math.max(0, Math.floor((atMs - this.origin) / 1000));
    while (this.seconds.length <= i) {
      this.seconds.push({ ok: 0, byKind: { read: 0, write: 0, event: 0 }, errors: 0, dropped: 0, latency: new Histogram(SECOND_PRECISION) });
    }
    return this.seconds[i]!;
  }

  success(kind: Kind, latencyUs: number, atMs: number): void {
    const us = Math.max(1, Math.round(latencyUs));
    if (kind !== 'event') this.latency.record(us);
    this.byKind[kind].record(us);
    this.ok[kind]++;
    const b = this.bucket(atMs);
    b.ok++;
    b.byKind[kind]++;
    // Watch-fanout plots delivery latency; a plain load plots request latency.
    b.latency.record(us);
    if (atMs > this.lastAt) this.lastAt = atMs;
  }

  failure(code: string, atMs: number): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    this.bucket(atMs).errors++;
    if (atMs > this.lastAt) this.lastAt = atMs;
  }

  drop(atMs: number): void {
    this.dropped++;
    this.bucket(atMs).dropped++;
  }

  get errorCount(): number {
    let n = 0;
    for (const c of this.errors.values()) n += c;
    return n;
  }
}

export interface LoadSpec {
  clients: number;
  /** Aggregate requests per second; 0 = closed loop. */
  rate: number;
  durationMs: number;
  maxOutstanding: number;
  /** Issues one request for `worker`; resolves with what it was, rejects with the gRPC error. */
  issue: (worker: number, startMs: number) => Promise<Kind>;
  recorder: Recorder;
  signal?: AbortSignal;
  /** How long to wait for requests still in flight when time is up. */
  drainTimeoutMs: number;
  now?: () => number;
}

export interface LoadOutcome {
  startMs: number;
  /** Issuing stopped here (earlier than planned on abort). */
  stopMs: number;
  /** Last completion (or stopMs if nothing completed later). */
  endMs: number;
  issued: number;
  /** Requests still in flight when the drain timed out. */
  abandoned: number;
}

export async function driveLoad(spec: LoadSpec): Promise<LoadOutcome> {
  return spec.rate > 0 ? openLoop(spec) : closedLoop(spec);
}

async function closedLoop(spec: LoadSpec): Promise<LoadOutcome> {
  const now = spec.now ?? (() => performance.now());
  const rec = spec.recorder;
  const startMs = rec.origin;
  const deadline = startMs + spec.durationMs;
  let issued = 0;
  let inflight = 0;
  let stopMs = deadline;
  const stopped = () => {
    if (spec.signal?.aborted) {
      stopMs = Math.min(stopMs, now());
      return true;
    }
    return now() >= deadline;
  };
  const worker = async (w: number): Promise<void> => {
    while (!stopped()) {
      const t0 = now();
      issued++;
      inflight++;
      try {
        const kind = await spec.issue(w, t0);
        const t1 = now();
        rec.success(kind, (t1 - t0) * 1000, t1);
      } catch (err) {
        rec.failure(grpcCodeName(err), now());
      } finally {
        inflight--;
      }
    }
  };
  const all = Promise.all(Array.from({ length: spec.clients }, (_, w) => worker(w)));
  // Requests carry their own deadline, so workers finish; the drain bound is a safety net.
  const drained = await raceTimeout(all, spec.durationMs + spec.drainTimeoutMs);
  return { startMs, stopMs, endMs: Math.max(rec.lastAt, stopMs), issued, abandoned: drained ? 0 : inflight };
}

async function openLoop(spec: LoadSpec): Promise<LoadOutcome> {
  const now = spec.now ?? (() => performance.now());
  const rec = spec.recorder;
  const startMs = rec.origin;
  const deadline = startMs + spec.durationMs;
  const intervalMs = 1000 / spec.rate;
  const outstanding = new Int32Array(spec.clients);
  let inflight = 0;
  let issued = 0;
  let n = 0;
  let onIdle: (() => void) | undefined;
  let stopMs = deadline;

  const fire = (w: number, due: number) => {
    outstanding[w]!++;
    inflight++;
    issued++;
    spec.issue(w, due).then(
      (kind) => {
        const t = now();
        rec.success(kind, (t - due) * 1000, t);
      },
      (err: unknown) => rec.failure(grpcCodeName(err), now()),
    ).finally(() => {
      outstanding[w]!--;
      inflight--;
      if (inflight === 0) onIdle?.();
    });
  };

  for (;;) {
    if (spec.signal?.aborted) {
      stopMs = Math.min(deadline, now());
      break;
    }
    const t = now();
    for (let due = startMs + n * intervalMs; due <= t && due < deadline; due = startMs + n * intervalMs) {
      const w = n % spec.clients;
      n++;
      if (outstanding[w]! >= spec.maxOutstanding) rec.drop(due);
      else fire(w, due);
    }
    const nextDue = startMs + n * intervalMs;
    if (nextDue >= deadline) break;
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        spec.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, nextDue - now()));
      spec.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  const idle = inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onIdle = resolve));
  const drained = await raceTimeout(idle, spec.drainTimeoutMs);
  return { startMs, stopMs, endMs: Math.max(rec.lastAt, stopMs), issued, abandoned: drained ? 0 : inflight };
}

async function raceTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
