import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EtcdServer } from '../../../etcd/server/server.js';
import { b, ctx, openServer, putReq, rangeReq, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let server: EtcdServer | undefined;

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  tmp.cleanup();
});

async function allKeys(s: EtcdServer): Promise<string[]> {
  const r = await s.range(rangeReq('\0', { rangeEnd: b('\0') }), ctx);
  return r.response.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}@${kv.modRevision}`);
}

describe('durability and recovery', () => {
  it('keeps every acknowledged write across a crash', async () => {
    server = await openServer(tmp.dir);
    const memberId = server.memberId;
    const clusterId = server.clusterId;
    const term = (await server.status(ctx)).raftTerm;
    await Promise.all([...Array(40).keys()].map((i) => server!.put(putReq(`k${String(i).padStart(2, '0')}`, `v${i}`), ctx)));
    for (let i = 0; i < 10; i++) await server.put(putReq(`seq${i}`, `${i}`), ctx);
    const before = await allKeys(server);
    const rev = server.currentHeader().revision;
    expect(rev).toBe(51);
    // Concurrent proposals share fsyncs (group commit).
    expect(server.debugState().walSyncs).toBeLessThan(45);
    await server.crash();

    server = await openServer(tmp.dir);
    expect(server.memberId).toBe(memberId);
    expect(server.clusterId).toBe(clusterId);
    expect(await allKeys(server)).toEqual(before);
    expect(server.currentHeader().revision).toBe(rev);
    expect((await server.status(ctx)).raftTerm).toBe(term + 1);
    expect((await server.put(putReq('after', 'x'), ctx)).header.revision).toBe(rev + 1);
  });

  it('survives a graceful restart with leases and alarms intact', async () => {
    server = await openServer(tmp.dir);
    const g = await server.leaseGrant(100, 77n, ctx);
    await server.put(putReq('leased', 'v', { lease: g.id }), ctx);
    await server.alarm('ACTIVATE', server.memberId, 'CORRUPT', ctx);
    await server.close();
    server = await openServer(tmp.dir);
    expect((await server.leaseTimeToLive(77n, true, ctx)).keys).toEqual([b('leased')]);
    expect((await server.alarm('GET', 0n, 'NONE', ctx)).alarms.map((a) => a.alarm)).toEqual(['CORRUPT']);
  });

  it('takes snapshots every --snapshot-count entries, releases the WAL, and restarts from snapshot + tail', async () => {
    server = await openServer(tmp.dir, { snapshotCount: 20 }, { walSegmentBytes: 2048 });
    const segmentsAtStart = server.debugState().walSegments.length;
    for (let i = 0; i < 45; i++) await server.put(putReq(`s${i}`, 'x'.repeat(100)), ctx);
    let maxSegments = 0;
    for (let i = 45; i < 90; i++) {
      await server.put(putReq(`s${i}`, 'x'.repeat(100)), ctx);
      maxSegments = Math.max(maxSegments, server.debugState().walSegments.length);
    }
    await server.snapshotsSettled();
    const state = server.debugState();
    expect(state.snapshotIndex).toBeGreaterThanOrEqual(80);
    const snapDir = path.join(tmp.dir, 'member', 'snap');
    const snaps = readdirSync(snapDir).filter((n) => n.endsWith('.snap'));
    expect(snaps.length).toBeGreaterThan(0);
    expect(snaps.length).toBeLessThanOrEqual(5);
    // Released: far fewer segments than ~90 entries of ~130 bytes in 2 KiB segments would need.
    expect(state.walSegments.length).toBeLessThan(6);
    expect(segmentsAtStart).toBeGreaterThan(0);
    const before = await allKeys(server);
    const rev = server.currentHeader().revision;
    await server.put(putReq('tail', 'after-snapshot'), ctx);
    await server.crash();

    server = await openServer(tmp.dir, { snapshotCount: 20 }, { walSegmentBytes: 2048 });
    const after = await allKeys(server);
    expect(after.filter((k) => !k.startsWith('tail='))).toEqual(before);
    expect(after).toContain(`tail=after-snapshot@${rev + 1}`);
    expect(server.currentHeader().revision).toBe(rev + 1);
  });

  it('refuses a second open of the same data dir', async () => {
    server = await openServer(tmp.dir);
    await expect(openServer(tmp.dir)).rejects.toThrow(/already open/);
  });
});
