import { describe, expect, it } from 'vitest';
import { prefixEnd } from '../etcd/types.js';

describe('prefixEnd', () => {
  it('increments the last byte below 0xff', () => {
    expect(prefixEnd(Buffer.from('foo'))).toEqual(Buffer.from('fop'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
  });
});
