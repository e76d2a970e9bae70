// The npm etcd3 client against a 3-member faultline-etcd cluster: the calls
// Node users make, spread over all three members (writes and lease traffic
// that land on followers are forwarded to the leader).

import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OURS_BUILT } from '../../support/servers.js';
import { ProcessCluster } from './process-cluster.js';

const reason = OURS_BUILT ? undefined : 'faultline-etcd is not built (run npm run build)';
if (reason) console.log(`skipping the etcd3 npm client cluster test: ${reason}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(reason !== undefined)('npm etcd3 client against 3 faultline-etcd members', () => {
  let cluster: ProcessCluster;
  let client: Etcd3;
  /** One client per member, to make sure each of them serves every call. */
  let perMember: Etcd3[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    cluster.startAll();
    await cluster.waitHealthy();
    await cluster.leader();
    client = new Etcd3({ hosts: cluster.endpoints });
    perMember = cluster.members.map((m) => cluster.client(m));
  }, 30_000);
  afterAll(async () => {
    client?.close();
    for (const c of perMember) c.close();
    await cluster?.destroy();
  });

  it('puts through every member and reads the same data back from each', async () => {
    await Promise.all(perMember.map((c, i) => c.put(`app/${i}`).value(String(i))));
    for (const c of perMember) {
      expect(await c.getAll().prefix('app/').strings()).toEqual({ 'app/0': '0', 'app/1': '1', 'app/2': '2' });
    }
    await perMember[1]!.delete().prefix('app/');
    for (const c of perMember) expect(await c.getAll().prefix('app/').count()).toBe(0);
  });

  it('runs compare-and-swap transactions on any member', async () => {
    const [a, b, c] = perMember as [Etcd3, Etcd3, Etcd3];
    expect((await a.if('cas', 'Mod', '==', 0).then(a.put('cas').value('v1')).commit()).succeeded).toBe(true);
    expect((await b.if('cas', 'Mod', '==', 0).then(b.put('cas').value('v2')).commit()).succeeded).toBe(false);
    expect((await c.if('cas', 'Value', '==', 'v1').then(c.put('cas').value('v3')).commit()).succeeded).toBe(true);
    expect(await a.get('cas').string()).toBe('v3');
  });

  it('watches on one member see writes made through another', async () => {
    const seen: string[] = [];
    const watcher = await perMember[2]!.watch().prefix('w/').create();
    watcher.on('put', (kv) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
    watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}`));
    await perMember[0]!.put('w/key').value('new');
    await perMember[1]!.delete().key('w/key');
    for (let i = 0; i < 60 && seen.length < 2; i++) await sleep(50);
    await watcher.cancel();
    expect(seen).toEqual(['put w/key=new', 'delete w/key']);
  });

  it('keeps a lease alive through a follower and expires an abandoned one on the leader', async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const viaFollower = cluster.client(follower);
    try {
      const short = viaFollower.lease(2, { autoKeepAlive: false });
      await short.put('leased/short').value('x');
      const kept = viaFollower.lease(2);
      await kept.put('leased/kept').value('y');
      await sleep(4500);
      expect(await client.get('leased/short').string()).toBeNull();
      expect(await client.get('leased/kept').string()).toBe('y');
      await kept.revoke();
      expect(await client.get('leased/kept').string()).toBeNull();
    } finally {
      viaFollower.close();
    }
  }, 20_000);

  it('holds a lock exclusively across members', async () => {
    const first = perMember[0]!.lock('the-lock').ttl(5);
    await first.acquire();
    await expect(perMember[1]!.lock('the-lock').ttl(5).acquire()).rejects.toThrow(/Failed to acquire a lock/);
    await first.release();
    const second = perMember[2]!.lock('the-lock').ttl(5);
    await second.acquire();
    await second.release();
  }, 20_000);

  it('elects a leader and hands over on resign, campaigning through different members', async () => {
    const ea = perMember[0]!.election('the-election', 5);
    const eb = perMember[1]!.election('the-election', 5);
    const a = ea.campaign('a');
    await new Promise<void>((resolve, reject) => {
      a.on('elected', () => resolve());
      a.on('error', reject);
    });
    expect(await eb.leader()).toBe('a');
    const b = eb.campaign('b');
    const bElected = new Promise<void>((resolve, reject) => {
      b.on('elected', () => resolve());
      b.on('error', reject);
    });
    await a.resign();
    await bElected;
    expect(await perMember[2]!.election('the-election', 5).leader()).toBe('b');
    await b.resign();
  }, 20_000);

  it('reports the same leader, term and cluster from every member', async () => {
    const statuses = await Promise.all(perMember.map((c) => c.maintenance.status()));
    expect(new Set(statuses.map((s) => s.leader)).size).toBe(1);
    expect(new Set(statuses.map((s) => s.raftTerm)).size).toBe(1);
    expect(new Set(statuses.map((s) => s.header.cluster_id)).size).toBe(1);
    const members = await client.cluster.memberList({ linearizable: true });
    expect(members.members.map((m) => m.name).sort()).toEqual(['p1', 'p2', 'p3']);
  });
});
