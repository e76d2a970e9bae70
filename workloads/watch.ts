// The watch workload, after jepsen.etcd's and etcd's robustness watch
// traffic. Writers put unique, ascending values to a few keys under one
// prefix (sometimes two keys in one Txn, so one revision carries several
// events; sometimes a Delete). A fixed set of logical watchers take turns:
// each watches from the revision after the last event it saw, for a random
// while, with prev_kv and progress requests, then reconnects (through
// whichever member the next worker is bound to). Now and then a compaction
// lets watchers fall out of the history window; a watcher canceled for that
// restarts from the compact revision, as etcd documents. After healing,
// every watcher catches up to the latest revision.
import { classifyError, describeError } from '../harness/client/errors.js';
import type { EtcdClient } from '../harness/client/etcd-client.js';
import type { Rng } from '../harness/random.js';
import { decodeValue } from './register.js';
import type { Completion, Invocation, Workload } from './types.js';
import { prefixEnd, runWatchSession } from './watch-session.js';
import type { WatchCompact, WatchOpValue, WatchSession, WatchValue, WatchWrite, WatchWriteOp } from './watch-types.js';

export interface WatchWorkloadOptions {
  rng: Rng;
  concurrency: number;
  prefix?: string;
  keyCount?: number;
  /** Watch sessions last uniformly up to this long. */
  maxSessionMs?: number;
  /** Share of ops that compact. */
  compactRate?: number;
  progressEveryMs?: number;
  /**
   * Ask for progress notifications: 'auto' does so only on servers that
   * answer them in order with events, as kube-apiserver decides (etcd#15220,
   * etcd#17507: 3.4.31+, 3.5.13+, 3.6+).
   */
  progressRequests?: 'auto' | boolean;
  /** How long the final catch-up may take per watcher. */
  finalTimeoutMs?: number;
}

interface WatcherState {
  id: number;
  key: string;
  rangeEnd: string;
  /** Where the next session starts: last delivered revision + 1, or the compact revision after a cancel. */
  next: number;
  busy: boolean;
}

export class WatchWorkload implements Workload<WatchValue> {
  readonly name = 'watch';
  readonly prefix: string;
  readonly keys: string[];
  /** Watcher slots; a slot is now and then reborn as a fresh watcher starting from revision 1. */
  private readonly watchers: WatcherState[];
  private readonly byId = new Map<number, WatcherState>();
  private nextWatcherId: number;
  private nextValue = 1;
  private readonly maxSessionMs: number;
  private readonly compactRate: number;
  private readonly progressEveryMs: number;
  private readonly finalTimeoutMs: number;
  private progressSafe: boolean | undefined;
  /** Revisions of acknowledged deletes: compacting exactly at one hides the delete from watchers resuming there (etcd#19179). */
  private readonly deleteRevisions = new Set<number>();

  constructor(private readonly opts: WatchWorkloadOptions) {
    this.prefix = opts.prefix ?? 'w/';
    this.keys = Array.from({ length: opts.keyCount ?? 3 }, (_, i) => `${this.prefix}${i}`);
    this.maxSessionMs = opts.maxSessionMs ?? 3000;
    this.compactRate = opts.compactRate ?? 0.01;
    this.progressEveryMs = opts.progressEveryMs ?? 300;
    this.finalTimeoutMs = opts.finalTimeoutMs ?? 20_000;
    const count = Math.max(1, Math.floor(opts.concurrency / 2));
    // Every third watcher watches a single key, so filtering is exercised too.
    this.watchers = Array.from({ length: count }, (_, id) =>
      id % 3 === 2
        ? { id, key: this.keys[0]!, rangeEnd: '', next: 1, busy: false }
        : { id, key: this.prefix, rangeEnd: prefixEnd(this.prefix), next: 1, busy: false },
    );
    for (const w of this.watchers) this.byId.set(w.id, w);
    this.nextWatcherId = count;
  }

  next(): Invocation<WatchValue> {
    const rng = this.opts.rng;
    const idle = this.watchers.filter((w) => !w.busy);
    if (idle.length > 0 && rng.next() < 0.5) {
      let w = rng.pick(idle);
      // A fresh watcher from revision 1 lands below the compact revision once history was compacted.
      if (rng.next() < 0.05) w = this.reborn(w);
      w.busy = true;
      return { f: 'watch', value: this.watchOp(w, false, Math.round(rng.between(100, this.maxSessionMs))) };
    }
    if (rng.next() < this.compactRate) return { f: 'compact', value: { lag: 5 + rng.int(60) } satisfies WatchCompact };
    return { f: 'write', value: this.writeOp() };
  }

  private reborn(old: WatcherState): WatcherState {
    const w: WatcherState = { ...old, id: this.nextWatcherId++, next: 1 };
    this.watchers[this.watchers.indexOf(old)] = w;
    this.byId.set(w.id, w);
    return w;
  }

  private watchOp(w: WatcherState, final: boolean, durationMs: number): WatchOpValue {
    return { watcher: w.id, key: w.key, rangeEnd: w.rangeEnd, start: w.next, durationMs, ...(final ? { final: true } : {}) };
  }

  private writeOp(): WatchWrite {
    const rng = this.opts.rng;
    const roll = rng.next();
    if (roll < 0.15) return { ops: [{ type: 'delete', key: rng.pick(this.keys) }] };
    if (roll < 0.3 && this.keys.length >= 2) {
      const [a, b] = rng.shuffle(this.keys);
      return { ops: [this.put(a!), this.put(b!)] };
    }
    return { ops: [this.put(rng.pick(this.keys))] };
  }

  private put(key: string): WatchWriteOp {
    return { type: 'put', key, value: this.nextValue++ };
  }

  finalReads(): Invocation<WatchValue>[] {
    return this.watchers.map((w) => {
      w.busy = true;
      return { f: 'watch', value: this.watchOp(w, true, this.finalTimeoutMs) };
    });
  }

  async invoke(client: EtcdClient, op: Invocation<WatchValue>): Promise<Completion<WatchValue>> {
    switch (op.f) {
      case 'write':
        return this.write(client, op.value as WatchWrite);
      case 'compact':
        return this.compact(client, op.value as WatchCompact);
      case 'watch':
        return this.watch(client, op.value as WatchOpValue);
      default:
        return { type: 'fail', value: op.value, error: `unknown watch op ${op.f}` };
    }
  }

  private async progressAllowed(client: EtcdClient): Promise<boolean> {
    const setting = this.opts.progressRequests ?? 'auto';
    if (setting !== 'auto') return setting;
    if (this.progressSafe === undefined) {
      try {
        this.progressSafe = progressRequestsSafe((await client.status()).version);
      } catch {
        return false;
      }
    }
    return this.progressSafe;
  }

  private async write(client: EtcdClient, v: WatchWrite): Promise<Completion<WatchValue>> {
    try {
      const only = v.ops[0]!;
      if (v.ops.length === 1 && only.type === 'delete') {
        const res = await client.deleteKey(only.key);
        if (res.deleted > 0) this.deleteRevisions.add(res.header.revision);
        return { type: 'ok', value: { ...v, deleted: res.deleted }, revision: res.header.revision, memberId: res.header.memberId };
      }
      if (v.ops.length === 1) {
        const res = await client.put(only.key, String(only.value));
        return { type: 'ok', value: v, revision: res.header.revision, memberId: res.header.memberId };
      }
      const res = await client.txn(
        [],
        v.ops.map((o) => ({ request_put: { key: Buffer.from(o.key), value: Buffer.from(String(o.value)) } })),
      );
      return { type: 'ok', value: v, revision: res.header.revision, memberId: res.header.memberId };
    } catch (err) {
      const outcome = classifyError(err, false);
      return { type: outcome.type, value: v, error: outcome.error };
    }
  }

  private async compact(client: EtcdClient, v: WatchCompact): Promise<Completion<WatchValue>> {
    let revision: number | undefined;
    try {
      const now = await client.range(this.prefix);
      revision = now.header.revision - v.lag;
      while (this.deleteRevisions.has(revision)) revision--;
      if (revision <= 1) return { type: 'fail', value: v, error: 'history too short to compact' };
      const res = await client.compact(revision);
      return { type: 'ok', value: { ...v, revision }, revision: res.header.revision, memberId: res.header.memberId };
    } catch (err) {
      const outcome = classifyError(err, revision === undefined);
      return { type: outcome.type, value: revision === undefined ? v : { ...v, revision }, error: outcome.error };
    }
  }

  private async watch(client: EtcdClient, v: WatchOpValue): Promise<Completion<WatchValue>> {
    const w = this.byId.get(v.watcher)!;
    try {
      const progressEveryMs = (await this.progressAllowed(client)) ? this.progressEveryMs : 0;
      // A final watch runs until it has seen the latest write in its range. Without progress
      // notifications a deleted single key gives no revision to wait for: then it just watches a while.
      let target: number | undefined;
      let until: number | undefined;
      let finalMs = v.durationMs;
      if (v.final) {
        try {
          const now = await client.rangeWith(v.key, v.rangeEnd === '' ? {} : { rangeEnd: Buffer.from(v.rangeEnd, 'latin1') });
          target = now.header.revision;
          if (v.rangeEnd !== '' || progressEveryMs > 0) until = target;
          else if (now.kvs[0]) until = now.kvs[0].modRevision;
          else finalMs = Math.min(finalMs, 2000);
        } catch (err) {
          return { type: 'fail', value: v, error: describeError(err) };
        }
      }
      const deadline = Date.now() + finalMs;
      const sessions: WatchSession[] = [];
      let start = v.start;
      // A final watch canceled for compaction restarts from the compact revision until it catches up.
      for (;;) {
        const session = await runWatchSession(client, {
          key: v.key,
          rangeEnd: v.rangeEnd,
          start,
          durationMs: Math.max(1, deadline - Date.now()),
          prevKv: true,
          progressEveryMs,
          ...(until !== undefined ? { until } : {}),
          decode: decodeValue,
        });
        if (target !== undefined) session.target = target;
        sessions.push(session);
        start = nextStart(start, session);
        if (!(v.final && session.compactRevision !== undefined && Date.now() < deadline)) break;
      }
      w.next = start;
      const value: WatchOpValue = { ...v, sessions };
      const created = sessions.some((s) => s.created);
      const last = sessions[sessions.length - 1]!;
      if (!created) return { type: 'fail', value, error: last.error ?? last.cancelReason ?? 'watch not created' };
      return { type: 'ok', value, ...(last.error ? { error: last.error } : {}) };
    } finally {
      w.busy = false;
    }
  }
}

/** Whether a server of this version answers progress requests only once its watchers are synced. */
export function progressRequestsSafe(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [maj, min, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj !== 3) return maj > 3;
  if (min === 4) return patch >= 31;
  if (min === 5) return patch >= 13;
  return min > 5;
}

/** Resume after the last delivered event; after a compaction cancel, from the compact revision. */
export function nextStart(start: number, s: WatchSession): number {
  let next = start;
  for (const r of s.responses) for (const e of r.events ?? []) next = Math.max(next, e.rev + 1);
  if (s.compactRevision !== undefined && s.compactRevision > next) next = s.compactRevision;
  return next;
}
