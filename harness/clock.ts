// Monotonic time for history records: nanoseconds since the test began.

export interface Clock {
  /** ns since the clock's origin. */
  now(): number;
  /** ms since the clock's origin, for display and scheduling. */
  elapsedMs(): number;
}

export function createClock(origin: bigint = process.hrtime.bigint()): Clock {
  return {
    now: () => Number(process.hrtime.bigint() - origin),
    elapsedMs: () => Number(process.hrtime.bigint() - origin) / 1e6,
  };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
