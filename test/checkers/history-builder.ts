// Hand-written register histories for unit tests: one call per event, in order.

import type { RegisterOp, RegisterValue } from '../../harness/history.js';

export class HistoryBuilder {
  readonly ops: RegisterOp[] = [];
  private readonly open = new Map<number, RegisterOp>();

  read(process: number, key: string): this {
    return this.invoke(process, 'read', { key, value: null });
  }
  write(process: number, key: string, value: number): this {
    return this.invoke(process, 'write', { key, value });
  }
  cas(process: number, key: string, from: number, to: number): this {
    return this.invoke(process, 'cas', { key, from, to });
  }

  /** Completes the process's open op; for reads, `value` is what it returned. */
  ok(process: number, result: { value?: number | null; modRevision?: number; revision?: number } = {}): this {
    const invoke = this.take(process);
    let value = invoke.value;
    if (invoke.f === 'read') {
      value = { key: invoke.value.key, value: result.value ?? null };
      if (result.modRevision !== undefined) value.modRevision = result.modRevision;
    }
    return this.complete(invoke, 'ok', value, result.revision);
  }
  fail(process: number, revision?: number): this {
    const invoke = this.take(process);
    return this.complete(invoke, 'fail', invoke.value, revision);
  }
  info(process: number): this {
    const invoke = this.take(process);
    return this.complete(invoke, 'info', invoke.value, undefined);
  }

  /** Index of the most recent event. */
  get last(): number {
    return this.ops.length - 1;
  }

  private invoke(process: number, f: string, value: RegisterValue): this {
    const op: RegisterOp = { index: this.ops.length, type: 'invoke', process, f, value, time: this.ops.length * 1000 };
    this.open.set(process, op);
    this.ops.push(op);
    return this;
  }
  private take(process: number): RegisterOp {
    const op = this.open.get(process);
    if (op === undefined) throw new Error(`no open op for process ${process}`);
    this.open.delete(process);
    return op;
  }
  private complete(invoke: RegisterOp, type: 'ok' | 'fail' | 'info', value: RegisterValue, revision: number | undefined): this {
    const op: RegisterOp = { index: this.ops.length, type, process: invoke.process, f: invoke.f, value, time: this.ops.length * 1000 };
    if (revision !== undefined) op.revision = revision;
    this.ops.push(op);
    return this;
  }
}
