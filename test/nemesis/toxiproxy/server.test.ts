// Contract tests of the built-in Toxiproxy API, through toxiproxy-node-client
// where it offers a call and raw fetch where status codes and bodies matter
// (the client discards error bodies).

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Toxiproxy, ToxiproxyError, type Proxy } from 'toxiproxy-node-client';
import { startToxiproxyServer, type ToxiproxyServer } from '../../../nemesis/toxiproxy/index.js';
import { connectClient, echoServer, type TestServer } from './sockets.js';

let server: ToxiproxyServer;
let client: Toxiproxy;
let echo: TestServer;

beforeAll(async () => {
  server = await startToxiproxyServer({ port: 0 });
  client = new Toxiproxy(server.url);
  echo = await echoServer();
});

afterEach(async () => {
  // Every test starts from an empty server.
  for (const p of Object.values(await client.getAll())) await p.remove();
});

afterAll(async () => {
  await server?.close();
  await echo?.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: unknown; type: string }> {
  const res = await fetch(server.url + path, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, type: res.headers.get('content-type') ?? '' };
}

const create = (name: string, extra: Record<string, unknown> = {}): Promise<Proxy> =>
  client.createProxy({ name, listen: '127.0.0.1:0', upstream: echo.addr, ...extra });

function canConnect(listen: string): Promise<boolean> {
  const [host, port] = listen.split(':');
  return new Promise((resolve) => {
    const s = net.connect({ host: host ?? '127.0.0.1', port: Number(port) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('toxiproxy API: version and proxies', () => {
  it('GET /version answers exactly as Toxiproxy 2.12 does', async () => {
    const r = await call('GET', '/version');
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"version": "2.12.0"}\n');
    expect(await client.getVersion()).toContain('2.12.0');
  });

  it('creates a proxy with 201, binds port 0 to a real port, and lists proxies keyed by name', async () => {
    const r = await call('POST', '/proxies', { name: 'a', listen: 'localhost:0', upstream: echo.addr });
    expect(r.status).toBe(201);
    const body = r.json as { name: string; listen: string; upstream: string; enabled: boolean; toxics: unknown[] };
    expect(body).toMatchObject({ name: 'a', upstream: echo.addr, enabled: true, toxics: [] });
    expect(body.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(body.listen).not.toBe('127.0.0.1:0');
    expect(await canConnect(body.listen)).toBe(true);

    const b = await create('b');
    const all = await call('GET', '/proxies');
    expect(all.status).toBe(200);
    expect(Object.keys(all.json as object).sort()).toEqual(['a', 'b']);
    expect((all.json as Record<string, { listen: string }>)['b']?.listen).toBe(b.listen);
    const viaClient = await client.get('a');
    expect(viaClient.listen).toBe(body.listen);
  });

  it('refuses duplicates (409) and incomplete or malformed bodies (400) with Toxiproxy error bodies', async () => {
    await create('dup');
    const dup = await call('POST', '/proxies', { name: 'dup', listen: '127.0.0.1:0', upstream: echo.addr });
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual({ error: 'proxy already exists', status: 409 });
    expect(dup.type).toContain('text/plain');
    await expect(create('dup')).rejects.toBeInstanceOf(ToxiproxyError);

    const noName = await call('POST', '/proxies', { upstream: echo.addr });
    expect(noName.status).toBe(400);
    expect(noName.json).toEqual({ error: 'missing required field: name', status: 400 });
    const noUp = await call('POST', '/proxies', { name: 'x' });
    expect(noUp.json).toEqual({ error: 'missing required field: upstream', status: 400 });
    const bad = await call('POST', '/proxies', '{not json');
    expect(bad.status).toBe(400);
    expect((bad.json as { error: string }).error).toMatch(/^bad request body/);
  });

  it('answers 404 "proxy not found" for unknown proxies on every proxy route', async () => {
    for (const [method, path] of [
      ['GET', '/proxies/nope'],
      ['POST', '/proxies/nope'],
      ['DELETE', '/proxies/nope'],
      ['GET', '/proxies/nope/toxics'],
      ['POST', '/proxies/nope/toxics'],
      ['GET', '/proxies/nope/toxics/t'],
    ] as const) {
      const r = await call(method, path, method === 'POST' ? { type: 'latency' } : undefined);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json).toEqual({ error: 'proxy not found', status: 404 });
    }
    await expect(client.get('nope')).rejects.toBeInstanceOf(ToxiproxyError);
  });

  it('404 for unknown paths, 405 for wrong methods', async () => {
    expect((await call('GET', '/nothing')).status).toBe(404);
    expect((await call('DELETE', '/proxies')).status).toBe(405);
    expect((await call('GET', '/reset')).status).toBe(405);
  });

  it('disabling closes connections and the listener; re-enabling rebinds the same address', async () => {
    const p = await create('d');
    const c = await connectClient(Number(p.listen.split(':')[1]));
    const disabled = await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
    expect(disabled.enabled).toBe(false);
    expect(disabled.listen).toBe(p.listen);
    await c.waitClosed(2000);
    expect(await canConnect(p.listen)).toBe(false);
    const again = await disabled.update({ enabled: true, listen: p.listen, upstream: p.upstream });
    expect(again.enabled).toBe(true);
    expect(again.listen).toBe(p.listen);
    expect(await canConnect(p.listen)).toBe(true);
  });

  it('updates upstream in place (omitted fields keep their values) and DELETE answers 204', async () => {
    await create('u');
    const r = await call('POST', '/proxies/u', { upstream: '127.0.0.1:9' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'u', upstream: '127.0.0.1:9', enabled: true });
    const patched = await call('PATCH', '/proxies/u', { enabled: false });
    expect(patched.json).toMatchObject({ upstream: '127.0.0.1:9', enabled: false });
    const del = await call('DELETE', '/proxies/u');
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect((await call('GET', '/proxies/u')).status).toBe(404);
  });

  it('keeps a disabled proxy\'s listen string as given and does not resolve upstream early', async () => {
    const r = await call('POST', '/proxies', { name: 'off', listen: 'localhost:0', upstream: 'somehost:12345', enabled: false });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ listen: 'localhost:0', upstream: 'somehost:12345', enabled: false });
  });

  it('populate: 201, keeps unchanged proxies with their toxics, replaces changed ones, validates all first', async () => {
    const one = await call('POST', '/populate', [
      { name: 'p1', listen: '127.0.0.1:0', upstream: echo.addr },
      { name: 'p2', listen: '127.0.0.1:0', upstream: echo.addr },
    ]);
    expect(one.status).toBe(201);
    const proxies = (one.json as { proxies: { name: string; listen: string }[] }).proxies;
    expect(proxies.map((p) => p.name)).toEqual(['p1', 'p2']);
    const p1 = await client.get('p1');
    await p1.addToxic({ type: 'latency', attributes: { latency: 5, jitter: 0 } } as never);
    // p1 echoed back with its bound listen string is unchanged, so its toxic survives.
    const again = await call('POST', '/populate', [{ name: 'p1', listen: p1.listen, upstream: echo.addr }]);
    expect(again.status).toBe(201);
    expect((await call('GET', '/proxies/p1/toxics')).json).toHaveLength(1);

    const invalid = await call('POST', '/populate', [
      { name: 'p3', listen: '127.0.0.1:0', upstream: echo.addr },
      { listen: '127.0.0.1:0', upstream: echo.addr },
    ]);
    expect(invalid.status).toBe(400);
    expect(invalid.json).toEqual({ error: 'missing required field: name at proxy 2', status: 400 });
    expect((await call('GET', '/proxies/p3')).status).toBe(404);

    const empty = await call('POST', '/populate', []);
    expect(empty.status).toBe(201);
    expect(empty.json).toEqual({ proxies: null });

    const viaClient = await client.populate([{ name: 'p4', listen: '127.0.0.1:0', upstream: echo.addr }]);
    expect(Object.keys(viaClient)).toEqual(['p4']);
    expect(viaClient['p4']?.listen).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

describe('toxiproxy API: toxics and reset', () => {
  it('creates toxics with Toxiproxy defaults (200), lists upstream first, refuses duplicates', async () => {
    const p = await create('t');
    const created = await call('POST', '/proxies/t/toxics', { type: 'latency', attributes: { latency: 10 } });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({
      attributes: { latency: 10, jitter: 0 },
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
    });
    const up = await p.addToxic({ type: 'bandwidth', stream: 'upstream', attributes: { rate: 100 } } as never);
    expect(up.name).toBe('bandwidth_upstream');
    const list = await call('GET', '/proxies/t/toxics');
    expect((list.json as { name: string }[]).map((t) => t.name)).toEqual(['bandwidth_upstream', 'latency_downstream']);
    expect(((await call('GET', '/proxies/t')).json as { toxics: unknown[] }).toxics).toHaveLength(2);

    // A name is unique across both streams.
    const dup = await call('POST', '/proxies/t/toxics', { type: 'timeout', name: 'latency_downstream', stream: 'upstream' });
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual({ error: 'toxic already exists', status: 409 });
  });

  it('validates stream, type and attributes with 400s in Toxiproxy\'s order', async () => {
    await create('v');
    const stream = await call('POST', '/proxies/v/toxics', { type: 'nonsense', stream: 'sideways' });
    expect(stream.json).toEqual({ error: 'stream was invalid, can be either upstream or downstream', status: 400 });
    const type = await call('POST', '/proxies/v/toxics', { type: 'nonsense' });
    expect(type.json).toEqual({ error: 'invalid toxic type', status: 400 });
    const attrs = await call('POST', '/proxies/v/toxics', { type: 'latency', attributes: { latency: 'slow' } });
    expect(attrs.status).toBe(400);
    expect((attrs.json as { error: string }).error).toMatch(/^bad request body/);
    const body = await call('POST', '/proxies/v/toxics', '[');
    expect(body.status).toBe(400);
    expect((await call('GET', '/proxies/v/toxics')).json).toEqual([]);
  });

  it('gets, updates (merging attributes, keeping toxicity) and deletes a toxic', async () => {
    const p = await create('g');
    await p.addToxic({ type: 'slicer', name: 'sl', attributes: { average_size: 10, size_variation: 2, delay: 5 } } as never);
    const got = await p.getToxic<{ average_size: number }>('sl');
    expect(got.type).toBe('slicer');
    expect(got.attributes.average_size).toBe(10);
    const upd = await call('POST', '/proxies/g/toxics/sl', { attributes: { delay: 50 }, toxicity: 0.5 });
    expect(upd.status).toBe(200);
    expect(upd.json).toMatchObject({ attributes: { average_size: 10, size_variation: 2, delay: 50 }, toxicity: 0.5 });
    const keep = await call('PATCH', '/proxies/g/toxics/sl', { attributes: { average_size: 20 } });
    expect(keep.json).toMatchObject({ attributes: { average_size: 20, delay: 50 }, toxicity: 0.5 });
    const missing = await call('GET', '/proxies/g/toxics/nope');
    expect(missing.json).toEqual({ error: 'toxic not found', status: 404 });
    expect((await call('POST', '/proxies/g/toxics/nope', { attributes: {} })).status).toBe(404);
    await got.remove();
    const del = await call('DELETE', '/proxies/g/toxics/sl');
    expect(del.status).toBe(404);
    expect(del.json).toEqual({ error: 'toxic not found', status: 404 });
  });

  it('accepts all seven toxic types with their attribute sets', async () => {
    const p = await create('all');
    const expected: Record<string, string[]> = {
      latency: ['jitter', 'latency'],
      bandwidth: ['rate'],
      slow_close: ['delay'],
      timeout: ['timeout'],
      reset_peer: ['timeout'],
      slicer: ['average_size', 'delay', 'size_variation'],
      limit_data: ['bytes'],
    };
    for (const [type, keys] of Object.entries(expected)) {
      const t = await p.addToxic({ type, name: `${type}-x`, attributes: {} } as never);
      expect(Object.keys(t.attributes as object).sort()).toEqual(keys);
    }
  });

  it('POST /reset enables every proxy and removes every toxic (204)', async () => {
    const p = await create('r');
    await p.addToxic({ type: 'timeout', attributes: { timeout: 0 } } as never);
    await p.update({ enabled: false, listen: p.listen, upstream: p.upstream });
    const r = await call('POST', '/reset');
    expect(r.status).toBe(204);
    const after = await call('GET', '/proxies/r');
    expect(after.json).toMatchObject({ enabled: true, listen: p.listen, toxics: [] });
    await client.reset();
  });

  it('rejects browser user agents with 403', async () => {
    const res = await fetch(server.url + '/proxies', { headers: { 'User-Agent': 'Mozilla/5.0' } });
    expect(res.status).toBe(403);
    await res.text();
  });

  it('reports a bind failure as 500 with the listen error', async () => {
    const p = await create('first');
    const r = await call('POST', '/proxies', { name: 'second', listen: p.listen, upstream: echo.addr });
    expect(r.status).toBe(500);
    expect((r.json as { error: string }).error).toContain('address already in use');
    expect((await call('GET', '/proxies/second')).status).toBe(404);
  });
});
