// Partitions as Jepsen makes them: inside the receiving member's namespace,
// `iptables -A <chain> -s <sender ip> -j DROP`. Every grudge is exact,
// including one-way cuts, because each member filters only what it receives.
// Rules live in a chain of our own (FL-GRUDGE, jumped to from INPUT) so that
// heal flushes exactly what partition added.

import { cutPairs } from './grudges.js';
import type { NetnsCluster } from './netns.js';
import type { CanExpress, Grudge, NetMechanism } from './types.js';

export const GRUDGE_CHAIN = 'FL-GRUDGE';

export class IptablesMechanism implements NetMechanism {
  readonly name = 'iptables' as const;
  /** Members whose namespace has the chain and the INPUT jump. */
  private readonly prepared = new Set<string>();
  /** Members with rules in their chain right now. */
  private readonly dirty = new Set<string>();

  constructor(private readonly cluster: NetnsCluster) {}

  canExpress(grudge: Grudge): CanExpress {
    const known = new Set(this.cluster.members.map((m) => m.name));
    for (const [to, froms] of Object.entries(grudge)) {
      for (const n of [to, ...froms]) if (!known.has(n)) return { ok: false, reason: `unknown member ${n}` };
    }
    return { ok: true };
  }

  async partition(grudge: Grudge): Promise<void> {
    const verdict = this.canExpress(grudge);
    if (!verdict.ok) throw new Error(verdict.reason);
    await this.heal();
    for (const [from, to] of cutPairs(grudge)) {
      await this.prepare(to);
      await this.cluster.exec(to, ['iptables', '-A', GRUDGE_CHAIN, '-s', this.cluster.ipOf(from), '-j', 'DROP']);
      this.dirty.add(to);
    }
  }

  async heal(): Promise<void> {
    for (const name of [...this.dirty]) {
      await this.cluster.exec(name, ['iptables', '-F', GRUDGE_CHAIN]);
      this.dirty.delete(name);
    }
  }

  /** Removes the chain and its jump from every namespace (deleting the namespaces would too). */
  async close(): Promise<void> {
    await this.heal();
    for (const name of [...this.prepared]) {
      await this.cluster.exec(name, ['iptables', '-D', 'INPUT', '-j', GRUDGE_CHAIN]).catch(() => {});
      await this.cluster.exec(name, ['iptables', '-X', GRUDGE_CHAIN]).catch(() => {});
      this.prepared.delete(name);
    }
  }

  /** The rules currently in a member's grudge chain (iptables -S), for inspection. */
  async rules(name: string): Promise<string[]> {
    if (!this.prepared.has(name)) return [];
    const out = await this.cluster.exec(name, ['iptables', '-S', GRUDGE_CHAIN]);
    return out.split('\n').filter((l) => l.startsWith('-A '));
  }

  private async prepare(name: string): Promise<void> {
    if (this.prepared.has(name)) return;
    await this.cluster.exec(name, ['iptables', '-N', GRUDGE_CHAIN]);
    await this.cluster.exec(name, ['iptables', '-I', 'INPUT', '-j', GRUDGE_CHAIN]);
    this.prepared.add(name);
  }
}
