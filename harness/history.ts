// The history: what every worker and nemesis did, as Jepsen records it. Each
// operation appears twice, as an invocation and as a completion, so checkers
// can reason about concurrency from real time. history.jsonl holds one Op per
// line in the order the harness observed them.

/** ok: took effect. fail: definitely did not. info: unknown, may or may not have taken effect. */
export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

/** Worker processes are numbers; a worker whose op ended in info continues under a fresh number. */
export type ProcessId = number | 'nemesis';

export interface Op<V = unknown> {
  /** Position in the history, 0-based, dense. */
  index: number;
  type: OpType;
  process: ProcessId;
  /** The operation's function, e.g. read, write, cas; for the nemesis: start-partition, kill, ... */
  f: string;
  value: V;
  /** Nanoseconds since the test began, from a monotonic clock. */
  time: number;
  /** Name of the member the worker is bound to (completions and invocations). */
  member?: string;
  /** header.revision of the response (completions only). */
  revision?: number;
  /** header.member_id of the response, hex. */
  memberId?: string;
  /** Error text for fail/info completions. */
  error?: string;
}

// ---- Register workload (independent keys, each a CAS register) -----------

/** read: value filled on ok (null = key absent); modRevision is the read kv's mod_revision. */
export interface RegisterRead {
  key: string;
  value: number | null;
  modRevision?: number;
}
export interface RegisterWrite {
  key: string;
  value: number;
}
export interface RegisterCas {
  key: string;
  from: number;
  to: number;
}
export type RegisterValue = RegisterRead | RegisterWrite | RegisterCas;
export type RegisterOp = Op<RegisterValue>;

/** Pairs each invocation with its completion; an invocation without one behaves as info. */
export interface CompletedOp<V = unknown> {
  invoke: Op<V>;
  /** Absent when the history ended before the op completed. */
  complete?: Op<V>;
}

export function pairOps<V>(history: readonly Op<V>[]): CompletedOp<V>[] {
  const open = new Map<ProcessId, CompletedOp<V>>();
  const out: CompletedOp<V>[] = [];
  for (const op of history) {
    if (op.type === 'invoke') {
      if (open.has(op.process)) {
        throw new Error(`history: process ${String(op.process)} invoked op ${op.index} while op ${open.get(op.process)!.invoke.index} was still open`);
      }
      const entry: CompletedOp<V> = { invoke: op };
      open.set(op.process, entry);
      out.push(entry);
    } else {
      const entry = open.get(op.process);
      if (!entry) throw new Error(`history: completion ${op.index} for process ${String(op.process)} has no open invocation`);
      entry.complete = op;
      open.delete(op.process);
    }
  }
  return out;
}
