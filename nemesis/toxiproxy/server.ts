// A Toxiproxy-compatible control server (the HTTP API of Toxiproxy 2.x), so
// fault injection needs neither the Go binary nor root. Routes, status codes
// and error bodies follow Toxiproxy 2.12's api.go: errors are
// {"error": msg, "status": code} sent as text/plain, proxy creation answers
// 201, toxic creation 200, deletes and /reset 204.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ToxiProxy } from './proxy.js';
import {
  isToxicType,
  mergeAttributes,
  toxicJson,
  type StreamDirection,
  type ToxicSpec,
} from './toxics.js';

export const TOXIPROXY_VERSION = '2.12.0';

export interface ToxiproxyServerOptions {
  /** Address of the HTTP API; default 127.0.0.1. */
  host?: string;
  /** Port of the HTTP API; default 8474, 0 picks a free one. */
  port?: number;
}

export interface ToxiproxyServer {
  /** Base URL of the API, e.g. http://127.0.0.1:8474 */
  url: string;
  port: number;
  /** Stops every proxy, closes every proxied connection and the API listener. */
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const notFoundProxy = (): ApiError => new ApiError(404, 'proxy not found');
const notFoundToxic = (): ApiError => new ApiError(404, 'toxic not found');
const badBody = (detail: string): ApiError => new ApiError(400, `bad request body: ${detail}`);
const missing = (what: string): ApiError => new ApiError(400, `missing required field: ${what}`);

interface Reply {
  status: number;
  body?: unknown;
  /** Raw text body (GET /version is not re-encoded). */
  text?: string;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw badBody(raw.trim() === '' ? 'EOF' : (e as Error).message);
  }
}

function asObject(v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badBody('expected a JSON object');
  return v as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badBody(`field ${key} must be a string`);
  return v;
}

function optBool(o: Record<string, unknown>, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badBody(`field ${key} must be a boolean`);
  return v;
}

function optNumber(o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badBody(`field ${key} must be a number`);
  return v;
}

class ToxiproxyApi {
  readonly proxies = new Map<string, ToxiProxy>();

  async handle(method: string, path: string, raw: string): Promise<Reply> {
    const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
    const isUpdate = method === 'POST' || method === 'PATCH';
    const route = (allowed: string[], fn: () => Promise<Reply>): Promise<Reply> =>
      allowed.includes(method) ? fn() : Promise.resolve({ status: 405, text: 'Method Not Allowed\n' });

    if (parts.length === 1 && parts[0] === 'version') {
      return route(['GET'], async () => ({ status: 200, text: `{"version": "${TOXIPROXY_VERSION}"}\n` }));
    }
    if (parts.length === 1 && parts[0] === 'reset') return route(['POST'], () => this.reset());
    if (parts.length === 1 && parts[0] === 'populate') return route(['POST'], () => this.populate(raw));
    if (parts[0] !== 'proxies') return { status: 404, text: '404 page not found\n' };
    if (parts.length === 1) {
      return route(['GET', 'POST'], () => (method === 'GET' ? this.listProxies() : this.createProxy(raw)));
    }
    const name = parts[1] as string;
    if (parts.length === 2) {
      return route(['GET', 'POST', 'PATCH', 'DELETE'], async () => {
        if (method === 'GET') return { status: 200, body: this.proxy(name).toJson() };
        if (method === 'DELETE') return this.deleteProxy(name);
        return this.updateProxy(name, raw);
      });
    }
    if (parts[2] !== 'toxics') return { status: 404, text: '404 page not found\n' };
    if (parts.length === 3) {
      return route(['GET', 'POST'], async () => {
        const proxy = this.proxy(name);
        if (method === 'GET') return { status: 200, body: proxy.toxics.map(toxicJson) };
        return this.createToxic(proxy, raw);
      });
    }
    if (parts.length === 4) {
      const toxicName = parts[3] as string;
      return route(['GET', 'POST', 'PATCH', 'DELETE'], async () => {
        const proxy = this.proxy(name);
        const toxic = proxy.toxics.find((t) => t.name === toxicName);
        if (!toxic) throw notFoundToxic();
        if (method === 'GET') return { status: 200, body: toxicJson(toxic) };
        if (isUpdate) return this.updateToxic(proxy, toxic, raw);
        proxy.removeToxic(toxicName);
        return { status: 204 };
      });
    }
    return { status: 404, text: '404 page not found\n' };
  }

  private proxy(name: string): ToxiProxy {
    const p = this.proxies.get(name);
    if (!p) throw notFoundProxy();
    return p;
  }

  private async listProxies(): Promise<Reply> {
    const out: Record<string, unknown> = {};
    for (const [name, p] of this.proxies) out[name] = p.toJson();
    return { status: 200, body: out };
  }

  private readProxyInput(o: Record<string, unknown>, where = ''): { name: string; listen: string; upstream: string; enabled: boolean } {
    const name = optString(o, 'name') ?? '';
    if (name === '') throw missing(`name${where}`);
    const upstream = optString(o, 'upstream') ?? '';
    if (upstream === '') throw missing(`upstream${where}`);
    return { name, upstream, listen: optString(o, 'listen') ?? '', enabled: optBool(o, 'enabled') ?? true };
  }

  private async createProxy(raw: string): Promise<Reply> {
    const input = this.readProxyInput(asObject(parseJson(raw)));
    if (this.proxies.has(input.name)) throw new ApiError(409, 'proxy already exists');
    const proxy = new ToxiProxy(input.name, input.listen, input.upstream);
    if (input.enabled) await this.startOrFail(proxy);
    this.proxies.set(input.name, proxy);
    return { status: 201, body: proxy.toJson() };
  }

  private async startOrFail(proxy: ToxiProxy): Promise<void> {
    try {
      await proxy.start();
    } catch (e) {
      throw new ApiError(500, (e as Error).message);
    }
  }

  private async populate(raw: string): Promise<Reply> {
    const body = parseJson(raw);
    if (!Array.isArray(body)) throw badBody('expected a JSON array of proxies');
    const inputs = body.map((entry, i) => this.readProxyInput(asObject(entry), ` at proxy ${i + 1}`));
    const seen = new Set<string>();
    for (const input of inputs) {
      if (seen.has(input.name)) throw new ApiError(400, `duplicate proxy name "${input.name}"`);
      seen.add(input.name);
    }
    const applied: unknown[] = [];
    for (const input of inputs) {
      const existing = this.proxies.get(input.name);
      if (existing && existing.listen === input.listen && existing.upstream === input.upstream) {
        applied.push(existing.toJson());
        continue;
      }
      if (existing) {
        await existing.stop();
        this.proxies.delete(input.name);
      }
      const proxy = new ToxiProxy(input.name, input.listen, input.upstream);
      if (input.enabled) {
        try {
          await proxy.start();
        } catch (e) {
          throw new ApiError(500, (e as Error).message, { proxies: applied });
        }
      }
      this.proxies.set(input.name, proxy);
      applied.push(proxy.toJson());
    }
    return { status: 201, body: { proxies: applied.length === 0 ? null : applied } };
  }

  private async updateProxy(name: string, raw: string): Promise<Reply> {
    const proxy = this.proxy(name);
    const o = asObject(parseJson(raw));
    const listen = optString(o, 'listen');
    const upstream = optString(o, 'upstream');
    const enabled = optBool(o, 'enabled') ?? proxy.enabled;
    const moved = (listen !== undefined && listen !== proxy.listen) || (upstream !== undefined && upstream !== proxy.upstream);
    if (moved || !enabled) await proxy.stop();
    if (listen !== undefined) proxy.listen = listen;
    if (upstream !== undefined) proxy.upstream = upstream;
    if (enabled && !proxy.enabled) await this.startOrFail(proxy);
    return { status: 200, body: proxy.toJson() };
  }

  private async deleteProxy(name: string): Promise<Reply> {
    const proxy = this.proxy(name);
    this.proxies.delete(name);
    await proxy.stop();
    return { status: 204 };
  }

  private async createToxic(proxy: ToxiProxy, raw: string): Promise<Reply> {
    const o = asObject(parseJson(raw));
    const streamRaw = optString(o, 'stream') ?? '';
    const stream: string = streamRaw === '' ? 'downstream' : streamRaw.toLowerCase();
    if (stream !== 'upstream' && stream !== 'downstream') {
      throw new ApiError(400, 'stream was invalid, can be either upstream or downstream');
    }
    const type = o['type'];
    if (!isToxicType(type)) throw new ApiError(400, 'invalid toxic type');
    const name = optString(o, 'name') || `${type}_${stream}`;
    if (proxy.toxics.some((t) => t.name === name)) throw new ApiError(409, 'toxic already exists');
    const attrs = mergeAttributes(type, undefined, o['attributes']);
    if (!attrs.ok) throw badBody(attrs.error);
    const spec: ToxicSpec = {
      name,
      type,
      stream: stream as StreamDirection,
      toxicity: optNumber(o, 'toxicity') ?? 1,
      attributes: attrs.attributes,
    };
    proxy.addToxic(spec);
    return { status: 200, body: toxicJson(spec) };
  }

  private async updateToxic(proxy: ToxiProxy, toxic: ToxicSpec, raw: string): Promise<Reply> {
    const o = asObject(parseJson(raw));
    const attrs = mergeAttributes(toxic.type, toxic.attributes, o['attributes']);
    if (!attrs.ok) throw badBody(attrs.error);
    const updated: ToxicSpec = { ...toxic, attributes: attrs.attributes, toxicity: optNumber(o, 'toxicity') ?? toxic.toxicity };
    proxy.updateToxic(updated);
    return { status: 200, body: toxicJson(updated) };
  }

  private async reset(): Promise<Reply> {
    for (const proxy of this.proxies.values()) {
      proxy.removeAllToxics();
      if (!proxy.enabled) await this.startOrFail(proxy);
    }
    return { status: 204 };
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
    this.proxies.clear();
  }
}

function send(res: http.ServerResponse, reply: Reply): void {
  if (reply.status === 204) {
    res.writeHead(204).end();
  } else if (reply.text !== undefined) {
    res.writeHead(reply.status, { 'Content-Type': reply.status < 300 ? 'application/json' : 'text/plain; charset=utf-8' });
    res.end(reply.text);
  } else {
    res.writeHead(reply.status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(reply.body) + '\n');
  }
}

function sendError(res: http.ServerResponse, e: unknown): void {
  const err = e instanceof ApiError ? e : new ApiError(500, (e as Error).message ?? String(e));
  // Toxiproxy writes its JSON error through http.Error, hence text/plain.
  res.writeHead(err.status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(JSON.stringify({ error: err.message, status: err.status, ...err.extra }) + '\n');
}

/** Starts the API on host:port (default 127.0.0.1:8474). */
export async function startToxiproxyServer(opts: ToxiproxyServerOptions = {}): Promise<ToxiproxyServer> {
  const host = opts.host ?? '127.0.0.1';
  const api = new ToxiproxyApi();
  // Requests run one at a time so that concurrent changes (two creates of one name) cannot interleave.
  let queue: Promise<void> = Promise.resolve();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      queue = queue.then(async () => {
        if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
          res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('User agent not allowed\n');
          return;
        }
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        try {
          send(res, await api.handle(req.method ?? 'GET', path, Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          sendError(res, e);
        }
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: opts.port ?? 8474 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        await queue;
        await api.closeAll();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
