// Hand-made anomalies for the Elle-style checkers' tests, spliced on fresh
// keys into histories from checkers/sim/elle-sim.ts.

import type { Op } from '../../../harness/history.js';
import type { AppendMop, WrMop } from '../../../checkers/elle/txn.js';

/** A txn for `splice`: micro-ops as invoked and as completed, and the outcome. */
export interface Spliced {
  mops: (AppendMop | WrMop)[];
  type?: 'ok' | 'fail' | 'info';
  revision?: number;
}

/**
 * Appends txns to a history, all concurrent with each other (invoked
 * together, then completed in order), on processes no one else uses.
 * Reads in the invocation are blanked, as a client would send them.
 */
export function splice(history: readonly Op[], txns: readonly Spliced[]): Op[] {
  const out = [...history];
  const base = 100_000;
  const push = (op: Omit<Op, 'index' | 'time'>): void => {
    out.push({ ...op, index: out.length, time: out.length * 1000 });
  };
  txns.forEach((t, i) => {
    const invoke = t.mops.map((m) => (m[0] === 'r' ? ['r', m[1], null] : [...m]));
    push({ type: 'invoke', process: base + i, f: 'txn', value: invoke });
  });
  txns.forEach((t, i) => {
    const type = t.type ?? 'ok';
    const op: Omit<Op, 'index' | 'time'> = { type, process: base + i, f: 'txn', value: type === 'ok' ? t.mops : t.mops.map((m) => (m[0] === 'r' ? ['r', m[1], null] : [...m])) };
    if (t.revision !== undefined) op.revision = t.revision;
    push(op);
  });
  return out;
}

/** Anomalies on fresh keys (x*, y*), each with the type the checker must name. */
export const APPEND_ANOMALIES: Record<string, Spliced[]> = {
  G0: [
    { mops: [['append', 'x0', 1], ['append', 'y0', 1]] },
    { mops: [['append', 'x0', 2], ['append', 'y0', 2]] },
    { mops: [['r', 'x0', [1, 2]]] },
    { mops: [['r', 'y0', [2, 1]]] },
  ],
  G1a: [{ mops: [['append', 'x1', 1]], type: 'fail' }, { mops: [['r', 'x1', [1]]] }],
  G1b: [{ mops: [['append', 'x2', 1], ['append', 'x2', 2]] }, { mops: [['r', 'x2', [1]]] }],
  G1c: [{ mops: [['append', 'x3', 1], ['r', 'y3', [1]]] }, { mops: [['append', 'y3', 1], ['r', 'x3', [1]]] }],
  'G-single': [{ mops: [['append', 'x4', 1], ['append', 'y4', 1]] }, { mops: [['r', 'x4', []], ['r', 'y4', [1]]] }, { mops: [['r', 'x4', [1]]] }],
  'G2-item': [
    { mops: [['r', 'x5', []], ['append', 'y5', 1]] },
    { mops: [['r', 'y5', []], ['append', 'x5', 1]] },
    { mops: [['r', 'x5', [1]], ['r', 'y5', [1]]] },
  ],
  'lost-update': [{ mops: [['r', 'x6', []], ['append', 'x6', 1]] }, { mops: [['r', 'x6', []], ['append', 'x6', 2]] }, { mops: [['r', 'x6', [1, 2]]] }],
  internal: [{ mops: [['append', 'x7', 1], ['r', 'x7', []]] }],
  'duplicate-elements': [{ mops: [['append', 'x8', 1]] }, { mops: [['r', 'x8', [1, 1]]] }],
  'incompatible-order': [{ mops: [['append', 'x9', 1]] }, { mops: [['append', 'x9', 2]] }, { mops: [['r', 'x9', [1, 2]]] }, { mops: [['r', 'x9', [2, 1]]] }],
};

export const WR_ANOMALIES: Record<string, Spliced[]> = {
  G0: [
    { mops: [['w', 'x0', 1], ['r', 'y0', 2], ['w', 'y0', 1]] },
    { mops: [['r', 'x0', 1], ['w', 'x0', 2], ['w', 'y0', 2]] },
  ],
  G1a: [{ mops: [['w', 'x1', 1]], type: 'fail' }, { mops: [['r', 'x1', 1]] }],
  G1b: [{ mops: [['w', 'x2', 1], ['w', 'x2', 2]] }, { mops: [['r', 'x2', 1]] }],
  G1c: [{ mops: [['w', 'x3', 1], ['r', 'y3', 1]] }, { mops: [['w', 'y3', 1], ['r', 'x3', 1]] }],
  'G-single': [{ mops: [['w', 'x4', 1], ['w', 'y4', 1]] }, { mops: [['r', 'x4', null], ['r', 'y4', 1]] }],
  'G2-item': [{ mops: [['r', 'x5', null], ['w', 'y5', 1]] }, { mops: [['r', 'y5', null], ['w', 'x5', 1]] }],
  'lost-update': [{ mops: [['r', 'x6', null], ['w', 'x6', 1]] }, { mops: [['r', 'x6', null], ['w', 'x6', 2]] }],
  internal: [{ mops: [['w', 'x7', 1], ['r', 'x7', null]] }],
};
