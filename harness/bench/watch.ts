// watch-fanout: N watch streams on one prefix while writers put under it.
// Each put's value starts with the time the writer started it, so every
// watcher measures delivery latency (put start → event arrival) for every
// event without any shared bookkeeping.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { prefixEnd } from '../../etcd/types.js';
import { WATCH_PREFIX } from './args.js';
import { grpcCodeName, type Conn, type RawWatchResponse } from './conns.js';
import { readStamp } from './keys.js';
import type { Recorder } from './load.js';

export class WatcherSet {
  delivered = 0;
  private closing = false;
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    private readonly streams: ClientDuplexStream<object, RawWatchResponse>[],
    private readonly recorder: Recorder,
  ) {}

  /** Opens `count` watch streams round-robin over `conns`, resolving once every watch is created. */
  static async open(conns: readonly Conn[], count: number, recorder: Recorder, timeoutMs = 15_000, now: () => number = () => performance.now()): Promise<WatcherSet> {
    const key = Buffer.from(WATCH_PREFIX);
    const rangeEnd = Buffer.from(prefixEnd(key));
    const streams: ClientDuplexStream<object, RawWatchResponse>[] = [];
    const set = new WatcherSet(streams, recorder);
    const created: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const stream = conns[i % conns.length]!.watchStream();
      streams.push(stream);
      created.push(
        new Promise<void>((resolve, reject) => {
          let isCreated = false;
          stream.on('data', (res: RawWatchResponse) => {
            if (res.created && !isCreated) {
              isCreated = true;
              resolve();
            }
            if (res.canceled) {
              if (!isCreated) reject(new Error(`watch ${i} canceled at creation: ${res.cancel_reason ?? ''}`));
              else if (!set.closing) recorder.failure('WATCH_CANCELED', now());
            }
            const events = res.events;
            if (!events || events.length === 0) return;
            const at = now();
            for (const ev of events) {
              const stamp = readStamp(ev.kv?.value);
              if (stamp === undefined) continue;
              recorder.success('event', (at - stamp) * 1000, at);
            }
            set.onDelivered(events.length);
          });
          stream.on('error', (err: unknown) => {
            if (!isCreated) reject(err instanceof Error ? err : new Error(String(err)));
            else if (!set.closing) recorder.failure(grpcCodeName(err), now());
          });
        }),
      );
      stream.write({ create_request: { key, range_end: rangeEnd } });
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all(created),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`watchers not created within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      set.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return set;
  }

  private onDelivered(n: number): void {
    this.delivered += n;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.delivered >= w.count) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Resolves true when `count` events have arrived in total, false after timeoutMs. */
  waitFor(count: number, timeoutMs: number): Promise<boolean> {
    if (this.delivered >= count) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = { count, resolve: () => {
        clearTimeout(timer);
        resolve(true);
      } };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(entry);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(entry);
    });
  }

  close(): void {
    this.closing = true;
    for (const s of this.streams) {
      s.on('error', () => undefined);
      s.cancel();
    }
  }
}
