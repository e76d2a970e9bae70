// history.jsonl: one Op per line, appended synchronously as ops happen so a
// harness that dies mid-run still leaves every recorded op on disk.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Op } from './history.js';

export type OpDraft<V = unknown> = Omit<Op<V>, 'index'>;

export class HistoryWriter {
  private fd: number | undefined;
  private readonly recorded: Op[] = [];

  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }

  /** Assigns the next index, writes the line, and returns the stored op. */
  append<V>(draft: OpDraft<V>): Op<V> {
    const op = { index: this.recorded.length, ...draft } as Op<V>;
    this.recorded.push(op as Op);
    if (this.fd !== undefined) writeSync(this.fd, `${JSON.stringify(op)}\n`);
    return op;
  }

  get ops(): readonly Op[] {
    return this.recorded;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface ReadHistoryResult {
  ops: Op[];
  /** Lines that could not be parsed: a torn last line after a crash, for example. */
  skipped: number;
}

/** Reads history.jsonl, tolerating a torn last line. */
export function readHistory(path: string): ReadHistoryResult {
  return parseHistory(readFileSync(path, 'utf8'));
}

export function parseHistory(text: string): ReadHistoryResult {
  const ops: Op[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const op = JSON.parse(line) as Op;
      if (typeof op !== 'object' || op === null || typeof op.type !== 'string') {
        skipped++;
        continue;
      }
      ops.push(op);
    } catch {
      skipped++;
    }
  }
  return { ops, skipped };
}

/**
 * Invocations still open at the end of a history (the harness died, or the
 * run was cut short) become info completions, which is what they are: their
 * effect is unknown. Keeps indexes dense.
 */
export function closeOpenOps(ops: readonly Op[], time: number): Op[] {
  const open = new Map<Op['process'], Op>();
  for (const op of ops) {
    if (op.type === 'invoke') open.set(op.process, op);
    else open.delete(op.process);
  }
  const out = [...ops];
  for (const inv of open.values()) {
    const { index: _index, ...rest } = inv;
    out.push({ ...rest, index: out.length, type: 'info', time, error: 'history ended before the operation completed' });
  }
  return out;
}
