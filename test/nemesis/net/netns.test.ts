// Network namespaces and iptables grudges on this machine (root only). Each
// member runs a small agent: a TCP echo server, a UDP receiver counting
// datagrams per source, and a control port the test drives from the root
// namespace. UDP shows which direction a one-way grudge drops.

import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import {
  cleanupNetnsByPrefix,
  findLeftovers,
  NetnsCluster,
  netnsPrefix,
  netnsSupport,
} from '../../../nemesis/net/netns.js';
import { IptablesMechanism } from '../../../nemesis/net/iptables-mechanism.js';
import { isolateNode, oneWay } from '../../../nemesis/net/grudges.js';
import { runCommand } from '../../../nemesis/net/exec.js';
import { planPeerProxies, ToxiproxyMechanism } from '../../../nemesis/net/toxiproxy-mechanism.js';
import { startToxiproxyServer, type ToxiproxyServer } from '../../../nemesis/toxiproxy/index.js';

const support = await netnsSupport();
if (!support.ok) console.log(`skipping netns tests: ${support.reason}`);

const AGENT = `
const net = require('node:net');
const dgram = require('node:dgram');
const counts = {};
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(7000, '0.0.0.0');
const udp = dgram.createSocket('udp4');
udp.on('message', (_m, r) => { counts[r.address] = (counts[r.address] || 0) + 1; });
udp.bind(7001, '0.0.0.0');
function tcpCheck(ip, done) {
  const s = net.connect({ host: ip, port: 7000 });
  const t = setTimeout(() => { s.destroy(); done('fail'); }, 1500);
  let t0 = 0;
  s.on('connect', () => { t0 = Date.now(); s.write('x'); });
  s.on('data', () => { clearTimeout(t); s.destroy(); done('ok ' + (Date.now() - t0)); });
  s.on('error', () => { clearTimeout(t); done('fail'); });
}
net.createServer((c) => {
  c.on('error', () => {});
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\\n')) >= 0) {
      const [cmd, ip, n] = buf.slice(0, i).split(' ');
      buf = buf.slice(i + 1);
      if (cmd === 'udp') {
        const out = dgram.createSocket('udp4');
        let left = Number(n);
        const next = () => left-- > 0 ? out.send('d', 7001, ip, next) : (out.close(), c.write('ok\\n'));
        next();
      } else if (cmd === 'tcp') tcpCheck(ip, (r) => c.write(r + '\\n'));
      else if (cmd === 'counts') c.write(JSON.stringify(counts) + '\\n');
      else if (cmd === 'reset') { for (const k of Object.keys(counts)) delete counts[k]; c.write('ok\\n'); }
    }
  });
}).listen(7002, '0.0.0.0', () => console.log('ready'));
`;

const runId = (): string => 't' + Math.random().toString(36).slice(2, 7).padEnd(5, '0');
const clusters: NetnsCluster[] = [];
const agents: ChildProcess[] = [];
const prefixes: string[] = [];
const toxiServers: ToxiproxyServer[] = [];

afterAll(async () => {
  for (const t of toxiServers) await t.close();
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
  for (const c of clusters) await c.close().catch((e: unknown) => console.log(String(e)));
  // Last resort if a test failed half-way: only this file's runs are touched.
  for (const p of prefixes) await cleanupNetnsByPrefix(p);
});

async function newCluster(): Promise<NetnsCluster> {
  const id = runId();
  prefixes.push(netnsPrefix(id));
  const c = await NetnsCluster.create({ runId: id, members: ['n1', 'n2', 'n3'] });
  clusters.push(c);
  return c;
}

async function startAgent(cluster: NetnsCluster, name: string): Promise<void> {
  const [cmd, ...args] = cluster.wrap(name, [process.execPath, '-e', AGENT]);
  const child = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  agents.push(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent in ${name} did not start`)), 15_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`agent in ${name} exited ${code}`)));
  });
}

/** Sends one command line to a member's agent from the root namespace. */
function ask(ip: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port: 7002 });
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${ip} to ${line}`));
    }, 5000);
    s.on('connect', () => s.write(line + '\n'));
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.trim());
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function echoFromRoot(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port: 7000 });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 2000);
    s.on('connect', () => s.write('hi'));
    s.on('data', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** UDP datagrams each member received from each other member after every pair sent `n`. */
async function udpMatrix(c: NetnsCluster, n = 5): Promise<Record<string, Record<string, number>>> {
  for (const m of c.members) expect(await ask(m.ip, 'reset')).toBe('ok');
  for (const from of c.members) {
    for (const to of c.members) if (from !== to) expect(await ask(from.ip, `udp ${to.ip} ${n}`)).toBe('ok');
  }
  await sleep(300);
  const out: Record<string, Record<string, number>> = {};
  for (const to of c.members) {
    const counts = JSON.parse(await ask(to.ip, 'counts')) as Record<string, number>;
    out[to.name] = {};
    for (const from of c.members) if (from !== to) (out[to.name] as Record<string, number>)[from.name] = counts[from.ip] ?? 0;
  }
  return out;
}

async function assertNothingLeft(prefix: string): Promise<void> {
  expect(await findLeftovers(prefix)).toEqual({ namespaces: [], links: [], rules: [] });
  expect((await runCommand(['ip', 'netns', 'list'])).stdout).not.toContain(prefix);
  expect((await runCommand(['ip', 'link'])).stdout).not.toContain(prefix);
  expect((await runCommand(['iptables', '-S'])).stdout).not.toContain(prefix);
}

describe.skipIf(!support.ok)('NetnsCluster + IptablesMechanism (root)', () => {
  it('connects members and the harness, applies a one-way grudge exactly, heals, and cleans up', async () => {
    const c = await newCluster();
    const mech = new IptablesMechanism(c);
    expect(c.members.map((m) => m.ip)).toEqual([1, 2, 3].map((i) => `10.231.${c.subnet}.${i}`));
    for (const m of c.members) await startAgent(c, m.name);
    for (const m of c.members) expect(await echoFromRoot(m.ip), `root -> ${m.name}`).toBe(true);
    expect(await ask(c.ipOf('n2'), `tcp ${c.ipOf('n1')}`)).toMatch(/^ok/);

    const before = await udpMatrix(c);
    for (const row of Object.values(before)) for (const v of Object.values(row)) expect(v).toBe(5);

    // n1 drops what n2 sends; n2 still receives from n1.
    const g = oneWay(['n1'], ['n2']);
    expect(mech.canExpress(g)).toEqual({ ok: true });
    await mech.partition(g);
    expect(await mech.rules('n1')).toEqual([`-A FL-GRUDGE -s ${c.ipOf('n2')}/32 -j DROP`]);
    expect(await mech.rules('n2')).toEqual([]);
    const during = await udpMatrix(c);
    expect(during).toEqual({
      n1: { n2: 0, n3: 5 },
      n2: { n1: 5, n3: 5 },
      n3: { n1: 5, n2: 5 },
    });
    // TCP needs both directions, so it fails both ways between n1 and n2, and nowhere else.
    expect(await ask(c.ipOf('n2'), `tcp ${c.ipOf('n1')}`)).toBe('fail');
    expect(await ask(c.ipOf('n3'), `tcp ${c.ipOf('n1')}`)).toMatch(/^ok/);
    expect(await ask(c.ipOf('n1'), `tcp ${c.ipOf('n3')}`)).toMatch(/^ok/);
    // The harness is not part of any grudge.
    expect(await echoFromRoot(c.ipOf('n1'))).toBe(true);

    // A new partition replaces the old one.
    await mech.partition(isolateNode(['n1', 'n2', 'n3'], 'n3'));
    const isolated = await udpMatrix(c);
    expect(isolated).toEqual({
      n1: { n2: 5, n3: 0 },
      n2: { n1: 5, n3: 0 },
      n3: { n1: 0, n2: 0 },
    });

    await mech.heal();
    expect(await mech.rules('n1')).toEqual([]);
    const after = await udpMatrix(c);
    for (const row of Object.values(after)) for (const v of Object.values(row)) expect(v).toBe(5);

    await mech.close();
    await c.close();
    await assertNothingLeft(c.prefix);
    // The agents lived in the namespaces; close() ended them.
    await sleep(200);
    for (const a of agents) expect(a.exitCode !== null || a.signalCode !== null).toBe(true);
  });

  it('cleanupNetnsByPrefix removes the leftovers of a run that never closed', async () => {
    const c = await newCluster();
    const [cmd, ...args] = c.wrap('n2', ['sleep', '300']);
    const orphan = spawn(cmd as string, args, { stdio: 'ignore' });
    agents.push(orphan);
    await sleep(200);
    const found = await findLeftovers(c.prefix);
    expect(found.namespaces.sort()).toEqual(c.members.map((m) => m.ns).sort());
    expect(found.links).toContain(c.bridge);
    expect(found.rules).toHaveLength(1);

    const removed = await cleanupNetnsByPrefix(c.prefix);
    expect(removed.namespaces).toHaveLength(3);
    await assertNothingLeft(c.prefix);
    await sleep(200);
    expect(orphan.signalCode).toBe('SIGKILL');
    // close() after a cleanup has nothing left to do and does not fail.
    await c.close();
  });

  it('routes each member\'s peer traffic through its own proxies with unchanged peer addresses', async () => {
    const c = await newCluster();
    const api = await startToxiproxyServer({ port: 0 });
    toxiServers.push(api);
    const plan = planPeerProxies(
      c.members.map((m) => ({ name: m.name, peerPort: 7000, host: m.ip })),
      21000 + Math.floor(Math.random() * 5000),
      { listenHost: c.bridgeIp },
    );
    expect(plan.proxies[0]?.upstream).toBe(`${c.ipOf('n2')}:7000`);
    const mech = new ToxiproxyMechanism({ apiUrl: api.url, plan });
    await mech.setup();
    await c.redirectPeerTraffic(plan.proxies, () => 7000);
    for (const m of c.members) await startAgent(c, m.name);
    const ms = (answer: string): number => Number(answer.split(' ')[1]);

    expect(await ask(c.ipOf('n2'), `tcp ${c.ipOf('n1')}`)).toMatch(/^ok/);
    await mech.partition(isolateNode(['n1', 'n2', 'n3'], 'n1'));
    expect(await ask(c.ipOf('n2'), `tcp ${c.ipOf('n1')}`)).toBe('fail');
    expect(await ask(c.ipOf('n1'), `tcp ${c.ipOf('n3')}`)).toBe('fail');
    expect(await ask(c.ipOf('n2'), `tcp ${c.ipOf('n3')}`)).toMatch(/^ok/);
    await mech.heal();
    await mech.slow({ latencyMs: 200, jitterMs: 0 });
    expect(ms(await ask(c.ipOf('n3'), `tcp ${c.ipOf('n1')}`))).toBeGreaterThanOrEqual(390);
    await mech.fast();
    expect(ms(await ask(c.ipOf('n3'), `tcp ${c.ipOf('n1')}`))).toBeLessThan(300);
    // The harness still reaches members directly, not through the proxies.
    expect(await echoFromRoot(c.ipOf('n1'))).toBe(true);

    await c.clearPeerRedirects();
    expect(await c.exec('n1', ['iptables', '-t', 'nat', '-S', 'OUTPUT'])).not.toContain('DNAT');
    await mech.close();
    await c.close();
    await assertNothingLeft(c.prefix);
  });

  it('refuses bad run ids and unknown members', async () => {
    await expect(NetnsCluster.create({ runId: 'Bad-Id!', members: ['a'] })).rejects.toThrow(/runId/);
    await expect(NetnsCluster.create({ runId: 'abc', members: ['a', 'a'] })).rejects.toThrow(/unique/);
  });
});
