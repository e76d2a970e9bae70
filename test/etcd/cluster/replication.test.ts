import { afterEach, describe, expect, it } from 'vitest';
import { b, ctx, errorOf, putReq, rangeReq } from '../server/helpers.js';
import { eventually, sleep, TestCluster } from './helpers.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.destroy();
  cluster = undefined;
});

async function read(c: TestCluster, name: string, key: string, serializable = false): Promise<string | undefined> {
  const m = c.members.find((x) => x.name === name)!;
  const r = await m.server!.range(rangeReq(key, { serializable }), ctx);
  return r.response.kvs[0]?.value.toString();
}

describe('a 3-member cluster in one process', () => {
  it('elects one leader, agrees on IDs, and lists every member with its URLs', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const servers = cluster.members.map((m) => m.server!);
    expect(new Set(servers.map((s) => s.clusterId)).size).toBe(1);
    expect(new Set(servers.map((s) => s.memberId)).size).toBe(3);
    for (const s of servers) {
      const st = await s.status(ctx);
      expect(st.leader).toBe(leader.server!.memberId);
      expect(st.header.clusterId).toBe(servers[0]!.clusterId);
    }
    // Names and client URLs arrive once each member has published its attributes through the log.
    await eventually(async () => {
      const list = (await servers[1]!.memberList(true, ctx)).members;
      expect(list.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
      for (const m of list) {
        expect(m.peerURLs).toHaveLength(1);
        expect(m.clientURLs).toHaveLength(1);
      }
    });
  });

  it('lists a member that never started with an empty name and no client URLs, as etcd does', async () => {
    cluster = new TestCluster({ size: 3 });
    const [m1, m2, m3] = cluster.members;
    await Promise.all([cluster.open(m1!), cluster.open(m2!)]);
    await cluster.leader();
    await eventually(async () => {
      const list = (await m1!.server!.memberList(true, ctx)).members;
      expect(list).toHaveLength(3);
      const absent = list.find((m) => m.peerURLs[0] === m3!.peerUrl)!;
      expect(absent).toMatchObject({ name: '', clientURLs: [] });
      expect(list.filter((m) => m.name !== '').map((m) => m.name).sort()).toEqual(['m1', 'm2']);
    });
  });

  it('replicates writes made on the leader and on followers; linearizable follower reads see them', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [f1, f2] = cluster.followers(leader);
    await leader.server!.put(putReq('from-leader', 'L'), ctx);
    const r = await f1!.server!.put(putReq('from-follower', 'F'), ctx);
    expect(r.header.revision).toBe(3);
    expect(await read(cluster, f2!.name, 'from-leader')).toBe('L');
    expect(await read(cluster, f2!.name, 'from-follower')).toBe('F');
    expect(await read(cluster, leader.name, 'from-follower')).toBe('F');
    // Concurrent writers through every member, each read back linearizably from another member.
    const writes = cluster.members.flatMap((m, i) => Array.from({ length: 20 }, (_, k) => m.server!.put(putReq(`c/${i}/${k}`, `${i}-${k}`), ctx)));
    await Promise.all(writes);
    for (const m of cluster.members) {
      const all = await m.server!.range(rangeReq('c/', { rangeEnd: b('c0') }), ctx);
      expect(all.response.kvs).toHaveLength(60);
    }
    const hashes = await Promise.all(cluster.members.map(async (m) => (await m.server!.hashKV(0, ctx)).hash));
    expect(new Set(hashes).size).toBe(1);
  });

  it('elects a new leader when the leader crashes, keeps every acknowledged write, and the old leader catches up', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    for (let i = 0; i < 10; i++) await leader.server!.put(putReq(`k${i}`, `v${i}`), ctx);
    const oldTerm = (await leader.server!.status(ctx)).raftTerm;
    await cluster.crash(leader);
    const next = await cluster.leader();
    expect(next).not.toBe(leader);
    expect((await next.server!.status(ctx)).raftTerm).toBeGreaterThan(oldTerm);
    for (let i = 10; i < 20; i++) await next.server!.put(putReq(`k${i}`, `v${i}`), ctx);
    await cluster.open(leader);
    await eventually(async () => {
      for (let i = 0; i < 20; i++) expect(await read(cluster!, leader.name, `k${i}`, true)).toBe(`v${i}`);
    });
    expect(await read(cluster, leader.name, 'k19')).toBe('v19');
  });

  it('fails fast with "no leader" on a member cut off from the others, and the majority keeps serving', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [f1, f2] = cluster.followers(leader);
    await leader.server!.put(putReq('before', '1'), ctx);
    await eventually(async () => expect(await read(cluster!, f1!.name, 'before', true)).toBe('1'));
    cluster.net.isolate(cluster.nodeId(f1!));
    // The isolated follower loses its leader after an election timeout and then refuses.
    await eventually(async () => expect((await f1!.server!.status(ctx)).leader).toBe(0n));
    const err = await errorOf(f1!.server!.put(putReq('lost', 'x'), ctx));
    expect(err.message).toBe('etcdserver: no leader');
    expect((await errorOf(f1!.server!.range(rangeReq('before'), ctx))).message).toBe('etcdserver: no leader');
    // A serializable read is served locally, stale or not.
    expect(await read(cluster, f1!.name, 'before', true)).toBe('1');
    await leader.server!.put(putReq('during', '2'), ctx);
    expect(await read(cluster, f2!.name, 'during')).toBe('2');
    cluster.net.heal();
    await eventually(async () => expect(await read(cluster!, f1!.name, 'during')).toBe('2'));
  });

  it('moves leadership to a chosen voter and refuses from a follower', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [f1] = cluster.followers(leader);
    expect((await errorOf(f1!.server!.moveLeader(leader.server!.memberId, ctx))).message).toBe('etcdserver: not leader');
    await leader.server!.moveLeader(f1!.server!.memberId, ctx);
    expect((await cluster.leader()).name).toBe(f1!.name);
    await f1!.server!.put(putReq('after-move', 'x'), ctx);
    expect(await read(cluster, leader.name, 'after-move')).toBe('x');
  });

  it('serves leases through followers: keep-alive and time-to-live are forwarded to the leader, expiry only there', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [f1, f2] = cluster.followers(leader);
    const g = await f1!.server!.leaseGrant(5, 0n, ctx);
    await f1!.server!.put(putReq('leased', 'v', { lease: g.id }), ctx);
    const ka = await f2!.server!.leaseKeepAlive(g.id, ctx);
    expect(ka.ttl).toBe(5);
    const ttl = await f1!.server!.leaseTimeToLive(g.id, true, ctx);
    expect(ttl.grantedTtl).toBe(5);
    expect(ttl.keys).toEqual([b('leased')]);
    expect((await f2!.server!.leaseTimeToLive(12345n, false, ctx)).ttl).toBe(-1);
    await f2!.server!.leaseRevoke(g.id, ctx);
    await eventually(async () => expect(await read(cluster!, f1!.name, 'leased')).toBeUndefined());
  });

  it('cancels hasleader watches with "no leader" once the cluster has had no leader for a while', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [f1] = cluster.followers(leader);
    const got: Array<{ canceled: boolean; cancelReason: string; created: boolean }> = [];
    const stream = f1!.server!.openWatchStream({ requireLeader: true }, (r) => got.push(r));
    stream.create({ key: b('w'), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false });
    await eventually(() => expect(got.some((r) => r.created)).toBe(true));
    cluster.net.isolate(cluster.nodeId(f1!));
    await eventually(() => expect(got.some((r) => r.canceled && r.cancelReason === 'etcdserver: no leader')).toBe(true), 5000);
    // Plain watches (no hasleader) are left alone.
    const plain: unknown[] = [];
    const s2 = f1!.server!.openWatchStream({}, (r) => plain.push(r));
    s2.create({ key: b('w'), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false });
    await sleep(50);
    expect(plain).toHaveLength(1);
    stream.close();
    s2.close();
  });
});

describe('a 5-member cluster in one process', () => {
  it('keeps committing with two members down, and stops (no leader) with three down', async () => {
    cluster = new TestCluster({ size: 5 });
    await cluster.start();
    let leader = await cluster.leader();
    await leader.server!.put(putReq('five', '1'), ctx);
    const [a, b2, c] = cluster.followers(leader);
    await cluster.crash(a!);
    await cluster.crash(leader);
    leader = await cluster.leader();
    await leader.server!.put(putReq('three-left', '2'), ctx);
    expect(await read(cluster, c!.name, 'three-left')).toBe('2');
    await cluster.crash(b2!);
    const survivor = cluster.running()[0]!;
    await eventually(async () => expect((await survivor.server!.status(ctx)).leader).toBe(0n));
    expect((await errorOf(survivor.server!.put(putReq('nope', 'x'), ctx))).message).toBe('etcdserver: no leader');
    // Bringing one back restores a quorum of three, and everything acknowledged is there.
    await cluster.open(a!);
    const back = await cluster.leader();
    expect(await read(cluster, back.name, 'three-left')).toBe('2');
    expect(await read(cluster, a!.name, 'five')).toBe('1');
  });
});
