import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, PEER_PROTOCOL_VERSION, decodeFramePayload, encodeFrame, type Frame } from '../../../etcd/peer/codec.js';
import { CLUSTER, bigApp, deadPort, heartbeat, idOf, rawServer, sleep, usePeerFixtures, waitFor } from './helpers.js';

const { member, defer } = usePeerFixtures();

/** A listener that completes the handshake and then never reads again, like a wedged process. */
async function wedgedPeer() {
  const srv = await rawServer((s) => {
    const dec = new FrameDecoder();
    s.on('data', (chunk: Buffer) => {
      for (const p of dec.push(chunk)) {
        if (decodeFramePayload(p).kind === 'hello') {
          s.write(encodeFrame({ kind: 'helloOk' }));
          s.pause();
        }
      }
    });
  });
  defer(srv.close);
  return srv;
}

/** Dials a member directly and returns the frames it answers with. */
async function rawDial(port: number, frames: Array<Frame | Buffer>): Promise<{ replies: Frame[]; closed: Promise<void> }> {
  const s = net.connect({ host: '127.0.0.1', port });
  defer(async () => {
    s.destroy();
  });
  const replies: Frame[] = [];
  const dec = new FrameDecoder();
  s.on('data', (c: Buffer) => {
    for (const p of dec.push(c)) replies.push(decodeFramePayload(p));
  });
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  await new Promise<void>((resolve) => s.on('connect', () => resolve()));
  s.write(Buffer.concat(frames.map((f) => (Buffer.isBuffer(f) ? f : encodeFrame(f)))));
  return { replies, closed };
}

describe('PeerTransport under faults', () => {
  it('a dead, a black-holed and a wedged peer never hold up a healthy one; their queues stay bounded', async () => {
    const maxQueueBytes = 256 * 1024;
    const maxQueueMessages = 64;
    const a = await member(1, { maxQueueBytes, maxQueueMessages });
    const healthy = await member(2);
    const blackHole = await rawServer((s) => s.pause());
    defer(blackHole.close);
    const wedged = await wedgedPeer();
    const dead = idOf(3);
    const hole = idOf(4);
    const stuck = idOf(5);
    a.t.addPeer(healthy.id, [healthy.url]);
    a.t.addPeer(dead, [`http://127.0.0.1:${await deadPort()}`]);
    a.t.addPeer(hole, [`http://127.0.0.1:${blackHole.port}`]);
    a.t.addPeer(stuck, [`http://127.0.0.1:${wedged.port}`]);

    const rounds = 150;
    let slowestSendMs = 0;
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      a.t.send([
        heartbeat(a.id, healthy.id, i),
        bigApp(a.id, dead, i, 32 * 1024),
        bigApp(a.id, hole, i, 32 * 1024),
        bigApp(a.id, stuck, i, 32 * 1024),
      ]);
      slowestSendMs = Math.max(slowestSendMs, performance.now() - t0);
      await sleep(2);
    }
    await waitFor(() => healthy.inbox.length === rounds, 5000, 'healthy peer to get everything');
    expect(healthy.inbox.map((m) => (m.type === 'heartbeat' ? m.commit : -1))).toEqual(Array.from({ length: rounds }, (_, i) => i));
    // Generous for a loaded machine; a send that waited on a peer would take the dial timeout or forever.
    expect(slowestSendMs).toBeLessThan(250);

    const stats = a.t.stats();
    expect(stats[healthy.id]).toMatchObject({ connected: true, dropped: 0, sent: rounds });
    for (const id of [dead, hole, stuck]) {
      const s = stats[id]!;
      expect(s.dropped, id).toBeGreaterThan(0);
      expect(s.queuedMessages, id).toBeLessThanOrEqual(maxQueueMessages);
      // Our queue plus at most one batch handed to the socket.
      expect(s.queuedBytes, id).toBeLessThanOrEqual(maxQueueBytes + 1024 * 1024 + 64 * 1024);
    }
    expect(stats[dead]!.connected).toBe(false);
    expect(stats[hole]!.connected).toBe(false);
    expect(stats[stuck]!.connected).toBe(true);
    expect(stats[stuck]!.sent).toBeGreaterThan(0);
    await waitFor(() => [dead, hole, stuck].every((id) => a.unreachable.includes(id)), 2000, 'unreachable reports');
    expect(a.unreachable).not.toContain(healthy.id);
    // The black hole never answered the handshake: the dial timed out, repeatedly.
    await waitFor(
      () => a.logs.some((l) => l.fields?.['remote-peer-id'] === hole && String(l.fields?.error).includes('no handshake')),
      3000,
      'handshake timeout on the black hole',
    );
  });

  it('rejects a connection from another cluster, with etcd\'s warning', async () => {
    const a = await member(1);
    const b = await member(2, { clusterId: CLUSTER + 1n });
    a.t.addPeer(b.id, [b.url]);
    await waitFor(
      () => {
        a.t.send([heartbeat(a.id, b.id, 1)]);
        return b.logs.some((l) => l.msg === 'request cluster ID mismatch');
      },
      5000,
      'mismatch warning',
    );
    const warning = b.logs.find((l) => l.msg === 'request cluster ID mismatch')!;
    expect(warning.level).toBe('warn');
    expect(warning.fields).toMatchObject({ 'remote-peer-cluster-id': CLUSTER.toString(16), 'local-member-cluster-id': (CLUSTER + 1n).toString(16) });
    await waitFor(() => a.logs.some((l) => l.msg === 'remote peer rejected the connection'), 5000, 'rejection at the dialer');
    await waitFor(() => a.unreachable.includes(b.id), 2000, 'unreachable');
    await sleep(50);
    expect(b.inbox).toEqual([]);
    expect(a.t.stats()[b.id]!.connected).toBe(false);
  });

  it('rejects a connection meant for another member', async () => {
    const a = await member(1);
    const b = await member(2);
    const wrong = idOf(9);
    a.t.addPeer(wrong, [b.url]);
    await waitFor(
      () => {
        a.t.send([heartbeat(a.id, wrong, 1)]);
        return b.logs.some((l) => l.msg === 'ignored streaming request; ID mismatch');
      },
      5000,
      'ID mismatch warning',
    );
    expect(b.inbox).toEqual([]);
  });

  it('drops messages addressed to another member, and closes on malformed bytes without harm', async () => {
    const b = await member(2);
    const a = idOf(1);
    const hello: Frame = { kind: 'hello', hello: { protocolVersion: PEER_PROTOCOL_VERSION, clusterId: CLUSTER, from: a, to: b.id } };
    const conn = await rawDial(b.port, [
      hello,
      { kind: 'message', message: heartbeat(a, idOf(7), 1) },
      { kind: 'message', message: heartbeat(a, b.id, 2) },
    ]);
    await waitFor(() => b.inbox.length === 1, 5000, 'the well-addressed message');
    expect(b.inbox).toEqual([heartbeat(a, b.id, 2)]);
    expect(conn.replies).toEqual([{ kind: 'helloOk' }]);
    expect(b.logs.some((l) => l.msg === 'dropped message addressed to another member')).toBe(true);

    const corrupt = encodeFrame({ kind: 'message', message: heartbeat(a, b.id, 3) });
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff;
    const bad = await rawDial(b.port, [hello, corrupt]);
    await bad.closed;
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffffffff, 0);
    await (await rawDial(b.port, [huge])).closed;
    await (await rawDial(b.port, [Buffer.from('GET /raft/stream HTTP/1.1\r\nHost: x\r\n\r\n')])).closed;
    await (await rawDial(b.port, [{ kind: 'message', message: heartbeat(a, b.id, 4) }])).closed; // no handshake first
    expect(b.logs.filter((l) => l.msg === 'closing peer connection: malformed frame').length).toBe(4);
    expect(b.inbox).toHaveLength(1);

    // Still serving.
    const c = await rawDial(b.port, [hello, { kind: 'message', message: heartbeat(a, b.id, 5) }]);
    await waitFor(() => b.inbox.length === 2, 5000, 'delivery after garbage');
    expect(c.replies).toEqual([{ kind: 'helloOk' }]);
  });

  it('refuses frames above the size limit', async () => {
    const a = await member(1);
    const b = await member(2, { maxFrameBytes: 64 * 1024 });
    a.t.addPeer(b.id, [b.url]);
    a.t.send([heartbeat(a.id, b.id, 1)]);
    await waitFor(() => b.inbox.length === 1, 5000, 'small message');
    a.t.send([bigApp(a.id, b.id, 1, 100 * 1024)]);
    await waitFor(() => b.logs.some((l) => String(l.fields?.error).includes('exceeds the limit')), 5000, 'oversize rejection');
    await waitFor(
      () => {
        a.t.send([heartbeat(a.id, b.id, 2)]);
        return b.inbox.length >= 2;
      },
      5000,
      'recovery',
    );
  });
});
