import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, OURS_BUILT, startServer, which, type RunningServer } from '../../support/servers.js';
import { normalise, runSession } from './etcdctl-session.js';

const etcdctl = which('etcdctl');
const etcd = which('etcd');
const reason = !etcdctl
  ? 'etcdctl is not installed (apt-get install etcd-client)'
  : !etcd
    ? 'real etcd is not installed (apt-get install etcd-server)'
    : !OURS_BUILT
      ? 'faultline-etcd is not built (run npm run build)'
      : undefined;
if (reason) console.log(`skipping the etcdctl compatibility session: ${reason}`);

describe.skipIf(reason !== undefined)('etcdctl 3.4 session: faultline-etcd prints what real etcd prints', () => {
  const started: RunningServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const s of started) {
      await s.stop('SIGKILL');
      s.cleanup();
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('matches after normalising IDs, terms, sizes, hashes and timings', async () => {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const transcripts: string[] = [];
    for (const kind of ['etcd', 'ours'] as const) {
      const server = await startServer({ kind, clientPort, peerPort });
      started.push(server);
      const dir = mkdtempSync(join(tmpdir(), 'fl-snap-'));
      dirs.push(dir);
      // The same snapshot path for both, so the printed path is identical.
      const snapshotPath = join(tmpdir(), `fl-session-${clientPort}.db`);
      const { transcript } = await runSession(etcdctl!, server.endpoint, { SNAPSHOT: snapshotPath });
      rmSync(snapshotPath, { force: true });
      transcripts.push(normalise(transcript, { client: String(clientPort), peer: String(peerPort) }));
      await server.stop('SIGTERM');
    }
    const [real, ours] = transcripts as [string, string];
    expect(ours.split('\n')).toEqual(real.split('\n'));
  }, 180_000);
});
