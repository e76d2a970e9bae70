// A scripted etcdctl session covering what etcdctl can express of the KV,
// lease, watch, maintenance and cluster APIs. The same script runs against
// real etcd and faultline-etcd started with the same flags; after
// normalisation (IDs, terms, raft indexes, sizes, hashes, timings, the
// server's version string) the transcripts must be identical, revisions
// included.

import { execa, type ResultPromise } from 'execa';

export type Step =
  | { kind: 'ctl'; args: string[]; stdin?: string; capture?: { name: string; re: RegExp }; sortLines?: boolean }
  | { kind: 'watch'; args: string[]; during: string[][]; settleMs: number }
  | { kind: 'sleep'; ms: number };

const ctl = (...args: string[]): Step => ({ kind: 'ctl', args });

const BIG_VALUE = 'a'.repeat(2_000_000);

export const SESSION: Step[] = [
  ctl('put', 'foo', 'bar'),
  ctl('get', 'foo'),
  ctl('get', 'foo', '-w', 'json'),
  ctl('put', 'foo', 'bar2', '--prev-kv'),
  ctl('get', 'foo', '-w', 'fields'),
  ctl('get', 'foo', '--print-value-only'),
  ctl('get', 'foo', '--keys-only'),
  ctl('put', 'foo1', 'v1'),
  ctl('put', 'foo2', 'v2'),
  ctl('put', 'foo3', 'v3'),
  ctl('put', 'zoo', 'z'),
  ctl('get', 'foo', '--prefix'),
  ctl('get', 'foo', '--prefix', '--limit', '2', '-w', 'json'),
  ctl('get', 'foo', '--prefix', '--sort-by', 'MODIFY', '--order', 'DESCEND'),
  ctl('get', 'foo', '--prefix', '--sort-by', 'VALUE', '--order', 'ASCEND', '--keys-only'),
  ctl('get', 'foo', '--prefix', '--sort-by', 'CREATE', '--order', 'DESCEND', '--limit', '3'),
  ctl('get', 'foo1', 'foo3'),
  ctl('get', '--from-key', 'foo2'),
  ctl('get', '--from-key', ''),
  ctl('get', 'foo', '--rev', '2'),
  ctl('get', 'foo', '--rev', '3', '-w', 'json'),
  ctl('get', 'foo', '--rev', '999'),
  ctl('get', 'missing'),
  ctl('get', 'missing', '-w', 'json'),
  ctl('get', 'foo', '--consistency', 's'),
  ctl('del', 'foo1'),
  ctl('del', 'nonexistent'),
  ctl('del', 'foo', '--prefix', '--prev-kv'),
  ctl('get', '', '--prefix', '-w', 'json'),
  { kind: 'ctl', args: ['txn', '-i'], stdin: 'mod("k") = "0"\n\nput k v1\nget k\n\nput k never\n\n' },
  { kind: 'ctl', args: ['txn', '-i'], stdin: 'value("k") = "nope"\n\nput k wrong\n\nget k\nput k2 x\n\n' },
  { kind: 'ctl', args: ['txn', '-i', '-w', 'json'], stdin: 'version("k") > "0"\ncreate("k") < "100"\n\nput k v2\ndel k2\n\n\n' },
  { kind: 'ctl', args: ['lease', 'grant', '100'], capture: { name: 'LEASE', re: /lease ([0-9a-f]+) granted/ } },
  ctl('put', 'leased', 'lv', '--lease', '${LEASE}'),
  ctl('get', 'leased', '-w', 'json'),
  ctl('lease', 'timetolive', '${LEASE}', '--keys'),
  ctl('lease', 'list'),
  ctl('lease', 'keep-alive', '--once', '${LEASE}'),
  ctl('lease', 'revoke', '${LEASE}'),
  ctl('get', 'leased'),
  ctl('lease', 'timetolive', '${LEASE}'),
  ctl('lease', 'revoke', '${LEASE}'),
  ctl('put', 'nolease', 'x', '--lease', '1234abcd'),
  ctl('put', 'nokey', '--ignore-value'),
  { kind: 'watch', args: ['watch', 'w', '--prev-kv'], during: [['put', 'w', 'one'], ['put', 'w', 'two'], ['del', 'w']], settleMs: 700 },
  { kind: 'watch', args: ['watch', 'foo', '--prefix', '--rev', '2'], during: [], settleMs: 700 },
  { kind: 'watch', args: ['watch', 'w', '--rev', '1', '--prev-kv'], during: [], settleMs: 700 },
  ctl('compaction', '5'),
  ctl('get', 'foo', '--rev', '3'),
  ctl('get', 'k', '--rev', '5'),
  ctl('compaction', '4'),
  { kind: 'watch', args: ['watch', 'foo', '--rev', '2'], during: [], settleMs: 700 },
  ctl('defrag'),
  ctl('put', '', 'empty'),
  { kind: 'ctl', args: ['put', 'big'], stdin: BIG_VALUE },
  ctl('get', 'big'),
  ctl('member', 'list'),
  ctl('member', 'list', '-w', 'json'),
  ctl('endpoint', 'status'),
  ctl('endpoint', 'status', '-w', 'json'),
  ctl('endpoint', 'health'),
  ctl('endpoint', 'hashkv'),
  ctl('alarm', 'list'),
  ctl('alarm', 'disarm'),
  ctl('snapshot', 'save', '${SNAPSHOT}'),
  ctl('put', 'final', 'done'),
  ctl('get', '', '--prefix', '--keys-only'),
];

export interface SessionResult {
  transcript: string;
}

function substitute(args: string[], vars: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\$\{(\w+)\}/g, (_m, name: string) => vars[name] ?? `<unset ${name}>`));
}

function block(title: string, out: { stdout: string; stderr: string; exitCode: number | undefined }): string {
  return `$ etcdctl ${title}\n${out.stdout}${out.stdout.endsWith('\n') || out.stdout === '' ? '' : '\n'}${out.stderr ? `[stderr]\n${out.stderr}\n` : ''}[exit ${out.exitCode ?? 'signal'}]\n`;
}

/** Runs the session against one endpoint; returns the raw transcript. */
export async function runSession(etcdctl: string, endpoint: string, vars: Record<string, string>, steps: Step[] = SESSION): Promise<SessionResult> {
  const base = [`--endpoints=${endpoint}`, '--command-timeout=5s'];
  const env = { ETCDCTL_API: '3' };
  const parts: string[] = [];
  for (const step of steps) {
    if (step.kind === 'sleep') {
      await new Promise((r) => setTimeout(r, step.ms));
      continue;
    }
    if (step.kind === 'ctl') {
      const args = substitute(step.args, vars);
      const r = await execa(etcdctl, [...base, ...args], { input: step.stdin ?? '', reject: false, env, timeout: 15_000 });
      if (step.capture) {
        const m = step.capture.re.exec(r.stdout);
        if (m?.[1]) vars[step.capture.name] = m[1];
      }
      const title = args.map((a) => (a.length > 40 ? `<${a.length} bytes>` : a)).join(' ') + (step.stdin ? ` <<< ${step.stdin.length > 80 ? `<${step.stdin.length} bytes>` : JSON.stringify(step.stdin)}` : '');
      // Checks that run concurrently print in completion order.
      const sorted = (t: string) => (step.sortLines ? t.split('\n').sort().join('\n') : t);
      parts.push(block(title, { stdout: sorted(r.stdout), stderr: sorted(r.stderr), exitCode: r.exitCode }));
      continue;
    }
    // A watch runs in the background while other commands write; it is then
    // stopped and its output recorded where it started.
    const watcher: ResultPromise = execa(etcdctl, [...base, ...step.args], { reject: false, env });
    await new Promise((r) => setTimeout(r, step.settleMs));
    const during: string[] = [];
    for (const args of step.during) {
      const r = await execa(etcdctl, [...base, ...args], { reject: false, env, timeout: 15_000 });
      during.push(block(args.join(' '), { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode }));
    }
    await new Promise((r) => setTimeout(r, step.settleMs));
    watcher.kill('SIGTERM');
    const w = await watcher;
    parts.push(`$ etcdctl ${step.args.join(' ')} &\n${during.join('')}[watch output]\n${w.stdout}\n[watch stderr]\n${w.stderr}\n`);
  }
  return { transcript: parts.join('') };
}

/** Matches `digits` where no other digit stands right before or after it. */
function wholeNumber(digits: string): RegExp {
  return new RegExp(`(?<!\\d)${digits}(?!\\d)`, 'g');
}

/**
 * Replaces what legitimately differs between two servers: member, cluster and
 * lease IDs, raft terms and indexes, sizes, hashes, timings, log timestamps,
 * temporary paths, and the server's version string (faultline-etcd reports a
 * 3.5 release, real etcd here is 3.4.23).
 */
export function normalise(t: string, ports: { client: string | string[]; peer: string | string[] }): string {
  const clients = [ports.client].flat();
  const peers = [ports.peer].flat();
  const portName = (kind: string, i: number) => (clients.length === 1 ? `<${kind}_PORT>` : `<${kind}_PORT_${i + 1}>`);
  return t
    .split('\n')
    .map((line) => {
      let l = line;
      // Whole numbers only: a decimal member ID may contain a port's digits.
      clients.forEach((p, i) => (l = l.replace(wholeNumber(p), portName('CLIENT', i))));
      peers.forEach((p, i) => (l = l.replace(wholeNumber(p), portName('PEER', i))));
      // endpoint hashkv (simple): addr, hash (before the hex-ID rule, which would catch long hashes)
      l = l.replace(/^(\S+:<CLIENT_PORT(?:_\d)?>), \d+$/, '$1, <HASH>');
      // clientv3's zap log lines on stderr: timestamps, client UUIDs, durations.
      l = l.replace(/"ts":("[^"]*"|[\d.e+]+)/g, '"ts":<TS>');
      l = l.replace(/"target":"[^"]*"/g, '"target":<TARGET>');
      l = l.replace(/"took":("[^"]*"|[\d.e+-]+)/g, '"took":<TOOK>');
      l = l.replace(/"size":"[^"]*"/g, '"size":<SIZE>');
      l = l.replace(/took = [\d.]+[µmn]?s/g, 'took = <TOOK>');
      l = l.replace(/"(cluster_id|member_id|raft_term|ID|leader|raftIndex|raftTerm|raftAppliedIndex|dbSize|dbSizeInUse|hash|memberID)":\s*"?\d+"?/g, '"$1":<$1>');
      l = l.replace(/"lease":"?[1-9]\d*"?/g, '"lease":<LEASE>');
      l = l.replace(/"version":"[\d.]+"/g, '"version":<VERSION>');
      l = l.replace(/"(ClusterID|MemberID|RaftTerm)" : \d+/g, '"$1" : <$1>');
      l = l.replace(/\b[0-9a-f]{10,16}\b/g, '<HEXID>');
      l = l.replace(/\b\d+(\.\d+)? ?[kMG]?B\b/g, '<SIZE>');
      l = l.replace(/\b3\.[45]\.\d+\b/g, '<VERSION>');
      // endpoint status (simple): addr, id, version, size, leader, learner, term, index, applied, errors
      l = l.replace(/^(\S+, <HEXID>, <VERSION>, <SIZE>, (?:true|false), (?:true|false)), \d+, \d+, \d+, /, '$1, <TERM>, <INDEX>, <APPLIED>, ');
      return l;
    })
    .join('\n');
}

/**
 * The cluster session: the single-member session's commands sent to all three
 * endpoints, then what only a cluster shows: every member listed, each
 * member's status and hash, and defragmentation member by member.
 */
export const CLUSTER_SESSION: Step[] = [
  ...SESSION.filter((s) => s.kind !== 'ctl' || !['endpoint', 'member', 'defrag', 'alarm'].includes(s.args[0]!)),
  ctl('member', 'list'),
  ctl('member', 'list', '-w', 'json'),
  // Every member is named in --endpoints, so these reach each member in turn.
  ctl('endpoint', 'status'),
  { kind: 'ctl', args: ['endpoint', 'health'], sortLines: true },
  ctl('endpoint', 'hashkv'),
  // --cluster dials the members' advertised client URLs as
  // passthrough:///http://..., so the HTTP/2 :authority carries a scheme.
  ctl('endpoint', 'status', '--cluster'),
  { kind: 'ctl', args: ['endpoint', 'health', '--cluster'], sortLines: true },
  ctl('endpoint', 'hashkv', '--cluster'),
  ctl('defrag'),
  ctl('alarm', 'list'),
];

/** Leadership lands on any member; the status lines must still show exactly one leader. */
export function leaderColumn(transcript: string): string[] {
  return transcript
    .split('\n')
    .filter((l) => /^\S+, [0-9a-f]{10,16}, [\d.]+, [\d.]+ ?[kMG]?B, (true|false), /.test(l))
    .map((l) => l.split(', ')[4]!);
}
