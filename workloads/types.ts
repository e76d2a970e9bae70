// What the generator needs from a workload: the next operation to invoke, how
// to run it against one member's client, and the final reads after healing.
import type { EtcdClient } from '../harness/client/etcd-client.js';

export interface Invocation<V = unknown> {
  f: string;
  value: V;
}

export interface Completion<V = unknown> {
  type: 'ok' | 'fail' | 'info';
  value: V;
  revision?: number;
  memberId?: string;
  error?: string;
}

export interface Workload<V = unknown> {
  readonly name: string;
  /** The next operation for any worker; null when the workload has nothing more to do. */
  next(): Invocation<V> | null;
  /** Runs one operation; never throws (errors become fail/info completions). */
  invoke(client: EtcdClient, op: Invocation<V>): Promise<Completion<V>>;
  /** The reads to run once faults are healed: one per key the test touched. */
  finalReads(): Invocation<V>[];
}
