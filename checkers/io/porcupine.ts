// Histories in the two text formats Porcupine's test data uses, read as
// register ops for the linearizability checker:
//
// 1. Jepsen log lines (Porcupine's test_data/jepsen/etcd_*.log), one event per
//    line; other lines are skipped:
//      INFO  jepsen.util - 3	:invoke	:cas	[1 4]
//      INFO  jepsen.util - 3	:fail	:cas	[1 4]
//      INFO  jepsen.util - 2	:ok	:read	nil
//      INFO  jepsen.util - 0	:info	:write	:timed-out
//      INFO  jepsen.util - :nemesis	:info	:start	nil
//    The value is EDN (nil, an integer, [from to]); a completion whose value
//    is not one (e.g. :timed-out) keeps its invocation's value. One register,
//    key "x".
// 2. Key-value lines (Porcupine's test_data/kv/*.txt), one EDN map per line:
//      {:process 0, :type :invoke, :f :get, :key "6", :value nil}
//      {:process 0, :type :ok, :f :get, :key "6", :value "x 0 1 y"}
//    :get and :put over string values, one register per :key. Values are
//    interned to integers per key, and a get returning "" reads an absent key
//    (Porcupine's kv model starts every key at ""). :append is not a register
//    operation and is rejected.

import type { Op, OpType, ProcessId } from '../../harness/history.js';
import { EdnMap, Keyword, parseEdn, parseEdnAll, writeEdn, type Edn } from './edn.js';
import { HistoryFormatError, keyString } from './jepsen.js';

export function readPorcupineHistory(text: string): Op[] {
  return /jepsen\.util/.test(text) ? readJepsenLog(text) : readKvLog(text);
}

const LOG_LINE = /jepsen\.util\s+-\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)\s*(.*)$/;

function readJepsenLog(text: string): Op[] {
  const ops: Op[] = [];
  const invoked = new Map<ProcessId, unknown>();
  text.split('\n').forEach((line, lineNo) => {
    const m = LOG_LINE.exec(line.trimEnd());
    if (!m) return;
    const process: ProcessId = /^\d+$/.test(m[1]!) ? Number(m[1]) : 'nemesis';
    const type = m[2] as OpType;
    const f = m[3]!;
    let raw: Edn;
    try {
      raw = m[4]!.trim() === '' ? null : parseEdn(m[4]!);
    } catch (err) {
      throw new HistoryFormatError(`line ${lineNo + 1}: ${err instanceof Error ? err.message : String(err)}`);
    }
    let value: unknown;
    if (process === 'nemesis') value = raw instanceof Keyword ? raw.name : raw === null ? null : writeEdn(raw);
    else if (raw instanceof Keyword) value = invoked.get(process) ?? registerValue(f, null, lineNo);
    else value = registerValue(f, type === 'invoke' && f === 'read' ? null : raw, lineNo);
    if (process !== 'nemesis') {
      if (type === 'invoke') invoked.set(process, value);
      else invoked.delete(process);
    }
    ops.push({ index: ops.length, type, process, f, value, time: ops.length });
  });
  return ops;
}

function registerValue(f: string, v: Edn, lineNo: number): unknown {
  const where = `line ${lineNo + 1}`;
  const int = (x: Edn): number => {
    if (typeof x === 'number' && Number.isInteger(x)) return x;
    throw new HistoryFormatError(`${where}: expected an integer, got ${x === null ? 'nil' : writeEdn(x)}`);
  };
  if (f === 'read') return { key: 'x', value: v === null ? null : int(v) };
  if (f === 'write') return { key: 'x', value: int(v) };
  if (f === 'cas') {
    if (!Array.isArray(v) || v.length !== 2) throw new HistoryFormatError(`${where}: a cas value must be [from to]`);
    return { key: 'x', from: int(v[0]!), to: int(v[1]!) };
  }
  throw new HistoryFormatError(`${where}: unknown operation :${f} (expected :read, :write or :cas)`);
}

function readKvLog(text: string): Op[] {
  const ids = new Map<string, Map<string, number>>();
  const intern = (key: string, s: string): number => {
    let m = ids.get(key);
    if (!m) ids.set(key, (m = new Map()));
    let id = m.get(s);
    if (id === undefined) m.set(s, (id = m.size + 1));
    return id;
  };
  const invoked = new Map<ProcessId, unknown>();
  return parseEdnAll(text).map((form, i): Op => {
    const where = `entry ${i + 1}`;
    if (!(form instanceof EdnMap)) throw new HistoryFormatError(`${where} is not a map`);
    const type = form.get('type');
    const f = form.get('f');
    const p = form.get('process');
    if (!(type instanceof Keyword) || !['invoke', 'ok', 'fail', 'info'].includes(type.name)) throw new HistoryFormatError(`${where}: bad :type`);
    if (!(f instanceof Keyword)) throw new HistoryFormatError(`${where}: bad :f`);
    const process: ProcessId = typeof p === 'number' ? p : 'nemesis';
    const key = keyString(form.get('key') ?? 'x');
    const raw = form.get('value') ?? null;
    let value: unknown;
    if (f.name === 'get') {
      value = { key, value: type.name === 'ok' && typeof raw === 'string' && raw !== '' ? intern(key, raw) : null };
    } else if (f.name === 'put') {
      if (typeof raw !== 'string') throw new HistoryFormatError(`${where}: a put needs a string value`);
      value = { key, value: intern(key, raw) };
    } else if (f.name === 'append') {
      throw new HistoryFormatError(`${where}: :append is not a register operation; only :get and :put histories can be checked`);
    } else throw new HistoryFormatError(`${where}: unknown operation :${f.name}`);
    if (type.name === 'invoke') invoked.set(process, value);
    else if (type.name !== 'ok') value = invoked.get(process) ?? value;
    return { index: i, type: type.name as OpType, process, f: f.name === 'get' ? 'read' : 'write', value, time: i };
  });
}
