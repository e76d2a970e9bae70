import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkKubernetes } from '../../checkers/kubernetes.js';
import { EtcdClient } from '../../harness/client/etcd-client.js';
import { createRng } from '../../harness/random.js';
import { decodeObject, encodeObject, KubernetesWorkload } from '../../workloads/kubernetes.js';
import type { KubeListWatch } from '../../workloads/kubernetes-types.js';
import { startServer, which, type RunningServer } from '../support/servers.js';
import { drive } from './watch-driver.js';

describe('kubernetes workload (offline)', () => {
  it('round-trips objects and marks foreign bytes', () => {
    expect(decodeObject(Buffer.from(encodeObject(7, 42)))).toEqual({ uid: 7, basedOn: 42 });
    expect(decodeObject(Buffer.from('junk'))).toEqual({ uid: -1, basedOn: -1 });
  });
});

describe.skipIf(which('etcd') === undefined)('kubernetes workload against real etcd', () => {
  let server: RunningServer;
  let clients: EtcdClient[] = [];
  beforeAll(async () => {
    server = await startServer({ kind: 'etcd' });
    clients = Array.from({ length: 4 }, () => new EtcdClient(`127.0.0.1:${server.clientPort}`, { timeoutMs: 3000 }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    server?.cleanup();
  });

  it('lists page by page at the first page\'s revision', async () => {
    const w = new KubernetesWorkload({ rng: createRng(1), prefix: '/registry/pages/', pageLimit: 2 });
    for (let i = 0; i < 5; i++) await clients[0]!.put(`/registry/pages/p${i}`, encodeObject(i, 0));
    const before = await w.list(clients[0]!);
    expect(before.pages).toBe(3);
    expect(before.items.map((i) => i.key)).toEqual([0, 1, 2, 3, 4].map((i) => `/registry/pages/p${i}`));
    await clients[0]!.put('/registry/pages/p9', encodeObject(9, 0));
    const atRev = await w.list(clients[0]!, before.revision);
    expect(atRev.items).toEqual(before.items);
  });

  it('records histories the checker accepts', async () => {
    const w = new KubernetesWorkload({ rng: createRng(5), objects: 4, maxWatchMs: 300 });
    const history = await drive(w, clients, 2000);
    const r = checkKubernetes(history);
    expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.coverage.chainLinks).toBeGreaterThan(10);
    expect(r.coverage.listWatches).toBeGreaterThan(0);
    const final = history.filter((o) => o.f === 'list-watch' && o.type === 'ok' && (o.value as KubeListWatch).final);
    expect(final.length).toBeGreaterThan(0);
  });
});
