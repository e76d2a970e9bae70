// Each toxic's effect measured on real loopback sockets through the built-in
// server. Timings are generous: the machine is shared and noisy.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Toxiproxy, type Proxy } from 'toxiproxy-node-client';
import { startToxiproxyServer, type ToxiproxyServer } from '../../../nemesis/toxiproxy/index.js';
import { connectClient, echoServer, sleep, sourceServer, tcpServer, type TestClient, type TestServer } from './sockets.js';

let server: ToxiproxyServer;
let api: Toxiproxy;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await startToxiproxyServer({ port: 0 });
  api = new Toxiproxy(server.url);
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const p of Object.values(await api.getAll())) await p.remove();
});

afterAll(async () => {
  await server?.close();
});

async function upstream(make: () => Promise<TestServer>): Promise<TestServer> {
  const s = await make();
  cleanups.push(() => s.close());
  return s;
}

async function proxyTo(up: TestServer, name = 'p'): Promise<Proxy> {
  return api.createProxy({ name, listen: '127.0.0.1:0', upstream: up.addr });
}

async function connect(p: Proxy): Promise<TestClient> {
  const c = await connectClient(Number(p.listen.split(':')[1]));
  cleanups.push(() => void c.socket.destroy());
  return c;
}

async function roundTrip(c: TestClient, payload: string): Promise<number> {
  const before = c.rx.total().length;
  const t0 = performance.now();
  c.socket.write(payload);
  const t1 = await c.waitBytes(before + payload.length, 10_000);
  return t1 - t0;
}

const toxic = (p: Proxy, body: Record<string, unknown>): Promise<unknown> => p.addToxic(body as never);

describe('toxic effects on live connections', () => {
  it('latency delays each round trip by at least the configured delay, and removal restores speed', async () => {
    const p = await proxyTo(await upstream(echoServer));
    const c = await connect(p);
    expect(await roundTrip(c, 'warm')).toBeLessThan(250);
    await toxic(p, { type: 'latency', name: 'lat', attributes: { latency: 300, jitter: 0 } });
    const slow = await roundTrip(c, 'hello');
    expect(slow).toBeGreaterThanOrEqual(295);
    const t = await p.getToxic('lat');
    await t.remove();
    expect(await roundTrip(c, 'again')).toBeLessThan(250);
  });

  it('latency on both streams adds up over a round trip', async () => {
    const p = await proxyTo(await upstream(echoServer));
    await toxic(p, { type: 'latency', stream: 'upstream', attributes: { latency: 200 } });
    await toxic(p, { type: 'latency', stream: 'downstream', attributes: { latency: 200 } });
    const c = await connect(p);
    expect(await roundTrip(c, 'x')).toBeGreaterThanOrEqual(395);
  });

  it('toxicity 0 never applies the toxic', async () => {
    const p = await proxyTo(await upstream(echoServer));
    await toxic(p, { type: 'latency', toxicity: 0, attributes: { latency: 1500 } });
    for (let i = 0; i < 3; i++) {
      const c = await connect(p);
      expect(await roundTrip(c, 'quick')).toBeLessThan(700);
    }
  });

  it('bandwidth limits throughput roughly to the rate', async () => {
    const payload = Buffer.alloc(40_000, 7);
    const p = await proxyTo(await upstream(() => sourceServer(payload)));
    const fast = await connect(p);
    const fastDone = await fast.waitBytes(payload.length, 5000);
    expect(fastDone - fast.connectedAt).toBeLessThan(800);
    await toxic(p, { type: 'bandwidth', attributes: { rate: 40 } }); // 40 KB/s -> about 1 s
    const c = await connect(p);
    const done = await c.waitBytes(payload.length, 10_000);
    expect(done - c.connectedAt).toBeGreaterThanOrEqual(700);
    expect(c.rx.total().equals(payload)).toBe(true);
  });

  it('timeout 0 swallows data and keeps the connection open; removal closes it and new connections flow', async () => {
    const up = await upstream(echoServer);
    const p = await proxyTo(up);
    await toxic(p, { type: 'timeout', name: 'to', stream: 'upstream', attributes: { timeout: 0 } });
    const c = await connect(p);
    c.socket.write('lost');
    await sleep(600);
    expect(c.rx.total().length).toBe(0);
    expect(c.rx.closedAt).toBeUndefined();
    await (await p.getToxic('to')).remove();
    await c.waitClosed(3000);
    const fresh = await connect(p);
    expect(await roundTrip(fresh, 'flows')).toBeLessThan(1000);
    expect(fresh.rx.total().toString()).toBe('flows');
  });

  it('timeout N closes the connection after N ms without data', async () => {
    const p = await proxyTo(await upstream(echoServer));
    await toxic(p, { type: 'timeout', attributes: { timeout: 300 } });
    const c = await connect(p);
    c.socket.write('dropped');
    const closed = await c.waitClosed(5000);
    expect(closed - c.connectedAt).toBeGreaterThanOrEqual(250);
    expect(c.rx.total().length).toBe(0);
  });

  it('reset_peer resets the connection after the timeout once data arrives', async () => {
    const p = await proxyTo(await upstream(echoServer));
    await toxic(p, { type: 'reset_peer', stream: 'upstream', attributes: { timeout: 200 } });
    const c = await connect(p);
    const t0 = performance.now();
    c.socket.write('boom');
    const closed = await c.waitClosed(5000);
    expect(closed - t0).toBeGreaterThanOrEqual(180);
    expect(c.rx.error?.code).toBe('ECONNRESET');
    expect(c.rx.total().length).toBe(0);
  });

  it('limit_data closes the connection after exactly N bytes', async () => {
    const payload = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
    const p = await proxyTo(await upstream(() => sourceServer(payload, false)));
    await toxic(p, { type: 'limit_data', attributes: { bytes: 10 } });
    const c = await connect(p);
    await c.waitClosed(5000);
    expect(c.rx.total().toString()).toBe('0123456789');
  });

  it('limit_data counts across writes and closes once the limit is reached', async () => {
    const seen: Buffer[] = [];
    const up = await upstream(() => tcpServer((s) => s.on('data', (d: Buffer) => seen.push(d))));
    const p = await proxyTo(up);
    await toxic(p, { type: 'limit_data', stream: 'upstream', attributes: { bytes: 7 } });
    const c = await connect(p);
    c.socket.write('abcd');
    await sleep(100);
    expect(c.rx.closedAt).toBeUndefined();
    c.socket.write('efghij');
    await c.waitClosed(5000);
    await sleep(50);
    expect(Buffer.concat(seen).toString()).toBe('abcdefg');
  });

  it('slicer splits a write into small delayed chunks without changing the bytes', async () => {
    const payload = Buffer.from(Array.from({ length: 400 }, (_, i) => i % 251));
    const p = await proxyTo(await upstream(() => sourceServer(payload, false)));
    await toxic(p, { type: 'slicer', attributes: { average_size: 20, size_variation: 5, delay: 5000 } });
    const c = await connect(p);
    await c.waitBytes(payload.length, 10_000);
    expect(c.rx.total().equals(payload)).toBe(true);
    expect(c.rx.chunks.length).toBeGreaterThanOrEqual(8);
    // Pieces can coalesce in the receiver's buffer, but most reads stay small.
    const small = c.rx.chunks.filter((ch) => ch.length <= 25).length;
    expect(small).toBeGreaterThanOrEqual(c.rx.chunks.length / 2);
  });

  it('slow_close delays the close after the upstream hangs up', async () => {
    const p = await proxyTo(await upstream(() => sourceServer(Buffer.from('bye'))));
    const quick = await connect(p);
    const quickClosed = await quick.waitClosed(3000);
    expect(quickClosed - quick.connectedAt).toBeLessThan(400);
    await toxic(p, { type: 'slow_close', attributes: { delay: 600 } });
    const c = await connect(p);
    const got = await c.waitBytes(3, 3000);
    const closed = await c.waitClosed(5000);
    expect(c.rx.total().toString()).toBe('bye');
    expect(closed - got).toBeGreaterThanOrEqual(500);
  });

  it('disabling a proxy closes live connections; deleting one frees its port', async () => {
    const up = await upstream(echoServer);
    const p = await proxyTo(up);
    const c = await connect(p);
    expect(await roundTrip(c, 'x')).toBeLessThan(1000);
    await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
    await c.waitClosed(3000);
    await p.update({ enabled: true, listen: p.listen, upstream: p.upstream });
    const again = await connect(p);
    expect(await roundTrip(again, 'y')).toBeLessThan(1000);
  });

  it('a dead upstream looks like connect then EOF', async () => {
    const dead = await tcpServer(() => {});
    const addr = dead.addr;
    await dead.close();
    const p = await api.createProxy({ name: 'dead', listen: '127.0.0.1:0', upstream: addr });
    const c = await connect(p);
    await c.waitClosed(3000);
    expect(c.rx.total().length).toBe(0);
  });

  it('close() of the server closes proxied connections and listeners', async () => {
    const own = await startToxiproxyServer({ port: 0 });
    const ownApi = new Toxiproxy(own.url);
    const up = await upstream(echoServer);
    const p = await ownApi.createProxy({ name: 'x', listen: '127.0.0.1:0', upstream: up.addr });
    const c = await connectClient(Number(p.listen.split(':')[1]));
    expect(await roundTrip(c, 'ok')).toBeLessThan(1000);
    await own.close();
    await c.waitClosed(3000);
    await expect(fetch(own.url + '/version')).rejects.toThrow();
  });
});
