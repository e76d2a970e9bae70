// Simulated register histories for the checker tests. Processes invoke ops at
// chosen times; each op that takes effect gets a linearization point inside its
// interval (indeterminate ops: anywhere after their invocation, even past their
// completion), and effects are applied to a sequential model in point order,
// so every result is correct by construction. Revisions are assigned the way
// etcd does: one per applied write, reads see the store revision.
//
// Injectors then add one anomaly in a pause carved into the timeline, built so
// no linearization can explain it.

import fc from 'fast-check';
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

export function opSpecArb(cfg: { processes: number; keys: number }): fc.Arbitrary<OpSpec> {
  return fc.record({
    proc: fc.nat({ max: cfg.processes - 1 }),
    key: fc.nat({ max: cfg.keys - 1 }),
    f: fc.constantFrom<'read' | 'write' | 'cas'>('read', 'write', 'cas'),
    gap: fc.nat({ max: 4 }),
    dur: fc.integer({ min: 1, max: 8 }),
    lp: fc.nat({ max: 97 }),
    outcome: fc.oneof(
      { weight: 16, arbitrary: fc.constant<SpecOutcome>('ok') },
      { weight: 1, arbitrary: fc.constant<SpecOutcome>('info-applied') },
      { weight: 1, arbitrary: fc.constant<SpecOutcome>('info-lost') },
    ),
    casHit: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  });
}

export interface Scenario {
  specs: OpSpec[];
  cutPercent: number;
}

export function scenarioArb(cfg: { processes: number; keys: number; maxOps: number }): fc.Arbitrary<Scenario> {
  return fc.record({
    specs: fc.array(opSpecArb(cfg), { minLength: 1, maxLength: cfg.maxOps, size: 'max' }),
    cutPercent: fc.oneof(fc.constant(100), fc.integer({ min: 50, max: 100 })),
  });
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

export function injectionArb(keys: number): fc.Arbitrary<InjectionChoice> {
  return fc.record({
    kind: fc.constantFrom<InjectionKind>('stale-read', 'lost-write', 'duplicated-write'),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    key: fc.nat({ max: keys - 1 }),
    pick: fc.nat({ max: 1000 }),
  });
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
