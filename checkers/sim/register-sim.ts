// Simulated register histories, for the checkers' tests and for
// `faultline bench-checkers`. Processes invoke ops at chosen times; each op
// that takes effect gets a linearization point inside its interval
// (indeterminate ops: anywhere after their invocation, even past their
// completion), and effects are applied to a sequential model in point order,
// so every result is correct by construction. Revisions are assigned the way
// etcd does: one per applied write, reads see the store revision.
//
// Injectors then add one anomaly in a pause carved into the timeline, built so
// no linearization can explain it.

import { seededRandom } from '../../etcd/util/prng.js';
import type { RegisterOp, RegisterValue } from '../../harness/history.js';

export type SpecOutcome = 'ok' | 'info-applied' | 'info-lost';

export interface OpSpec {
  proc: number;
  key: number;
  f: 'read' | 'write' | 'cas';
  gap: number;
  dur: number;
  /** Where the linearization point falls, in hundredths of the interval. */
  lp: number;
  outcome: SpecOutcome;
  /** cas: expect the current value (likely success) or a value never written (certain failure). */
  casHit: boolean;
}

export interface SimOp {
  id: number;
  process: number;
  key: string;
  f: 'read' | 'write' | 'cas';
  start: number;
  /** Completion time; meaningless when !completed. */
  end: number;
  lp: number;
  outcome: 'ok' | 'fail' | 'info';
  completed: boolean;
  /** read: value returned; write: value written; cas: new value. */
  value: number | null;
  from?: number;
  modRevision?: number;
  revision?: number;
  /** Store revision right after this op's linearization point (for ops that had one). */
  storeRevision?: number;
}

export interface SimConfig {
  processes: number;
  keys: number;
  /** Percent of the timeline to keep; ops running at the cut never complete. 100 keeps everything. */
  cutPercent: number;
}

const keyName = (k: number): string => `k${k}`;

/** The union of [start, end) intervals, as disjoint intervals in order. */
function mergeIntervals(spans: readonly { start: number; end: number }[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const { start, end } of [...spans].sort((x, y) => x.start - y.start)) {
    const last = out.at(-1);
    if (last !== undefined && start <= last.end) last.end = Math.max(last.end, end);
    else out.push({ start, end });
  }
  return out;
}

const maxOf = (xs: readonly number[], floor: number): number => xs.reduce((a, b) => (b > a ? b : a), floor);

export function simulate(specs: readonly OpSpec[], cfg: SimConfig): SimOp[] {
  const cursor = new Array<number>(cfg.processes).fill(0);
  const pid = Array.from({ length: cfg.processes }, (_, i) => i);
  const ops: SimOp[] = [];
  specs.forEach((s, id) => {
    const worker = s.proc % cfg.processes;
    const start = cursor[worker]! + s.gap * 10 + 1;
    const end = start + s.dur * 10;
    const span = s.outcome === 'info-applied' ? (end - start) * 5 : end - start;
    const op: SimOp = {
      id,
      process: pid[worker]!,
      key: keyName(s.key % cfg.keys),
      f: s.f,
      start,
      end,
      lp: start + ((s.lp + 1) / 100) * span,
      outcome: s.outcome === 'ok' ? 'ok' : 'info',
      completed: true,
      value: s.f === 'read' ? null : id + 1,
    };
    cursor[worker] = end;
    // A worker whose op is indeterminate carries on as a new process.
    if (op.outcome === 'info') pid[worker] = pid[worker]! + cfg.processes;
    ops.push(op);
  });

  // Apply effects in linearization-point order.
  const state = new Map<string, { value: number | null; modRevision?: number }>();
  let revision = 1;
  const effective = ops
    .filter((o, i) => specs[i]!.outcome !== 'info-lost' && !(o.f === 'read' && o.outcome === 'info'))
    .sort((a, b) => a.lp - b.lp || a.id - b.id);
  for (const op of effective) {
    const cur = state.get(op.key) ?? { value: null };
    const spec = specs[op.id]!;
    if (op.f === 'read') {
      op.value = cur.value;
      if (cur.modRevision !== undefined) op.modRevision = cur.modRevision;
      op.revision = revision;
    } else if (op.f === 'write') {
      revision++;
      state.set(op.key, { value: op.value, modRevision: revision });
      op.revision = revision;
    } else {
      op.from = spec.casHit && cur.value !== null ? cur.value : -(op.id + 1);
      if (cur.value === op.from) {
        revision++;
        state.set(op.key, { value: op.value, modRevision: revision });
        op.revision = revision;
      } else {
        if (op.outcome === 'ok') op.outcome = 'fail';
        op.revision = revision;
      }
    }
    op.storeRevision = revision;
  }
  for (const op of ops) {
    if (op.f === 'cas' && op.from === undefined) op.from = -(op.id + 1);
    // Indeterminate ops come back without a header.
    if (op.outcome === 'info') delete op.revision;
  }

  if (cfg.cutPercent >= 100) return ops;
  const cut = (maxOf(ops.map((o) => o.start), 0) * cfg.cutPercent) / 100;
  const kept = ops.filter((o) => o.start <= cut);
  for (const op of kept) {
    if (op.end > cut) {
      op.completed = false;
      op.outcome = 'info';
      delete op.revision;
    }
  }
  return kept;
}

export function toHistory(ops: readonly SimOp[]): RegisterOp[] {
  type Ev = { time: number; op: SimOp; invoke: boolean };
  const evs: Ev[] = [];
  for (const op of ops) {
    evs.push({ time: op.start, op, invoke: true });
    if (op.completed) evs.push({ time: op.end, op, invoke: false });
  }
  evs.sort((a, b) => a.time - b.time || Number(a.invoke) - Number(b.invoke) || a.op.id - b.op.id);
  return evs.map(({ time, op, invoke }, index): RegisterOp => {
    let value: RegisterValue;
    if (op.f === 'read') {
      value = invoke || op.outcome !== 'ok' ? { key: op.key, value: null } : { key: op.key, value: op.value };
      if (!invoke && op.outcome === 'ok' && op.modRevision !== undefined) value.modRevision = op.modRevision;
    } else if (op.f === 'write') {
      value = { key: op.key, value: op.value! };
    } else {
      value = { key: op.key, from: op.from!, to: op.value! };
    }
    const event: RegisterOp = {
      index,
      type: invoke ? 'invoke' : op.outcome,
      process: op.process,
      f: op.f,
      value,
      time: Math.round(time * 1000),
    };
    if (!invoke && op.revision !== undefined) event.revision = op.revision;
    return event;
  });
}

// ---- Injected anomalies ---------------------------------------------------

export type InjectionKind = 'stale-read' | 'lost-write' | 'duplicated-write';

export interface Injection {
  ops: SimOp[];
  /** The injected op the checker must blame. */
  blamed: SimOp;
}

export interface InjectionChoice {
  kind: InjectionKind;
  /** Where to pause, as a fraction of the completed ops (0..1). */
  at: number;
  key: number;
  /** Picks among candidate writes. */
  pick: number;
}

const GAP = 100;

/** Pauses the world after time T and injects one anomaly into the pause. */
export function inject(base: readonly SimOp[], choice: InjectionChoice): Injection {
  const ops = base.map((o) => ({ ...o }));
  const key = keyName(choice.key);
  // Pause only where no acknowledged op of the key is running: such an op
  // might have taken effect after the pause, and the injected ops would then
  // contradict it too, making a second anomaly that could be found first.
  const busy = mergeIntervals(ops.filter((o) => o.key === key && o.outcome === 'ok'));
  const quiet: number[] = [];
  let b = 0;
  for (const t of ops.filter((o) => o.completed).map((o) => o.end).sort((x, y) => x - y)) {
    while (b < busy.length && busy[b]!.end <= t) b++;
    if (b === busy.length || t < busy[b]!.start) quiet.push(t);
  }
  const T = quiet.length === 0 ? maxOf(ops.map((o) => o.end), 0) : quiet[Math.min(quiet.length - 1, Math.floor(choice.at * quiet.length))]!;
  const storeRevAtT = maxOf(ops.filter((o) => o.lp <= T && o.storeRevision !== undefined).map((o) => o.storeRevision!), 1);
  for (const o of ops) {
    if (o.start > T) o.start += GAP;
    if (o.end > T) o.end += GAP;
    if (o.lp > T) o.lp += GAP;
  }
  let nextId = maxOf(ops.map((o) => o.id), -1) + 1;
  let nextPid = maxOf(ops.map((o) => o.process), -1) + 1;
  let nextRev = storeRevAtT + 1;
  let clock = T;
  const fresh = (f: SimOp['f'], value: number | null, extra: Partial<SimOp> = {}): SimOp => {
    const op: SimOp = {
      id: nextId++,
      process: nextPid++,
      key,
      f,
      start: clock + 1,
      end: clock + 2,
      lp: clock + 1.5,
      outcome: 'ok',
      completed: true,
      value,
      ...extra,
    };
    clock += 3;
    ops.push(op);
    return op;
  };
  const write = (): SimOp => {
    const value = 1_000_000 + nextId;
    return fresh('write', value, { revision: nextRev, storeRevision: nextRev++ });
  };
  const read = (value: number | null, modRevision: number | undefined, revision: number): SimOp =>
    fresh('read', value, modRevision === undefined ? { revision } : { revision, modRevision });

  // Acknowledged writes of the key that completed before the pause.
  const done = ops
    .filter((o) => o.key === key && o.f !== 'read' && o.outcome === 'ok' && o.completed && o.end <= T)
    .sort((a, b) => a.revision! - b.revision!);

  switch (choice.kind) {
    case 'stale-read': {
      const newer = done.length > 0 ? done[choice.pick % done.length]! : write();
      // Older values: the initial absence, or anything written and completed before the newer write began.
      const older = [undefined, ...done.filter((o) => o.end < newer.start)];
      const old = older[choice.pick % older.length];
      const blamed = read(old?.value ?? null, old?.revision, Math.max(storeRevAtT, newer.revision!));
      return { ops, blamed };
    }
    case 'lost-write': {
      const previous = done.at(-1);
      const blamed = write();
      read(previous?.value ?? null, previous?.revision, blamed.revision!);
      return { ops, blamed };
    }
    case 'duplicated-write': {
      // A write some later acknowledged write began after and replaced.
      const lastStart = maxOf(done.map((o) => o.start), Number.NEGATIVE_INFINITY);
      const replaced = done.filter((a) => a.end < lastStart);
      let first: SimOp;
      if (replaced.length > 0) {
        first = replaced[choice.pick % replaced.length]!;
      } else {
        first = write();
        write();
      }
      // The value shows up again as if written anew: a fresh revision, no write of it running.
      const rev = nextRev++;
      const blamed = read(first.value, rev, rev);
      return { ops, blamed };
    }
  }
}

// ---- Large histories ------------------------------------------------------

/**
 * A long history of reads, writes and cas over `keys` registers, drawn from
 * `seed`: `ops` operations on `processes` workers, `infoPercent` of them
 * indeterminate (half applied, half lost). With `anomaly`, one is injected
 * on key k0.
 */
export function benchHistory(
  ops: number,
  keys: number,
  processes: number,
  infoPercent: number,
  anomaly?: InjectionKind,
  seed = 1,
): RegisterOp[] {
  const rnd = seededRandom(seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  const fs = ['read', 'read', 'write', 'cas'] as const;
  const specs: OpSpec[] = [];
  for (let i = 0; i < ops; i++) {
    const info = rnd() * 100 < infoPercent;
    specs.push({
      proc: pick(processes),
      key: pick(keys),
      f: fs[pick(fs.length)]!,
      gap: pick(5),
      dur: 1 + pick(8),
      lp: pick(98),
      outcome: info ? (rnd() < 0.5 ? 'info-applied' : 'info-lost') : 'ok',
      casHit: rnd() < 0.75,
    });
  }
  const simulated = simulate(specs, { processes, keys, cutPercent: 100 });
  return toHistory(anomaly === undefined ? simulated : inject(simulated, { kind: anomaly, at: 0.6, key: 0, pick: 3 }).ops);
}

/**
 * A history built to make the linearizability search explode. On each key,
 * `writers` writes of distinct values all run at once (every third one
 * indeterminate) alongside `readers` reads that each see one of those values;
 * then one process reads a, b and a again, where a is written only once. No
 * order explains that, but proving it means trying the concurrent writes in
 * ever more orders: the work doubles with each writer, so from about 30
 * writers a search ends only at its budget. Keys are independent and checked
 * one after another.
 */
export function pathologicalHistory(opts: { keys: number; writers: number; readers: number; seed: number }): RegisterOp[] {
  const rnd = seededRandom(opts.seed);
  const shuffle = <T>(xs: T[]): T[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  };
  const history: RegisterOp[] = [];
  const event = (e: Omit<RegisterOp, 'index' | 'time'>): void => {
    history.push({ ...e, index: history.length, time: history.length * 1000 });
  };
  const { writers, readers } = opts;
  if (writers < 2) throw new RangeError('pathologicalHistory needs at least 2 writers per key');
  let nextProcess = 0;
  for (let k = 0; k < opts.keys; k++) {
    const key = `p${k}`;
    const base = nextProcess;
    nextProcess += writers + readers + 1;
    const values = shuffle(Array.from({ length: writers }, (_, i) => k * 1_000_000 + i + 1));
    const indeterminate = (i: number): boolean => i % 3 === 0;
    const seen = Array.from({ length: readers }, () => values[Math.floor(rnd() * writers)]!);
    for (let i = 0; i < writers; i++) event({ type: 'invoke', process: base + i, f: 'write', value: { key, value: values[i]! } });
    for (let r = 0; r < readers; r++) event({ type: 'invoke', process: base + writers + r, f: 'read', value: { key, value: null } });
    for (const i of shuffle(Array.from({ length: writers + readers }, (_, i) => i))) {
      if (i >= writers) event({ type: 'ok', process: base + i, f: 'read', value: { key, value: seen[i - writers]! } });
      else if (indeterminate(i)) event({ type: 'info', process: base + i, f: 'write', value: { key, value: values[i]! }, error: 'timeout' });
      else event({ type: 'ok', process: base + i, f: 'write', value: { key, value: values[i]! } });
    }
    // values[0] is indeterminate and values[1] acknowledged (writers >= 2).
    const reader = base + writers + readers;
    for (const v of [values[1]!, values[0]!, values[1]!]) {
      event({ type: 'invoke', process: reader, f: 'read', value: { key, value: null } });
      event({ type: 'ok', process: reader, f: 'read', value: { key, value: v } });
    }
  }
  return history;
}
