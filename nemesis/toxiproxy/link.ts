// One proxied TCP connection: a client socket, an upstream socket, and for each
// direction a chain of toxics the bytes pass through in order. Modelled on
// Toxiproxy's link: "upstream" carries client->server bytes, "downstream"
// server->client bytes; a toxic change re-tosses every toxicity coin and
// restarts the chain, and data held by a waiting toxic is re-run through the
// new chain rather than lost.

import type { Socket } from 'node:net';
import type { StreamDirection, ToxicSpec } from './toxics.js';

interface Chunk {
  data: Buffer;
  /** When the proxy read it, ms (performance.now()); latency is measured from here. */
  time: number;
}

type Item = Chunk | 'eof';

interface StageOutput {
  chunks: Chunk[];
  /** Pause after passing on each chunk, µs (slicer, bandwidth pacing). */
  pauseUs?: number;
  /** Close the connection once these chunks are written (limit_data). */
  closeAfter?: boolean;
}

/** Thrown out of a waiting toxic when the chain changes; rest is what still needs processing. */
class Interrupted extends Error {
  constructor(readonly rest: Item[]) {
    super('toxic chain changed');
  }
}

function sleep(ms: number, signal: AbortSignal, rest: Item[]): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Interrupted(rest));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Interrupted(rest));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function waitForever(signal: AbortSignal, rest: Item[]): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) return reject(new Interrupted(rest));
    signal.addEventListener('abort', () => reject(new Interrupted(rest)), { once: true });
  });
}

/** Splits [start, end) into pieces of about averageSize ± sizeVariation, recursively halving. */
function sliceOffsets(start: number, end: number, avg: number, variation: number): number[] {
  if (end - start - avg <= variation || end - start <= 1) return [start, end];
  const v = Math.max(0, variation);
  const jitter = v > 0 ? Math.floor(Math.random() * (2 * v)) - v : 0;
  let mid = start + Math.floor((end - start) / 2) + jitter;
  mid = Math.min(end - 1, Math.max(start + 1, mid));
  return [...sliceOffsets(start, mid, avg, variation), ...sliceOffsets(mid, end, avg, variation)];
}

/** Per-link state a toxic keeps across chain restarts (Toxiproxy's stateful toxics). */
interface ToxicState {
  bytesTransmitted: number;
}

interface Stage {
  readonly spec: ToxicSpec;
  transform(c: Chunk, signal: AbortSignal, rest: Item[]): Promise<StageOutput>;
  /** Whether the EOF goes on down the chain. */
  onEof(signal: AbortSignal): Promise<boolean>;
  dispose(): void;
}

export interface LinkHooks {
  /** Graceful close of the whole connection: flush what was written, FIN both sides. */
  close(): void;
  /** Close both sides with an RST. */
  reset(): void;
}

function makeStage(spec: ToxicSpec, state: ToxicState, hooks: LinkHooks): Stage {
  const a = spec.attributes;
  const at = (k: string): number => a[k] ?? 0;
  const pass = async (c: Chunk): Promise<StageOutput> => ({ chunks: [c] });
  const eofPass = async (): Promise<boolean> => true;
  switch (spec.type) {
    case 'latency':
      return {
        spec,
        async transform(c, signal, rest) {
          const jitter = at('jitter');
          const delay = at('latency') + (jitter > 0 ? Math.floor(Math.random() * (2 * jitter + 1)) - jitter : 0);
          const wait = c.time + delay - performance.now();
          if (wait > 0) await sleep(wait, signal, rest);
          return { chunks: [c] };
        },
        onEof: eofPass,
        dispose() {},
      };
    case 'bandwidth':
      return {
        spec,
        async transform(c, signal, rest) {
          const rate = at('rate');
          if (rate <= 0) return waitForever(signal, rest);
          // Pace in slices worth 100 ms each so large writes trickle rather than burst.
          const sliceBytes = Math.max(1, rate * 100);
          const chunks: Chunk[] = [];
          for (let off = 0; off < c.data.length; off += sliceBytes) {
            chunks.push({ data: c.data.subarray(off, off + sliceBytes), time: c.time });
          }
          const first = chunks[0];
          if (first) await sleep(first.data.length / rate, signal, rest);
          // The first slice's time was spent above; each later slice waits its share after the previous one.
          return { chunks, pauseUs: Math.round((sliceBytes / rate) * 1000) };
        },
        onEof: eofPass,
        dispose() {},
      };
    case 'slow_close':
      return {
        spec,
        transform: pass,
        async onEof(signal) {
          await sleep(at('delay'), signal, ['eof']);
          return true;
        },
        dispose() {},
      };
    case 'timeout': {
      const ms = at('timeout');
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (ms <= 0) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => hooks.close(), ms);
      };
      arm();
      return {
        spec,
        async transform() {
          arm();
          return { chunks: [] };
        },
        async onEof() {
          hooks.close();
          return false;
        },
        dispose() {
          if (timer) clearTimeout(timer);
        },
      };
    }
    case 'reset_peer':
      return {
        spec,
        async transform(_c, signal) {
          await sleep(at('timeout'), signal, []);
          hooks.reset();
          return { chunks: [] };
        },
        onEof: eofPass,
        dispose() {},
      };
    case 'slicer':
      return {
        spec,
        async transform(c) {
          const offsets = sliceOffsets(0, c.data.length, Math.max(1, at('average_size')), at('size_variation'));
          const chunks: Chunk[] = [];
          for (let i = 1; i < offsets.length; i += 2) {
            chunks.push({ data: c.data.subarray(offsets[i - 1] ?? 0, offsets[i] ?? 0), time: c.time });
          }
          return { chunks, pauseUs: at('delay') };
        },
        onEof: eofPass,
        dispose() {},
      };
    case 'limit_data':
      return {
        spec,
        async transform(c) {
          const remaining = at('bytes') - state.bytesTransmitted;
          if (remaining <= 0) {
            hooks.close();
            return { chunks: [] };
          }
          if (c.data.length >= remaining) {
            state.bytesTransmitted += remaining;
            return { chunks: [{ data: c.data.subarray(0, remaining), time: c.time }], closeAfter: true };
          }
          state.bytesTransmitted += c.data.length;
          return { chunks: [c] };
        },
        onEof: eofPass,
        dispose() {},
      };
  }
}

/** Bytes queued from the source before we stop reading from it. */
const HIGH_WATER = 1 << 20;

/** One direction of a link: reads from src, runs the chain, writes to dst. */
export class LinkDirection {
  private queue: Item[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | undefined;
  private stages: Stage[] = [];
  private abort = new AbortController();
  private readonly states = new Map<string, ToxicState>();
  private stopped = false;
  private sawEof = false;

  constructor(
    readonly direction: StreamDirection,
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly hooks: LinkHooks,
  ) {
    src.on('data', (data: Buffer) => {
      this.push({ data, time: performance.now() });
      if (this.queuedBytes > HIGH_WATER) src.pause();
    });
    const eof = (): void => {
      if (this.sawEof) return;
      this.sawEof = true;
      this.push('eof');
    };
    src.on('end', eof);
    src.on('close', eof);
    src.on('error', eof);
  }

  start(toxics: ToxicSpec[]): void {
    this.setToxics(toxics, []);
    void this.run();
  }

  /** Rebuilds the chain (new coin tosses); removed toxics get Toxiproxy's cleanup. */
  setToxics(toxics: ToxicSpec[], removed: ToxicSpec[]): void {
    const old = this.stages;
    this.abort.abort();
    this.abort = new AbortController();
    for (const s of old) s.dispose();
    for (const r of removed) {
      this.states.delete(r.name);
      // A removed timeout toxic closes the connections it was holding (Toxiproxy's Cleanup).
      if (r.type === 'timeout' && old.some((s) => s.spec.name === r.name)) this.hooks.close();
    }
    if (this.stopped) return;
    const stages: Stage[] = [];
    for (const spec of toxics) {
      if (spec.stream !== this.direction) continue;
      if (!(Math.random() < spec.toxicity)) continue;
      let state = this.states.get(spec.name);
      if (!state) {
        state = { bytesTransmitted: 0 };
        this.states.set(spec.name, state);
      }
      stages.push(makeStage(spec, state, this.hooks));
    }
    this.stages = stages;
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    for (const s of this.stages) s.dispose();
    this.stages = [];
    this.wake?.();
  }

  private push(item: Item): void {
    if (item !== 'eof') this.queuedBytes += item.data.length;
    this.queue.push(item);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async take(): Promise<Item | undefined> {
    while (!this.stopped) {
      const item = this.queue.shift();
      if (item !== undefined) {
        if (item !== 'eof') {
          this.queuedBytes -= item.data.length;
          if (this.queuedBytes <= HIGH_WATER && this.src.isPaused()) this.src.resume();
        }
        return item;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return undefined;
  }

  private async run(): Promise<void> {
    let pending: Item[] = [];
    while (!this.stopped) {
      if (pending.length === 0) {
        const item = await this.take();
        if (item === undefined) return;
        pending = [item];
      }
      try {
        await this.processFrom(0, pending, this.stages, this.abort.signal);
        pending = [];
      } catch (e) {
        if (e instanceof Interrupted) {
          pending = e.rest;
          continue;
        }
        this.hooks.close();
        return;
      }
    }
  }

  private async processFrom(idx: number, items: Item[], stages: Stage[], signal: AbortSignal): Promise<void> {
    for (let k = 0; k < items.length; k++) {
      if (this.stopped) return;
      const item = items[k] as Item;
      const later = items.slice(k + 1);
      const stage = stages[idx];
      try {
        if (!stage) {
          if (item === 'eof') {
            this.hooks.close();
            return;
          }
          await this.write(item.data);
          continue;
        }
        if (signal.aborted) throw new Interrupted([item]);
        if (item === 'eof') {
          if (await stage.onEof(signal)) await this.processFrom(idx + 1, ['eof'], stages, signal);
          return;
        }
        const out = await stage.transform(item, signal, [item]);
        for (let i = 0; i < out.chunks.length; i++) {
          const c = out.chunks[i] as Chunk;
          try {
            await this.processFrom(idx + 1, [c], stages, signal);
            if (out.pauseUs && i < out.chunks.length - 1) await sleep(out.pauseUs / 1000, signal, []);
          } catch (e) {
            if (e instanceof Interrupted) throw new Interrupted([...e.rest, ...out.chunks.slice(i + 1)]);
            throw e;
          }
        }
        if (out.closeAfter) {
          this.hooks.close();
          return;
        }
      } catch (e) {
        if (e instanceof Interrupted) throw new Interrupted([...e.rest, ...later]);
        throw e;
      }
    }
  }

  private write(data: Buffer): Promise<void> {
    const dst = this.dst;
    if (dst.destroyed || dst.writableEnded) return Promise.resolve();
    if (dst.write(data)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        dst.off('drain', done);
        dst.off('close', done);
        resolve();
      };
      dst.on('drain', done);
      dst.on('close', done);
    });
  }
}

/** A client connection and its upstream, with both directions' toxic chains. */
export class Link {
  private readonly up: LinkDirection;
  private readonly down: LinkDirection;
  private closed = false;
  private readonly onClosed: () => void;

  constructor(client: Socket, upstream: Socket, toxics: ToxicSpec[], onClosed: () => void) {
    this.onClosed = onClosed;
    const hooks: LinkHooks = { close: () => this.close(), reset: () => this.reset() };
    this.client = client;
    this.upstream = upstream;
    this.up = new LinkDirection('upstream', client, upstream, hooks);
    this.down = new LinkDirection('downstream', upstream, client, hooks);
    for (const s of [client, upstream]) s.on('close', () => this.destroy());
    this.up.start(toxics);
    this.down.start(toxics);
  }

  readonly client: Socket;
  readonly upstream: Socket;

  setToxics(toxics: ToxicSpec[], removed: ToxicSpec[]): void {
    this.up.setToxics(toxics, removed);
    this.down.setToxics(toxics, removed);
  }

  /** FIN both ends after what has been written is flushed; force it after a grace period. */
  close(): void {
    if (this.closed) return;
    this.finish();
    for (const s of [this.client, this.upstream]) {
      s.end();
      setTimeout(() => s.destroy(), 2000).unref();
    }
  }

  reset(): void {
    if (this.closed) return;
    this.finish();
    for (const s of [this.client, this.upstream]) {
      if (!s.destroyed) s.resetAndDestroy();
    }
  }

  /** Immediate close (proxy disabled or deleted): buffered data is lost. */
  destroy(): void {
    if (!this.closed) this.finish();
    this.client.destroy();
    this.upstream.destroy();
  }

  private finish(): void {
    this.closed = true;
    this.up.stop();
    this.down.stop();
    this.onClosed();
  }
}
