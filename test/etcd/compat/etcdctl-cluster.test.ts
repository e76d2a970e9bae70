import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, OURS_BUILT, startCluster, which, type RunningCluster } from '../../support/servers.js';
import { CLUSTER_SESSION, leaderColumn, normalise, runSession } from './etcdctl-session.js';

const etcdctl = which('etcdctl');
const etcd = which('etcd');
const reference = process.env['FAULTLINE_REFERENCE'] === 'etcd';
const reason = !etcdctl
  ? 'etcdctl is not installed (apt-get install etcd-client)'
  : !etcd
    ? 'real etcd is not installed (apt-get install etcd-server)'
    : !reference && !OURS_BUILT
      ? 'faultline-etcd is not built (run npm run build)'
      : undefined;
if (reason) console.log(`skipping the 3-member etcdctl session: ${reason}`);

describe.skipIf(reason !== undefined)('etcdctl 3.4 session against 3 members', () => {
  const clusters: RunningCluster[] = [];
  afterAll(async () => {
    for (const c of clusters) {
      await c.stop('SIGKILL');
      c.cleanup();
    }
  });

  it('prints what real etcd prints, with one leader and equal hashes on every member', async () => {
    const ports = await Promise.all([0, 1, 2].map(async () => ({ client: await freePort(), peer: await freePort() })));
    const transcripts: string[] = [];
    // FAULTLINE_REFERENCE=etcd compares real etcd with itself, to check the test.
    for (const kind of ['etcd', reference ? 'etcd' : 'ours'] as const) {
      const cluster = await startCluster({ kind, ports });
      clusters.push(cluster);
      const snapshotPath = join(tmpdir(), `fl-cluster-session-${ports[0]!.client}.db`);
      const { transcript } = await runSession(etcdctl!, cluster.endpoints, { SNAPSHOT: snapshotPath }, CLUSTER_SESSION);
      rmSync(snapshotPath, { force: true });
      const leaders = leaderColumn(transcript);
      // Two status commands (named endpoints, then --cluster), three members each.
      expect(leaders.length, `${kind}: status lines`).toBe(6);
      expect(leaders.filter((b) => b === 'true').length, `${kind}: exactly one leader per command`).toBe(2);
      const hashes = [...transcript.matchAll(/^(?:http:\/\/)?127\.0\.0\.1:\d+, (\d+)$/gm)].map((m) => m[1]);
      expect(hashes.length, `${kind}: hashkv lines`).toBe(6);
      expect(new Set(hashes).size, `${kind}: equal HashKV on every member`).toBe(1);
      const normalised = normalise(transcript, { client: ports.map((p) => String(p.client)), peer: ports.map((p) => String(p.peer)) })
        // which member leads is not deterministic
        .replace(/, (true|false), (false|true), <TERM>/g, ', <IS_LEADER>, $2, <TERM>');
      transcripts.push(normalised);
      await cluster.stop('SIGTERM');
      cluster.cleanup();
    }
    const [real, ours] = transcripts as [string, string];
    expect(ours.split('\n')).toEqual(real.split('\n'));
  }, 240_000);
});
