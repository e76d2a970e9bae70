// Three real faultline-etcd processes on 127.0.0.1 under load from the npm
// etcd3 client: kill -9 of the leader, then of all three at once. Every write
// a client saw acknowledged must be readable afterwards from every member.

import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { OURS_BUILT } from '../../support/servers.js';
import { ProcessCluster } from './process-cluster.js';

const reason = OURS_BUILT ? undefined : 'faultline-etcd is not built (run npm run build)';
if (reason) console.log(`skipping the multi-process cluster tests: ${reason}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writers that each put unique keys through one member after another, recording what was acknowledged. */
function startWriters(clients: Etcd3[], writers: number): { acked: Set<string>; stop: () => Promise<void>; attempts: () => number } {
  const acked = new Set<string>();
  let stopped = false;
  let attempts = 0;
  const inFlight = new Set<Promise<void>>();
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; !stopped; i++) {
      const key = `load/${w}/${i}`;
      const client = clients[(w + i) % clients.length]!;
      attempts++;
      let failed = false;
      const put: Promise<void> = client
        .put(key)
        .value(`v${i}`)
        .then(
          () => void acked.add(key),
          // Unacknowledged: it may or may not have been applied; only acknowledged writes are checked.
          () => void (failed = true),
        )
        .finally(() => inFlight.delete(put));
      inFlight.add(put);
      // A write forwarded to a leader that just died waits out etcd's request timeout;
      // the writer moves on after a second and collects the answer at the end.
      await Promise.race([put, sleep(1000)]);
      if (failed) await sleep(20);
    }
  });
  return {
    acked,
    attempts: () => attempts,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      await Promise.all([...inFlight]);
    },
  };
}

/** Reads back through fresh clients (the load's clients may have tripped their circuit breakers). */
async function expectAllPresent(cluster: ProcessCluster, acked: Set<string>): Promise<void> {
  for (const m of cluster.members) {
    const client = cluster.client(m);
    try {
      const present = new Set(await client.getAll().prefix('load/').keys());
      expect([...acked].filter((k) => !present.has(k)), `acknowledged keys missing on ${m.name}`).toEqual([]);
    } finally {
      client.close();
    }
  }
}

describe.skipIf(reason !== undefined)('a 3-member cluster of faultline-etcd processes', () => {
  it('keeps serving through kill -9 of the leader and loses no acknowledged write', async () => {
    const cluster = await ProcessCluster.create(3);
    const clients: Etcd3[] = [];
    try {
      cluster.startAll();
      await cluster.waitHealthy();
      const leader = await cluster.leader();
      clients.push(...cluster.members.map((m) => cluster.client(m, true)));
      const load = startWriters(clients, 6);
      await sleep(1500);
      const beforeKill = load.acked.size;
      await cluster.kill9(leader);
      await sleep(3000);
      const duringOutage = load.acked.size - beforeKill;
      cluster.start(leader);
      await sleep(1500);
      await load.stop();
      await cluster.waitHealthy();
      const newLeader = await cluster.leader();
      expect(newLeader).toBeDefined();
      expect(beforeKill).toBeGreaterThan(20);
      // The two survivors kept committing while the old leader was dead.
      expect(duringOutage).toBeGreaterThan(20);
      await expectAllPresent(cluster, load.acked);
    } finally {
      for (const c of clients) c.close();
      await cluster.destroy();
    }
  }, 40_000);

  it('survives kill -9 of all three members mid-load and a full restart', async () => {
    const cluster = await ProcessCluster.create(3);
    const clients: Etcd3[] = [];
    try {
      cluster.startAll();
      await cluster.waitHealthy();
      clients.push(...cluster.members.map((m) => cluster.client(m, true)));
      const load = startWriters(clients, 6);
      await sleep(2000);
      await cluster.killAll();
      await load.stop();
      const acked = new Set(load.acked);
      expect(acked.size).toBeGreaterThan(20);
      cluster.startAll();
      await cluster.waitHealthy();
      await cluster.leader();
      await expectAllPresent(cluster, acked);
      // And the cluster takes writes again.
      const fresh = cluster.members.map((m) => cluster.client(m));
      clients.push(...fresh);
      await fresh[0]!.put('after-restart').value('ok');
      expect(await fresh[2]!.get('after-restart').string()).toBe('ok');
    } finally {
      for (const c of clients) c.close();
      await cluster.destroy();
    }
  }, 40_000);
});
