// The register workload's operations, paired and flattened into one record per
// call so the checkers do not each re-derive values from invocations and
// completions. Positions in the history (Op.index) serve as real time: the
// harness appends events in the order it observed them.

import { pairOps } from '../harness/history.js';
import type { Op, RegisterCas, RegisterOp, RegisterRead, RegisterValue, RegisterWrite } from '../harness/history.js';

export type RegisterF = 'read' | 'write' | 'cas';
/** An invocation that never completed counts as info. */
export type Outcome = 'ok' | 'fail' | 'info';

export interface RegisterCall {
  key: string;
  f: RegisterF;
  outcome: Outcome;
  invoke: RegisterOp;
  complete?: RegisterOp;
  /** Position of the invocation. */
  start: number;
  /** Position of the completion; +Infinity when there is none. */
  end: number;
  /** read: the value returned (ok reads only, null = absent); write: the value written; cas: the new value. */
  value: number | null;
  /** cas only: the expected value. */
  from?: number;
  /** ok reads: mod_revision of the kv read, when the key existed. */
  modRevision?: number;
  /** header.revision of the completion. */
  revision?: number;
}

const REGISTER_FS: ReadonlySet<string> = new Set(['read', 'write', 'cas']);

export function isRegisterOp(op: Op): op is RegisterOp {
  if (op.process === 'nemesis' || !REGISTER_FS.has(op.f)) return false;
  const v = op.value as { key?: unknown } | null | undefined;
  return typeof v === 'object' && v !== null && typeof v.key === 'string';
}

/** Pairs the register operations of a history (other ops, e.g. the nemesis', are ignored). */
export function registerCalls(history: readonly Op[]): RegisterCall[] {
  const ops = history.filter(isRegisterOp);
  return pairOps<RegisterValue>(ops).map(({ invoke, complete }) => toCall(invoke, complete));
}

function toCall(invoke: RegisterOp, complete: RegisterOp | undefined): RegisterCall {
  const f = invoke.f as RegisterF;
  const outcome: Outcome = complete === undefined || complete.type === 'invoke' ? 'info' : complete.type;
  const call: RegisterCall = {
    key: invoke.value.key,
    f,
    outcome,
    invoke,
    start: invoke.index,
    end: complete?.index ?? Number.POSITIVE_INFINITY,
    value: null,
  };
  if (complete !== undefined) call.complete = complete;
  if (complete?.revision !== undefined) call.revision = complete.revision;
  if (f === 'read') {
    const read = (complete?.value ?? invoke.value) as RegisterRead;
    if (outcome === 'ok') {
      call.value = read.value ?? null;
      if (read.modRevision !== undefined) call.modRevision = read.modRevision;
    }
  } else if (f === 'write') {
    call.value = (invoke.value as RegisterWrite).value;
  } else {
    const cas = invoke.value as RegisterCas;
    call.value = cas.to;
    call.from = cas.from;
  }
  return call;
}

/** Groups calls by key, keys in order of first appearance. */
export function callsByKey(calls: readonly RegisterCall[]): Map<string, RegisterCall[]> {
  const byKey = new Map<string, RegisterCall[]>();
  for (const call of calls) {
    let list = byKey.get(call.key);
    if (list === undefined) {
      list = [];
      byKey.set(call.key, list);
    }
    list.push(call);
  }
  return byKey;
}

/** The op to show a person: the completion, or the invocation when there is none. */
export function reportedOp(call: RegisterCall): RegisterOp {
  return call.complete ?? call.invoke;
}

export function showValue(value: number | null): string {
  return value === null ? 'nothing (key absent)' : String(value);
}

/**
 * Names a call's place in the history for a person to look up, e.g.
 * "op #12, ok". Histories from other tools number their entries themselves.
 */
export type CallLabeler = (call: RegisterCall) => string;

/** The invocation's position and the outcome: "op #12, ok". */
export const labelByPosition: CallLabeler = (call) => `op #${call.start}, ${call.outcome}`;

/** E.g. "write of 5 to key k (op #12, ok)". */
export function describeCall(call: RegisterCall, label: CallLabeler = labelByPosition): string {
  const where = label(call);
  switch (call.f) {
    case 'read':
      return call.outcome === 'ok'
        ? `read of key ${call.key} returning ${showValue(call.value)} (${where})`
        : `read of key ${call.key} (${where})`;
    case 'write':
      return `write of ${showValue(call.value)} to key ${call.key} (${where})`;
    case 'cas':
      return `cas of key ${call.key} from ${String(call.from)} to ${showValue(call.value)} (${where})`;
  }
}

/** Whether the call may have changed the register (fail means it definitely did not). */
export function mayWrite(call: RegisterCall): boolean {
  return call.f !== 'read' && call.outcome !== 'fail';
}
