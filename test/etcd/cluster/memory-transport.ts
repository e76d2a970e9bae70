// An in-process network for cluster tests: every member's RaftTransport is a
// port on one MemoryNetwork that delivers asynchronously (messages are
// cloned, as serialisation would), and can cut links to simulate partitions.

import type { Message, NodeId } from '../../../etcd/raft/types.js';
import type { RaftTransport, RequestHandler } from '../../../etcd/server/transport.js';

export class MemoryNetwork {
  private readonly ports = new Map<NodeId, MemoryTransport>();
  /** Directed links that drop everything: "from>to". */
  private readonly cut = new Set<string>();
  delivered = 0;
  dropped = 0;

  transport(id: NodeId): MemoryTransport {
    return this.register(new MemoryTransport(this, id));
  }

  /** Plugs in a transport (a subclass that records traffic, say), replacing any earlier one of the same id. */
  register<T extends MemoryTransport>(t: T): T {
    this.ports.set(t.id, t);
    return t;
  }

  /** Cuts both directions between every member of `side` and every other member. */
  isolate(...side: NodeId[]): void {
    for (const a of side) {
      for (const b of this.ports.keys()) {
        if (side.includes(b)) continue;
        this.cut.add(`${a}>${b}`);
        this.cut.add(`${b}>${a}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  reachable(from: NodeId, to: NodeId): boolean {
    const t = this.ports.get(to);
    return t !== undefined && !t.closed && !this.cut.has(`${from}>${to}`);
  }

  /** @internal */
  deliver(from: NodeId, m: Message): boolean {
    if (!this.reachable(from, m.to)) {
      this.dropped++;
      return false;
    }
    const copy = structuredClone(m);
    setImmediate(() => {
      const t = this.ports.get(m.to);
      // Re-check: the link may have been cut (or the member stopped) while in flight.
      if (!t || t.closed || this.cut.has(`${from}>${m.to}`)) {
        this.dropped++;
        return;
      }
      this.delivered++;
      t.receive(copy);
    });
    return true;
  }

  /** @internal */
  port(id: NodeId): MemoryTransport | undefined {
    return this.ports.get(id);
  }
}

export class MemoryTransport implements RaftTransport {
  closed = false;
  private messageHandler: (m: Message) => void = () => {};
  private unreachableHandler: (id: NodeId) => void = () => {};
  private snapshotHandler: (id: NodeId, status: 'finish' | 'failure') => void = () => {};
  private requestHandler: RequestHandler | undefined;
  readonly peers = new Map<NodeId, string[]>();

  constructor(
    private readonly net: MemoryNetwork,
    readonly id: NodeId,
  ) {}

  async start(): Promise<void> {}

  addPeer(id: NodeId, urls: string[]): void {
    this.peers.set(id, urls);
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
  }

  send(messages: Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      const ok = this.peers.has(m.to) && this.net.deliver(this.id, m);
      if (m.type === 'snap') {
        const status = ok ? 'finish' : 'failure';
        setImmediate(() => this.snapshotHandler(m.to, status));
      }
      if (!ok) setImmediate(() => this.unreachableHandler(m.to));
    }
  }

  onMessage(handler: (m: Message) => void): void {
    this.messageHandler = handler;
  }

  onUnreachable(handler: (id: NodeId) => void): void {
    this.unreachableHandler = handler;
  }

  onSnapshotStatus(handler: (id: NodeId, status: 'finish' | 'failure') => void): void {
    this.snapshotHandler = handler;
  }

  async request(to: NodeId, kind: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const target = this.net.port(to);
    if (this.closed || !target || !this.net.reachable(this.id, to) || !target.requestHandler) throw new Error(`peer ${to} is unreachable`);
    const handler = target.requestHandler;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`request to ${to} timed out`)), timeoutMs);
    });
    try {
      const reply = await Promise.race([handler(this.id, kind, new Uint8Array(payload)), timeout]);
      if (!this.net.reachable(to, this.id)) throw new Error(`peer ${to} is unreachable`);
      return new Uint8Array(reply);
    } finally {
      clearTimeout(timer);
    }
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** @internal */
  receive(m: Message): void {
    if (!this.closed) this.messageHandler(m);
  }
}
