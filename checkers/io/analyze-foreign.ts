// Checking histories written by other tools: `faultline analyze --format
// jepsen-edn|porcupine FILE --checker linearizable|append|wr`. The checker
// picks the model: linearizable = a cas-register per key (Knossos's
// cas-register, Porcupine's etcd and kv models), append = Elle's list-append,
// wr = Elle's rw-register. Without --checker it is guessed from the ops.

import { readFileSync } from 'node:fs';
import type { Op } from '../../harness/history.js';
import { checkListAppend, checkRwRegister, type ElleResult } from '../elle/index.js';
import { checkLinearizable, type LinearizableResult } from '../linearizable.js';
import type { Budget, Validity } from '../result.js';
import { readJepsenHistory } from './jepsen.js';
import { readPorcupineHistory } from './porcupine.js';

export type ForeignFormat = 'jepsen-edn' | 'porcupine';
export type ForeignChecker = 'linearizable' | 'append' | 'wr';
export const FOREIGN_FORMATS: readonly ForeignFormat[] = ['jepsen-edn', 'porcupine'];
export const FOREIGN_CHECKERS: readonly ForeignChecker[] = ['linearizable', 'append', 'wr'];

export function readForeignHistory(text: string, format: ForeignFormat): Op[] {
  return format === 'jepsen-edn' ? readJepsenHistory(text) : readPorcupineHistory(text);
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
}

export function checkForeignHistory(ops: readonly Op[], checker: ForeignChecker, budget: Budget): ForeignVerdict {
  const lines: string[] = [];
  if (checker === 'linearizable') {
    const r = checkLinearizable(ops, { budget });
    lines.push(
      `linearizable (cas-register per key): ${r.valid === true ? 'holds' : r.valid === false ? 'VIOLATED' : 'unknown'} — keys ok ${r.keys.linearizable.length}, not linearizable ${r.keys.notLinearizable.length}, unknown ${r.keys.unknown.length}${r.cause ? ` (${r.cause})` : ''}`,
    );
    for (const f of r.failures.slice(0, 5)) lines.push(`  ${f.explanation}`);
    return { valid: r.valid, checker, ops: ops.length, lines, result: r };
  }
  const r = checker === 'append' ? checkListAppend(ops, { budget }) : checkRwRegister(ops, { budget });
  lines.push(...r.summary);
  if (r.anomalyTypes.length) lines.push(`anomalies: ${r.anomalyTypes.map((t) => `${t} ×${r.counts[t]}`).join(', ')}`);
  lines.push(`strongest model satisfied: ${r.models.strongest.join(', ') || 'none'}${r.models.not.length ? `; not ${r.models.not.join(', ')}` : ''}`);
  for (const a of r.anomalies.slice(0, 5)) lines.push(`  ${a.explanation}`);
  return { valid: r.valid, checker, ops: ops.length, lines, result: r };
}

/** Reads, checks and prints; returns the exit code (0 valid, 1 invalid, 2 unknown). */
export function analyzeForeignFile(path: string, format: ForeignFormat, checker: ForeignChecker | undefined, timeoutS: number, out: NodeJS.WritableStream): number {
  const ops = readForeignHistory(readFileSync(path, 'utf8'), format);
  const chosen = checker ?? guessChecker(ops);
  const started = Date.now();
  const v = checkForeignHistory(ops, chosen, { deadline: started + timeoutS * 1000, now: () => Date.now() });
  out.write(`faultline: ${ops.length} ops from ${path} (${format}), checker ${chosen}${checker ? '' : ' (guessed)'}\n`);
  out.write(`${v.lines.join('\n')}\n`);
  out.write(`verdict: ${v.valid === true ? 'VALID' : v.valid === false ? 'INVALID: anomalies found' : 'UNKNOWN'} (${Date.now() - started} ms)\n`);
  return v.valid === true ? 0 : v.valid === false ? 1 : 2;
}
