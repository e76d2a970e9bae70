// How Raft members talk to each other: Raft messages and a small
// request/response channel over plain TCP, one outbound connection per remote
// member (see outbound.ts) and any number of accepted ones (see inbound.ts).
//
// send() is the Raft loop's only entry point and must never stall it: it
// encodes, queues and returns. Loss is acceptable (Raft retransmits) and is
// reported through onUnreachable so the leader falls back to probing.

import net from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, type Frame } from './codec.js';
import { serveInbound } from './inbound.js';
import { PeerLink, type LinkSettings, type PeerLogFn, type PeerLogLevel } from './outbound.js';
import { parsePeerUrl } from './url.js';

export type { PeerLogFn, PeerLogLevel };

export interface PeerTransportOptions {
  localId: NodeId;
  clusterId: bigint;
  /** --listen-peer-urls; http://host:port, port 0 picks a free port. */
  listenUrls: string[];
  log: PeerLogFn;
  /** Per-peer outbound queue bound in bytes (default 16 MiB). */
  maxQueueBytes?: number;
  /** Per-peer outbound queue bound in frames (default 4096). */
  maxQueueMessages?: number;
  /** Connect plus handshake deadline (default 2000 ms). */
  dialTimeoutMs?: number;
  /** Largest frame accepted from a peer; bigger ones close the connection (default 64 MiB). */
  maxFrameBytes?: number;
  /** Reconnect backoff: first delay and cap (defaults 50 ms and 2000 ms), with jitter. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** NodeId → URL dialled instead of the peer's advertised URLs. */
  dialOverrides?: Record<NodeId, string>;
}

export interface PeerStats {
  connected: boolean;
  /** Bytes waiting to be written (our queue plus the socket's buffer). */
  queuedBytes: number;
  queuedMessages: number;
  /** Messages refused because the queue was full or lost with a failed connection. */
  dropped: number;
  /** Messages written to a socket. */
  sent: number;
  /** Messages received from this member. */
  received: number;
  /** Where the next or current connection goes. */
  dialUrl: string | undefined;
}

export type PeerRequestFailure = 'remote' | 'timeout' | 'unreachable' | 'closed';

/**
 * A failed request(): `reason` says why; for 'remote' the message is the
 * handler's error message and `code` the gRPC code it carried, if any.
 */
export class PeerRequestError extends Error {
  constructor(
    message: string,
    readonly reason: PeerRequestFailure,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'PeerRequestError';
  }
}

export type RequestHandler = (from: NodeId, kind: string, payload: Uint8Array) => Promise<Uint8Array>;

interface PendingRequest {
  to: NodeId;
  resolve: (payload: Uint8Array) => void;
  reject: (err: PeerRequestError) => void;
  timer: NodeJS.Timeout;
}

const GRPC_UNIMPLEMENTED = 12;

export class PeerTransport {
  private readonly settings: LinkSettings;
  private readonly listenUrls: string[];
  private readonly servers: net.Server[] = [];
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly overrides = new Map<NodeId, string>();
  private readonly removed = new Set<NodeId>();
  private readonly inbound = new Set<net.Socket>();
  private readonly latestInbound = new Map<NodeId, net.Socket>();
  private readonly received = new Map<NodeId, number>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly unreachableBatch = new Set<NodeId>();
  private nextRequestId = 1;
  private closed = false;

  private messageCb: (m: Message) => void = () => {};
  private unreachableCb: (id: NodeId) => void = () => {};
  private snapshotStatusCb: (id: NodeId, ok: boolean) => void = () => {};
  private requestHandler: RequestHandler | undefined;

  constructor(opts: PeerTransportOptions) {
    this.settings = {
      localId: opts.localId,
      clusterId: opts.clusterId,
      log: opts.log,
      maxQueueBytes: opts.maxQueueBytes ?? 16 * 1024 * 1024,
      maxQueueMessages: opts.maxQueueMessages ?? 4096,
      maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      dialTimeoutMs: opts.dialTimeoutMs ?? 2000,
      backoffBaseMs: opts.backoffBaseMs ?? 50,
      backoffMaxMs: opts.backoffMaxMs ?? 2000,
    };
    this.listenUrls = [...opts.listenUrls];
    for (const u of this.listenUrls) parsePeerUrl(u);
    for (const [id, url] of Object.entries(opts.dialOverrides ?? {})) this.setDialOverride(id, url);
  }

  // ------------------------------------------------------------ lifecycle

  /** Listens on every listen URL; resolves with the bound ports in the same order. */
  async start(): Promise<{ ports: number[] }> {
    const ports: number[] = [];
    try {
      for (const url of this.listenUrls) {
        const { host, port } = parsePeerUrl(url);
        const server = net.createServer((socket) => this.accept(socket));
        this.servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (err) => this.settings.log('error', 'peer listener error', { url, error: err.message }));
        const addr = server.address();
        ports.push(typeof addr === 'object' && addr !== null ? addr.port : port);
        this.settings.log('info', 'listening for peers', { address: url, port: ports[ports.length - 1] });
      }
    } catch (err) {
      await this.closeServers();
      throw err;
    }
    return { ports };
  }

  /** Closes listeners, every connection and timer, and fails pending requests. No callbacks fire afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    for (const s of this.inbound) s.destroy();
    this.inbound.clear();
    this.latestInbound.clear();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new PeerRequestError('peer transport closed', 'closed'));
    }
    await this.closeServers();
  }

  private async closeServers(): Promise<void> {
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }

  // ------------------------------------------------------------ membership

  /** Registers a remote member (or updates its URLs if already known); the local id is ignored. Throws TypeError on a malformed URL. */
  addPeer(id: NodeId, urls: string[]): void {
    // The local member may be passed along with the rest of the membership; it needs no link.
    if (this.closed || id === this.settings.localId) return;
    this.removed.delete(id);
    const existing = this.links.get(id);
    if (existing) {
      existing.setUrls(urls);
      return;
    }
    const link = new PeerLink(id, urls, this.settings, {
      unreachable: (peer) => this.reportUnreachable(peer),
      snapshotStatus: (peer, ok) => this.defer(() => this.snapshotStatusCb(peer, ok)),
      response: (peer, f) => this.onResponse(peer, f),
      requestsLost: (ids, reason) => {
        for (const rid of ids) this.settle(rid, new PeerRequestError(`connection to peer ${id} lost: ${reason}`, 'unreachable'));
      },
      dialOverride: (peer) => this.overrides.get(peer),
    });
    this.links.set(id, link);
  }

  updatePeer(id: NodeId, urls: string[]): void {
    const link = this.links.get(id);
    if (link) link.setUrls(urls);
    else this.addPeer(id, urls);
  }

  /** Forgets a member: drops its queue, fails its requests, and refuses its future connections. */
  removePeer(id: NodeId): void {
    if (id === this.settings.localId) return;
    const link = this.links.get(id);
    this.removed.add(id);
    this.latestInbound.get(id)?.destroy();
    if (!link) return;
    link.close();
    this.links.delete(id);
    for (const [rid, p] of this.pending) {
      if (p.to === id) this.settle(rid, new PeerRequestError(`peer ${id} was removed`, 'unreachable'));
    }
  }

  hasPeer(id: NodeId): boolean {
    return this.links.has(id);
  }

  /** Dial `url` instead of the member's advertised URLs (undefined restores them). Takes effect on the next connection. */
  setDialOverride(id: NodeId, url: string | undefined): void {
    if (this.overrides.get(id) === url) return;
    if (url === undefined) this.overrides.delete(id);
    else {
      parsePeerUrl(url);
      this.overrides.set(id, url);
    }
    this.links.get(id)?.redial('dial override changed');
  }

  // ------------------------------------------------------------ messages

  /** Queues messages for their recipients. Never blocks and never throws. */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      try {
        this.sendOne(m);
      } catch (err) {
        this.settings.log('error', 'failed to encode raft message; dropped', {
          to: m.to,
          type: m.type,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  private sendOne(m: Message): void {
    const link = this.links.get(m.to);
    if (!link) {
      this.settings.log('debug', 'dropped message to unknown peer', { to: m.to, type: m.type });
      return;
    }
    const bytes = encodeFrame({ kind: 'message', message: m });
    const snapshotIndex = m.type === 'snap' ? m.snapshot.index : undefined;
    if (bytes.length - 8 > this.settings.maxFrameBytes || !link.enqueue(bytes, { snapshotIndex })) {
      link.dropped++;
      // etcd warns here too ("dropped internal Raft message since sending
      // buffer is full"); at most once a second per peer, with the count.
      const now = Date.now();
      if (now - link.lastDropWarning >= 1000) {
        link.lastDropWarning = now;
        this.settings.log('warn', 'dropped internal raft message: peer queue full', { to: m.to, type: m.type, 'dropped-total': link.dropped });
      }
      if (snapshotIndex !== undefined) this.defer(() => this.snapshotStatusCb(m.to, false));
      this.reportUnreachable(m.to);
    }
  }

  onMessage(cb: (m: Message) => void): void {
    this.messageCb = cb;
  }

  onUnreachable(cb: (id: NodeId) => void): void {
    this.unreachableCb = cb;
  }

  onSnapshotStatus(cb: (id: NodeId, ok: boolean) => void): void {
    this.snapshotStatusCb = cb;
  }

  // ------------------------------------------------------------ requests

  /**
   * Sends a request to a member's onRequest handler and resolves with its
   * answer. Rejects with PeerRequestError: 'remote' (the handler threw; code
   * is its gRPC code if it had one), 'timeout', 'unreachable', 'closed'.
   */
  request(to: NodeId, kind: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new PeerRequestError('peer transport closed', 'closed'));
    const link = this.links.get(to);
    if (!link) return Promise.reject(new PeerRequestError(`unknown peer ${to}`, 'unreachable'));
    const id = this.nextRequestId++;
    let frame: Buffer;
    try {
      frame = encodeFrame({ kind: 'request', id, type: kind, payload });
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(
        () => this.settle(id, new PeerRequestError(`request ${kind} to peer ${to} timed out after ${timeoutMs} ms`, 'timeout')),
        timeoutMs,
      );
      this.pending.set(id, { to, resolve, reject, timer });
      if (!link.enqueue(frame, { requestId: id })) {
        this.settle(id, new PeerRequestError(`request ${kind} to peer ${to}: queue full`, 'unreachable'));
      }
    });
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  private onResponse(peer: NodeId, f: Extract<Frame, { kind: 'responseOk' | 'responseError' }>): void {
    const p = this.pending.get(f.id);
    if (!p || p.to !== peer) return;
    if (f.kind === 'responseOk') this.settle(f.id, f.payload);
    else this.settle(f.id, new PeerRequestError(f.message, 'remote', f.code));
  }

  private settle(id: number, outcome: Uint8Array | PeerRequestError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (outcome instanceof PeerRequestError) p.reject(outcome);
    else p.resolve(outcome);
  }

  // ------------------------------------------------------------ inbound

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.on('close', () => {
      this.inbound.delete(socket);
      for (const [id, s] of this.latestInbound) if (s === socket) this.latestInbound.delete(id);
    });
    serveInbound(socket, {
      localId: this.settings.localId,
      clusterId: this.settings.clusterId,
      log: this.settings.log,
      maxFrameBytes: this.settings.maxFrameBytes,
      handshakeTimeoutMs: Math.max(5000, this.settings.dialTimeoutMs * 2),
      isRemoved: (id) => this.removed.has(id),
      accepted: (from, s) => {
        // The dialer keeps one connection per peer, so a new one means the old is dead.
        const prev = this.latestInbound.get(from);
        if (prev && prev !== s) prev.destroy();
        this.latestInbound.set(from, s);
      },
      deliver: (from, m) => {
        if (this.closed) return;
        this.received.set(from, (this.received.get(from) ?? 0) + 1);
        try {
          this.messageCb(m);
        } catch (err) {
          this.settings.log('error', 'raft message handler threw', { from, type: m.type, error: err instanceof Error ? err.message : String(err) });
        }
      },
      handleRequest: async (from, kind, payload) => {
        const handler = this.requestHandler;
        if (!handler || this.closed) throw Object.assign(new Error(`no handler for peer request ${kind}`), { code: GRPC_UNIMPLEMENTED });
        return handler(from, kind, payload);
      },
    });
  }

  // ------------------------------------------------------------ stats & callbacks

  stats(): Record<NodeId, PeerStats> {
    const out: Record<NodeId, PeerStats> = {};
    for (const [id, link] of this.links) {
      out[id] = {
        connected: link.connected,
        queuedBytes: link.pendingBytes,
        queuedMessages: link.queuedMessageCount,
        dropped: link.dropped,
        sent: link.sent,
        received: this.received.get(id) ?? 0,
        dialUrl: link.dialTarget,
      };
    }
    return out;
  }

  /** Coalesces unreachable reports within one turn and delivers them after the caller's stack unwinds. */
  private reportUnreachable(id: NodeId): void {
    if (this.unreachableBatch.size === 0) {
      queueMicrotask(() => {
        const ids = [...this.unreachableBatch];
        this.unreachableBatch.clear();
        if (this.closed) return;
        for (const peer of ids) this.invoke('unreachable', () => this.unreachableCb(peer));
      });
    }
    this.unreachableBatch.add(id);
  }

  private defer(fn: () => void): void {
    queueMicrotask(() => {
      if (!this.closed) this.invoke('snapshot status', fn);
    });
  }

  private invoke(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.settings.log('error', `${what} callback threw`, { error: err instanceof Error ? err.message : String(err) });
    }
  }
}
