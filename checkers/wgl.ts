// Wing & Gong's linearizability search with Lowe's memoisation, over a
// cas-register whose states are small integers (the caller interns values).
//
// Call and return events form a doubly linked list in real-time order. The
// search walks it from the head: at a call it tries to linearize that op now
// (legal in the current state, and the resulting configuration not seen
// before), lifting the op's events out of the list and restarting; reaching a
// return whose op is not linearized yet is a dead end, so it backtracks. A
// configuration is (set of linearized ops, state); the cache of seen ones is
// what keeps the search from re-exploring the same subtree.
//
// Optional ops (indeterminate writes) have no return event: they may take
// effect any time after their call, or never. The search succeeds once every
// required op is linearized.
//
// Two rules keep the search small without changing its verdict: a pending
// read that is legal now is taken without branching (see the main loop), and,
// with `prune`, the register never leaves a value that pending ops still have
// to observe once nothing left can write that value again.
//
// Cache keys are compact: required ops are numbered in call order, and every
// op below the first unlinearized one (m) is linearized, so a configuration is
// (m, the few bitset words from m on that are not all zero, the optional ops'
// words, state). That keeps memory proportional to concurrency rather than to
// history length.

import type { Budget } from './result.js';

export const READ = 0;
export const WRITE = 1;
export const CAS = 2;

export interface WglOp {
  /** READ: legal iff state === a. WRITE: state becomes a. CAS: legal iff state === a, state becomes b. */
  kind: typeof READ | typeof WRITE | typeof CAS;
  a: number;
  b: number;
  /** Real-time position of the invocation. */
  call: number;
  /** Real-time position of the completion; ignored for optional ops. */
  ret: number;
  /** May be left out of the linearization (it may never have taken effect). */
  optional: boolean;
}

export interface WglLimits {
  budget: Budget;
  /** Give up ('unknown', cause 'cache-limit') once the cache holds this many configurations. */
  maxCacheEntries: number;
  /** Search steps between two looks at the clock. */
  checkEvery: number;
  /** Give up ('unknown', cause 'step-limit') after this many steps. */
  maxSteps?: number;
  /**
   * Refuse to overwrite a value that ops still to come must observe when
   * nothing left can write it again. It never changes the verdict and cuts
   * the search a lot, but it stops dead paths early, so the longest prefix of
   * a failed search is less telling; searching again without it gives the
   * better explanation.
   */
  prune: boolean;
}

export type WglOutcome =
  | { kind: 'ok'; steps: number; /** The linearization found, op ids in order. */ order: number[] }
  | {
      kind: 'illegal';
      steps: number;
      /** The longest partial linearization found (most required ops), op ids in order. */
      prefix: number[];
      /** The op whose completion the search could not get past from that prefix. */
      stuck: number;
      /** State after the prefix. */
      state: number;
    }
  | {
      kind: 'unknown';
      steps: number;
      cause: 'timeout' | 'cache-limit' | 'step-limit';
      /** The longest partial linearization seen before giving up, if the search hit any dead end. */
      best?: { prefix: number[]; stuck: number; state: number };
    };

/** Growable Int32Array; the search's only allocations happen here. */
class IntVec {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): number {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length] = v;
    return this.length++;
  }
}

class WordPool {
  data: Uint32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Uint32Array(Math.max(64, capacity));
  }
  reserve(n: number): number {
    if (this.length + n > this.data.length) {
      let size = this.data.length * 2;
      while (this.length + n > size) size *= 2;
      const grown = new Uint32Array(size);
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
}

/** Murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export function wglSearch(ops: readonly WglOp[], initialState: number, limits: WglLimits): WglOutcome {
  const n = ops.length;
  const byCall = (x: number, y: number): number => ops[x]!.call - ops[y]!.call || x - y;
  const ids = Array.from({ length: n }, (_, i) => i);
  const required = ids.filter((i) => !ops[i]!.optional).sort(byCall);
  const optional = ids.filter((i) => ops[i]!.optional).sort(byCall);
  const c = required.length;
  if (c === 0) return { kind: 'ok', steps: 0, order: [] };

  // Bit layout: required ops 0..c-1 in call order, optional ops from a word boundary on.
  const okWords = (c + 31) >>> 5;
  const infoWords = (optional.length + 31) >>> 5;
  const infoBase = okWords << 5;
  const bitOf = new Int32Array(n);
  required.forEach((id, i) => (bitOf[id] = i));
  optional.forEach((id, i) => (bitOf[id] = infoBase + i));
  const bits = new Uint32Array(okWords + infoWords);
  const zobrist = new Int32Array(infoBase + optional.length);
  for (let i = 0; i < zobrist.length; i++) zobrist[i] = fmix32(Math.imul(i + 1, 0x9e3779b1));

  // Event list: node ids 0..E-1, HEAD = E; -1 ends the list.
  type Ev = { pos: number; op: number; isCall: boolean };
  const evs: Ev[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    evs.push({ pos: op.call, op: i, isCall: true });
    if (!op.optional) evs.push({ pos: op.ret, op: i, isCall: false });
  }
  evs.sort((x, y) => x.pos - y.pos || Number(y.isCall) - Number(x.isCall) || x.op - y.op);
  const E = evs.length;
  const HEAD = E;
  const next = new Int32Array(E + 1);
  const prev = new Int32Array(E + 1);
  const evOp = new Int32Array(E);
  const evIsCall = new Uint8Array(E);
  const match = new Int32Array(E).fill(-1);
  const callNode = new Int32Array(n);
  for (let e = 0; e < E; e++) {
    const ev = evs[e]!;
    evOp[e] = ev.op;
    evIsCall[e] = ev.isCall ? 1 : 0;
    if (ev.isCall) callNode[ev.op] = e;
    else match[callNode[ev.op]!] = e;
    next[e] = e + 1 < E ? e + 1 : -1;
    prev[e] = e === 0 ? HEAD : e - 1;
  }
  next[HEAD] = 0;
  prev[HEAD] = -1;

  const kind = new Uint8Array(n);
  const argA = new Int32Array(n);
  const argB = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    kind[i] = ops[i]!.kind;
    argA[i] = ops[i]!.a;
    argB[i] = ops[i]!.b;
  }

  // Configuration cache: chains of entries per hash, entries in parallel arrays.
  const heads = new Map<number, number>();
  const entChain = new IntVec(1024);
  const entState = new IntVec(1024);
  const entM = new IntVec(1024);
  const entWordAt = new IntVec(1024);
  const entWordLen = new IntVec(1024);
  const pool = new WordPool(4096);

  // The DFS stack, plus persistent cells so the longest prefix costs O(1) to remember.
  const stackEntry = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackForced = new Uint8Array(n);
  const cellOp = new IntVec(1024);
  const cellParent = new IntVec(1024);
  let top = -1;
  let sp = 0;

  let state = initialState;
  let hash = 0;
  let linOk = 0;
  let m = 0; // first required bit not set
  let steps = 0;

  let bestLin = -1;
  let bestCell = -1;
  let bestStuck = -1;
  let bestState = initialState;

  /** Looks the current configuration up; inserts it and returns true when new. */
  const insertIfNew = (): boolean => {
    const w0 = m >>> 5;
    let len = 0;
    let need = linOk - (w0 << 5);
    while (need > 0) {
      need -= popcount(bits[w0 + len]!);
      len++;
    }
    const h = (hash ^ fmix32(Math.imul(state, 0x27d4eb2f) + 0x165667b1)) | 0;
    const first = heads.get(h);
    for (let ent = first ?? -1; ent !== -1; ent = entChain.data[ent]!) {
      if (entState.data[ent] !== state || entM.data[ent] !== m || entWordLen.data[ent] !== len) continue;
      const at = entWordAt.data[ent]!;
      let same = true;
      for (let w = 0; w < len && same; w++) same = pool.data[at + w] === bits[w0 + w];
      for (let w = 0; w < infoWords && same; w++) same = pool.data[at + len + w] === bits[okWords + w];
      if (same) return false;
    }
    const at = pool.reserve(len + infoWords);
    const data = pool.data;
    for (let w = 0; w < len; w++) data[at + w] = bits[w0 + w]!;
    for (let w = 0; w < infoWords; w++) data[at + len + w] = bits[okWords + w]!;
    const ent = entChain.push(first ?? -1);
    entState.push(state);
    entM.push(m);
    entWordAt.push(at);
    entWordLen.push(len);
    heads.set(h, ent);
    return true;
  };

  const lift = (e: number): void => {
    const p = prev[e]!;
    const nx = next[e]!;
    next[p] = nx;
    if (nx !== -1) prev[nx] = p;
    const r = match[e]!;
    if (r !== -1) {
      const rp = prev[r]!;
      const rn = next[r]!;
      next[rp] = rn;
      if (rn !== -1) prev[rn] = rp;
    }
  };
  const unlift = (e: number): void => {
    const r = match[e]!;
    if (r !== -1) {
      next[prev[r]!] = r;
      const rn = next[r]!;
      if (rn !== -1) prev[rn] = r;
    }
    next[prev[e]!] = e;
    const nx = next[e]!;
    if (nx !== -1) prev[nx] = e;
  };

  // Once no op left can write a value again, the register cannot leave that
  // value while ops that must observe it are still to come: for every state,
  // the required ops not yet linearized that need it (reads, cas), and the ops
  // not yet linearized that may write it.
  let states = initialState + 1;
  for (const op of ops) states = Math.max(states, op.a + 1, op.b + 1);
  const pendingObservers = new Int32Array(states);
  const writersLeft = new Int32Array(states);
  /** Adds delta to the counters op contributes to. */
  const count = (op: number, isRequired: boolean, delta: number): void => {
    const k = kind[op]!;
    if (k === READ) {
      pendingObservers[argA[op]!]! += delta;
    } else if (k === WRITE) {
      writersLeft[argA[op]!]! += delta;
    } else {
      if (isRequired) pendingObservers[argA[op]!]! += delta;
      writersLeft[argB[op]!]! += delta;
    }
  };
  for (let op = 0; op < n; op++) count(op, !ops[op]!.optional, 1);

  /** Linearizes the op of call node e now, unless that is illegal or leads to a seen configuration. */
  const linearize = (e: number, forced: boolean): boolean => {
    const op = evOp[e]!;
    const k = kind[op]!;
    let newState = state;
    if (k === READ) {
      if (state !== argA[op]) return false;
    } else if (k === WRITE) {
      newState = argA[op]!;
    } else if (state === argA[op]) {
      newState = argB[op]!;
    } else {
      return false;
    }
    const bit = bitOf[op]!;
    const isRequired = bit < infoBase;
    count(op, isRequired, -1);
    if (prune && newState !== state && pendingObservers[state]! > 0 && writersLeft[state] === 0) {
      count(op, isRequired, 1);
      return false;
    }
    const oldM = m;
    const oldState = state;
    bits[bit >>> 5]! |= 1 << (bit & 31);
    hash ^= zobrist[bit]!;
    state = newState;
    if (isRequired) {
      linOk++;
      if (bit === m) {
        m++;
        while (m < c && (bits[m >>> 5]! & (1 << (m & 31))) !== 0) m++;
      }
    }
    if (insertIfNew()) {
      stackEntry[sp] = e;
      stackState[sp] = oldState;
      stackForced[sp] = forced ? 1 : 0;
      sp++;
      cellParent.push(top);
      top = cellOp.push(op);
      lift(e);
      return true;
    }
    bits[bit >>> 5]! &= ~(1 << (bit & 31));
    hash ^= zobrist[bit]!;
    state = oldState;
    count(op, isRequired, 1);
    if (isRequired) {
      linOk--;
      m = oldM;
    }
    return false;
  };

  /**
   * Undoes the newest linearization and resumes the walk after it. A forced
   * frame's failure means its parent configuration failed too, so those are
   * undone as well. Returns false when nothing is left to undo.
   */
  let entry = -1;
  const backtrack = (): boolean => {
    for (;;) {
      if (sp === 0) return false;
      sp--;
      const e = stackEntry[sp]!;
      const op = evOp[e]!;
      const bit = bitOf[op]!;
      count(op, bit < infoBase, 1);
      state = stackState[sp]!;
      bits[bit >>> 5]! &= ~(1 << (bit & 31));
      hash ^= zobrist[bit]!;
      if (bit < infoBase) {
        linOk--;
        if (bit < m) m = bit;
      }
      top = cellParent.data[top]!;
      unlift(e);
      if (stackForced[sp] === 0) {
        entry = next[e]!;
        return true;
      }
    }
  };

  const path = (last: number): number[] => {
    const order: number[] = [];
    for (let cell = last; cell !== -1; cell = cellParent.data[cell]!) order.push(cellOp.data[cell]!);
    return order.reverse();
  };
  const longest = (): { prefix: number[]; stuck: number; state: number } => {
    const prefix = path(bestCell);
    return prune ? blame(ops, prefix, bestStuck, bestState) : { prefix, stuck: bestStuck, state: bestState };
  };
  const illegal = (): WglOutcome => ({ kind: 'illegal', steps, ...longest() });

  // Reads are pure: if a pending read is legal now, placing it first loses no
  // linearization (nothing pending has to precede it, or it would not be
  // pending yet), so it is taken without branching. Its failure is its
  // parent configuration's failure.
  const prune = limits.prune;
  const maxSteps = limits.maxSteps ?? Number.POSITIVE_INFINITY;
  const RESTART = -2;
  entry = RESTART;
  for (;;) {
    if (linOk === c) return { kind: 'ok', steps, order: path(top) };
    steps++;
    if (steps % limits.checkEvery === 0) {
      let cause: 'timeout' | 'cache-limit' | 'step-limit' | undefined;
      if (limits.budget.now() > limits.budget.deadline) cause = 'timeout';
      else if (entChain.length > limits.maxCacheEntries) cause = 'cache-limit';
      else if (steps > maxSteps) cause = 'step-limit';
      if (cause !== undefined) return bestStuck === -1 ? { kind: 'unknown', steps, cause } : { kind: 'unknown', steps, cause, best: longest() };
    }

    if (entry === RESTART) {
      entry = next[HEAD]!;
      let read = -1;
      for (let e = entry; e !== -1 && evIsCall[e] === 1; e = next[e]!) {
        const op = evOp[e]!;
        if (kind[op] === READ && argA[op] === state) {
          read = e;
          break;
        }
      }
      if (read !== -1) {
        if (linearize(read, true)) {
          entry = RESTART;
        } else if (!backtrack()) {
          // The configuration after the read was explored before, from another path, and failed.
          return illegal();
        }
        continue;
      }
    }
    if (entry === -1) throw new Error('wgl: walked off the event list with required ops left');

    if (evIsCall[entry] === 1) {
      // Legal reads were taken above; the rest of the window are writes and cas.
      if (kind[evOp[entry]!] !== READ && linearize(entry, false)) entry = RESTART;
      else entry = next[entry]!;
      continue;
    }

    // A return whose op is not linearized: dead end.
    if (linOk > bestLin) {
      bestLin = linOk;
      bestCell = sp === 0 ? -1 : top;
      bestStuck = evOp[entry]!;
      bestState = state;
    }
    if (!backtrack()) return illegal();
  }
}

/**
 * The search can stall on an op that is fine in itself: a write that would
 * replace a value some later op still has to observe (when nothing left can
 * write that value again), or a read waiting for such a write. The op to
 * blame is then that later observer. For a stalled write, the write joins
 * the prefix, since it was legal there.
 */
function blame(
  ops: readonly WglOp[],
  prefix: number[],
  stuck: number,
  state: number,
): { prefix: number[]; stuck: number; state: number } {
  const asIs = { prefix, stuck, state };
  const blocked = ops[stuck]!;
  const done = new Set(prefix);
  done.add(stuck);
  const writersLeft = (value: number): boolean =>
    ops.some((op, i) => !done.has(i) && ((op.kind === WRITE && op.a === value) || (op.kind === CAS && op.b === value)));
  // Reads first: a pending cas of the value may itself be the op meant to replace it.
  const waiting = (value: number): number => {
    let observer = -1;
    for (const reads of [true, false]) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        const observes = reads ? op.kind === READ : op.kind === CAS && !op.optional;
        if (!done.has(i) && observes && op.a === value && (observer === -1 || op.call < ops[observer]!.call)) observer = i;
      }
      if (observer !== -1) return observer;
    }
    return observer;
  };
  if (writersLeft(state)) return asIs;
  const observer = waiting(state);
  if (observer === -1) return asIs;

  const legal = blocked.kind === WRITE || (blocked.kind === CAS && blocked.a === state);
  if (legal) {
    const after = blocked.kind === WRITE ? blocked.a : blocked.b;
    return after === state ? asIs : { prefix: [...prefix, stuck], stuck: observer, state: after };
  }
  // A read or cas needing another value, which some op left could still write.
  return blocked.a !== state && writersLeft(blocked.a) ? { prefix, stuck: observer, state } : asIs;
}
