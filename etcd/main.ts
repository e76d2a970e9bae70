// The faultline-etcd process: parse etcd's flags, open the server core on the
// data dir, serve the client API (and metrics), stop cleanly on SIGTERM/SIGINT.

import { createServer, type Server } from 'node:http';
import { startApiServer } from './api/server.js';
import { parseFlags, type EtcdConfig } from './config/flags.js';
import { createLessorFactory } from './server/lessor-adapter.js';
import { createLogger, type Logger } from './server/logger.js';
import { createPeerTransport, dialOverridesById, discoverJoin } from './server/peer-adapter.js';
import { EtcdServer } from './server/server.js';
import { tuneHeapGrowth } from './util/heap-growth.js';
import { DataDirLockedError, SnapshotCorruptError, WalCorruptError } from './wal/errors.js';

/** Stop accepting, drain, sync, release: all within this budget, then exit regardless. */
const SHUTDOWN_BUDGET_MS = 1000;

export async function main(argv: string[]): Promise<void> {
  const outcome = parseFlags(argv, process.env);
  if (outcome.kind === 'help' || outcome.kind === 'version') {
    process.stdout.write(outcome.text);
    return;
  }
  if (outcome.kind === 'error') {
    for (const e of outcome.errors) process.stderr.write(`faultline-etcd: ${e}\n`);
    if (outcome.exitCode === 2) process.stderr.write("Run 'faultline-etcd --help' for the list of flags.\n");
    process.exit(outcome.exitCode);
  }
  const config = outcome.config;
  const heapGrowingPercent = tuneHeapGrowth();
  const log = createLogger({ level: config.logLevel, caller: 'etcdmain/etcd.go' });
  log.info('Running: ', { args: ['faultline-etcd', ...argv] });
  for (const w of outcome.warnings) log.warn(w);
  log.info('starting an etcd server', {
    'etcd-version': '3.5.17',
    name: config.name,
    'data-dir': config.dataDir,
    'listen-client-urls': config.listenClientUrls,
    'advertise-client-urls': config.advertiseClientUrls,
    'initial-advertise-peer-urls': config.initialAdvertisePeerUrls,
    'listen-peer-urls': config.listenPeerUrls,
    'initial-cluster': [...config.initialCluster].map(([n, u]) => `${n}=${u.join(',')}`).join(','),
    'initial-cluster-state': config.initialClusterState,
    'peer-dial-overrides': config.peerDialOverrides.size > 0 ? Object.fromEntries(config.peerDialOverrides) : undefined,
    'snapshot-count': config.snapshotCount,
    'quota-backend-bytes': config.quotaBackendBytes,
    'max-request-bytes': config.maxRequestBytes,
    'max-txn-ops': config.maxTxnOps,
    'auto-compaction-mode': config.autoCompactionMode,
    'auto-compaction-retention': config.autoCompactionRetention,
    'heap-growing-percent': heapGrowingPercent ?? 'set by the operator',
  });
  if (config.unsafeNoFsync) log.warn('--unsafe-no-fsync is accepted but the WAL still fsyncs');

  let server: EtcdServer;
  let exiting = false;
  const peerLog = log.child('rafthttp/transport.go');
  try {
    server = await EtcdServer.open({
      config,
      lessor: createLessorFactory(config),
      logger: log.child('etcdserver/server.go'),
      transport: (ids) => createPeerTransport({ ...ids, listenUrls: config.listenPeerUrls, dialOverrides: dialOverridesById(config), logger: peerLog }),
      discoverJoin: () => discoverJoin(config, peerLog),
      onStopped: (reason) => {
        // Removed from the cluster (etcd exits 0 then) or a fatal log error (exit 1).
        if (exiting) return;
        exiting = true;
        const removed = reason.includes('permanently removed');
        log[removed ? 'warn' : 'error']('server stopped', { reason });
        setTimeout(() => process.exit(removed ? 0 : 1), 50).unref();
      },
    });
  } catch (err) {
    if (err instanceof WalCorruptError || err instanceof SnapshotCorruptError || err instanceof DataDirLockedError) {
      log.error('failed to start etcd', { error: err.message });
      process.exit(1);
    }
    throw err;
  }

  let api: Awaited<ReturnType<typeof startApiServer>>;
  try {
    api = await startApiServer(server, { urls: config.listenClientUrls, maxRequestBytes: config.maxRequestBytes, log: log.child('embed/serve.go').log });
  } catch (err) {
    await server.close().catch(() => undefined);
    log.error('failed to listen for client traffic', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  const metricsServers = await startMetricsListeners(config, server, log);
  log.child('embed/serve.go').info('ready to serve client requests');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('received signal; shutting down', { signal });
    const hardStop = setTimeout(() => {
      log.warn('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_BUDGET_MS);
    hardStop.unref();
    void (async () => {
      // Stop taking requests first, but do not let a slow client hold up the WAL sync.
      await Promise.race([api.close().catch(() => undefined), delay(SHUTDOWN_BUDGET_MS / 2)]);
      for (const s of metricsServers) s.close();
      await server.close();
      log.info('stopped etcd server', { name: config.name, 'data-dir': config.dataDir });
      process.exit(0);
    })().catch((err: unknown) => {
      log.error('error during shutdown', { error: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** --listen-metrics-urls: /metrics and /health on their own listeners, as etcd serves them. */
async function startMetricsListeners(config: EtcdConfig, server: EtcdServer, log: Logger): Promise<Server[]> {
  const servers: Server[] = [];
  for (const raw of config.listenMetricsUrls) {
    const u = new URL(raw);
    const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port);
    const s = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(server.metricsText());
        return;
      }
      if (url.pathname === '/health') {
        const exclude = url.searchParams.getAll('exclude').filter((a): a is 'NOSPACE' | 'CORRUPT' => a === 'NOSPACE' || a === 'CORRUPT');
        server
          .healthProblem({ excludeAlarms: exclude, serializable: url.searchParams.get('serializable') === 'true' })
          .then((reason) => {
            res.writeHead(reason ? 503 : 200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ health: reason ? 'false' : 'true', reason: reason ?? '' }));
          })
          .catch(() => {
            res.writeHead(503);
            res.end();
          });
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => resolve());
    });
    log.info('serving metrics', { address: raw });
    servers.push(s);
  }
  return servers;
}
