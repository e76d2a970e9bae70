import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Member } from '../../../etcd/server/backend.js';
import { checkAddVoter, checkRemoveMember, learnerInSync } from '../../../etcd/server/reconfig-checks.js';

const member = (id: number, over: Partial<Member> = {}): Member => ({
  id: BigInt(id),
  name: `m${id}`,
  peerURLs: [`http://127.0.0.1:${2380 + id}`],
  clientURLs: [],
  isLearner: false,
  ...over,
});

const messageOf = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

const all = () => true;

describe('strict reconfiguration checks', () => {
  it('adds a voter only with every voter connected and a started quorum of the grown cluster', () => {
    const three = [member(1), member(2), member(3)];
    expect(messageOf(() => checkAddVoter(three, all))).toBeUndefined();
    expect(messageOf(() => checkAddVoter(three, (id) => id !== 3n))).toBe('etcdserver: unhealthy cluster');
    // Two of three never started: a cluster of four needs three started members.
    const unstarted = [member(1), member(2, { name: '' }), member(3, { name: '' })];
    expect(messageOf(() => checkAddVoter(unstarted, all))).toBe('etcdserver: re-configuration failed due to not enough started members');
    // A lone started member may add a second (etcd's restore-from-one case).
    expect(messageOf(() => checkAddVoter([member(1)], all))).toBeUndefined();
    // Learners are not counted as voters that must be connected.
    expect(messageOf(() => checkAddVoter([...three, member(4, { isLearner: true })], (id) => id !== 4n))).toBeUndefined();
  });

  it('removes a member only if a connected quorum remains, but a member that is down can always go', () => {
    const three = [member(1), member(2), member(3)];
    expect(messageOf(() => checkRemoveMember(three, 2n, 1n, all))).toBeUndefined();
    // 3 is down: removing live 2 would leave 1 of the 2 remaining voters active.
    expect(messageOf(() => checkRemoveMember(three, 2n, 1n, (id) => id !== 3n))).toBe('etcdserver: unhealthy cluster');
    expect(messageOf(() => checkRemoveMember(three, 3n, 1n, (id) => id !== 3n))).toBeUndefined();
    // The only voter cannot remove itself.
    expect(messageOf(() => checkRemoveMember([member(1)], 1n, 1n, all))).toBe('etcdserver: re-configuration failed due to not enough started members');
    // Learners and unknown members pass (the apply step reports "member not found").
    expect(messageOf(() => checkRemoveMember([...three, member(4, { isLearner: true })], 4n, 1n, () => false))).toBeUndefined();
    expect(messageOf(() => checkRemoveMember(three, 9n, 1n, all))).toBeUndefined();
  });

  it('never lets the removal of a live voter leave fewer connected voters than a quorum of the rest', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }), fc.nat(6), (n, up, pick) => {
        const voters = Array.from({ length: n }, (_, i) => member(i + 1));
        const connected = (id: bigint) => id === 1n || up[Number(id) - 1]!;
        const target = BigInt((pick % n) + 1);
        const ok = messageOf(() => checkRemoveMember(voters, target, 1n, connected)) === undefined;
        const remaining = voters.filter((m) => m.id !== target);
        const activeRemaining = remaining.filter((m) => connected(m.id)).length;
        // Removing a member that is down cannot shrink the active quorum, so only live targets are bounded.
        if (ok && connected(target)) expect(activeRemaining).toBeGreaterThanOrEqual(Math.floor(remaining.length / 2) + 1);
        // And a live removal is refused only when it would break that bound (or nobody would be left started).
        if (!ok && connected(target) && remaining.length > 0) expect(activeRemaining).toBeLessThan(Math.floor(remaining.length / 2) + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('judges a learner in sync at 90% of the leader\'s match index', () => {
    expect(learnerInSync(90, 100)).toBe(true);
    expect(learnerInSync(89, 100)).toBe(false);
    expect(learnerInSync(0, 0)).toBe(false);
    expect(learnerInSync(undefined, 100)).toBe(false);
  });
});
