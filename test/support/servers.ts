// Starting single-member servers for integration tests: real etcd (when
// installed) or faultline-etcd (built into dist/ by `npm test`), both with
// the same etcd flags, waiting for /health before returning.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { execFileSync } from 'node:child_process';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const OURS_BIN = join(ROOT, 'bin', 'faultline-etcd.js');
export const OURS_BUILT = existsSync(join(ROOT, 'dist', 'etcd', 'main.js'));

export function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A free port below the ephemeral range (32768+), so it cannot collide with outgoing connections. */
/** Ports already handed out in this process: a probe releases its port, so without this two calls could agree. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (ok) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

export interface RunningServer {
  kind: 'etcd' | 'ours';
  endpoint: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  cleanup(): void;
}

export interface StartOptions {
  kind: 'etcd' | 'ours';
  /** Member name; default "default" as etcd's. */
  name?: string;
  /** --initial-cluster; default this member alone. */
  initialCluster?: string;
  clientPort?: number;
  peerPort?: number;
  dataDir?: string;
  extraFlags?: string[];
  readyTimeoutMs?: number;
}

export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const clientPort = opts.clientPort ?? (await freePort());
  const peerPort = opts.peerPort ?? (await freePort());
  const base = opts.dataDir ? undefined : mkdtempSync(join(tmpdir(), `fl-${opts.kind}-`));
  const dataDir = opts.dataDir ?? join(base!, 'data');
  const logFile = base ? join(base, `${opts.kind}-${clientPort}.log`) : `${dataDir}.log`;
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const flags = [
    '--name', opts.name ?? 'default',
    '--data-dir', dataDir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', opts.initialCluster ?? `${opts.name ?? 'default'}=${peer}`,
    ...(opts.extraFlags ?? []),
  ];
  const fd = openSync(logFile, 'a');
  const [cmd, args] = opts.kind === 'etcd' ? ['etcd', flags] : [process.execPath, [OURS_BIN, ...flags]];
  const proc = spawn(cmd, args as string[], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited = false;
  const exitedPromise = new Promise<void>((res) => proc.once('exit', () => { exited = true; res(); }));
  const server: RunningServer = {
    kind: opts.kind,
    endpoint: `127.0.0.1:${clientPort}`,
    clientPort,
    peerPort,
    dataDir,
    logFile,
    proc,
    async stop(signal = 'SIGTERM') {
      if (exited) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exitedPromise;
      clearTimeout(timer);
    },
    cleanup() {
      if (base) rmSync(base, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${opts.kind} exited during start-up; see ${logFile}`);
    try {
      const r = await fetch(`${client}/health`);
      if (r.status === 200) return server;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await server.stop('SIGKILL');
  throw new Error(`${opts.kind} did not become healthy within the timeout; see ${logFile}`);
}

export interface RunningCluster {
  members: RunningServer[];
  endpoints: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  cleanup(): void;
}

/**
 * A 3- (or N-) member cluster on 127.0.0.1 with etcd's bootstrap flags; each
 * member is a RunningServer with its own data dir. Ports are fixed by the
 * caller when two clusters must print identical URLs.
 */
export async function startCluster(opts: {
  kind: 'etcd' | 'ours';
  size?: number;
  ports?: { client: number; peer: number }[];
  token?: string;
  extraFlags?: string[];
}): Promise<RunningCluster> {
  const size = opts.size ?? 3;
  const ports = opts.ports ?? (await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), peer: await freePort() }))));
  const base = mkdtempSync(join(tmpdir(), `fl-${opts.kind}-cluster-`));
  const initialCluster = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
  const starts = ports.map((p, i) =>
    startServer({
      kind: opts.kind,
      name: `m${i + 1}`,
      clientPort: p.client,
      peerPort: p.peer,
      dataDir: join(base, `m${i + 1}`),
      initialCluster,
      extraFlags: ['--initial-cluster-token', opts.token ?? 'fl-test-cluster', ...(opts.extraFlags ?? [])],
      readyTimeoutMs: 30_000,
    }),
  );
  const settled = await Promise.allSettled(starts);
  const members = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cluster: RunningCluster = {
    members,
    endpoints: members.map((m) => m.endpoint).join(','),
    async stop(signal = 'SIGTERM') {
      await Promise.all(members.map((m) => m.stop(signal)));
    },
    cleanup() {
      rmSync(base, { recursive: true, force: true });
    },
  };
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await cluster.stop('SIGKILL');
    cluster.cleanup();
    throw (failed as PromiseRejectedResult).reason;
  }
  return cluster;
}
