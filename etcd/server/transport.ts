// What the server needs from the peer network: deliver Raft messages, report
// unreachable peers and snapshot outcomes, and carry the few request/response
// exchanges etcd does over its peer port (forwarding lease keep-alives and
// time-to-live queries to the leader). The TCP implementation lives in
// etcd/peer; tests use an in-memory one.

import type { Message, NodeId } from '../raft/types.js';

export type RequestHandler = (from: NodeId, kind: string, payload: Uint8Array) => Promise<Uint8Array>;

export interface RaftTransport {
  /** Starts listening (if the transport listens at all). */
  start(): Promise<void>;
  /** Adds or replaces the URLs of a member. */
  addPeer(id: NodeId, urls: string[]): void;
  removePeer(id: NodeId): void;
  /** Never blocks and never throws for a slow or dead peer: undeliverable messages are dropped. */
  send(messages: Message[]): void;
  onMessage(handler: (m: Message) => void): void;
  onUnreachable(handler: (id: NodeId) => void): void;
  onSnapshotStatus(handler: (id: NodeId, status: 'finish' | 'failure') => void): void;
  /** Rejects on timeout, on an unreachable peer, or with the error the remote handler threw. */
  request(to: NodeId, kind: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  onRequest(handler: RequestHandler): void;
  close(): Promise<void>;
}

/**
 * The transport of a member that has nobody to talk to yet (tests that open a
 * lone server): messages vanish and peers are reported unreachable, exactly
 * as if they were down.
 */
export class NullTransport implements RaftTransport {
  private unreachable: (id: NodeId) => void = () => {};
  private snapshotStatus: (id: NodeId, status: 'finish' | 'failure') => void = () => {};

  async start(): Promise<void> {}
  addPeer(): void {}
  removePeer(): void {}
  send(messages: Message[]): void {
    const to = new Set(messages.map((m) => m.to));
    const snaps = messages.filter((m) => m.type === 'snap').map((m) => m.to);
    if (to.size === 0) return;
    setImmediate(() => {
      for (const id of to) this.unreachable(id);
      for (const id of snaps) this.snapshotStatus(id, 'failure');
    });
  }
  onMessage(): void {}
  onUnreachable(handler: (id: NodeId) => void): void {
    this.unreachable = handler;
  }
  onSnapshotStatus(handler: (id: NodeId, status: 'finish' | 'failure') => void): void {
    this.snapshotStatus = handler;
  }
  async request(to: NodeId): Promise<Uint8Array> {
    throw new Error(`peer ${to} is unreachable`);
  }
  onRequest(): void {}
  async close(): Promise<void> {}
}
