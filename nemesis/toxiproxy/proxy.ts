// A Toxiproxy proxy: a TCP listener that dials its upstream for every accepted
// connection and pipes bytes both ways through the proxy's toxics.

import net from 'node:net';
import { Link } from './link.js';
import { toxicJson, type ToxicJson, type ToxicSpec } from './toxics.js';

export interface ProxyJson {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
  toxics: ToxicJson[];
}

/** Splits "host:port" (or "[v6]:port", ":port"); localhost binds to IPv4 loopback as Toxiproxy's clients expect. */
export function parseHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' || host === 'localhost' ? '127.0.0.1' : host, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class ToxiProxy {
  private server: net.Server | undefined;
  private readonly links = new Set<Link>();
  /** Accepted clients whose upstream dial has not finished yet. */
  private readonly dialing = new Set<net.Socket>();
  /** Upstream toxics then downstream, each in creation order (Toxiproxy lists them so). */
  private toxicList: ToxicSpec[] = [];

  constructor(
    readonly name: string,
    public listen: string,
    public upstream: string,
  ) {}

  get enabled(): boolean {
    return this.server !== undefined;
  }

  get toxics(): readonly ToxicSpec[] {
    return [
      ...this.toxicList.filter((t) => t.stream === 'upstream'),
      ...this.toxicList.filter((t) => t.stream === 'downstream'),
    ];
  }

  toJson(): ProxyJson {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.toxics.map(toxicJson),
    };
  }

  /** Binds the listener; on success `listen` becomes the bound address. Throws the bind error text. */
  async start(): Promise<void> {
    if (this.server) return;
    const addr = parseHostPort(this.listen === '' ? 'localhost:0' : this.listen);
    if (!addr) throw new Error(`listen tcp ${this.listen}: address ${this.listen}: missing port in address`);
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        const reason = e.code === 'EADDRINUSE' ? 'bind: address already in use' : e.message;
        reject(new Error(`listen tcp ${formatHostPort(addr.host, addr.port)}: ${reason}`));
      });
      server.listen({ host: addr.host, port: addr.port }, () => resolve());
    });
    server.on('error', () => {});
    const bound = server.address();
    if (bound && typeof bound === 'object') this.listen = formatHostPort(bound.address, bound.port);
    this.server = server;
  }

  /** Stops listening and closes every connection; peers see a FIN and buffered data is lost. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const link of [...this.links]) link.destroy();
    this.links.clear();
    for (const s of [...this.dialing]) s.destroy();
    this.dialing.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  addToxic(spec: ToxicSpec): void {
    this.toxicList.push(spec);
    this.rechain([]);
  }

  updateToxic(spec: ToxicSpec): void {
    this.toxicList = this.toxicList.map((t) => (t.name === spec.name ? spec : t));
    this.rechain([]);
  }

  removeToxic(name: string): void {
    const removed = this.toxicList.filter((t) => t.name === name);
    this.toxicList = this.toxicList.filter((t) => t.name !== name);
    this.rechain(removed);
  }

  removeAllToxics(): void {
    const removed = this.toxicList;
    this.toxicList = [];
    this.rechain(removed);
  }

  get connectionCount(): number {
    return this.links.size;
  }

  private rechain(removed: ToxicSpec[]): void {
    for (const link of [...this.links]) link.setToxics(this.toxicList, removed);
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    const target = parseHostPort(this.upstream);
    if (!target) {
      client.destroy();
      return;
    }
    // Toxiproxy accepts first and dials afterwards: a dead upstream looks like connect-then-EOF.
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    upstream.on('error', () => {});
    upstream.pause();
    const server = this.server;
    this.dialing.add(client).add(upstream);
    const fail = (): void => {
      this.dialing.delete(client);
      this.dialing.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.off('error', fail);
      this.dialing.delete(client);
      this.dialing.delete(upstream);
      if (this.server !== server || client.destroyed) {
        fail();
        return;
      }
      const link = new Link(client, upstream, this.toxicList, () => this.links.delete(link));
      this.links.add(link);
      client.resume();
      upstream.resume();
    });
  }
}
