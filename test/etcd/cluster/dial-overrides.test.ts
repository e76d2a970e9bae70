// --peer-dial-overrides: a member dials the named peers through other URLs
// (per-pair proxies, as the harness's Toxiproxy partitions use) while member
// IDs still come from the canonical --initial-cluster.

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../../etcd/config/flags.js';
import { computeMemberId } from '../../../etcd/server/ids.js';
import { dialOverridesById } from '../../../etcd/server/peer-adapter.js';
import { freePort, OURS_BUILT } from '../../support/servers.js';
import { ProcessCluster } from './process-cluster.js';

const base = ['--name', 'a', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380', '--initial-cluster', 'a=http://127.0.0.1:2380,b=http://127.0.0.1:2381,c=http://127.0.0.1:2382'];

describe('--peer-dial-overrides', () => {
  it('parses name=url pairs and maps them to the canonical member IDs', () => {
    const r = parseFlags([...base, '--peer-dial-overrides', 'b=http://127.0.0.1:9001, c=http://127.0.0.1:9002']);
    if (r.kind !== 'config') throw new Error(JSON.stringify(r));
    expect([...r.config.peerDialOverrides]).toEqual([
      ['b', 'http://127.0.0.1:9001'],
      ['c', 'http://127.0.0.1:9002'],
    ]);
    const byId = dialOverridesById(r.config);
    expect(byId.get(computeMemberId(['http://127.0.0.1:2381'], 'etcd-cluster'))).toBe('http://127.0.0.1:9001');
    expect(byId.get(computeMemberId(['http://127.0.0.1:2382'], 'etcd-cluster'))).toBe('http://127.0.0.1:9002');
    expect(byId.size).toBe(2);
  });

  it('rejects malformed entries and documents itself as a faultline extension', () => {
    const bad = parseFlags([...base, '--peer-dial-overrides', 'b']);
    expect(bad.kind).toBe('error');
    const badUrl = parseFlags([...base, '--peer-dial-overrides', 'b=ftp://x:1']);
    expect(badUrl.kind).toBe('error');
    const help = parseFlags(['--help']);
    expect(help.kind === 'help' && help.text).toMatch(/--peer-dial-overrides[\s\S]*faultline extension/);
  });
});

/** A TCP relay that can be cut (existing connections dropped, new ones refused). */
async function relay(target: number): Promise<{ port: number; cut: () => void; heal: () => void; close: () => Promise<void> }> {
  let open = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port,
    cut: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    heal: () => {
      open = true;
    },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

describe.skipIf(!OURS_BUILT)('members dialling each other through relays', () => {
  it('agree on IDs, elect a leader through the relays, and a cut isolates a member', async () => {
    const cluster = await ProcessCluster.create(3);
    const relays: Awaited<ReturnType<typeof relay>>[] = [];
    try {
      // One relay per ordered pair, as the harness's per-pair proxies.
      const flags = new Map<string, string[]>();
      const pairs = new Map<string, Awaited<ReturnType<typeof relay>>>();
      for (const from of cluster.members) {
        const entries: string[] = [];
        for (const to of cluster.members) {
          if (to === from) continue;
          const r = await relay(to.peerPort);
          relays.push(r);
          pairs.set(`${from.name}>${to.name}`, r);
          entries.push(`${to.name}=http://127.0.0.1:${r.port}`);
        }
        flags.set(from.name, ['--peer-dial-overrides', entries.join(',')]);
      }
      for (const m of cluster.members) cluster.start(m, flags.get(m.name));
      await cluster.waitHealthy();
      const leader = await cluster.leader();
      const clients = cluster.members.map((m) => cluster.client(m));
      try {
        const ids = await Promise.all(clients.map(async (c) => (await c.maintenance.status()).header.cluster_id));
        expect(new Set(ids).size).toBe(1);
        // Cut every relay to and from the leader: the other two elect a new one and keep serving.
        for (const [k, r] of pairs) if (k.startsWith(`${leader.name}>`) || k.endsWith(`>${leader.name}`)) r.cut();
        const rest = cluster.members.filter((m) => m !== leader);
        const restClient = cluster.client(rest[0]!);
        try {
          let elected = false;
          for (let i = 0; i < 100 && !elected; i++) {
            const s = await restClient.maintenance.status().catch(() => undefined);
            elected = s !== undefined && s.leader !== '0' && s.leader !== (await clients[cluster.members.indexOf(leader)]!.maintenance.status()).header.member_id;
            if (!elected) await new Promise((r) => setTimeout(r, 100));
          }
          expect(elected).toBe(true);
          await restClient.put('through-relays').value('ok');
          const other = cluster.client(rest[1]!);
          try {
            expect(await other.get('through-relays').string()).toBe('ok');
          } finally {
            other.close();
          }
        } finally {
          restClient.close();
        }
      } finally {
        for (const c of clients) c.close();
      }
    } finally {
      await cluster.destroy();
      for (const r of relays) await r.close();
    }
  }, 40_000);
});
