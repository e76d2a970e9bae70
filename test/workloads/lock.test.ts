import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLock } from '../../checkers/lock.js';
import { EtcdClient } from '../../harness/client/etcd-client.js';
import { createRng } from '../../harness/random.js';
import { LockWorkload } from '../../workloads/lock.js';
import type { LockIncr } from '../../workloads/lock-types.js';
import { startServer, which, type RunningServer } from '../support/servers.js';
import { drive } from './watch-driver.js';

describe.skipIf(which('etcd') === undefined)('lock workloads against real etcd', () => {
  let server: RunningServer;
  let clients: EtcdClient[] = [];
  beforeAll(async () => {
    server = await startServer({ kind: 'etcd' });
    clients = Array.from({ length: 3 }, () => new EtcdClient(`127.0.0.1:${server.clientPort}`, { timeoutMs: 3000 }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    server?.cleanup();
  });

  for (const mode of ['etcd', 'memory'] as const) {
    it(`mode ${mode}: holders take turns, tokens increase, nothing is lost`, async () => {
      const w = new LockWorkload({ rng: createRng(3), mode, holdMs: [0, 40], prefix: `/lock-${mode}/`, counterKey: `/counter-${mode}` });
      const history = await drive(w, clients, 1500);
      const r = checkLock(history, { mode });
      expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
      expect(r.valid).toBe(true);
      expect(r.coverage.acquisitions).toBeGreaterThan(5);
      expect(r.coverage.finalValue).toBe(r.coverage.acquisitions);
      // Every acquisition carries its fencing token: the lock key's create revision.
      const ok = history.filter((o) => o.f === 'incr' && o.type === 'ok').map((o) => o.value as LockIncr);
      expect(ok.every((v) => typeof v.token === 'number' && v.token > 1)).toBe(true);
      // The lock keys are gone once released.
      const left = await clients[0]!.rangeWith(`/lock-${mode}/`, { rangeEnd: Buffer.from(`/lock-${mode}0`) });
      expect(left.kvs).toEqual([]);
    });
  }

  it('fences out a holder whose lock key is gone', async () => {
    const c = clients[0]!;
    const lease = await c.leaseGrant(5);
    const key = '/lock-fence/x';
    const t = await c.txn([{ result: 'EQUAL', target: 'CREATE', key: Buffer.from(key), create_revision: 0 }], [{ request_put: { key: Buffer.from(key), value: Buffer.alloc(0), lease: lease.id } }]);
    expect(t.succeeded).toBe(true);
    await c.leaseRevoke(lease.id);
    const w = await c.txn(
      [{ result: 'EQUAL', target: 'CREATE', key: Buffer.from(key), create_revision: t.header.revision }],
      [{ request_put: { key: Buffer.from('/lock-fence/counter'), value: Buffer.from('1') } }],
    );
    expect(w.succeeded).toBe(false);
  });
});
