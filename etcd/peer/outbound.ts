// The outbound half of the transport for one remote member: a bounded queue
// of encoded frames and at most one TCP connection, dialled lazily and
// re-dialled with capped, jittered exponential backoff. Nothing here ever
// waits on the remote: when the connection is slow or gone, frames pile up
// to the bound and further ones are refused (the caller counts the drop).

import net from 'node:net';
import type { NodeId } from '../raft/types.js';
import { FrameDecoder, PEER_PROTOCOL_VERSION, PeerCodecError, decodeFramePayload, encodeFrame, type Frame } from './codec.js';
import { parsePeerUrl } from './url.js';

export type PeerLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type PeerLogFn = (level: PeerLogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** Batches are cut at this size so one write never holds more than ~1 MiB beyond the queue bound. */
const BATCH_BYTES = 1024 * 1024;
const KEEPALIVE_DELAY_MS = 30_000;

export interface LinkSettings {
  localId: NodeId;
  clusterId: bigint;
  log: PeerLogFn;
  maxQueueBytes: number;
  maxQueueMessages: number;
  maxFrameBytes: number;
  dialTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** What a link reports back to its transport. All calls happen outside the caller's send(). */
export interface LinkEvents {
  unreachable(id: NodeId): void;
  snapshotStatus(id: NodeId, ok: boolean): void;
  response(id: NodeId, frame: Extract<Frame, { kind: 'responseOk' | 'responseError' }>): void;
  /** Requests written on a connection that died: their responses can no longer arrive. */
  requestsLost(requestIds: number[], reason: string): void;
  /** The URL to dial instead of the advertised ones, if any. */
  dialOverride(id: NodeId): string | undefined;
}

interface QueuedFrame {
  bytes: Buffer;
  /** Index of the snapshot a 'snap' message carries. */
  snapshotIndex?: number;
  requestId?: number;
}

interface Connection {
  socket: net.Socket;
  url: string;
  decoder: FrameDecoder;
  open: boolean;
  /** Waiting for 'drain' before writing more. */
  blocked: boolean;
  /** Snapshot indexes written and not yet acknowledged, oldest first. */
  unackedSnapshots: number[];
  requests: Set<number>;
  timer: NodeJS.Timeout | undefined;
  failed: boolean;
}

export class PeerLink {
  private urls: string[] = [];
  private urlCursor = 0;
  /** FIFO; slots before queueHead are spent (undefined) until the array is compacted. */
  private queue: Array<QueuedFrame | undefined> = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private conn: Connection | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private flushHandle: NodeJS.Immediate | undefined;
  private attempts = 0;
  /** Whether the current outage has been logged at warn level already. */
  private outageLogged = false;
  private closed = false;

  sent = 0;
  dropped = 0;
  /** When a queue-full drop was last logged (ms since the epoch). */
  lastDropWarning = 0;

  constructor(
    readonly id: NodeId,
    urls: readonly string[],
    private readonly settings: LinkSettings,
    private readonly events: LinkEvents,
  ) {
    this.setUrls(urls);
  }

  get connected(): boolean {
    return this.conn?.open === true;
  }

  get queuedMessageCount(): number {
    return this.queue.length - this.queueHead;
  }

  /** Bytes waiting in our queue plus those handed to the socket but not yet flushed to the kernel. */
  get pendingBytes(): number {
    return this.queuedBytes + (this.conn?.socket.writableLength ?? 0);
  }

  get dialTarget(): string | undefined {
    return this.events.dialOverride(this.id) ?? this.urls[this.urlCursor % Math.max(1, this.urls.length)];
  }

  setUrls(urls: readonly string[]): void {
    for (const u of urls) parsePeerUrl(u);
    this.urls = [...urls];
    this.urlCursor = 0;
    const conn = this.conn;
    if (conn && this.events.dialOverride(this.id) === undefined && !this.urls.includes(conn.url)) {
      this.fail(conn, 'peer URLs updated');
    }
  }

  /** Drops the connection so the next dial uses the current override or URLs. */
  redial(reason: string): void {
    if (this.conn) this.fail(this.conn, reason);
  }

  /**
   * Queues an encoded frame. Refuses (returns false) when the queue is at its
   * bound; an oversized frame is still admitted into an empty queue so a
   * large snapshot can make progress.
   */
  enqueue(bytes: Buffer, meta: { snapshotIndex?: number; requestId?: number } = {}): boolean {
    if (this.closed) return false;
    const count = this.queuedMessageCount;
    if (count > 0 && (count >= this.settings.maxQueueMessages || this.queuedBytes + bytes.length > this.settings.maxQueueBytes)) {
      return false;
    }
    this.queue.push({ bytes, ...meta });
    this.queuedBytes += bytes.length;
    this.scheduleFlush();
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushHandle !== undefined || this.closed) return;
    this.flushHandle = setImmediate(() => {
      this.flushHandle = undefined;
      this.flush();
    });
  }

  private shift(): QueuedFrame | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const f = this.queue[this.queueHead]!;
    this.queue[this.queueHead] = undefined;
    this.queueHead++;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.queuedBytes -= f.bytes.length;
    return f;
  }

  private flush(): void {
    if (this.closed || this.queuedMessageCount === 0) return;
    const conn = this.conn;
    if (!conn) {
      this.dial();
      return;
    }
    if (!conn.open || conn.blocked) return;
    while (this.queuedMessageCount > 0) {
      const batch: Buffer[] = [];
      let size = 0;
      while (size < BATCH_BYTES) {
        const f = this.shift();
        if (!f) break;
        batch.push(f.bytes);
        size += f.bytes.length;
        if (f.snapshotIndex !== undefined) conn.unackedSnapshots.push(f.snapshotIndex);
        if (f.requestId !== undefined) conn.requests.add(f.requestId);
        else this.sent++;
      }
      const ok = conn.socket.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, size));
      if (!ok) {
        conn.blocked = true;
        conn.socket.once('drain', () => {
          conn.blocked = false;
          if (this.conn === conn) this.flush();
        });
        return;
      }
    }
  }

  private dial(): void {
    if (this.closed || this.conn || this.backoffTimer) return;
    const url = this.dialTarget;
    if (url === undefined) {
      this.log('warn', 'no peer URL to dial', {});
      this.dropQueued();
      this.events.unreachable(this.id);
      return;
    }
    let target;
    try {
      target = parsePeerUrl(url);
    } catch (err) {
      this.log('error', 'cannot dial remote peer: bad URL', { 'remote-peer-url': url, error: (err as Error).message });
      this.dropQueued();
      this.events.unreachable(this.id);
      return;
    }
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    const conn: Connection = {
      socket,
      url,
      decoder: new FrameDecoder(this.settings.maxFrameBytes),
      open: false,
      blocked: false,
      unackedSnapshots: [],
      requests: new Set(),
      timer: undefined,
      failed: false,
    };
    this.conn = conn;
    conn.timer = setTimeout(() => this.fail(conn, `no handshake within ${this.settings.dialTimeoutMs} ms`), this.settings.dialTimeoutMs);
    socket.on('connect', () => {
      socket.write(
        encodeFrame({
          kind: 'hello',
          hello: { protocolVersion: PEER_PROTOCOL_VERSION, clusterId: this.settings.clusterId, from: this.settings.localId, to: this.id },
        }),
      );
    });
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => this.fail(conn, err.message));
    socket.on('close', () => this.fail(conn, 'connection closed by remote'));
  }

  private onData(conn: Connection, chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = conn.decoder.push(chunk).map(decodeFramePayload);
    } catch (err) {
      this.fail(conn, err instanceof PeerCodecError ? `malformed frame: ${err.message}` : String(err));
      return;
    }
    for (const f of frames) {
      if (conn.failed) return;
      this.onFrame(conn, f);
    }
  }

  private onFrame(conn: Connection, f: Frame): void {
    switch (f.kind) {
      case 'helloOk':
        if (conn.open) return this.fail(conn, 'duplicate handshake acknowledgement');
        clearTimeout(conn.timer);
        conn.timer = undefined;
        conn.open = true;
        this.attempts = 0;
        if (this.outageLogged) this.log('info', 'peer became active', { 'remote-peer-url': conn.url });
        else this.log('debug', 'established TCP streaming connection with remote peer', { 'remote-peer-url': conn.url });
        this.outageLogged = false;
        this.flush();
        return;
      case 'helloReject':
        this.log('warn', 'remote peer rejected the connection', { 'remote-peer-url': conn.url, reason: f.reason });
        this.outageLogged = true;
        return this.fail(conn, `rejected: ${f.reason}`);
      case 'snapshotAck': {
        if (!conn.open || conn.unackedSnapshots.length === 0) return this.fail(conn, 'unexpected snapshot acknowledgement');
        conn.unackedSnapshots.shift();
        this.events.snapshotStatus(this.id, true);
        return;
      }
      case 'responseOk':
      case 'responseError':
        if (!conn.requests.delete(f.id)) return this.fail(conn, `response to unknown request ${f.id}`);
        this.events.response(this.id, f);
        return;
      default:
        return this.fail(conn, `unexpected ${f.kind} frame from acceptor`);
    }
  }

  /** Tears a connection down (once), reports what it took with it, and plans the next dial. */
  private fail(conn: Connection, reason: string): void {
    if (conn.failed) return;
    conn.failed = true;
    clearTimeout(conn.timer);
    conn.socket.destroy();
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.closed) return;

    const fields = { 'remote-peer-url': conn.url, error: reason };
    if (conn.open) this.log('warn', 'lost TCP streaming connection with remote peer', fields);
    else this.log(this.outageLogged ? 'debug' : 'warn', 'failed to dial remote peer', fields);
    this.outageLogged = true;

    for (let i = 0; i < conn.unackedSnapshots.length; i++) this.events.snapshotStatus(this.id, false);
    if (conn.requests.size > 0) this.events.requestsLost([...conn.requests], reason);
    this.failQueuedSnapshotsAndRequests(reason);
    this.events.unreachable(this.id);

    this.attempts++;
    const ceiling = Math.min(this.settings.backoffMaxMs, this.settings.backoffBaseMs * 2 ** Math.min(this.attempts - 1, 30));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.urlCursor++;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.flush();
    }, delay);
  }

  /**
   * A queued snapshot would go out stale after the outage, and a queued
   * request's caller is better served by a prompt error than by its timeout:
   * fail both now. Raft messages stay queued; Raft copes with them arriving late.
   */
  private failQueuedSnapshotsAndRequests(reason: string): void {
    const kept: QueuedFrame[] = [];
    const lost: number[] = [];
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const f = this.queue[i]!;
      if (f.snapshotIndex !== undefined) {
        this.dropped++;
        this.queuedBytes -= f.bytes.length;
        this.events.snapshotStatus(this.id, false);
      } else if (f.requestId !== undefined) {
        this.queuedBytes -= f.bytes.length;
        lost.push(f.requestId);
      } else kept.push(f);
    }
    this.queue = kept;
    this.queueHead = 0;
    if (lost.length > 0) this.events.requestsLost(lost, reason);
  }

  private dropQueued(): void {
    for (let f = this.shift(); f; f = this.shift()) {
      if (f.requestId !== undefined) this.events.requestsLost([f.requestId], 'no peer URL to dial');
      else {
        this.dropped++;
        if (f.snapshotIndex !== undefined) this.events.snapshotStatus(this.id, false);
      }
    }
  }

  /** Closes the link for good: no callbacks fire afterwards. */
  close(): void {
    this.closed = true;
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      conn.failed = true;
      clearTimeout(conn.timer);
      conn.socket.destroy();
    }
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  private log(level: PeerLogLevel, msg: string, fields: Record<string, unknown>): void {
    this.settings.log(level, msg, { 'local-member-id': this.settings.localId, 'remote-peer-id': this.id, ...fields });
  }
}
