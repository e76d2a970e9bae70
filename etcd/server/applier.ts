// The state machine: applies decoded log records, in log order, to the MVCC
// store, the replicated lease table, alarms, membership and auth, and tracks
// the consistent index (the last applied log index) so a record is applied
// exactly once even when the log is replayed over a snapshot.
//
// Everything here is deterministic given the records: no clocks, no I/O, no
// randomness. Lease expiry deadlines are local, leader-side bookkeeping kept
// by the lessor outside the replicated image.

import { EtcdError, Errors } from '../errors.js';
import { MvccStore } from '../mvcc/store.js';
import type { SlicedImage } from '../mvcc/snapshot.js';
import { applyDeleteRange, applyPut, applyTxn } from '../mvcc/txn.js';
import type { DeleteRangeResponse, LeaseId, MvccEvent, PutResponse, RequestOp, TxnResponse } from '../types.js';
import type { AlarmMember, AlarmType, Member } from './backend.js';
import { AuthState } from './auth.js';
import { BinaryReader, BinaryWriter, DecodeError } from './binary.js';
import type { InternalRequest } from './codec.js';
import { readMember, writeMember } from './codec.js';

/** What the applier needs from the lease module (replicated part plus local expiry bookkeeping). */
export interface LeaseTable {
  exists(id: LeaseId): boolean;
  /** Throws Errors.leaseExists() for a duplicate ID. Returns the TTL actually granted (raised to the minimum). */
  grant(id: LeaseId, ttl: number): number;
  /** Removes the lease and returns its attached keys, sorted. Throws Errors.leaseNotFound(). */
  revoke(id: LeaseId): Buffer[];
  /** Updates key attachments from applied events (PUT kv.lease vs prevKv.lease, DELETE prevKv.lease). */
  attach(events: readonly MvccEvent[]): void;
  serialize(): Buffer;
}

export type ApplyOutcome =
  | { kind: 'none' }
  | { kind: 'put'; response: PutResponse }
  | { kind: 'deleteRange'; response: DeleteRangeResponse }
  | { kind: 'txn'; response: TxnResponse }
  | { kind: 'compact' }
  | { kind: 'leaseGrant'; id: LeaseId; ttl: number }
  | { kind: 'leaseRevoke' }
  | { kind: 'alarm'; alarms: AlarmMember[] }
  | { kind: 'members'; members: Member[]; member?: Member }
  | { kind: 'auth' };

export interface Applied {
  /** The result for the proposer, or the EtcdError to hand it. */
  outcome: ApplyOutcome | EtcdError;
  /** Events of the revision this record created (empty when none). */
  events: MvccEvent[];
  /** Store revision after the record. */
  revision: number;
}

export interface ApplierOptions {
  maxTxnOps: number;
  leases: LeaseTable;
  /** Rebuilds the lease table from its serialized form (snapshot restore). */
  restoreLeases: (bytes: Buffer) => LeaseTable;
}

const IMAGE_MAGIC = Buffer.from('FLSM', 'latin1');
const IMAGE_VERSION = 1;
const ALARM_TYPES: readonly AlarmType[] = ['NONE', 'NOSPACE', 'CORRUPT'];

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class Applier {
  store: MvccStore;
  leases: LeaseTable;
  readonly alarms = new Map<string, AlarmMember>();
  readonly members = new Map<bigint, Member>();
  /** Members removed from the cluster; their IDs may never be reused (etcd's removed set). */
  readonly removed = new Set<bigint>();
  auth = new AuthState();
  /** The last applied log index (etcd's consistent index) and its term. */
  appliedIndex = 0;
  appliedTerm = 0;

  constructor(private readonly opts: ApplierOptions) {
    this.store = new MvccStore();
    this.leases = opts.leases;
  }

  /** Notes an applied entry that carries no record (a new leader's empty entry). */
  skip(index: number, term: number): void {
    this.appliedIndex = index;
    this.appliedTerm = term;
  }

  apply(request: InternalRequest, index: number, term: number): Applied {
    const before = this.store.currentRevision;
    let events: MvccEvent[] = [];
    let outcome: ApplyOutcome | EtcdError;
    try {
      const r = this.execute(request);
      outcome = r.outcome;
      events = r.events;
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      outcome = err;
    }
    this.appliedIndex = index;
    this.appliedTerm = term;
    if (events.length > 0) this.leases.attach(events);
    const revision = this.store.currentRevision;
    if (events.length === 0 && revision !== before) throw new Error('applier: revision moved without events');
    return { outcome, events, revision };
  }

  private execute(req: InternalRequest): { outcome: ApplyOutcome; events: MvccEvent[] } {
    const leases = this.leases;
    switch (req.op) {
      case 'noop':
        return { outcome: { kind: 'none' }, events: [] };
      case 'put': {
        if (this.alarmActive('NOSPACE')) throw Errors.noSpace();
        const r = applyPut(this.store, req.put, leases);
        return { outcome: { kind: 'put', response: r.response }, events: r.events };
      }
      case 'deleteRange': {
        const r = applyDeleteRange(this.store, req.deleteRange);
        return { outcome: { kind: 'deleteRange', response: r.response }, events: r.events };
      }
      case 'txn': {
        if (this.alarmActive('NOSPACE') && txnHasPut(req.txn.success.concat(req.txn.failure))) throw Errors.noSpace();
        const r = applyTxn(this.store, req.txn, leases, { maxTxnOps: this.opts.maxTxnOps });
        return { outcome: { kind: 'txn', response: r.response }, events: r.events };
      }
      case 'compact':
        this.store.compact(req.compact.revision);
        return { outcome: { kind: 'compact' }, events: [] };
      case 'leaseGrant': {
        if (this.alarmActive('NOSPACE')) throw Errors.noSpace();
        const ttl = leases.grant(req.id, req.ttl);
        return { outcome: { kind: 'leaseGrant', id: req.id, ttl }, events: [] };
      }
      case 'leaseRevoke': {
        if (!leases.exists(req.id)) throw Errors.leaseNotFound();
        const keys = leases.revoke(req.id);
        let events: MvccEvent[] = [];
        if (keys.length > 0) {
          // One revision for all of the lease's keys, as etcd's lessor deletes them in one txn.
          const success: RequestOp[] = keys.map((key) => ({ type: 'deleteRange', deleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: false } }));
          events = applyTxn(this.store, { compare: [], success, failure: [] }, leases, { maxTxnOps: Number.MAX_SAFE_INTEGER }).events;
        }
        return { outcome: { kind: 'leaseRevoke' }, events };
      }
      case 'alarm':
        return { outcome: { kind: 'alarm', alarms: this.applyAlarm(req.action, req.memberId, req.alarm) }, events: [] };
      case 'memberAdd': {
        const m = req.member;
        if (this.members.has(m.id) || this.removed.has(m.id)) throw Errors.memberExists();
        const urls = new Set(m.peerURLs);
        for (const other of this.members.values()) if (other.peerURLs.some((u) => urls.has(u))) throw Errors.peerURLExists();
        if (m.isLearner && [...this.members.values()].some((x) => x.isLearner)) throw Errors.tooManyLearners();
        this.members.set(m.id, { ...m });
        return { outcome: { kind: 'members', members: this.memberList(), member: { ...m } }, events: [] };
      }
      case 'memberRemove': {
        const m = this.members.get(req.id);
        if (!m) throw Errors.memberNotFound();
        this.members.delete(req.id);
        this.removed.add(req.id);
        for (const key of [...this.alarms.keys()]) if (this.alarms.get(key)!.memberId === req.id) this.alarms.delete(key);
        return { outcome: { kind: 'members', members: this.memberList() }, events: [] };
      }
      case 'memberUpdate': {
        const m = this.members.get(req.id);
        if (!m) throw Errors.memberNotFound();
        const urls = new Set(req.peerURLs);
        for (const other of this.members.values()) {
          if (other.id !== req.id && other.peerURLs.some((u) => urls.has(u))) throw Errors.peerURLExists();
        }
        m.peerURLs = [...req.peerURLs].sort();
        return { outcome: { kind: 'members', members: this.memberList() }, events: [] };
      }
      case 'memberPromote': {
        const m = this.members.get(req.id);
        if (!m) throw Errors.memberNotFound();
        if (!m.isLearner) throw Errors.memberNotLearner();
        m.isLearner = false;
        return { outcome: { kind: 'members', members: this.memberList() }, events: [] };
      }
      case 'memberAttributes': {
        const m = this.members.get(req.id);
        // An attribute update for a member that is gone is ignored, as etcd does.
        if (m) {
          m.name = req.name;
          m.clientURLs = [...req.clientURLs];
        }
        return { outcome: { kind: 'members', members: this.memberList() }, events: [] };
      }
      case 'auth':
        this.auth.apply(req.auth);
        return { outcome: { kind: 'auth' }, events: [] };
    }
  }

  private applyAlarm(action: 'ACTIVATE' | 'DEACTIVATE', memberId: bigint, alarm: AlarmType): AlarmMember[] {
    const key = `${memberId}:${alarm}`;
    if (action === 'ACTIVATE') {
      if (alarm === 'NONE') return [];
      const existing = this.alarms.get(key);
      if (existing) return [{ ...existing }];
      const m = { memberId, alarm };
      this.alarms.set(key, m);
      return [{ ...m }];
    }
    const existing = this.alarms.get(key);
    if (!existing) return [];
    this.alarms.delete(key);
    return [{ ...existing }];
  }

  alarmActive(alarm: AlarmType): boolean {
    for (const a of this.alarms.values()) if (a.alarm === alarm) return true;
    return false;
  }

  /** etcd's alarm GET: every alarm for NONE, else those of one type; ordered by member then type. */
  alarmList(filter: AlarmType = 'NONE'): AlarmMember[] {
    return [...this.alarms.values()]
      .filter((a) => filter === 'NONE' || a.alarm === filter)
      .sort((a, b) => compareIds(a.memberId, b.memberId) || ALARM_TYPES.indexOf(a.alarm) - ALARM_TYPES.indexOf(b.alarm))
      .map((a) => ({ ...a }));
  }

  memberList(): Member[] {
    return [...this.members.values()].sort((a, b) => compareIds(a.id, b.id)).map((m) => ({ ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] }));
  }

  /** The full state-machine image: everything a snapshot must restore. Deterministic for equal states. */
  serialize(): Buffer {
    const w = new BinaryWriter();
    w.uvarint(IMAGE_VERSION).uvarint(this.appliedIndex).uvarint(this.appliedTerm);
    w.bytes(this.store.serialize());
    return Buffer.concat([IMAGE_MAGIC, w.finish(), this.serializeRest()]);
  }

  /**
   * serialize() of the state as it is now, to be produced slice by slice.
   * Everything is captured now: the small tables at once, the MVCC store
   * (nearly all of the bytes) as a plan that later applies do not change.
   * The returned generator prepares the image in slices and returns it; its
   * length is then known, so it can go to a file as it is produced and
   * never be held whole.
   */
  imageInSlices(): Generator<void, SlicedImage, void> {
    const rest = this.serializeRest();
    const preparing = this.store.imageInSlices();
    const head = new BinaryWriter().uvarint(IMAGE_VERSION).uvarint(this.appliedIndex).uvarint(this.appliedTerm);
    return (function* () {
      const store = yield* preparing;
      const top = head.uvarint(store.length).finish();
      const slices = function* (): Generator<Buffer[], void, void> {
        yield [IMAGE_MAGIC, top];
        yield* store.slices;
        yield [rest];
      };
      return { length: IMAGE_MAGIC.length + top.length + store.length + rest.length, slices: { [Symbol.iterator]: slices } };
    })();
  }

  /** Everything in the image after the store. */
  private serializeRest(): Buffer {
    const w = new BinaryWriter();
    w.bytes(this.leases.serialize());
    const alarms = this.alarmList();
    w.uvarint(alarms.length);
    for (const a of alarms) w.int64(a.memberId).u8(ALARM_TYPES.indexOf(a.alarm));
    const members = this.memberList();
    w.uvarint(members.length);
    for (const m of members) writeMember(w, m);
    const removed = [...this.removed].sort(compareIds);
    w.uvarint(removed.length);
    for (const id of removed) w.int64(id);
    this.auth.encode(w);
    return w.finish();
  }

  /** Replaces the whole state with a serialize() image. Throws DecodeError (or the store's format error) on a bad image. */
  restore(image: Buffer): void {
    if (image.length < 4 || !image.subarray(0, 4).equals(IMAGE_MAGIC)) throw new DecodeError('not a state-machine image');
    const r = new BinaryReader(image.subarray(4));
    const version = r.uvarint();
    if (version !== IMAGE_VERSION) throw new DecodeError(`unsupported state-machine image version ${version}`);
    const appliedIndex = r.uvarint();
    const appliedTerm = r.uvarint();
    const store = MvccStore.deserialize(r.bytes());
    const leases = this.opts.restoreLeases(r.bytes());
    const alarms = new Map<string, AlarmMember>();
    const na = r.uvarint();
    for (let i = 0; i < na; i++) {
      const memberId = r.uint64();
      const alarm = r.choice(ALARM_TYPES, 'alarm');
      alarms.set(`${memberId}:${alarm}`, { memberId, alarm });
    }
    const members = new Map<bigint, Member>();
    const nm = r.uvarint();
    for (let i = 0; i < nm; i++) {
      const m = readMember(r);
      members.set(m.id, m);
    }
    const removed = new Set<bigint>();
    const nr = r.uvarint();
    for (let i = 0; i < nr; i++) removed.add(r.uint64());
    const auth = AuthState.decode(r);
    if (!r.done) throw new DecodeError('trailing bytes in state-machine image');

    this.store = store;
    this.leases = leases;
    this.appliedIndex = appliedIndex;
    this.appliedTerm = appliedTerm;
    this.alarms.clear();
    for (const [k, v] of alarms) this.alarms.set(k, v);
    this.members.clear();
    for (const [k, v] of members) this.members.set(k, v);
    this.removed.clear();
    for (const id of removed) this.removed.add(id);
    this.auth = auth;
  }
}

function txnHasPut(ops: readonly RequestOp[]): boolean {
  return ops.some((op) => op.type === 'put' || (op.type === 'txn' && txnHasPut(op.txn.success.concat(op.txn.failure))));
}
