import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWatch } from '../../checkers/watch.js';
import { EtcdClient } from '../../harness/client/etcd-client.js';
import { createRng } from '../../harness/random.js';
import type { Op } from '../../harness/history.js';
import { decodeValue } from '../../workloads/register.js';
import { nextStart, progressRequestsSafe, WatchWorkload } from '../../workloads/watch.js';
import { prefixEnd, runWatchSession } from '../../workloads/watch-session.js';
import type { WatchOpValue, WatchWrite } from '../../workloads/watch-types.js';
import { startServer, which, type RunningServer } from '../support/servers.js';
import { drive } from './watch-driver.js';

describe('watch workload (offline)', () => {
  it('resumes after the last event, or from the compact revision after a cancel', () => {
    const ev = (rev: number) => ({ type: 'put' as const, key: 'w/0', value: rev, rev });
    expect(nextStart(5, { start: 5, created: true, responses: [] })).toBe(5);
    expect(nextStart(5, { start: 5, created: true, responses: [{ rev: 9, events: [ev(6), ev(8)] }, { rev: 12, progress: true }] })).toBe(9);
    expect(nextStart(1, { start: 1, created: true, responses: [], canceled: true, compactRevision: 40 })).toBe(40);
  });

  it('asks for progress only where kube-apiserver would (etcd#15220, etcd#17507)', () => {
    expect(progressRequestsSafe('3.4.23')).toBe(false);
    expect(progressRequestsSafe('3.4.31')).toBe(true);
    expect(progressRequestsSafe('3.5.12')).toBe(false);
    expect(progressRequestsSafe('3.5.17')).toBe(true);
    expect(progressRequestsSafe('3.6.0')).toBe(true);
    expect(progressRequestsSafe('garbage')).toBe(false);
  });

  it('computes prefix range ends as etcd does', () => {
    expect(prefixEnd('w/')).toBe('w0');
    expect(prefixEnd('/lock/')).toBe('/lock0');
  });

  it('hands out unique ascending values and never gives one watcher two sessions at once', () => {
    const w = new WatchWorkload({ rng: createRng(1), concurrency: 6 });
    const values: number[] = [];
    const busy = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const op = w.next();
      if (op.f === 'write') for (const o of (op.value as WatchWrite).ops) if (o.value !== undefined) values.push(o.value);
      if (op.f === 'watch') {
        const v = op.value as WatchOpValue;
        expect(busy.has(v.watcher)).toBe(false);
        busy.add(v.watcher);
        expect(v.start).toBeGreaterThanOrEqual(1);
      }
    }
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(new Set(values).size).toBe(values.length);
  });
});

const haveEtcd = which('etcd') !== undefined;

describe.skipIf(!haveEtcd)('watch workload against real etcd', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ kind: 'etcd' });
  });
  afterAll(async () => {
    await server?.stop();
    server?.cleanup();
  });

  it('records histories the checker accepts, including compaction cancels', async () => {
    const clients = Array.from({ length: 4 }, () => new EtcdClient(`127.0.0.1:${server.clientPort}`, { timeoutMs: 3000 }));
    try {
      const workload = new WatchWorkload({ rng: createRng(42), concurrency: 4, maxSessionMs: 400, compactRate: 0.05, progressEveryMs: 100, finalTimeoutMs: 5000 });
      const history = await drive(workload, clients, 2500);
      const r = checkWatch(history);
      expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
      expect(r.valid).toBe(true);
      expect(r.coverage.events).toBeGreaterThan(20);
      const version = (await clients[0]!.status()).version;
      if (progressRequestsSafe(version)) expect(r.coverage.progressNotifies).toBeGreaterThan(0);
      else expect(r.coverage.progressNotifies).toBe(0);
      expect(history.some((o) => o.f === 'compact' && o.type === 'ok')).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('flags a delete at the compact revision that a watch from there does not deliver (etcd#19179) exactly when it is missing', async () => {
    const c = new EtcdClient(`127.0.0.1:${server.clientPort}`, { timeoutMs: 3000 });
    try {
      const ops: Op[] = [];
      const rec = (process: number, f: string, type: Op['type'], value: unknown, revision?: number) =>
        ops.push({ index: ops.length, type, process, f, value, time: ops.length, ...(revision !== undefined ? { revision } : {}) });
      const put = async (key: string, value: number) => {
        rec(1, 'write', 'invoke', { ops: [{ type: 'put', key, value }] });
        rec(1, 'write', 'ok', { ops: [{ type: 'put', key, value }] }, (await c.put(key, String(value))).header.revision);
      };
      await put('x/0', 1001);
      await put('x/1', 1002);
      rec(1, 'write', 'invoke', { ops: [{ type: 'delete', key: 'x/0' }] });
      const del = await c.deleteKey('x/0');
      rec(1, 'write', 'ok', { ops: [{ type: 'delete', key: 'x/0' }], deleted: 1 }, del.header.revision);
      await put('x/1', 1003);
      rec(2, 'compact', 'invoke', { lag: 1 });
      await c.compact(del.header.revision);
      rec(2, 'compact', 'ok', { lag: 1, revision: del.header.revision });
      const inv = { watcher: 0, key: 'x/', rangeEnd: 'x0', start: del.header.revision, durationMs: 400 };
      rec(3, 'watch', 'invoke', inv);
      const session = await runWatchSession(c, { ...inv, prevKv: true, progressEveryMs: 0, decode: decodeValue });
      rec(3, 'watch', 'ok', { ...inv, sessions: [session] });
      const deliveredDelete = session.responses.some((r) => (r.events ?? []).some((e) => e.type === 'delete'));
      const r = checkWatch(ops);
      expect(Object.keys(r.counts).includes('watch-missing-event')).toBe(!deliveredDelete);
    } finally {
      c.close();
    }
  });
});
