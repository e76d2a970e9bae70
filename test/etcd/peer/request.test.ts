import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { EtcdError, Errors, GrpcCode } from '../../../etcd/errors.js';
import { PeerRequestError } from '../../../etcd/peer/index.js';
import { deadPort, heartbeat, idOf, mesh, rawServer, usePeerFixtures, waitFor } from './helpers.js';

const { member, defer } = usePeerFixtures();

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe('request/response channel', () => {
  it('answers requests, concurrently and in any order', async () => {
    const [a, b] = [await member(1), await member(2)];
    mesh([a, b]);
    b.t.onRequest(async (from, kind, payload) => {
      // Answer later requests first to show responses are matched by id, not order.
      await new Promise((r) => setTimeout(r, 50 - Number(str(payload))));
      return text(`${kind}:${from}:${str(payload)}`);
    });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => a.t.request(b.id, 'echo', text(String(i)), 2000)));
    expect(answers.map(str)).toEqual(Array.from({ length: 20 }, (_, i) => `echo:${a.id}:${i}`));
  });

  it('carries a handler error back with its message and gRPC code', async () => {
    const [a, b] = [await member(1), await member(2)];
    mesh([a, b]);
    b.t.onRequest(async (_from, kind) => {
      if (kind === 'lease') throw Errors.leaseNotFound();
      throw new Error('plain failure');
    });
    const err = await a.t.request(b.id, 'lease', new Uint8Array(), 2000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerRequestError);
    const e = err as PeerRequestError;
    expect(e).toMatchObject({ reason: 'remote', code: GrpcCode.NOT_FOUND, message: 'etcdserver: requested lease not found' });
    // What the server does with it: rebuild etcd's error.
    expect(new EtcdError(e.code as 5, e.message)).toEqual(Errors.leaseNotFound());

    await expect(a.t.request(b.id, 'other', new Uint8Array(), 2000)).rejects.toMatchObject({ reason: 'remote', code: undefined, message: 'plain failure' });
  });

  it('times out, and fails fast for unknown peers or no handler', async () => {
    const [a, b, c] = [await member(1), await member(2), await member(3)];
    mesh([a, b, c]);
    b.t.onRequest(() => new Promise(() => {}));
    const t0 = Date.now();
    await expect(a.t.request(b.id, 'slow', new Uint8Array(), 150)).rejects.toMatchObject({ reason: 'timeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(a.t.request(idOf(77), 'x', new Uint8Array(), 1000)).rejects.toMatchObject({ reason: 'unreachable' });
    await expect(a.t.request(c.id, 'x', new Uint8Array(), 1000)).rejects.toMatchObject({ reason: 'remote', code: GrpcCode.UNIMPLEMENTED });
  });

  it('fails in-flight requests when the connection drops, and when the peer is down', async () => {
    const [a, b] = [await member(1), await member(2)];
    mesh([a, b]);
    let arrived = false;
    b.t.onRequest(() => {
      arrived = true;
      return new Promise(() => {});
    });
    const p = a.t.request(b.id, 'hang', new Uint8Array(), 10_000);
    await waitFor(() => arrived, 5000, 'request to arrive');
    await b.t.close();
    await expect(p).rejects.toMatchObject({ reason: 'unreachable' });

    const c = idOf(3);
    a.t.addPeer(c, [`http://127.0.0.1:${await deadPort()}`]);
    const t0 = Date.now();
    await expect(a.t.request(c, 'x', new Uint8Array(), 5000)).rejects.toMatchObject({ reason: 'unreachable' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('dial overrides', () => {
  it('dials the override instead of the advertised URL, and follows changes', async () => {
    const [a, b] = [await member(1), await member(2)];
    // A forwarding proxy standing in for a Toxiproxy listener.
    let proxied = 0;
    const proxy = await rawServer((client) => {
      proxied++;
      const upstream = net.connect({ host: '127.0.0.1', port: b.port });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    defer(proxy.close);

    // The advertised URL leads nowhere; only the override can work.
    a.t.addPeer(b.id, [`http://127.0.0.1:${await deadPort()}`]);
    a.t.setDialOverride(b.id, `http://127.0.0.1:${proxy.port}`);
    expect(a.t.stats()[b.id]!.dialUrl).toBe(`http://127.0.0.1:${proxy.port}`);
    a.t.send([heartbeat(a.id, b.id, 1)]);
    await waitFor(() => b.inbox.length === 1, 5000, 'delivery through the proxy');
    expect(proxied).toBe(1);

    // Cutting the proxy (as a partition would) and lifting the override.
    a.t.setDialOverride(b.id, undefined);
    a.t.updatePeer(b.id, [b.url]);
    await waitFor(
      () => {
        a.t.send([heartbeat(a.id, b.id, 2)]);
        return b.inbox.length >= 2;
      },
      5000,
      'direct delivery',
    );
    expect(proxied).toBe(1);
    expect(a.t.stats()[b.id]!.dialUrl).toBe(b.url);
  });

  it('accepts overrides in the constructor', async () => {
    const b = await member(2);
    const a = await member(1, { dialOverrides: { [b.id]: b.url } });
    a.t.addPeer(b.id, ['http://127.0.0.1:1']);
    a.t.send([heartbeat(a.id, b.id, 1)]);
    await waitFor(() => b.inbox.length === 1, 5000, 'delivery');
  });
});
