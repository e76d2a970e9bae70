// The proxy-per-pair mechanism against the built-in Toxiproxy server, with
// echo servers standing in for the members' peer listeners.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Toxiproxy } from 'toxiproxy-node-client';
import { startToxiproxyServer, type ToxiproxyServer } from '../../../nemesis/toxiproxy/index.js';
import { planPeerProxies, peerProxyName, ToxiproxyMechanism, type PeerProxyPlan } from '../../../nemesis/net/toxiproxy-mechanism.js';
import { isolateNode, oneWay, completeGrudge } from '../../../nemesis/net/grudges.js';
import { connectClient, echoServer, sleep, type TestClient, type TestServer } from '../toxiproxy/sockets.js';

let server: ToxiproxyServer;
const echoes: TestServer[] = [];
let plan: PeerProxyPlan;
const clients: TestClient[] = [];
let mech: ToxiproxyMechanism | undefined;

beforeAll(async () => {
  server = await startToxiproxyServer({ port: 0 });
  for (let i = 0; i < 3; i++) echoes.push(await echoServer());
  const base = await freePortRange(6);
  plan = planPeerProxies(
    echoes.map((e, i) => ({ name: `n${i + 1}`, peerPort: e.port })),
    base,
  );
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await mech?.close();
  mech = undefined;
});

afterAll(async () => {
  await server?.close();
  for (const e of echoes) await e.close();
});

/** A run of `n` consecutive ports below the ephemeral range that are free right now. */
async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 10000);
    const servers: net.Server[] = [];
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      const s = net.createServer();
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(p, '127.0.0.1', () => resolve(true));
      });
      if (ok) servers.push(s);
    }
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    if (ok) return base;
  }
  throw new Error('no free port range');
}

function proxyPort(from: string, to: string): number {
  const p = plan.proxies.find((x) => x.from === from && x.to === to);
  if (!p) throw new Error(`no proxy ${from}->${to}`);
  return p.port;
}

async function via(from: string, to: string): Promise<TestClient> {
  const c = await connectClient(proxyPort(from, to));
  clients.push(c);
  return c;
}

/** Round trip through from->to; undefined when nothing came back within `ms`. */
async function echoes1(from: string, to: string, ms = 400): Promise<number | undefined> {
  const c = await via(from, to);
  const t0 = performance.now();
  c.socket.write('ping');
  try {
    return (await c.waitBytes(4, ms)) - t0;
  } catch {
    return undefined;
  }
}

describe('planPeerProxies', () => {
  it('plans one proxy per ordered pair on consecutive ports, and per-member peer URL maps', () => {
    const p = planPeerProxies(
      [
        { name: 'a', peerPort: 2380 },
        { name: 'b', peerPort: 2480 },
        { name: 'c', peerPort: 2580 },
      ],
      30000,
    );
    expect(p.proxies.map((x) => `${x.from}>${x.to}:${x.port}`)).toEqual([
      'a>b:30000',
      'a>c:30001',
      'b>a:30002',
      'b>c:30003',
      'c>a:30004',
      'c>b:30005',
    ]);
    expect(p.proxies.find((x) => x.name === peerProxyName('b', 'c'))?.upstream).toBe('127.0.0.1:2580');
    expect(p.peerUrls['a']).toEqual({ a: 'http://127.0.0.1:2380', b: 'http://127.0.0.1:30000', c: 'http://127.0.0.1:30001' });
    expect(p.initialCluster['c']).toBe('a=http://127.0.0.1:30004,b=http://127.0.0.1:30005,c=http://127.0.0.1:2580');
    expect(() => planPeerProxies([{ name: 'a', peerPort: 1 }, { name: 'a', peerPort: 2 }], 30000)).toThrow();
  });
});

describe('ToxiproxyMechanism', () => {
  it('refuses one-way grudges and unknown members, accepts symmetric ones', () => {
    mech = new ToxiproxyMechanism({ apiUrl: server.url, plan });
    const oneWayVerdict = mech.canExpress(oneWay(['n1'], ['n2']));
    expect(oneWayVerdict.ok).toBe(false);
    if (!oneWayVerdict.ok) expect(oneWayVerdict.reason).toMatch(/one-way.*n1 drops n2/);
    expect(mech.canExpress({ n9: ['n1'] }).ok).toBe(false);
    expect(mech.canExpress(isolateNode(['n1', 'n2', 'n3'], 'n2'))).toEqual({ ok: true });
    expect(mech.canExpress(completeGrudge([['n1', 'n2'], ['n3']]))).toEqual({ ok: true });
  });

  it('partition drops traffic on exactly the cut pairs, heal restores it, close removes the proxies', async () => {
    mech = new ToxiproxyMechanism({ apiUrl: server.url, plan });
    await mech.setup();
    expect(await echoes1('n1', 'n2', 2000)).toBeDefined();
    await expect(mech.partition(oneWay(['n1'], ['n2']))).rejects.toThrow(/one-way/);

    await mech.partition(isolateNode(['n1', 'n2', 'n3'], 'n1'));
    for (const [from, to] of [['n1', 'n2'], ['n2', 'n1'], ['n1', 'n3'], ['n3', 'n1']] as const) {
      expect(await echoes1(from, to), `${from}->${to}`).toBeUndefined();
    }
    expect(await echoes1('n2', 'n3', 2000)).toBeDefined();
    expect(await echoes1('n3', 'n2', 2000)).toBeDefined();

    // A new partition replaces the old one.
    await mech.partition(completeGrudge([['n1', 'n2'], ['n3']]));
    expect(await echoes1('n1', 'n2', 2000)).toBeDefined();
    expect(await echoes1('n2', 'n3')).toBeUndefined();

    await mech.heal();
    for (const p of plan.proxies) expect(await echoes1(p.from, p.to, 2000), p.name).toBeDefined();

    await mech.close();
    mech = undefined;
    expect(Object.keys(await new Toxiproxy(server.url).getAll())).toEqual([]);
  });

  it("cutWith 'refuse' disables the cut proxies and re-enables them on heal", async () => {
    mech = new ToxiproxyMechanism({ apiUrl: server.url, plan, cutWith: 'refuse' });
    await mech.setup();
    await mech.partition(isolateNode(['n1', 'n2', 'n3'], 'n3'));
    await expect(connectClient(proxyPort('n3', 'n1'))).rejects.toThrow(/ECONNREFUSED/);
    expect(await echoes1('n1', 'n2', 2000)).toBeDefined();
    await mech.heal();
    expect(await echoes1('n3', 'n1', 2000)).toBeDefined();
  });

  it('slow delays every message once per direction, fast undoes it, heal leaves it', async () => {
    mech = new ToxiproxyMechanism({ apiUrl: server.url, plan });
    await mech.setup();
    await mech.slow({ latencyMs: 150, jitterMs: 0 });
    const rtt = await echoes1('n2', 'n3', 3000);
    expect(rtt).toBeGreaterThanOrEqual(295);
    await mech.heal();
    expect(await echoes1('n3', 'n1', 3000)).toBeGreaterThanOrEqual(295);
    await mech.fast();
    await sleep(10);
    expect(await echoes1('n2', 'n3', 2000)).toBeLessThan(250);
  });
});
