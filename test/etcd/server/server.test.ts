import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EtcdError } from '../../../etcd/errors.js';
import type { WatchResponseOut } from '../../../etcd/server/backend.js';
import type { EtcdServer } from '../../../etcd/server/server.js';
import { ManualClock, b, cmp, ctx, delReq, errorOf, openServer, putReq, rangeReq, tempDir, txnReq, until } from './helpers.js';

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

describe('identity', () => {
  it("computes etcd's member and cluster IDs for the default configuration", async () => {
    server = await openServer(tmp.dir, {
      initialAdvertisePeerUrls: ['http://localhost:2380'],
      initialCluster: new Map([['default', ['http://localhost:2380']]]),
    });
    expect(server.memberId.toString(16)).toBe('8e9e05c52164694d');
    expect(server.clusterId.toString(16)).toBe('cdf818194e3a8c32');
    const { members } = await server.memberList(true, ctx);
    expect(members).toEqual([
      { id: server.memberId, name: 'default', peerURLs: ['http://localhost:2380'], clientURLs: ['http://localhost:2379'], isLearner: false },
    ]);
    const st = await server.status(ctx);
    expect(st.leader).toBe(server.memberId);
    expect(st.version).toBe('3.5.17');
    expect(st.raftTerm).toBeGreaterThanOrEqual(2);
    expect(st.raftAppliedIndex).toBe(st.raftIndex);
  });
});

describe('KV through the log', () => {
  it('assigns revisions as etcd does', async () => {
    server = await openServer(tmp.dir);
    expect(server.currentHeader().revision).toBe(1);
    expect((await server.put(putReq('foo', 'a'), ctx)).header.revision).toBe(2);
    const p2 = await server.put(putReq('foo', 'b', { prevKv: true }), ctx);
    expect(p2.header.revision).toBe(3);
    expect(p2.response.prevKv?.value).toEqual(b('a'));
    expect((await server.put(putReq('bar', 'c'), ctx)).header.revision).toBe(4);
    const d = await server.deleteRange(delReq('foo'), ctx);
    expect(d.header.revision).toBe(5);
    expect(d.response.deleted).toBe(1);
    // A delete that matches nothing does not advance the revision.
    const none = await server.deleteRange(delReq('nothing'), ctx);
    expect(none.header.revision).toBe(5);
    expect(none.response.deleted).toBe(0);

    const old = await server.range(rangeReq('foo', { revision: 3 }), ctx);
    expect(old.response.kvs.map((kv) => [kv.value.toString(), kv.createRevision, kv.modRevision, kv.version])).toEqual([['b', 2, 3, 2]]);
    expect(old.header.revision).toBe(5);
    const all = await server.range(rangeReq('\0', { rangeEnd: b('\0') }), ctx);
    expect(all.response.kvs.map((kv) => kv.key.toString())).toEqual(['bar']);
    const ser = await server.range(rangeReq('bar', { serializable: true }), ctx);
    expect(ser.response.count).toBe(1);
  });

  it('runs txns with compares, and read-only txns without a revision', async () => {
    server = await openServer(tmp.dir);
    const t1 = await server.txn(txnReq([cmp('k', { target: 'CREATE', createRevision: 0 })], [{ type: 'put', put: putReq('k', 'v1') }], [{ type: 'range', range: rangeReq('k') }]), ctx);
    expect(t1.response.succeeded).toBe(true);
    expect(t1.header.revision).toBe(2);
    const t2 = await server.txn(txnReq([cmp('k', { target: 'CREATE', createRevision: 0 })], [{ type: 'put', put: putReq('k', 'v2') }], [{ type: 'range', range: rangeReq('k') }]), ctx);
    expect(t2.response.succeeded).toBe(false);
    expect(t2.header.revision).toBe(2);
    const r = t2.response.responses[0];
    expect(r?.type === 'range' && r.range.kvs[0]?.value.toString()).toBe('v1');
    const t3 = await server.txn(
      txnReq([cmp('k', { target: 'VALUE', value: b('v1') })], [{ type: 'put', put: putReq('k', 'v3') }, { type: 'put', put: putReq('j', 'x') }]),
      ctx,
    );
    expect(t3.response.succeeded).toBe(true);
    expect(t3.header.revision).toBe(3);
    const both = await server.range(rangeReq('j', { rangeEnd: b('l') }), ctx);
    expect(both.response.kvs.map((kv) => kv.modRevision)).toEqual([3, 3]);
  });

  it("returns etcd's validation errors", async () => {
    server = await openServer(tmp.dir, { maxTxnOps: 2 });
    expect((await errorOf(server.put(putReq('', 'x'), ctx))).message).toBe('etcdserver: key is not provided');
    expect((await errorOf(server.put(putReq('a', '', { ignoreValue: true }), ctx))).message).toBe('etcdserver: key not found');
    expect((await errorOf(server.put(putReq('a', 'x', { lease: 42n }), ctx))).message).toBe('etcdserver: requested lease not found');
    const three = [1, 2, 3].map((i) => ({ type: 'put' as const, put: putReq(`k${i}`, 'v') }));
    expect((await errorOf(server.txn(txnReq([], three), ctx))).message).toBe('etcdserver: too many operations in txn request');
    const dup = [1, 2].map(() => ({ type: 'put' as const, put: putReq('same', 'v') }));
    expect((await errorOf(server.txn(txnReq([], dup), ctx))).message).toBe('etcdserver: duplicate key given in txn request');
    expect((await errorOf(server.range(rangeReq('a', { revision: 99 }), ctx))).message).toBe('etcdserver: mvcc: required revision is a future revision');
    expect(server.currentHeader().revision).toBe(1);
  });

  it('compacts through the log', async () => {
    server = await openServer(tmp.dir);
    for (let i = 0; i < 5; i++) await server.put(putReq('k', `v${i}`), ctx);
    await server.compact({ revision: 4, physical: true }, ctx);
    expect((await errorOf(server.range(rangeReq('k', { revision: 3 }), ctx))).message).toBe('etcdserver: mvcc: required revision has been compacted');
    expect((await server.range(rangeReq('k', { revision: 4 }), ctx)).response.kvs[0]?.value).toEqual(b('v2'));
    expect((await errorOf(server.compact({ revision: 4, physical: false }, ctx))).message).toBe('etcdserver: mvcc: required revision has been compacted');
    expect((await errorOf(server.compact({ revision: 100, physical: false }, ctx))).message).toBe('etcdserver: mvcc: required revision is a future revision');
    const hkv = await server.hashKV(0, ctx);
    expect(hkv.compactRevision).toBe(4);
  });

  it('tidies the store up after a compaction without changing what it holds', async () => {
    server = await openServer(tmp.dir);
    const s = server;
    // Two rounds over the same keys: after compaction, the first round's slabs hold only keys.
    for (let round = 0; round < 2; round++) {
      await Promise.all(Array.from({ length: 1500 }, (_, i) => s.put(putReq(`key/${i}`, `${round}`.repeat(200)), ctx)));
    }
    const rev = s.currentHeader().revision;
    await s.compact({ revision: rev, physical: true }, ctx);
    const before = await s.hashKV(0, ctx);
    await s.slabsTidied();
    expect(await s.hashKV(0, ctx)).toEqual(before);
    const all = (await s.range(rangeReq('key/', { rangeEnd: b('key0') }), ctx)).response;
    expect(all.count).toBe(1500);
    expect(all.kvs.every((kv) => kv.value.equals(b('1'.repeat(200))) && kv.version === 2)).toBe(true);
  });
});

describe('leases', () => {
  it('grants, attaches keys, expires through the log with delete events in one revision', async () => {
    const clock = new ManualClock();
    server = await openServer(tmp.dir, {}, { now: clock.now });
    const events: WatchResponseOut[] = [];
    const ws = server.openWatchStream(ctx, (r) => events.push(r));
    ws.create({ key: b('l/'), rangeEnd: b('l0'), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false });

    const g = await server.leaseGrant(5, 0n, ctx);
    expect(g.id).toBeGreaterThan(0n);
    expect(g.ttl).toBe(5);
    await server.put(putReq('l/a', '1', { lease: g.id }), ctx);
    await server.put(putReq('l/b', '2', { lease: g.id }), ctx);
    const ttl = await server.leaseTimeToLive(g.id, true, ctx);
    expect(ttl.grantedTtl).toBe(5);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['l/a', 'l/b']);
    expect((await server.leaseLeases(ctx)).ids).toEqual([g.id]);
    expect((await errorOf(server.leaseGrant(5, g.id, ctx))).message).toBe('etcdserver: lease already exists');

    clock.advance(4000);
    expect((await server.leaseKeepAlive(g.id, ctx)).ttl).toBe(5);
    clock.advance(4000);
    server.checkLeaseExpiry();
    expect((await server.range(rangeReq('l/a'), ctx)).response.count).toBe(1);
    clock.advance(1500);
    server.checkLeaseExpiry();
    await until(async () => (await server!.range(rangeReq('l/', { rangeEnd: b('l0') }), ctx)).response.count === 0);
    // Grants do not create revisions: puts at 2 and 3, the revoke deletes both keys at 4.
    expect(server.currentHeader().revision).toBe(4);
    expect((await server.leaseTimeToLive(g.id, false, ctx)).ttl).toBe(-1);
    expect((await server.leaseKeepAlive(g.id, ctx)).ttl).toBe(0);
    expect((await errorOf(server.leaseRevoke(g.id, ctx))).message).toBe('etcdserver: requested lease not found');

    await until(() => events.some((e) => e.events.some((ev) => ev.type === 'DELETE')));
    const deletes = events.flatMap((e) => e.events).filter((ev) => ev.type === 'DELETE');
    expect(deletes.map((ev) => [ev.kv.key.toString(), ev.kv.modRevision])).toEqual([
      ['l/a', 4],
      ['l/b', 4],
    ]);
    ws.close();
  });

  it('revokes explicitly and rejects TTLs above the maximum', async () => {
    server = await openServer(tmp.dir);
    const g = await server.leaseGrant(60, 1234n, ctx);
    expect(g.id).toBe(1234n);
    await server.put(putReq('x', '1', { lease: 1234n }), ctx);
    await server.leaseRevoke(1234n, ctx);
    expect((await server.range(rangeReq('x'), ctx)).response.count).toBe(0);
    expect((await errorOf(server.leaseGrant(9_000_000_001, 0n, ctx))).message).toBe('etcdserver: too large lease TTL');
  });
});

describe('watch', () => {
  it('replays from a past revision, then delivers live events in order', async () => {
    server = await openServer(tmp.dir);
    for (let i = 0; i < 3; i++) await server.put(putReq(`w${i}`, `v${i}`), ctx);
    const got: WatchResponseOut[] = [];
    const ws = server.openWatchStream(ctx, (r) => got.push(r));
    ws.create({ key: b('w'), rangeEnd: b('x'), startRevision: 2, progressNotify: false, filters: [], prevKv: true, watchId: 0, fragment: false });
    ws.create({ key: b('w1'), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: ['NOPUT'], prevKv: false, watchId: 7, fragment: false });
    await server.put(putReq('w1', 'again'), ctx);
    await server.deleteRange(delReq('w1'), ctx);
    await until(() => got.filter((r) => r.watchId === 0).flatMap((r) => r.events).length === 5 && got.some((r) => r.watchId === 7 && r.events.length > 0));
    const created = got.filter((r) => r.created).map((r) => r.watchId);
    expect(created).toEqual([0, 7]);
    const w0 = got.filter((r) => r.watchId === 0).flatMap((r) => r.events);
    expect(w0.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision])).toEqual([
      ['PUT', 'w0', 2],
      ['PUT', 'w1', 3],
      ['PUT', 'w2', 4],
      ['PUT', 'w1', 5],
      ['DELETE', 'w1', 6],
    ]);
    expect(w0[3]?.prevKv?.value).toEqual(b('v1'));
    const w7 = got.filter((r) => r.watchId === 7).flatMap((r) => r.events);
    expect(w7.map((e) => e.type)).toEqual(['DELETE']);
    expect(got.every((r) => r.header.memberId === server!.memberId)).toBe(true);

    ws.cancel(7);
    await until(() => got.some((r) => r.watchId === 7 && r.canceled));
    ws.requestProgress();
    await until(() => got.some((r) => r.watchId === -1));
    expect(got.find((r) => r.watchId === -1)?.header.revision).toBe(6);
    ws.close();
  });

  it('cancels a watch that starts below the compaction revision', async () => {
    server = await openServer(tmp.dir);
    for (let i = 0; i < 4; i++) await server.put(putReq('c', `${i}`), ctx);
    await server.compact({ revision: 4, physical: false }, ctx);
    const got: WatchResponseOut[] = [];
    const ws = server.openWatchStream(ctx, (r) => got.push(r));
    ws.create({ key: b('c'), rangeEnd: Buffer.alloc(0), startRevision: 2, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false });
    await until(() => got.some((r) => r.canceled));
    expect(got.find((r) => r.canceled)?.compactRevision).toBe(4);
    ws.close();
  });

  it('holds responses while not writable and delivers them afterwards', async () => {
    server = await openServer(tmp.dir);
    const got: WatchResponseOut[] = [];
    const ws = server.openWatchStream(ctx, (r) => got.push(r));
    ws.create({ key: b('s'), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false });
    await until(() => got.length === 1);
    ws.setWritable(false);
    for (let i = 0; i < 20; i++) await server.put(putReq('s', `${i}`), ctx);
    await new Promise((r) => setTimeout(r, 20));
    expect(got.length).toBe(1);
    ws.setWritable(true);
    await until(() => got.flatMap((r) => r.events).length === 20);
    expect(got.flatMap((r) => r.events).map((e) => e.kv.value.toString())).toEqual([...Array(20).keys()].map(String));
    ws.close();
  });
});

describe('quota and alarms', () => {
  it('raises NOSPACE, refuses puts but serves reads and deletes, and recovers after disarm', async () => {
    server = await openServer(tmp.dir, { quotaBackendBytes: 8 * 1024 });
    let refused: EtcdError | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      try {
        await server.put(putReq(`big${i}`, 'x'.repeat(500)), ctx);
      } catch (err) {
        refused = err as EtcdError;
      }
    }
    expect(refused?.message).toBe('etcdserver: mvcc: database space exceeded');
    const { alarms } = await server.alarm('GET', 0n, 'NONE', ctx);
    expect(alarms).toEqual([{ memberId: server.memberId, alarm: 'NOSPACE' }]);
    expect(await server.healthProblem({ excludeAlarms: [], serializable: false })).toBe('ALARM NOSPACE');
    expect(await server.healthProblem({ excludeAlarms: ['NOSPACE'], serializable: false })).toBeUndefined();
    expect((await errorOf(server.put(putReq('small', 'x'), ctx))).message).toBe('etcdserver: mvcc: database space exceeded');
    expect((await errorOf(server.txn(txnReq([], [{ type: 'put', put: putReq('t', 'x') }]), ctx))).message).toBe('etcdserver: mvcc: database space exceeded');
    expect((await server.range(rangeReq('big0'), ctx)).response.count).toBe(1);
    const del = await server.deleteRange(delReq('big', { rangeEnd: b('bih') }), ctx);
    expect(del.response.deleted).toBeGreaterThan(0);
    expect((await server.status(ctx)).errors).toEqual([`memberID:${server.memberId} alarm:NOSPACE `]);

    await server.compact({ revision: server.currentHeader().revision, physical: true }, ctx);
    await server.defragment(ctx);
    const dis = await server.alarm('DEACTIVATE', server.memberId, 'NOSPACE', ctx);
    expect(dis.alarms).toEqual([{ memberId: server.memberId, alarm: 'NOSPACE' }]);
    expect((await server.alarm('GET', 0n, 'NONE', ctx)).alarms).toEqual([]);
    await server.put(putReq('after', 'ok'), ctx);
  });
});

describe('maintenance', () => {
  it('streams a snapshot ending in the SHA-256 of the preceding bytes', async () => {
    server = await openServer(tmp.dir);
    for (let i = 0; i < 50; i++) await server.put(putReq(`snap${i}`, 'y'.repeat(2000)), ctx);
    const s = await server.snapshot(ctx);
    const parts: Buffer[] = [];
    for await (const c of s.chunks) parts.push(c);
    const all = Buffer.concat(parts);
    expect(all.length).toBe(s.size);
    expect(parts.length).toBeGreaterThan(2);
    const body = all.subarray(0, all.length - 32);
    expect(createHash('sha256').update(body).digest()).toEqual(all.subarray(all.length - 32));
  });

  it('reports hash, status and metrics', async () => {
    server = await openServer(tmp.dir);
    const h1 = (await server.hash(ctx)).hash;
    await server.put(putReq('h', '1'), ctx);
    const h2 = (await server.hash(ctx)).hash;
    expect(h2).not.toBe(h1);
    const st = await server.status(ctx);
    expect(st.dbSize).toBeGreaterThan(0);
    expect(st.dbSizeInUse).toBeLessThanOrEqual(st.dbSize);
    const text = server.metricsText();
    expect(text).toMatch(/^# TYPE etcd_server_has_leader gauge$/m);
    expect(text).toMatch(/^etcd_server_has_leader 1$/m);
    expect(text).toMatch(/^etcd_debugging_mvcc_keys_total 1$/m);
    expect(text).toMatch(/^etcd_mvcc_put_total 1$/m);
    expect(text).toMatch(/^# HELP etcd_server_proposals_committed_total /m);
    expect(text).toMatch(/^etcd_mvcc_db_total_size_in_bytes \d+$/m);
    expect(await server.healthProblem({ excludeAlarms: [], serializable: false })).toBeUndefined();
  });

  it("answers MoveLeader and membership changes as a single member can", async () => {
    server = await openServer(tmp.dir);
    await server.moveLeader(server.memberId, ctx);
    expect((await errorOf(server.moveLeader(123n, ctx))).message).toBe('etcdserver: bad leader transferee');
    // Real etcd refuses to remove the only voter this way (checked against etcd 3.4.23).
    expect((await errorOf(server.memberRemove(server.memberId, ctx))).message).toBe('etcdserver: re-configuration failed due to not enough started members');
    expect((await errorOf(server.memberRemove(999n, ctx))).message).toBe('etcdserver: member not found');
    const added = await server.memberAdd(['http://127.0.0.1:12380'], true, ctx);
    expect(added.member.isLearner).toBe(true);
    expect(added.members).toHaveLength(2);
    expect((await errorOf(server.memberAdd(['http://127.0.0.1:12380', 'http://127.0.0.1:12381'], false, ctx))).message).toBe('etcdserver: Peer URLs already exists');
    expect((await errorOf(server.memberPromote(added.member.id, ctx))).message).toBe('etcdserver: can only promote a learner member which is in sync with leader');
    await server.memberRemove(added.member.id, ctx);
    expect((await server.memberList(true, ctx)).members).toHaveLength(1);
  });

  it('manages users and roles while auth is disabled', async () => {
    server = await openServer(tmp.dir);
    expect((await server.authStatus(ctx)).enabled).toBe(false);
    expect((await errorOf(server.authCall('Authenticate', { name: 'root', password: 'x' }, ctx))).message).toBe('etcdserver: authentication is not enabled');
    expect((await errorOf(server.authCall('AuthEnable', {}, ctx))).message).toBe('etcdserver: root user does not exist');
    await server.authCall('UserAdd', { name: 'root', password: 'pw', options: null }, ctx);
    expect((await errorOf(server.authCall('UserAdd', { name: 'root', password: 'pw' }, ctx))).message).toBe('etcdserver: user name already exists');
    expect((await errorOf(server.authCall('AuthEnable', {}, ctx))).message).toBe('etcdserver: root user does not have root role');
    await server.authCall('RoleAdd', { name: 'r1' }, ctx);
    await server.authCall('RoleGrantPermission', { name: 'r1', perm: { permType: 'READWRITE', key: b('f'), range_end: b('g') } }, ctx);
    expect((await server.authCall('RoleGet', { role: 'r1' }, ctx)).perm).toEqual([{ permType: 'READWRITE', key: b('f'), range_end: b('g') }]);
    await server.authCall('UserGrantRole', { user: 'root', role: 'root' }, ctx);
    expect((await server.authCall('UserGet', { name: 'root' }, ctx)).roles).toEqual(['root']);
    expect((await server.authCall('UserList', {}, ctx)).users).toEqual(['root']);
    await server.authCall('AuthEnable', {}, ctx);
    expect((await server.authStatus(ctx)).enabled).toBe(true);
    const tok = await server.authCall('Authenticate', { name: 'root', password: 'pw' }, ctx);
    expect(typeof tok.token).toBe('string');
    expect((await errorOf(server.authCall('Authenticate', { name: 'root', password: 'bad' }, ctx))).message).toBe(
      'etcdserver: authentication failed, invalid user ID or password',
    );
    await server.authCall('AuthDisable', {}, ctx);
    expect((await server.authStatus(ctx)).enabled).toBe(false);
  });
});

describe('timers', () => {
  it('sends progress notifications to quiet progress_notify watchers', async () => {
    server = await openServer(tmp.dir, { watchProgressNotifyIntervalMs: 100 });
    await server.put(putReq('p', '1'), ctx);
    const got: WatchResponseOut[] = [];
    const ws = server.openWatchStream(ctx, (r) => got.push(r));
    ws.create({ key: b('p'), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: true, filters: [], prevKv: false, watchId: 0, fragment: false });
    await until(() => got.some((r) => !r.created && r.events.length === 0 && !r.canceled));
    const progress = got.find((r) => !r.created && r.events.length === 0)!;
    expect(progress.watchId).toBe(0);
    expect(progress.header.revision).toBe(2);
    ws.close();
  });

  it('auto-compacts in revision mode to current minus retention', async () => {
    server = await openServer(tmp.dir, { autoCompactionMode: 'revision', autoCompactionRetention: '3', autoCompactionRetentionValue: 3 }, { compactionCheckMs: 30 });
    for (let i = 0; i < 10; i++) await server.put(putReq('ac', `${i}`), ctx);
    await until(async () => (await server!.hashKV(0, ctx)).compactRevision === 8);
    expect((await errorOf(server.range(rangeReq('ac', { revision: 7 }), ctx))).message).toBe('etcdserver: mvcc: required revision has been compacted');
  });

  it('auto-compacts in periodic mode to the revision sampled a retention period ago', async () => {
    server = await openServer(tmp.dir, { autoCompactionMode: 'periodic', autoCompactionRetention: '200ms', autoCompactionRetentionValue: 200 }, { compactionCheckMs: 20 });
    for (let i = 0; i < 5; i++) await server.put(putReq('pc', `${i}`), ctx);
    await until(async () => (await server!.hashKV(0, ctx)).compactRevision >= 6);
    await server.put(putReq('pc', 'later'), ctx);
    expect((await server.range(rangeReq('pc'), ctx)).response.kvs[0]?.value).toEqual(b('later'));
  });
});
