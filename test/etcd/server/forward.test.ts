import { describe, expect, it } from 'vitest';
import { EtcdError, Errors, GrpcCode } from '../../../etcd/errors.js';
import { decodeForwarded, encodeForwarded } from '../../../etcd/server/forward.js';

describe('forwarded request payloads', () => {
  it('carry bigints and byte strings through intact', () => {
    const id = (1n << 63n) + 12345n;
    const out = decodeForwarded(encodeForwarded({ id, keys: [Buffer.from([0, 255, 1]), Buffer.from('k')], ttl: 5, members: [{ id: 7n, name: 'a' }] }));
    expect(out.id).toBe(id);
    expect(out.keys).toEqual([Buffer.from([0, 255, 1]), Buffer.from('k')]);
    expect(out.ttl).toBe(5);
    expect(out.members).toEqual([{ id: 7n, name: 'a' }]);
  });

  it("rethrows the leader's etcd error with its code on the forwarding member", () => {
    const e = Errors.learnerNotReady();
    const bytes = encodeForwarded({ $error: { code: e.code, message: e.message } });
    let caught: unknown;
    try {
      decodeForwarded(bytes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EtcdError);
    expect((caught as EtcdError).code).toBe(GrpcCode.FAILED_PRECONDITION);
    expect((caught as EtcdError).message).toBe('etcdserver: can only promote a learner member which is in sync with leader');
  });

  it('refuses payloads that are not objects', () => {
    expect(() => decodeForwarded(Buffer.from('[1,2]'))).toThrow(/malformed/);
    expect(() => decodeForwarded(Buffer.from('nope'))).toThrow();
  });
});
