import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, PEER_PROTOCOL_VERSION, decodeFramePayload, encodeFrame } from '../../../etcd/peer/codec.js';
import type { Message } from '../../../etcd/raft/types.js';
import { CLUSTER, bigApp, heartbeat, idOf, liveResources, mesh, rawServer, sleep, startMember, usePeerFixtures, waitFor } from './helpers.js';

const { member } = usePeerFixtures();

describe('PeerTransport', () => {
  it('exchanges every message kind between three members', async () => {
    const [a, b, c] = [await member(1), await member(2), await member(3)];
    mesh([a, b, c]);
    const toB: Message[] = [
      heartbeat(a.id, b.id, 7),
      { type: 'vote', from: a.id, to: b.id, term: 2, index: 10, logTerm: 1, force: false },
      { type: 'prop', from: a.id, to: b.id, term: 0, entries: [{ type: 'normal', data: new Uint8Array([1, 2]) }] },
      { type: 'readIndex', from: a.id, to: b.id, term: 0, ctx: new Uint8Array([9]) },
      { type: 'transferLeader', from: a.id, to: b.id, term: 0, transferee: c.id },
    ];
    a.t.send([...toB, heartbeat(a.id, c.id, 1)]);
    b.t.send([{ type: 'voteResp', from: b.id, to: a.id, term: 2, reject: false }]);
    c.t.send([{ type: 'heartbeatResp', from: c.id, to: a.id, term: 1, readRound: 0 }]);
    await waitFor(() => b.inbox.length === toB.length && c.inbox.length === 1 && a.inbox.length === 2, 5000, 'delivery');
    expect(b.inbox).toEqual(toB);
    expect(c.inbox).toEqual([heartbeat(a.id, c.id, 1)]);
    expect(a.inbox.map((m) => m.from).sort()).toEqual([b.id, c.id]);

    const stats = a.t.stats();
    expect(stats[b.id]).toMatchObject({ connected: true, sent: toB.length, received: 1, dropped: 0, queuedMessages: 0, dialUrl: b.url });
    expect(stats[c.id]).toMatchObject({ connected: true, sent: 1, received: 1 });
    expect(a.unreachable).toEqual([]);
  });

  it('keeps per-connection order across many sends and batches', async () => {
    const [a, b] = [await member(1), await member(2)];
    mesh([a, b]);
    const N = 3000;
    for (let i = 0; i < N; i++) {
      a.t.send([heartbeat(a.id, b.id, i)]);
      if (i % 250 === 0) await sleep(1);
    }
    await waitFor(() => b.inbox.length === N, 10_000, 'all heartbeats');
    expect(b.inbox.map((m) => (m.type === 'heartbeat' ? m.commit : -1))).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(a.t.stats()[b.id]!.sent).toBe(N);
  });

  it('reconnects after the remote restarts on the same port', async () => {
    const a = await member(1);
    let b = await member(2);
    mesh([a, b]);
    a.t.send([heartbeat(a.id, b.id, 1)]);
    await waitFor(() => b.inbox.length === 1, 5000, 'first delivery');

    const port = b.port;
    await b.t.close();
    await waitFor(() => a.unreachable.includes(b.id), 5000, 'unreachable report');
    expect(a.t.stats()[b.id]!.connected).toBe(false);

    b = await member(2, { port });
    b.t.addPeer(a.id, [a.url]);
    // Raft keeps heartbeating; the transport must pick the peer up again on its own.
    let commit = 100;
    await waitFor(
      () => {
        a.t.send([heartbeat(a.id, b.id, commit++)]);
        return b.inbox.length > 0;
      },
      5000,
      'delivery after restart',
    );
    expect(a.t.stats()[b.id]!.connected).toBe(true);
    expect(a.logs.some((l) => l.msg === 'lost TCP streaming connection with remote peer')).toBe(true);
    expect(a.logs.some((l) => l.msg === 'peer became active')).toBe(true);
    // After reconnecting, the remaining sends arrive in order.
    const seen = b.inbox.map((m) => (m.type === 'heartbeat' ? m.commit : -1));
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
  });

  it('reports snapshot delivery once the remote has it, and failure when the peer is gone', async () => {
    const [a, b] = [await member(1), await member(2)];
    mesh([a, b]);
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    const snap: Message = {
      type: 'snap', from: a.id, to: b.id, term: 3,
      snapshot: { index: 42, term: 3, confState: { voters: [a.id, b.id], learners: [] }, data },
    };
    a.t.send([snap]);
    await waitFor(() => a.snapshotStatus.length === 1, 5000, 'snapshot status');
    expect(a.snapshotStatus).toEqual([{ id: b.id, ok: true }]);
    expect(b.inbox).toHaveLength(1);
    const got = b.inbox[0]!;
    if (got.type !== 'snap') throw new Error(`expected a snapshot, got ${got.type}`);
    // Compare the 3 MiB image with Buffer.equals: deep equality over it is slow.
    expect(Buffer.from(got.snapshot.data).equals(Buffer.from(data))).toBe(true);
    expect({ ...got, snapshot: { ...got.snapshot, data: null } }).toEqual({ ...snap, snapshot: { ...snap.snapshot, data: null } });

    await b.t.close();
    await waitFor(() => a.unreachable.includes(b.id), 5000, 'unreachable report');
    a.t.send([{ ...snap, snapshot: { ...snap.snapshot, index: 43 } }]);
    await waitFor(() => a.snapshotStatus.length === 2, 5000, 'snapshot failure');
    expect(a.snapshotStatus[1]).toEqual({ id: b.id, ok: false });
  });

  it('removePeer stops traffic and refuses the removed member', async () => {
    const [a, b] = [await member(1), await member(2)];
    mesh([a, b]);
    b.t.send([heartbeat(b.id, a.id, 1)]);
    await waitFor(() => a.inbox.length === 1, 5000, 'delivery');
    a.t.removePeer(b.id);
    expect(a.t.hasPeer(b.id)).toBe(false);
    expect(a.t.stats()[b.id]).toBeUndefined();
    // The first of these may still go out on the connection a just cut; b redials for the later ones.
    await waitFor(
      () => {
        b.t.send([heartbeat(b.id, a.id, 2)]);
        return a.logs.some((l) => l.msg === 'rejected stream from remote peer because it was removed');
      },
      5000,
      'refusal',
    );
    await waitFor(() => b.logs.some((l) => l.msg === 'remote peer rejected the connection'), 5000, 'rejection seen by b');
    expect(a.inbox).toHaveLength(1);
    a.t.send([heartbeat(a.id, b.id, 1)]); // unknown peer now: silently dropped
  });

  it('close() leaves no sockets, servers or timers behind', async () => {
    await sleep(20);
    const before = liveResources();
    const ms = [await startMember(11), await startMember(12), await startMember(13)];
    mesh(ms);
    for (const m of ms) for (const o of ms) if (m !== o) m.t.send([heartbeat(m.id, o.id, 1), bigApp(m.id, o.id, 1, 100_000)]);
    await waitFor(() => ms.every((m) => m.inbox.length === 4), 5000, 'full mesh delivery');
    const p = ms[0]!.t.request(ms[1]!.id, 'never', new Uint8Array(), 60_000);
    ms[1]!.t.onRequest(() => new Promise(() => {}));
    expect(liveResources().TCPSocketWrap ?? 0).toBeGreaterThan(before.TCPSocketWrap ?? 0);
    await Promise.all(ms.map((m) => m.t.close()));
    await expect(p).rejects.toMatchObject({ reason: 'closed' });
    await waitFor(
      () => {
        const now = liveResources();
        return (now.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0) &&
          (now.TCPServerWrap ?? 0) <= (before.TCPServerWrap ?? 0) &&
          (now.Timeout ?? 0) <= (before.Timeout ?? 0) &&
          (now.Immediate ?? 0) <= (before.Immediate ?? 0);
      },
      3000,
      'handles to be released',
    );
    // Sends and requests after close are harmless.
    ms[0]!.t.send([heartbeat(ms[0]!.id, ms[1]!.id, 2)]);
    await expect(ms[0]!.t.request(ms[1]!.id, 'x', new Uint8Array(), 10)).rejects.toMatchObject({ reason: 'closed' });
  });

  it('close() itself ends its connections, even when the remote side would keep them open', async () => {
    const a = await member(1);
    // A peer that completes the handshake and then just holds the connection.
    let acceptedClosed: Promise<void> | undefined;
    const holder = await rawServer((s) => {
      acceptedClosed = new Promise<void>((resolve) => s.on('close', () => resolve()));
      const dec = new FrameDecoder();
      s.on('data', (chunk: Buffer) => {
        for (const p of dec.push(chunk)) if (decodeFramePayload(p).kind === 'hello') s.write(encodeFrame({ kind: 'helloOk' }));
      });
    });
    a.t.addPeer(idOf(9), [`http://127.0.0.1:${holder.port}`]);
    a.t.send([heartbeat(a.id, idOf(9), 1)]);
    // And an inbound connection from a member that stays connected.
    const inbound = net.connect({ host: '127.0.0.1', port: a.port });
    inbound.on('error', () => {});
    inbound.resume(); // a paused socket would never see the end of the stream
    inbound.write(encodeFrame({ kind: 'hello', hello: { protocolVersion: PEER_PROTOCOL_VERSION, clusterId: CLUSTER, from: idOf(8), to: a.id } }));
    const inboundClosed = new Promise<void>((resolve) => inbound.on('close', () => resolve()));
    await waitFor(() => a.t.stats()[idOf(9)]!.connected, 5000, 'outbound handshake');
    await waitFor(() => acceptedClosed !== undefined, 5000, 'accept');
    await sleep(20);

    await a.t.close();
    let timer: NodeJS.Timeout | undefined;
    const outlived = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('a socket outlived close()')), 2000);
    });
    await Promise.race([Promise.all([acceptedClosed, inboundClosed]), outlived]).finally(() => clearTimeout(timer));
    inbound.destroy();
    await holder.close();
  });

  it('send() after close is harmless', async () => {
    const ms = [await member(1), await member(2)];
    await ms[0]!.t.close();
    ms[0]!.t.send([heartbeat(ms[0]!.id, ms[1]!.id, 2)]);
    await expect(ms[0]!.t.request(ms[1]!.id, 'x', new Uint8Array(), 10)).rejects.toMatchObject({ reason: 'closed' });
  });
});
