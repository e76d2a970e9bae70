// A private network for cluster members: one network namespace per member,
// joined by veth pairs to a Linux bridge in the root namespace. Members get
// 10.231.X.(i+1)/24 addresses that exist only inside their namespaces; the
// bridge holds 10.231.X.254 so the harness in the root namespace reaches each
// member's client port directly. There is no default route inside the
// namespaces, so members can reach nothing but each other and the harness.
//
// Every name starts with fl-<runId>- so that leftovers of a crashed run can be
// found and removed (cleanupNetnsByPrefix). Needs root, `ip` and `iptables`.

import { readFile } from 'node:fs/promises';
import { mustRun, runCommand } from './exec.js';

export interface NetnsMember {
  name: string;
  /** Namespace name: fl-<runId>-<name>. */
  ns: string;
  /** 10.231.X.(i+1) */
  ip: string;
  /** Root-side veth, enslaved to the bridge. Inside the namespace the other end is eth0. */
  veth: string;
}

export interface NetnsClusterOptions {
  /** 1-6 characters [a-z0-9]; names become fl-<runId>-... (Linux interface names are limited to 15 bytes). */
  runId: string;
  /** Member names, [A-Za-z0-9_.-]. */
  members: readonly string[];
  /** X in 10.231.X.0/24; default: a free one, chosen at random. */
  subnet?: number;
}

export type Support = { ok: true } | { ok: false; reason: string };

/** Whether this process can build namespaces: root plus the ip and iptables tools. */
export async function netnsSupport(): Promise<Support> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, reason: 'network namespaces need root (uid 0)' };
  }
  for (const tool of [['ip', '-V'], ['iptables', '-V']]) {
    const r = await runCommand(tool).catch(() => undefined);
    if (!r || r.code !== 0) return { ok: false, reason: `${tool[0]} is not available` };
  }
  return { ok: true };
}

export const netnsPrefix = (runId: string): string => `fl-${runId}-`;

/** Which X in 10.231.X.0/24 the root namespace already uses. */
async function usedSubnets(): Promise<Set<number>> {
  const out = await mustRun(['ip', '-o', '-4', 'addr', 'show']);
  const used = new Set<number>();
  for (const m of out.matchAll(/inet 10\.231\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

export class NetnsCluster {
  readonly prefix: string;
  readonly bridge: string;
  readonly bridgeIp: string;
  readonly subnet: number;
  private readonly byName: Map<string, NetnsMember>;
  /** Root-namespace iptables rules we added, as the argv after `iptables -I/-A`. */
  private readonly rootRules: string[][] = [];
  /** nat OUTPUT rules added inside member namespaces: member -> rule specs. */
  private readonly redirects = new Map<string, string[][]>();
  private closed = false;

  private constructor(readonly runId: string, subnet: number, members: NetnsMember[]) {
    this.prefix = netnsPrefix(runId);
    this.bridge = `${this.prefix}br`;
    this.subnet = subnet;
    this.bridgeIp = `10.231.${subnet}.254`;
    this.byName = new Map(members.map((m) => [m.name, m]));
  }

  get members(): NetnsMember[] {
    return [...this.byName.values()];
  }

  member(name: string): NetnsMember {
    const m = this.byName.get(name);
    if (!m) throw new Error(`unknown member ${name}`);
    return m;
  }

  ipOf(name: string): string {
    return this.member(name).ip;
  }

  /** argv that runs `argv` inside the member's namespace (for spawn/execa). */
  wrap(name: string, argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.member(name).ns, ...argv];
  }

  /** Runs a command inside the member's namespace and returns stdout; throws on failure. */
  exec(name: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    return mustRun(this.wrap(name, argv), timeoutMs);
  }

  /**
   * Steers each member's outgoing connections to a peer's peer port into the
   * proxy for that ordered pair (DNAT in the source member's namespace), so
   * every member keeps the same peer URLs (http://<member ip>:<peer port>)
   * while its traffic runs through its own proxies. Proxies must listen on
   * bridgeIp and forward to the target member's ip:peerPort.
   */
  async redirectPeerTraffic(
    proxies: readonly { from: string; to: string; port: number }[],
    peerPortOf: (member: string) => number,
  ): Promise<void> {
    for (const p of proxies) {
      const spec = [
        '-p', 'tcp', '-d', this.ipOf(p.to), '--dport', String(peerPortOf(p.to)),
        '-j', 'DNAT', '--to-destination', `${this.bridgeIp}:${p.port}`,
      ];
      await this.exec(p.from, ['iptables', '-t', 'nat', '-A', 'OUTPUT', ...spec]);
      const list = this.redirects.get(p.from) ?? [];
      list.push(spec);
      this.redirects.set(p.from, list);
    }
  }

  /** Removes exactly the rules redirectPeerTraffic added. */
  async clearPeerRedirects(): Promise<void> {
    for (const [member, specs] of [...this.redirects]) {
      for (const spec of specs) await runCommand(this.wrap(member, ['iptables', '-t', 'nat', '-D', 'OUTPUT', ...spec]));
      this.redirects.delete(member);
    }
  }

  static async create(opts: NetnsClusterOptions): Promise<NetnsCluster> {
    if (!/^[a-z0-9]{1,6}$/.test(opts.runId)) throw new Error('runId must be 1-6 characters [a-z0-9]');
    if (opts.members.length === 0 || opts.members.length > 99) throw new Error('need 1-99 members');
    for (const m of opts.members) {
      if (!/^[A-Za-z0-9_.-]+$/.test(m)) throw new Error(`bad member name ${m}`);
    }
    if (new Set(opts.members).size !== opts.members.length) throw new Error('member names must be unique');
    const support = await netnsSupport();
    if (!support.ok) throw new Error(support.reason);

    let subnet = opts.subnet;
    if (subnet === undefined) {
      const used = await usedSubnets();
      const free = Array.from({ length: 250 }, (_, i) => i + 1).filter((x) => !used.has(x));
      subnet = free[Math.floor(Math.random() * free.length)];
      if (subnet === undefined) throw new Error('no free 10.231.X.0/24 subnet');
    } else if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) {
      throw new Error('subnet must be 0..255');
    }
    const prefix = netnsPrefix(opts.runId);
    const members = opts.members.map((name, i) => ({
      name,
      ns: `${prefix}${name}`,
      ip: `10.231.${subnet}.${i + 1}`,
      veth: `${prefix}v${i}`,
    }));
    const cluster = new NetnsCluster(opts.runId, subnet, members);
    try {
      await cluster.build();
    } catch (e) {
      await cluster.close().catch(() => {});
      throw e;
    }
    return cluster;
  }

  private async build(): Promise<void> {
    const br = this.bridge;
    await mustRun(['ip', 'link', 'add', br, 'type', 'bridge']);
    await mustRun(['ip', 'addr', 'add', `${this.bridgeIp}/24`, 'dev', br]);
    await mustRun(['ip', 'link', 'set', br, 'up']);
    // With br_netfilter loaded, bridged frames traverse the root FORWARD chain,
    // whose policy Docker sets to DROP; let our bridge's own traffic through.
    await this.addRootRule(['FORWARD', '-i', br, '-o', br, '-m', 'comment', '--comment', `${this.prefix}fwd`, '-j', 'ACCEPT']);
    for (const [i, m] of this.members.entries()) {
      const inner = `${this.prefix}p${i}`;
      await mustRun(['ip', 'netns', 'add', m.ns]);
      await mustRun(['ip', 'link', 'add', m.veth, 'type', 'veth', 'peer', 'name', inner]);
      await mustRun(['ip', 'link', 'set', inner, 'netns', m.ns]);
      await mustRun(['ip', '-n', m.ns, 'link', 'set', inner, 'name', 'eth0']);
      await mustRun(['ip', '-n', m.ns, 'addr', 'add', `${m.ip}/24`, 'dev', 'eth0']);
      await mustRun(['ip', '-n', m.ns, 'link', 'set', 'eth0', 'up']);
      await mustRun(['ip', '-n', m.ns, 'link', 'set', 'lo', 'up']);
      await mustRun(['ip', 'link', 'set', m.veth, 'master', br]);
      await mustRun(['ip', 'link', 'set', m.veth, 'up']);
    }
  }

  private async addRootRule(rule: string[]): Promise<void> {
    const [chain, ...spec] = rule;
    await mustRun(['iptables', '-I', chain as string, ...spec]);
    this.rootRules.push(rule);
  }

  /**
   * Kills what still runs inside the namespaces, removes the exact root rules
   * we added, the namespaces (and with them the inner veth ends), the root
   * veths and the bridge. Idempotent; keeps going past individual failures and
   * throws the first one at the end.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: string[] = [];
    const attempt = async (argv: string[], okIfMissing = true): Promise<void> => {
      const r = await runCommand(argv);
      if (r.code !== 0 && !(okIfMissing && /cannot find|does not exist|no such|not found|bad rule/i.test(r.stderr))) {
        errors.push(`${argv.join(' ')}: ${r.stderr.trim()}`);
      }
    };
    for (const m of this.members) await killNamespaceProcesses(m.ns);
    for (const rule of this.rootRules.splice(0).reverse()) {
      const [chain, ...spec] = rule;
      await attempt(['iptables', '-D', chain as string, ...spec]);
    }
    for (const m of this.members) await attempt(['ip', 'netns', 'delete', m.ns]);
    for (const m of this.members) await attempt(['ip', 'link', 'delete', m.veth]);
    await attempt(['ip', 'link', 'delete', this.bridge]);
    if (errors.length > 0) throw new Error(`netns cleanup incomplete: ${errors.join('; ')}`);
  }
}

/** SIGKILLs the processes left in a namespace we created (ip netns pids). */
async function killNamespaceProcesses(ns: string): Promise<void> {
  const r = await runCommand(['ip', 'netns', 'pids', ns]);
  if (r.code !== 0) return;
  const self = process.pid;
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    if (!Number.isInteger(pid) || pid === self) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export interface LeftoverReport {
  namespaces: string[];
  links: string[];
  rules: string[];
}

/** Splits one `iptables -S` line into argv, honouring double quotes. */
function splitRule(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? '');
  return out;
}

/** Lists what carries `prefix` (namespaces, links, filter-table rules commented with it). */
export async function findLeftovers(prefix = 'fl-'): Promise<LeftoverReport> {
  if (!prefix.startsWith('fl-')) throw new Error('prefix must start with fl-');
  const nsOut = (await runCommand(['ip', 'netns', 'list'])).stdout;
  const namespaces = nsOut
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(prefix));
  const linkOut = (await runCommand(['ip', '-o', 'link', 'show'])).stdout;
  const links: string[] = [];
  for (const line of linkOut.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]?.startsWith(prefix)) links.push(m[1]);
  }
  const ruleOut = (await runCommand(['iptables', '-S'])).stdout;
  const rules = ruleOut
    .split('\n')
    .filter((l) => l.startsWith('-A ') && splitRule(l).some((tok, i, all) => all[i - 1] === '--comment' && tok.startsWith(prefix)));
  return { namespaces, links, rules };
}

/**
 * Removes leftovers of crashed runs whose names start with `prefix` (default
 * every Faultline run: fl-). Pass netnsPrefix(runId) to touch one run only.
 * Returns what it removed.
 */
export async function cleanupNetnsByPrefix(prefix = 'fl-'): Promise<LeftoverReport> {
  const found = await findLeftovers(prefix);
  for (const rule of found.rules) {
    const argv = splitRule(rule);
    argv[0] = '-D';
    await runCommand(['iptables', ...argv]);
  }
  for (const ns of found.namespaces) {
    await killNamespaceProcesses(ns);
    await runCommand(['ip', 'netns', 'delete', ns]);
  }
  // Deleting one end of a veth removes its peer too; bridges go last.
  const after = await findLeftovers(prefix);
  for (const link of after.links.filter((l) => !l.endsWith('br'))) await runCommand(['ip', 'link', 'delete', link]);
  for (const link of after.links.filter((l) => l.endsWith('br'))) await runCommand(['ip', 'link', 'delete', link]);
  return found;
}

/** True when br_netfilter sends bridged frames through iptables (informational). */
export async function bridgeNetfilterActive(): Promise<boolean> {
  try {
    return (await readFile('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}
