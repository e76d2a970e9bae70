import { describe, expect, it } from 'vitest';
import { normalise } from './etcdctl-session.js';

describe('normalise (etcdctl transcripts)', () => {
  it('names a port only where it stands as a whole number, not inside a decimal member ID', () => {
    const ports = { client: ['24590', '21111', '22222'], peer: ['25000', '25001', '25002'] };
    const line = '{"header":{"cluster_id":1,"member_id":10276657324590,"revision":12}} http://127.0.0.1:24590 127.0.0.1:25001';
    expect(normalise(line, ports)).toBe(
      '{"header":{"cluster_id":<cluster_id>,"member_id":<member_id>,"revision":12}} http://127.0.0.1:<CLIENT_PORT_1> 127.0.0.1:<PEER_PORT_2>',
    );
  });

  it('leaves a port-like number that is part of a longer number alone', () => {
    expect(normalise('revision 124590 and 245901', { client: '24590', peer: '25000' })).toBe('revision 124590 and 245901');
    expect(normalise('at :24590.', { client: '24590', peer: '25000' })).toBe('at :<CLIENT_PORT>.');
  });
});
