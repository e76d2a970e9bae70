// Linearizability of the register workload. Keys are independent registers, so
// the history is split by key and each key is searched on its own
// (P-compositionality); a key's verdict never depends on another key.
//
// Failed ops did not happen and are dropped; indeterminate reads cannot
// constrain anything and are dropped too; indeterminate writes and cas may take
// effect at any point after their invocation, or never.
//
// Every key starts absent (null) unless told otherwise, and an ok read of null
// means the key was absent. Histories from Knossos's register models differ on
// both counts: those registers usually start at 0, and a read of nil there
// means the value was not recorded, so such reads constrain nothing
// (initialValue and nilReads below).

import type { Op } from '../harness/history.js';
import { callsByKey, describeCall, labelByPosition, mayWrite, registerCalls, reportedOp, showValue } from './register-calls.js';
import type { CallLabeler, RegisterCall } from './register-calls.js';
import type { Anomaly, Budget, CheckResult } from './result.js';
import { CAS, READ, WRITE, wglSearch } from './wgl.js';
import type { WglOp } from './wgl.js';

export interface LinearizableOptions {
  budget: Budget;
  /** Per key: give up on a key ('unknown') once its search has cached this many configurations. Default 2,000,000. */
  maxCacheEntries?: number;
  /** Search steps between two calls of budget.now(). Default 1024. */
  checkEvery?: number;
  /** Every key's value before the first op; null (the default) = absent. */
  initialValue?: number | null;
  /**
   * What an ok read returning null says: 'absent' (the default, faultline's
   * own histories) = the key did not exist; 'unknown' (Knossos's register
   * models) = the value was not recorded, so the read constrains nothing.
   */
  nilReads?: NilReads;
  /** How explanations refer to ops; default "op #<invocation position>, <outcome>". */
  label?: CallLabeler;
}

export type NilReads = 'absent' | 'unknown';
export const NIL_READS: readonly NilReads[] = ['absent', 'unknown'];

/** What the checker assumes about every key's register. */
interface RegisterModel {
  initial: number | null;
  nilReads: NilReads;
  label: CallLabeler;
}

interface SearchLimits {
  budget: Budget;
  maxCacheEntries: number;
  checkEvery: number;
}

export interface LinearizationFailure {
  key: string;
  /**
   * The op to blame: the first whose completion leaves the key's history up
   * to that point non-linearizable (its completion, or invocation).
   */
  op: Op;
  /** A linearization of the key's history up to just before that completion, in order. */
  prefix: Op[];
  stateAfterPrefix: number | null;
  explanation: string;
}

export interface LinearizableResult extends CheckResult {
  keys: { linearizable: string[]; notLinearizable: string[]; unknown: string[] };
  failures: LinearizationFailure[];
  /** Why some keys are unknown. */
  cause?: 'timeout' | 'cache-limit' | 'step-limit';
  /** Search steps taken over all keys. */
  steps: number;
}

export function checkLinearizable(history: readonly Op[], opts: LinearizableOptions): LinearizableResult {
  return checkLinearizableCalls(registerCalls(history), opts);
}

export function checkLinearizableCalls(calls: readonly RegisterCall[], opts: LinearizableOptions): LinearizableResult {
  const limits: SearchLimits = {
    budget: opts.budget,
    maxCacheEntries: opts.maxCacheEntries ?? 2_000_000,
    checkEvery: opts.checkEvery ?? 1024,
  };
  const model: RegisterModel = {
    initial: opts.initialValue ?? null,
    nilReads: opts.nilReads ?? 'absent',
    label: opts.label ?? labelByPosition,
  };
  const result: LinearizableResult = {
    valid: true,
    anomalies: [],
    keys: { linearizable: [], notLinearizable: [], unknown: [] },
    failures: [],
    steps: 0,
  };
  let outOfTime = false;
  for (const [key, keyCalls] of callsByKey(calls)) {
    if (outOfTime || opts.budget.now() > opts.budget.deadline) {
      outOfTime = true;
      result.cause ??= 'timeout';
      result.keys.unknown.push(key);
      continue;
    }
    const verdict = checkKey(key, keyCalls, limits, model);
    result.steps += verdict.steps;
    if (verdict.kind === 'ok') {
      result.keys.linearizable.push(key);
    } else if (verdict.kind === 'unknown') {
      result.keys.unknown.push(key);
      result.cause ??= verdict.cause;
      if (verdict.cause === 'timeout') outOfTime = true;
    } else {
      result.keys.notLinearizable.push(key);
      result.failures.push(verdict.failure);
      result.anomalies.push(verdict.anomaly);
    }
  }
  if (result.keys.notLinearizable.length > 0) result.valid = false;
  else if (result.keys.unknown.length > 0) result.valid = 'unknown';
  return result;
}

type KeyVerdict =
  | { kind: 'ok'; steps: number }
  | { kind: 'unknown'; steps: number; cause: 'timeout' | 'cache-limit' | 'step-limit' }
  | { kind: 'illegal'; steps: number; failure: LinearizationFailure; anomaly: Anomaly };

function checkKey(key: string, keyCalls: readonly RegisterCall[], limits: SearchLimits, model: RegisterModel): KeyVerdict {
  const calls = dropUnobserved(keyCalls.filter((c) => constrains(c, model)));
  const values = new Interner(model.initial);
  const toWgl = (c: RegisterCall, optional: boolean): WglOp => {
    const base = { call: c.start, ret: c.end, optional, b: 0 };
    if (c.f === 'read') return { ...base, kind: READ, a: values.id(c.value) };
    if (c.f === 'write') return { ...base, kind: WRITE, a: values.id(c.value) };
    return { ...base, kind: CAS, a: values.id(c.from ?? null), b: values.id(c.value) };
  };

  // A value nobody wrote can never be observed, so the history up to the
  // first completion of such an op is known to fail without a search; the
  // blame search below still looks for an earlier culprit.
  const impossible = firstImpossible(calls, model.initial);
  if (impossible !== undefined) {
    return blame(key, calls, toWgl, limits, model, 0, impossible.end, (steps) => illegal(key, impossible, [], model.initial, calls, steps, model));
  }

  const out = wglSearch(calls.map((c) => toWgl(c, c.outcome !== 'ok')), 0, { ...limits, prune: true });
  if (out.kind === 'ok') return { kind: 'ok', steps: out.steps };
  if (out.kind === 'unknown') return { kind: 'unknown', steps: out.steps, cause: out.cause };
  const searchOwn = (steps: number): KeyVerdict =>
    illegal(key, calls[out.stuck]!, out.prefix.map((i) => calls[i]!), values.value(out.state), calls, steps, model);
  return blame(key, calls, toWgl, limits, model, out.steps, Number.POSITIVE_INFINITY, searchOwn);
}

/** Whether a call can constrain the register: failed ops never happened; reads that returned nothing known say nothing. */
function constrains(c: RegisterCall, model: RegisterModel): boolean {
  if (c.outcome === 'fail') return false;
  if (c.f !== 'read') return true;
  return c.outcome === 'ok' && !(c.value === null && model.nilReads === 'unknown');
}

/** The value an ok read or cas saw in the register; undefined for writes. */
function observedValue(c: RegisterCall): number | null | undefined {
  if (c.f === 'read') return c.value;
  if (c.f === 'cas') return c.from ?? null;
  return undefined;
}

/** Of the ok ops that saw a value no op could have put there, the one that completed first. */
function firstImpossible(calls: readonly RegisterCall[], initial: number | null): RegisterCall | undefined {
  const written = new Set<number | null>([initial]);
  for (const c of calls) if (mayWrite(c)) written.add(c.value);
  let first: RegisterCall | undefined;
  for (const c of calls) {
    const seen = observedValue(c);
    if (c.outcome !== 'ok' || seen === undefined || written.has(seen)) continue;
    if (first === undefined || c.end < first.end) first = c;
  }
  return first;
}

/** Register values as the small integers the search works on; id 0 is the initial value. */
class Interner {
  private readonly ids = new Map<number | null, number>();
  private readonly values: (number | null)[] = [];
  constructor(initial: number | null) {
    this.id(initial);
  }
  id(v: number | null): number {
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(v, id);
      this.values.push(v);
    }
    return id;
  }
  value(id: number): number | null {
    return this.values[id] ?? null;
  }
}

/**
 * The verdict is known (the history up to position `failsBy` is not
 * linearizable); this finds whom to blame, as Knossos does: the first op whose
 * completion makes the history up to it non-linearizable. Pruning stops dead
 * paths early, so a failed search's own longest prefix is a poorer guide.
 * The work is capped; past the cap `fallback` gives the answer.
 */
function blame(
  key: string,
  calls: readonly RegisterCall[],
  toWgl: (c: RegisterCall, optional: boolean) => WglOp,
  limits: SearchLimits,
  model: RegisterModel,
  searchSteps: number,
  failsBy: number,
  fallback: (steps: number) => KeyVerdict,
): KeyVerdict {
  let steps = searchSteps;
  const budgetSteps = Math.max(200_000, 2 * searchSteps);
  /** Searches the history as it stood at position `limit`: ops still running then are indeterminate. */
  const upTo = (limit: number): { outcome: ReturnType<typeof wglSearch>; index: number[] } => {
    const sub: WglOp[] = [];
    const index: number[] = [];
    calls.forEach((c, i) => {
      if (c.start > limit) return;
      const pending = c.outcome !== 'ok' || c.end > limit;
      if (pending && c.f === 'read') return;
      sub.push(toWgl(c, pending));
      index.push(i);
    });
    const outcome = wglSearch(sub, 0, { ...limits, prune: true, maxSteps: Math.max(0, budgetSteps - (steps - searchSteps)) });
    steps += outcome.steps;
    return { outcome, index };
  };
  const ends = calls.filter((c) => c.outcome === 'ok' && c.end <= failsBy).map((c) => c.end).sort((a, b) => a - b);
  let lo = 0;
  let hi = ends.length - 1; // the history up to the last of these is known to fail
  let gaveUp = false;
  while (lo < hi && !gaveUp) {
    const mid = (lo + hi) >>> 1;
    const { outcome } = upTo(ends[mid]!);
    if (outcome.kind === 'unknown') gaveUp = true;
    else if (outcome.kind === 'illegal') hi = mid;
    else lo = mid + 1;
  }
  const culprit = calls.find((c) => c.outcome === 'ok' && c.end === ends[hi]);
  if (!gaveUp && culprit !== undefined) {
    const before = upTo(ends[hi]! - 1);
    if (before.outcome.kind === 'ok') {
      const order = before.outcome.order.map((i) => calls[before.index[i]!]!);
      let state = model.initial;
      for (const c of order) if (c.f !== 'read') state = c.value;
      return illegal(key, culprit, order, state, calls, steps, model);
    }
  }
  return fallback(steps);
}

/**
 * Drops indeterminate writes whose value nothing ever observes. Such a write
 * can only be followed by another write before anything reads the register,
 * so leaving it out never makes a history less linearizable, and each one
 * left in would double the search space.
 */
function dropUnobserved(calls: RegisterCall[]): RegisterCall[] {
  const observed = new Set<number | null>();
  for (const c of calls) {
    if (c.outcome !== 'ok') continue;
    if (c.f === 'read') observed.add(c.value);
    else if (c.f === 'cas') observed.add(c.from ?? null);
  }
  // An indeterminate cas matters when its result is observed, and then so does the value it expects.
  for (let grew = true; grew; ) {
    grew = false;
    for (const c of calls) {
      if (c.f === 'cas' && c.outcome === 'info' && observed.has(c.value) && !observed.has(c.from ?? null)) {
        observed.add(c.from ?? null);
        grew = true;
      }
    }
  }
  return calls.filter((c) => c.outcome === 'ok' || observed.has(c.value));
}

function illegal(
  key: string,
  stuck: RegisterCall,
  prefix: RegisterCall[],
  state: number | null,
  calls: readonly RegisterCall[],
  steps: number,
  model: RegisterModel,
): KeyVerdict {
  const { explanation, involved } = explain(stuck, prefix, state, calls, model);
  const failure: LinearizationFailure = {
    key,
    op: reportedOp(stuck),
    prefix: prefix.map(reportedOp),
    stateAfterPrefix: state,
    explanation,
  };
  const anomaly: Anomaly = { type: 'not-linearizable', key, ops: involved.map(reportedOp), explanation };
  return { kind: 'illegal', steps, failure, anomaly };
}

/**
 * Names the reason in the terms a person checks by hand: which write the
 * observed value came from, and which write that completed before the op
 * began had already replaced it.
 */
function explain(
  stuck: RegisterCall,
  prefix: readonly RegisterCall[],
  state: number | null,
  calls: readonly RegisterCall[],
  model: RegisterModel,
): { explanation: string; involved: RegisterCall[] } {
  const describe = (c: RegisterCall): string => describeCall(c, model.label);
  const what = `${describe(stuck)} is not linearizable`;
  const setter = lastSetter(prefix);
  const involved = new Set<RegisterCall>([stuck]);
  const generic = (): { explanation: string; involved: RegisterCall[] } => {
    if (setter !== undefined) involved.add(setter);
    // The prefix counts this key's operations, each once, while op numbers
    // count history entries (invocations and completions) of every key.
    const n = prefix.length;
    const leaves = `the longest linearizable prefix (${n} ${n === 1 ? 'operation' : 'operations'} on key ${stuck.key}, each counted once, not per history entry) leaves the register at ${showValue(state)}`;
    const setBy = setter !== undefined ? `, set by ${describe(setter)}` : ' (its initial value)';
    return {
      explanation: `${what}: no order of the operations concurrent with it allows it; ${leaves}${setBy}.`,
      involved: [...involved],
    };
  };
  if (stuck.f === 'write') return generic();

  const observed = stuck.f === 'read' ? stuck.value : (stuck.from ?? null);
  const found = stuck.f === 'read' ? '' : `it succeeded, so the register held ${showValue(observed)}; `;
  const writers = calls.filter((c) => mayWrite(c) && c.value === observed);
  if (observed !== model.initial && writers.length === 0) {
    const never =
      observed === null
        ? `the key starts at ${showValue(model.initial)} and no operation removes it`
        : `no operation ever wrote ${observed}`;
    return { explanation: `${what}: ${found}${never}.`, involved: [...involved] };
  }
  const replaced = replacement(stuck, observed, writers, calls, model.initial);
  if (replaced !== undefined) {
    const { writer, anchor, by } = replaced;
    for (const c of [writer, anchor, by]) if (c !== undefined) involved.add(c);
    const verb = by.f === 'read' ? 'observed' : by.f === 'write' ? 'wrote' : 'set';
    const began = stuck.f === 'read' ? 'the read began' : 'the cas began';
    const source =
      writer === undefined
        ? observed === null
          ? 'the key was absent only at the start, '
          : `${observed} was the register's value only at the start, `
        : `${observed} was written only by ${describe(writer)}` +
          (anchor !== undefined && anchor !== writer ? `, which ${describe(anchor)} had already observed, ` : ', ');
    return {
      explanation: `${what}: ${found}${source}but after that ${describe(by)} ${verb} ${showValue(by.value)} and completed before ${began}.`,
      involved: [...involved],
    };
  }
  return generic();
}

/**
 * For a value with one possible source (one writer, or the initial value):
 * the earliest completed op proving the value was in place, and the latest op
 * that completed before `stuck` began yet came after that proof and saw or
 * left a different value. Since the value cannot be written again, `stuck`
 * cannot have seen it.
 */
function replacement(
  stuck: RegisterCall,
  observed: number | null,
  writers: readonly RegisterCall[],
  calls: readonly RegisterCall[],
  initial: number | null,
): { writer: RegisterCall | undefined; anchor: RegisterCall | undefined; by: RegisterCall } | undefined {
  const sources = writers.length + (observed === initial ? 1 : 0);
  if (sources !== 1) return undefined;
  const writer = writers[0];
  let anchor: RegisterCall | undefined;
  let since = Number.NEGATIVE_INFINITY;
  if (writer !== undefined) {
    since = Number.POSITIVE_INFINITY;
    for (const c of calls) {
      if (c === stuck || c.outcome !== 'ok' || c.end >= stuck.start) continue;
      const proves = c === writer || (c.f === 'read' && c.value === observed) || (c.f === 'cas' && c.from === observed);
      if (proves && c.end < since) {
        since = c.end;
        anchor = c;
      }
    }
    if (anchor === undefined) return undefined;
  }
  let by: RegisterCall | undefined;
  for (const o of calls) {
    if (o === stuck || o.outcome !== 'ok' || o.value === observed) continue;
    if (o.start > since && o.end < stuck.start && (by === undefined || o.end > by.end)) by = o;
  }
  return by === undefined ? undefined : { writer, anchor, by };
}

function lastSetter(prefix: readonly RegisterCall[]): RegisterCall | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix[i]!;
    if (c.f !== 'read') return c;
  }
  return undefined;
}
