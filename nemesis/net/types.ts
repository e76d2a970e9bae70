// The contract between nemeses and the mechanisms that cut or slow the
// network between cluster members.

/**
 * node -> the nodes whose traffic it drops (incoming from them), as Jepsen's
 * grudges. A node absent from the map drops nothing.
 */
export interface Grudge {
  [node: string]: string[];
}

export type CanExpress = { ok: true } | { ok: false; reason: string };

export interface NetMechanism {
  readonly name: 'toxiproxy' | 'iptables';
  /** Can this mechanism express this grudge exactly? If not, the reason. */
  canExpress(grudge: Grudge): CanExpress;
  /** Replaces any current partition with this grudge. Throws if !canExpress(grudge). */
  partition(grudge: Grudge): Promise<void>;
  /** Removes every partition rule; slowness stays until fast(). */
  heal(): Promise<void>;
  /** Delays every message between members by latency ± jitter (toxiproxy only). */
  slow?(opts: { latencyMs: number; jitterMs: number }): Promise<void>;
  /** Undoes slow(). */
  fast?(): Promise<void>;
  /** Removes everything the mechanism created. */
  close(): Promise<void>;
}
