// Payloads of the requests a member forwards to the leader over the peer
// transport (lease renewals and TTL queries, learner promotion) and of the
// removal notice. JSON, with bigints and byte strings tagged so they survive
// the trip; an etcd error on the leader comes back as an `$error` field and is
// rethrown as the same EtcdError on the forwarding member.

import { EtcdError, type GrpcCodeValue } from '../errors.js';

export type ForwardKind = 'lease-renew' | 'lease-ttl' | 'member-add' | 'member-remove' | 'member-promote' | 'member-removed' | 'member-list';

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { $big: value.toString() };
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { $bytes: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.$big === 'string') return BigInt(o.$big);
    if (typeof o.$bytes === 'string') return Buffer.from(o.$bytes, 'base64');
  }
  return value;
}

export function encodeForwarded(value: Record<string, unknown>): Uint8Array {
  return Buffer.from(JSON.stringify(value, replacer), 'utf8');
}

/** Decodes a payload; throws the EtcdError it carries, if any. */
export function decodeForwarded(bytes: Uint8Array): Record<string, unknown> {
  const parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), reviver) as unknown;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('malformed forwarded payload');
  const o = parsed as Record<string, unknown>;
  const err = o.$error as { code?: unknown; message?: unknown } | undefined;
  if (err && typeof err.code === 'number' && typeof err.message === 'string') throw new EtcdError(err.code as GrpcCodeValue, err.message);
  return o;
}
