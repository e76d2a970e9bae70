import { afterEach, describe, expect, it } from 'vitest';
import { b, ctx, errorOf, putReq, rangeReq } from '../server/helpers.js';
import { eventually, sleep, TestCluster, type ClusterMember } from './helpers.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.destroy();
  cluster = undefined;
});

async function count(m: ClusterMember, prefix: string, serializable = false): Promise<number> {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  const r = await m.server!.range(rangeReq(prefix, { rangeEnd: end, countOnly: true, serializable }), ctx);
  return r.response.count;
}

describe('membership changes through the log', () => {
  it('adds a learner that catches up from the log, promotes it once in sync, and it then votes', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    for (let i = 0; i < 30; i++) await leader.server!.put(putReq(`pre/${i}`, 'x'), ctx);
    const m4 = cluster.addMember('m4', 'http://127.0.0.1:23900');
    const added = await leader.server!.memberAdd([m4.peerUrl], true, ctx);
    expect(added.member.isLearner).toBe(true);
    expect(added.members).toHaveLength(4);
    // A second learner at a time is refused, as etcd does.
    expect((await errorOf(leader.server!.memberAdd(['http://127.0.0.1:23901'], true, ctx))).message).toBe('etcdserver: too many learner members in cluster');
    await cluster.open(m4, { initialClusterState: 'existing' }, { join: { memberId: added.member.id, clusterId: leader.server!.clusterId, members: added.members } });
    expect(m4.server!.memberId).toBe(added.member.id);
    await eventually(async () => expect(await count(m4, 'pre/', true)).toBe(30));
    expect((await m4.server!.status(ctx)).isLearner).toBe(true);
    // A learner's clients get Status and serializable reads only.
    expect((await errorOf(m4.server!.put(putReq('k', 'v'), ctx))).message).toBe('etcdserver: rpc not supported for learner');
    expect((await errorOf(m4.server!.range(rangeReq('pre/0'), ctx))).message).toBe('etcdserver: rpc not supported for learner');
    // Promotion through a follower is forwarded to the leader, which checks the learner is in sync.
    const follower = cluster.followers(leader).find((m) => m !== m4)!;
    await eventually(async () => {
      const r = await follower.server!.memberPromote(added.member.id, ctx);
      expect(r.members.find((m) => m.id === added.member.id)!.isLearner).toBe(false);
    });
    expect((await errorOf(leader.server!.memberPromote(added.member.id, ctx))).message).toBe('etcdserver: can only promote a learner member');
    await eventually(async () => {
      const list = (await m4.server!.memberList(true, ctx)).members;
      expect(list.find((m) => m.id === added.member.id)).toMatchObject({ name: 'm4', isLearner: false });
    });
    // Four voters: two of them down leaves no quorum; one down still commits.
    await cluster.crash(follower);
    await leader.server!.put(putReq('with-m4', 'y'), ctx);
    expect((await m4.server!.range(rangeReq('with-m4'), ctx)).response.kvs[0]!.value).toEqual(b('y'));
  });

  it('removes a member, which then stops itself, and the rest keep serving', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [victim, other] = cluster.followers(leader);
    await leader.server!.put(putReq('a', '1'), ctx);
    const r = await other!.server!.memberRemove(victim!.server!.memberId, ctx);
    expect(r.members.map((m) => m.id)).not.toContain(victim!.server!.memberId);
    await eventually(() => expect(victim!.stoppedReason).toBe('the member has been permanently removed from the cluster'));
    victim!.server = undefined;
    await leader.server!.put(putReq('b', '2'), ctx);
    expect((await other!.server!.range(rangeReq('b'), ctx)).response.kvs).toHaveLength(1);
    expect((await errorOf(leader.server!.memberRemove(123n, ctx))).message).toBe('etcdserver: member not found');
  });

  it('removes the leader itself: it steps down and stops, the others elect a new one', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const id = leader.server!.memberId;
    await leader.server!.memberRemove(id, ctx);
    await eventually(() => expect(leader.stoppedReason).toContain('permanently removed'));
    leader.server = undefined;
    const next = await cluster.leader();
    expect(next.server!.memberId).not.toBe(id);
    await next.server!.put(putReq('after', 'x'), ctx);
    expect((await next.server!.memberList(true, ctx)).members).toHaveLength(2);
  });

  it('refuses member changes that would put the quorum at risk', async () => {
    cluster = new TestCluster({ size: 3 });
    await cluster.start();
    const leader = await cluster.leader();
    const [down, up] = cluster.followers(leader);
    await eventually(async () => expect((await leader.server!.memberList(true, ctx)).members.every((m) => m.name !== '')).toBe(true));
    const downId = down!.server!.memberId;
    await cluster.crash(down!);
    // Past the connectivity window (three election timeouts) the leader counts it as down.
    await sleep(1000);
    // A new voter while a voter is unreachable, or removing a live voter with one already down.
    expect((await errorOf(leader.server!.memberAdd(['http://127.0.0.1:23950'], false, ctx))).message).toBe('etcdserver: unhealthy cluster');
    expect((await errorOf(up!.server!.memberRemove(up!.server!.memberId, ctx))).message).toBe('etcdserver: unhealthy cluster');
    // A learner does not count toward the quorum, so adding one is allowed.
    const learner = await up!.server!.memberAdd(['http://127.0.0.1:23951'], true, ctx);
    expect(learner.member.isLearner).toBe(true);
    await leader.server!.memberRemove(learner.member.id, ctx);
    // The member that is down is not part of the active quorum: removing it is fine.
    const left = await up!.server!.memberRemove(downId, ctx);
    expect(left.members).toHaveLength(2);
    await leader.server!.put(putReq('two-left', 'x'), ctx);
  });
});

describe('catching up', () => {
  it('sends a snapshot to a follower that fell behind the compacted log, and it restores from it', async () => {
    cluster = new TestCluster({ size: 3, config: { snapshotCount: 20 }, server: { catchUpEntries: 5 } });
    await cluster.start();
    const leader = await cluster.leader();
    const [lagger] = cluster.followers(leader);
    await leader.server!.put(putReq('early', 'e'), ctx);
    await cluster.crash(lagger!);
    for (let i = 0; i < 80; i++) await leader.server!.put(putReq(`late/${i}`, String(i)), ctx);
    const g = await leader.server!.leaseGrant(60, 0n, ctx);
    await leader.server!.put(putReq('late/leased', 'l', { lease: g.id }), ctx);
    await leader.server!.snapshotsSettled();
    expect(leader.server!.debugState().snapshotIndex).toBeGreaterThan(40);
    await cluster.open(lagger!, {}, {});
    await eventually(async () => expect(await count(lagger!, 'late/', true)).toBe(81));
    expect(lagger!.server!.debugState().snapshotsInstalled).toBe(1);
    expect(lagger!.server!.debugState().snapshotIndex).toBeGreaterThan(40);
    expect((await lagger!.server!.leaseTimeToLive(g.id, true, ctx)).keys).toEqual([b('late/leased')]);
    const hashes = await Promise.all(cluster.members.map(async (m) => {
      await m.server!.range(rangeReq('early'), ctx);
      return (await m.server!.hashKV(0, ctx)).hash;
    }));
    expect(new Set(hashes).size).toBe(1);
    // After a restart it comes back from its own copy of that snapshot.
    await cluster.crash(lagger!);
    await cluster.open(lagger!);
    expect(await count(lagger!, 'late/', true)).toBe(81);
  });
});
