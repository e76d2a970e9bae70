// Durability under kill -9: concurrent writers put unique keys; the server is
// killed at a random moment mid-load, restarted on the same data dir, and every
// put that was acknowledged before the kill must be readable. Repeated a few
// times so kills land at different points of the WAL's write/fsync cycle.

import { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { OURS_BUILT, startServer, which, type RunningServer } from '../support/servers.js';

const kind = process.env['FAULTLINE_REFERENCE'] === 'etcd' ? 'etcd' : 'ours';
const reason =
  kind === 'ours' && !OURS_BUILT ? 'faultline-etcd is not built (run npm run build)' : kind === 'etcd' && !which('etcd') ? 'etcd is not installed' : undefined;
if (reason) console.log(`skipping the crash test: ${reason}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(reason !== undefined)(`kill -9 during concurrent writes (${kind})`, () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      await s.stop('SIGKILL');
      s.cleanup();
    }
  });

  it('keeps every acknowledged put across three crashes', async () => {
    let server = await startServer({ kind });
    servers.push(server);
    const acked = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const client = new Etcd3({ hosts: `http://${server.endpoint}`, dialTimeout: 1000 });
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const key = `crash/${round}/${w}/${i}`;
          try {
            await client.put(key).value(key);
            if (!stop) acked.add(key);
          } catch {
            return; // the server died under us: this put's outcome is unknown
          }
        }
      };
      const writers = Array.from({ length: 16 }, (_, w) => writer(w));
      await sleep(300 + Math.floor(Math.random() * 700));
      // Snapshot the acknowledged set at the instant of the kill: later
      // acknowledgements cannot exist, since the process is gone.
      server.proc.kill('SIGKILL');
      stop = true;
      await Promise.allSettled(writers);
      client.close();
      await server.stop('SIGKILL');
      server = await startServer({ kind, clientPort: server.clientPort, peerPort: server.peerPort, dataDir: server.dataDir });
      servers.push(server);
      const check = new Etcd3({ hosts: `http://${server.endpoint}` });
      const present = new Set(await check.getAll().prefix('crash/').keys());
      check.close();
      const lost = [...acked].filter((k) => !present.has(k));
      expect(acked.size).toBeGreaterThan(0);
      expect(lost).toEqual([]);
    }
  }, 120_000);
});
