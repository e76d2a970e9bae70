// Structured JSON logs in the shape of etcd's zap output, one object per line
// on stderr: {"level","ts","caller","msg",...fields}.

import type { LogLevel } from '../config/flags.js';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, dpanic: 4, panic: 5, fatal: 6 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** The (level, msg, fields) form the API front door takes. */
  log(level: string, msg: string, fields?: LogFields): void;
  child(caller: string): Logger;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString(16);
  if (value instanceof Error) return value.message;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return value;
}

export function createLogger(opts: { level: LogLevel; write?: (line: string) => void; caller?: string; now?: () => Date }): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const min = RANK[opts.level];
  const now = opts.now ?? (() => new Date());
  const emit = (level: string, msg: string, fields?: LogFields): void => {
    const rank = RANK[level as LogLevel] ?? RANK.info;
    if (rank < min) return;
    const record: Record<string, unknown> = { level, ts: now().toISOString() };
    if (opts.caller) record.caller = opts.caller;
    record.msg = msg;
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = v;
    let line: string;
    try {
      line = JSON.stringify(record, jsonSafe);
    } catch {
      line = JSON.stringify({ level, ts: record.ts, msg });
    }
    write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    log: emit,
    child: (caller) => createLogger({ ...opts, caller }),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  log: () => {},
  child: () => silentLogger,
};
