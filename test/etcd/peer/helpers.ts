// Shared fixtures for the transport tests: transports on 127.0.0.1 with
// captured logs and received messages, and polling helpers.

import net from 'node:net';
import { afterEach } from 'vitest';
import { PeerTransport, type PeerTransportOptions } from '../../../etcd/peer/index.js';
import type { Message, NodeId } from '../../../etcd/raft/types.js';

export const CLUSTER = 0xc1c1c1c1n;

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

export interface Member {
  id: NodeId;
  t: PeerTransport;
  port: number;
  url: string;
  inbox: Message[];
  unreachable: NodeId[];
  snapshotStatus: Array<{ id: NodeId; ok: boolean }>;
  logs: LogLine[];
}

export function idOf(n: number): NodeId {
  return n.toString(16).padStart(16, '0');
}

export async function startMember(
  n: number,
  opts: Partial<PeerTransportOptions> & { port?: number } = {},
): Promise<Member> {
  const id = idOf(n);
  const logs: LogLine[] = [];
  const t = new PeerTransport({
    localId: id,
    clusterId: CLUSTER,
    listenUrls: [`http://127.0.0.1:${opts.port ?? 0}`],
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    dialTimeoutMs: 300,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    ...opts,
  });
  const { ports } = await t.start();
  const port = ports[0]!;
  const m: Member = { id, t, port, url: `http://127.0.0.1:${port}`, inbox: [], unreachable: [], snapshotStatus: [], logs };
  t.onMessage((msg) => m.inbox.push(msg));
  t.onUnreachable((peer) => m.unreachable.push(peer));
  t.onSnapshotStatus((peer, ok) => m.snapshotStatus.push({ id: peer, ok }));
  return m;
}

/** Makes every member know every other. */
export function mesh(members: Member[]): void {
  for (const a of members) for (const b of members) if (a !== b) a.t.addPeer(b.id, [b.url]);
}

export function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit, readRound: 0 };
}

export function bigApp(from: NodeId, to: NodeId, index: number, size: number): Message {
  return {
    type: 'app', from, to, term: 1, index, logTerm: 1, commit: 0,
    entries: [{ term: 1, index: index + 1, type: 'normal', data: new Uint8Array(size).fill(index & 0xff) }],
  };
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port with nothing listening on it (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A raw listener; `onSocket` decides what each accepted connection does. Tracks sockets for cleanup. */
export async function rawServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; sockets: Set<net.Socket>; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Counts of the process's live TCP handles and timers. */
export function liveResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/**
 * For a test file: member() starts a transport and defer() registers any
 * other cleanup; both run after the test that asked for them (the afterEach
 * is registered here).
 */
export function usePeerFixtures(): {
  member: (n: number, opts?: Parameters<typeof startMember>[1]) => Promise<Member>;
  defer: (cleanup: () => Promise<void>) => void;
} {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((c) => c()));
  });
  return {
    member: async (n, opts = {}) => {
      const m = await startMember(n, opts);
      cleanups.push(() => m.t.close());
      return m;
    },
    defer: (cleanup) => {
      cleanups.push(cleanup);
    },
  };
}
