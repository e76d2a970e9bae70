// One watch session over a raw Watch stream: create the watch, record every
// response as it arrives, ask for progress now and then, and end after a
// duration, once a target revision is reached, or when the server cancels.
// Shared by the watch and kubernetes workloads.
import type { EtcdClient, RawKv, RawWatchResponse } from '../harness/client/etcd-client.js';
import { describeError } from '../harness/client/errors.js';
import type { WatchEvent, WatchResponseRecord, WatchSession } from './watch-types.js';

export interface SessionOptions {
  key: string;
  rangeEnd: string;
  start: number;
  durationMs: number;
  prevKv: boolean;
  /** Send a progress request this often once created (0: never). */
  progressEveryMs: number;
  /** End as soon as an event or progress notification reaches this revision. */
  until?: number;
  /** How a kv's bytes become the recorded value. */
  decode: (value: Buffer) => number;
}

export function decodeEvent(raw: { type: string; kv?: RawKv | null; prev_kv?: RawKv | null }, decode: (b: Buffer) => number): WatchEvent {
  const kv = raw.kv;
  const type = raw.type === 'DELETE' ? 'delete' : 'put';
  const ev: WatchEvent = {
    type,
    key: kv ? kv.key.toString('utf8') : '',
    value: type === 'put' && kv ? decode(kv.value) : null,
    rev: Number(kv?.mod_revision ?? 0),
  };
  if (type === 'put' && kv) {
    ev.create = Number(kv.create_revision);
    ev.version = Number(kv.version);
  }
  const prev = raw.prev_kv;
  if (prev && prev.key && prev.key.length > 0) {
    ev.prev = decode(prev.value);
    ev.prevRev = Number(prev.mod_revision);
  }
  return ev;
}

function isProgress(res: RawWatchResponse): boolean {
  return !res.created && !res.canceled && (res.events ?? []).length === 0 && Number(res.compact_revision ?? 0) === 0 && Number(res.header?.revision ?? 0) !== 0;
}

export function runWatchSession(client: EtcdClient, o: SessionOptions, signal?: AbortSignal): Promise<WatchSession> {
  const session: WatchSession = { start: o.start, created: false, responses: [] };
  if (o.until !== undefined) session.target = o.until;
  return new Promise<WatchSession>((resolve) => {
    let done = false;
    let progressTimer: NodeJS.Timeout | undefined;
    let stream: ReturnType<EtcdClient['watchStream']>;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(endTimer);
      if (progressTimer) clearInterval(progressTimer);
      signal?.removeEventListener('abort', finish);
      try {
        stream?.cancel();
      } catch {
        // already closed
      }
      resolve(session);
    };
    const endTimer = setTimeout(finish, o.durationMs);
    signal?.addEventListener('abort', finish, { once: true });
    try {
      stream = client.watchStream();
    } catch (err) {
      session.error = describeError(err);
      finish();
      return;
    }
    const reached = (rev: number) => {
      if (o.until !== undefined && rev >= o.until) {
        session.reachedTarget = true;
        finish();
      }
    };
    stream.on('data', (res: RawWatchResponse) => {
      if (done) return;
      const rev = Number(res.header?.revision ?? 0);
      if (res.created && !res.canceled) {
        session.created = true;
        // Already past the target: nothing more can arrive below it.
        if (o.until !== undefined && o.start > o.until) {
          session.reachedTarget = true;
          finish();
          return;
        }
        if (o.progressEveryMs > 0) {
          progressTimer = setInterval(() => {
            if (!done) stream.write({ progress_request: {} });
          }, o.progressEveryMs);
        }
        return;
      }
      if (res.canceled) {
        session.canceled = true;
        const compact = Number(res.compact_revision ?? 0);
        if (compact > 0) session.compactRevision = compact;
        if (res.cancel_reason) session.cancelReason = res.cancel_reason;
        finish();
        return;
      }
      const events = res.events ?? [];
      if (events.length > 0) {
        const record: WatchResponseRecord = { rev, events: events.map((e) => decodeEvent(e, o.decode)) };
        session.responses.push(record);
        reached(Math.max(...record.events!.map((e) => e.rev)));
      } else if (isProgress(res) && session.created) {
        session.responses.push({ rev, progress: true });
        reached(rev);
      }
    });
    stream.on('error', (err: unknown) => {
      if (!done) session.error = describeError(err);
      finish();
    });
    stream.on('end', finish);
    stream.write({
      create_request: {
        key: Buffer.from(o.key),
        range_end: Buffer.from(o.rangeEnd),
        start_revision: o.start,
        prev_kv: o.prevKv,
        progress_notify: true,
      },
    });
  });
}

/** The range_end that selects every key with this prefix. */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = b.subarray(0, i + 1);
      out[i] = out[i]! + 1;
      return out.toString('latin1');
    }
  }
  return '\0';
}
