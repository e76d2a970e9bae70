// fast-check generators for every Raft message variant.

import fc from 'fast-check';
import type { ConfState, Entry, Message, NodeId, Snapshot } from '../../../etcd/raft/types.js';

export const nodeIdArb: fc.Arbitrary<NodeId> = fc
  .bigInt({ min: 1n, max: (1n << 64n) - 1n })
  .map((v) => v.toString(16).padStart(16, '0'));

const optionalNodeId: fc.Arbitrary<NodeId> = fc.oneof(fc.constant(''), nodeIdArb);
const nat = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 48 });
const entryType = fc.constantFrom<'normal' | 'conf'>('normal', 'conf');

const entryArb: fc.Arbitrary<Entry> = fc.record({ term: nat, index: nat, type: entryType, data: bytes });
const confStateArb: fc.Arbitrary<ConfState> = fc.record({
  voters: fc.array(nodeIdArb, { maxLength: 5 }),
  learners: fc.array(nodeIdArb, { maxLength: 3 }),
});
const snapshotArb: fc.Arbitrary<Snapshot> = fc.record({
  index: nat,
  term: nat,
  confState: confStateArb,
  data: fc.uint8Array({ maxLength: 512 }),
});

const base = { from: nodeIdArb, to: nodeIdArb, term: nat };

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ ...base, type: fc.constant('app' as const), index: nat, logTerm: nat, entries: fc.array(entryArb, { maxLength: 6 }), commit: nat }),
  fc.record({ ...base, type: fc.constant('appResp' as const), index: nat, reject: fc.boolean(), rejectHint: nat, logTerm: nat }),
  fc.record({ ...base, type: fc.constantFrom('vote' as const, 'preVote' as const), index: nat, logTerm: nat, force: fc.boolean() }),
  fc.record({ ...base, type: fc.constantFrom('voteResp' as const, 'preVoteResp' as const), reject: fc.boolean() }),
  fc.record({ ...base, type: fc.constant('heartbeat' as const), commit: nat, readRound: nat }),
  fc.record({ ...base, type: fc.constant('heartbeatResp' as const), readRound: nat }),
  fc.record({ ...base, type: fc.constant('snap' as const), snapshot: snapshotArb }),
  fc.record({ ...base, type: fc.constant('timeoutNow' as const) }),
  fc.record({ ...base, type: fc.constant('prop' as const), entries: fc.array(fc.record({ type: entryType, data: bytes }), { maxLength: 6 }) }),
  fc.record({ ...base, type: fc.constant('readIndex' as const), ctx: bytes }),
  fc.record({ ...base, type: fc.constant('readIndexResp' as const), index: nat, ctx: bytes }),
  fc.record({ ...base, type: fc.constant('transferLeader' as const), transferee: optionalNodeId }),
);
