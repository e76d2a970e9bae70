// Memory figures for a synchronous computation. A check blocks the main
// thread's event loop, so a timer there would never fire while it runs:
// instead a worker thread reads the process's RSS (which is process-wide)
// every few milliseconds and keeps the highest value in shared memory.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

// Plain JavaScript, so it runs the same from the TypeScript sources and from dist/.
const SAMPLER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const cells = new Int32Array(workerData.shared);
setInterval(() => {
  if (Atomics.load(cells, 0) !== 1) return;
  const kib = Math.ceil(process.memoryUsage.rss() / 1024);
  if (kib > Atomics.load(cells, 1)) Atomics.store(cells, 1, kib);
}, workerData.intervalMs);
parentPort.postMessage('ready');
`;

export interface Measured<T> {
  result: T;
  wallMs: number;
  /** User plus system CPU of the whole process, GC helper threads and the sampler included. */
  cpuMs: number;
  rssBefore: number;
  /** Highest RSS seen while `fn` ran, in bytes. */
  peakRss: number;
  heapUsedBefore: number;
  heapUsedAfter: number;
}

export class RssSampler {
  private constructor(
    private readonly worker: Worker,
    /** [0]: 1 while sampling; [1]: the peak in KiB. */
    private readonly cells: Int32Array,
    readonly intervalMs: number,
  ) {}

  static async start(intervalMs = 5): Promise<RssSampler> {
    const shared = new SharedArrayBuffer(8);
    const worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { shared, intervalMs } });
    worker.unref();
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new RssSampler(worker, new Int32Array(shared), intervalMs);
  }

  /** Runs `fn` on this thread and measures it. */
  measure<T>(fn: () => T): Measured<T> {
    const rssBefore = process.memoryUsage.rss();
    const heapUsedBefore = process.memoryUsage().heapUsed;
    Atomics.store(this.cells, 1, Math.ceil(rssBefore / 1024));
    Atomics.store(this.cells, 0, 1);
    const cpu = process.cpuUsage();
    const start = performance.now();
    let result: T;
    try {
      result = fn();
    } finally {
      Atomics.store(this.cells, 0, 0);
    }
    const wallMs = performance.now() - start;
    const used = process.cpuUsage(cpu);
    const after = process.memoryUsage();
    const peakRss = Math.max(Atomics.load(this.cells, 1) * 1024, after.rss);
    return { result, wallMs, cpuMs: (used.user + used.system) / 1000, rssBefore, peakRss, heapUsedBefore, heapUsedAfter: after.heapUsed };
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * A function that forces a full GC, when one can be had: global.gc under
 * --expose-gc, or else the same flag set at run time and picked up by a
 * fresh context (as test runners do to report heap use). undefined when
 * neither works.
 */
export function gcFunction(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}
