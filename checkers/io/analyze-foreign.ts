// Checking histories written by other tools: `faultline analyze --format
// jepsen-edn|porcupine FILE --checker linearizable|append|wr`. The checker
// picks the model: linearizable = a cas-register per key (Knossos's
// cas-register, Porcupine's etcd and kv models), append = Elle's list-append,
// wr = Elle's rw-register. Without --checker it is guessed from the ops.
//
// A checker that finds nothing in the history it can check says UNKNOWN and
// names what the history holds instead: a VALID there would claim a check
// that never happened (a mutex history has no reads or writes at all).

import { readFileSync } from 'node:fs';
import type { Op } from '../../harness/history.js';
import { checkListAppend, checkRwRegister, type ElleResult } from '../elle/index.js';
import { checkLinearizable, type LinearizableResult, type NilReads } from '../linearizable.js';
import { isRegisterOp, type CallLabeler } from '../register-calls.js';
import type { Budget, Validity } from '../result.js';
import { readJepsenHistoryIndexed, type IndexedHistory } from './jepsen.js';
import { readPorcupineHistory } from './porcupine.js';

export type ForeignFormat = 'jepsen-edn' | 'porcupine';
export type ForeignChecker = 'linearizable' | 'append' | 'wr';
export const FOREIGN_FORMATS: readonly ForeignFormat[] = ['jepsen-edn', 'porcupine'];
export const FOREIGN_CHECKERS: readonly ForeignChecker[] = ['linearizable', 'append', 'wr'];

export function readForeignHistory(text: string, format: ForeignFormat): Op[] {
  return readForeignFile(text, format).ops;
}

/** The ops, and for Jepsen files each entry's own :index (Porcupine's formats have none). */
export function readForeignFile(text: string, format: ForeignFormat): IndexedHistory {
  if (format === 'jepsen-edn') return readJepsenHistoryIndexed(text);
  const ops = readPorcupineHistory(text);
  return { ops, fileIndex: [] };
}

/**
 * What an ok read of nil means by default: in Knossos's register models (and
 * so in Jepsen's EDN histories) the value was not recorded; Porcupine's etcd
 * and kv models read it as the key being absent.
 */
export function defaultNilReads(format: ForeignFormat): NilReads {
  return format === 'jepsen-edn' ? 'unknown' : 'absent';
}

/**
 * Refers to a call by the numbers a reader finds in the file: the entry's
 * :index when it has one, else its position (which is what Knossos numbers
 * from too). Both ends are given because Knossos reports the completion.
 */
export function fileLabeler(fileIndex: readonly (number | undefined)[]): CallLabeler {
  const n = (op: Op): number => fileIndex[op.index] ?? op.index;
  return (call) => {
    const invoked = `invoked #${n(call.invoke)}`;
    return call.complete !== undefined ? `${invoked}, ${call.outcome} #${n(call.complete)}` : `${invoked}, never completed`;
  };
}

/** The checker a history's ops call for: txns with appends → append, other txns → wr, else linearizable. */
export function guessChecker(ops: readonly Op[]): ForeignChecker {
  for (const op of ops) {
    if (op.f !== 'txn' || !Array.isArray(op.value)) continue;
    for (const m of op.value as unknown[][]) {
      if (m[0] === 'append') return 'append';
      if (m[0] === 'w') return 'wr';
    }
  }
  return ops.some((o) => o.f === 'txn') ? 'append' : 'linearizable';
}

export interface ForeignVerdict {
  valid: Validity;
  checker: ForeignChecker;
  ops: number;
  /** Lines for the terminal. */
  lines: string[];
  result: ElleResult | LinearizableResult;
  /** Set when the checker found nothing it could check (the verdict is then unknown). */
  nothingChecked?: string;
}

export interface ForeignCheckOptions {
  /** linearizable: every key's initial value; null (default) = absent. */
  initialValue?: number | null;
  /** linearizable: what an ok read of nil means (default 'absent'; see defaultNilReads). */
  nilReads?: NilReads;
  /** linearizable: how explanations refer to ops (default: history positions). */
  label?: CallLabeler;
}

export function checkForeignHistory(ops: readonly Op[], checker: ForeignChecker, budget: Budget, options: ForeignCheckOptions = {}): ForeignVerdict {
  const nothing = nothingToCheck(ops, checker);
  if (checker === 'linearizable') {
    const initialValue = options.initialValue ?? null;
    const nilReads = options.nilReads ?? 'absent';
    const r = checkLinearizable(ops, { budget, initialValue, nilReads, ...(options.label ? { label: options.label } : {}) });
    const model = `cas-register per key, initial value ${initialValue === null ? 'absent' : initialValue}, nil reads ${nilReads === 'unknown' ? 'unknown (constrain nothing)' : 'absent'}`;
    if (nothing !== undefined) return { valid: 'unknown', checker, ops: ops.length, lines: [`linearizable (${model}): nothing checked — ${nothing}`], result: r, nothingChecked: nothing };
    const lines = [
      `linearizable (${model}): ${r.valid === true ? 'holds' : r.valid === false ? 'VIOLATED' : 'unknown'} — keys ok ${r.keys.linearizable.length}, not linearizable ${r.keys.notLinearizable.length}, unknown ${r.keys.unknown.length}${r.cause ? ` (${r.cause})` : ''}`,
    ];
    const ignored = nilReads === 'unknown' ? ops.filter(isNilRead).length : 0;
    if (ignored > 0) lines.push(`  ${ignored === 1 ? '1 ok read of nil constrains' : `${ignored} ok reads of nil constrain`} nothing (value not recorded)`);
    for (const f of r.failures.slice(0, 5)) lines.push(`  ${f.explanation}`);
    return { valid: r.valid, checker, ops: ops.length, lines, result: r };
  }
  const r = checker === 'append' ? checkListAppend(ops, { budget }) : checkRwRegister(ops, { budget });
  if (nothing !== undefined) return { valid: 'unknown', checker, ops: ops.length, lines: [`${checker}: nothing checked — ${nothing}`], result: r, nothingChecked: nothing };
  const lines = [...r.summary];
  if (r.anomalyTypes.length) lines.push(`anomalies: ${r.anomalyTypes.map((t) => `${t} ×${r.counts[t]}`).join(', ')}`);
  lines.push(`strongest model satisfied: ${r.models.strongest.join(', ') || 'none'}${r.models.not.length ? `; not ${r.models.not.join(', ')}` : ''}`);
  for (const a of r.anomalies.slice(0, 5)) lines.push(`  ${a.explanation}`);
  return { valid: r.valid, checker, ops: ops.length, lines, result: r };
}

function isNilRead(op: Op): boolean {
  return op.type === 'ok' && isRegisterOp(op) && op.f === 'read' && (op.value as { value?: unknown }).value === null;
}

const TXN_MOPS: Record<Exclude<ForeignChecker, 'linearizable'>, readonly string[]> = { append: ['append', 'r'], wr: ['w', 'r'] };

/** Why the checker has nothing to check in this history, or undefined when it has something. */
export function nothingToCheck(ops: readonly Op[], checker: ForeignChecker): string | undefined {
  if (checker === 'linearizable') {
    if (ops.some(isRegisterOp)) return undefined;
    return `no read, write or cas operations to check; ${contents(ops)}${hint(ops, checker)}`;
  }
  const names = TXN_MOPS[checker];
  const fits = (op: Op): boolean =>
    op.process !== 'nemesis' && op.f === 'txn' && Array.isArray(op.value) && (op.value as unknown[]).some((m) => Array.isArray(m) && names.includes(String(m[0])));
  if (ops.some(fits)) return undefined;
  return `no txn operations with ${names.map((n) => `:${n}`).join(' or ')} micro-ops to check; ${contents(ops)}${hint(ops, checker)}`;
}

/** E.g. "the history has :acquire ×12, :release ×10 and 3 nemesis entries". Counts invocations (entries for an :f never invoked). */
function contents(ops: readonly Op[]): string {
  const invoked = new Map<string, number>();
  const entries = new Map<string, number>();
  let nemesis = 0;
  for (const op of ops) {
    if (op.process === 'nemesis') {
      nemesis++;
      continue;
    }
    entries.set(op.f, (entries.get(op.f) ?? 0) + 1);
    if (op.type === 'invoke') invoked.set(op.f, (invoked.get(op.f) ?? 0) + 1);
  }
  const parts = [...entries.keys()].map((f) => `:${f} ×${invoked.get(f) ?? entries.get(f)!}`);
  const extra = nemesis > 0 ? `${nemesis} nemesis entr${nemesis === 1 ? 'y' : 'ies'}` : '';
  if (parts.length === 0) return extra === '' ? 'the history is empty' : `the history has no client operations, only ${extra}`;
  return `the history has ${parts.join(', ')}${extra === '' ? '' : ` and ${extra}`}`;
}

/** A pointer to what would check the history instead. */
function hint(ops: readonly Op[], checker: ForeignChecker): string {
  const fs = new Set(ops.filter((o) => o.process !== 'nemesis').map((o) => o.f));
  if (fs.has('acquire') || fs.has('release')) return ' — mutex histories need a mutex model, which faultline does not have';
  if (checker === 'linearizable' && fs.has('txn')) return ' — txn histories need --checker append or wr';
  if (checker !== 'linearizable' && ops.some(isRegisterOp)) return ' — register histories need --checker linearizable';
  return '';
}

export interface ForeignAnalyzeOptions {
  checker?: ForeignChecker;
  initialValue?: number | null;
  /** Default: defaultNilReads(format). */
  nilReads?: NilReads;
}

/** Reads, checks and prints; returns the exit code (0 valid, 1 invalid, 2 unknown). */
export function analyzeForeignFile(path: string, format: ForeignFormat, opts: ForeignAnalyzeOptions, timeoutS: number, out: NodeJS.WritableStream): number {
  const { ops, fileIndex } = readForeignFile(readFileSync(path, 'utf8'), format);
  const chosen = opts.checker ?? guessChecker(ops);
  const started = Date.now();
  const v = checkForeignHistory(ops, chosen, { deadline: started + timeoutS * 1000, now: () => Date.now() }, {
    initialValue: opts.initialValue ?? null,
    nilReads: opts.nilReads ?? defaultNilReads(format),
    label: fileLabeler(fileIndex),
  });
  out.write(`faultline: ${ops.length} ops from ${path} (${format}), checker ${chosen}${opts.checker ? '' : ' (guessed)'}\n`);
  out.write(`${v.lines.join('\n')}\n`);
  const unknown = v.nothingChecked !== undefined ? 'UNKNOWN: nothing to check' : 'UNKNOWN';
  out.write(`verdict: ${v.valid === true ? 'VALID' : v.valid === false ? 'INVALID: anomalies found' : unknown} (${Date.now() - started} ms)\n`);
  return v.valid === true ? 0 : v.valid === false ? 1 : 2;
}
