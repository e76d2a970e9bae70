// Wire sizes of watch responses and etcd's fragmentation of large ones.
// etcd (api/v3rpc/watch.go, sendFragments) splits a response for a watcher
// created with fragment=true when its encoded size reaches max-request-bytes
// and it holds at least two events: each piece takes events while it stays
// under the limit (always at least one event), every piece but the last has
// fragment=true, and the client glues pieces together until fragment=false.
// Sizes are computed from the protobuf encoding rules rather than by
// encoding, so this stays independent of the gRPC layer.

import type { KeyValue, MvccEvent } from '../types.js';
import type { WatchResponse } from './watch.js';

/** etcd's default --max-request-bytes, the default fragment limit. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/** Bytes of a protobuf varint holding a non-negative integer; negatives are sign-extended to 10 bytes. */
export function varintSize(n: number | bigint): number {
  let v = BigInt(n);
  if (v < 0n) return 10;
  let size = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    size++;
  }
  return size;
}

function numberSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  // Division rather than shifts: revisions may exceed 32 bits.
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** One length-delimited field with a one-byte tag. */
const lengthDelimited = (len: number): number => 1 + numberSize(len) + len;
/** One varint field with a one-byte tag, omitted when zero (proto3). */
const varintField = (n: number): number => (n === 0 ? 0 : 1 + numberSize(n));

export function keyValueSize(kv: KeyValue): number {
  return (
    (kv.key.length ? lengthDelimited(kv.key.length) : 0) +
    varintField(kv.createRevision) +
    varintField(kv.modRevision) +
    varintField(kv.version) +
    (kv.value.length ? lengthDelimited(kv.value.length) : 0) +
    (kv.lease === 0n ? 0 : 1 + varintSize(kv.lease))
  );
}

export function eventSize(ev: MvccEvent): number {
  return (
    (ev.type === 'DELETE' ? 2 : 0) +
    lengthDelimited(keyValueSize(ev.kv)) +
    (ev.prevKv ? lengthDelimited(keyValueSize(ev.prevKv)) : 0)
  );
}

/**
 * The largest encoding of a ResponseHeader at `revision`: cluster_id,
 * member_id and raft_term are filled in later by the server, so assume the
 * widest varints for them.
 */
export function headerSize(revision: number): number {
  return 3 * (1 + 10) + varintField(revision);
}

/** Encoded size of the WatchResponse message that `resp` becomes on the wire. */
export function watchResponseSize(resp: WatchResponse): number {
  let size = lengthDelimited(headerSize(resp.revision));
  size += varintField(resp.watchId);
  if (resp.created) size += 2;
  if (resp.canceled) size += 2;
  size += varintField(resp.compactRevision);
  if (resp.cancelReason.length) size += lengthDelimited(Buffer.byteLength(resp.cancelReason));
  if (resp.fragment) size += 2;
  for (const ev of resp.events) size += lengthDelimited(eventSize(ev));
  return size;
}

/** Splits `resp` the way etcd's sendFragments does; returns [resp] when no split is needed. */
export function splitFragments(resp: WatchResponse, maxBytes: number): WatchResponse[] {
  if (resp.events.length < 2 || watchResponseSize(resp) < maxBytes) return [resp];
  const pieces: WatchResponse[] = [];
  const empty: WatchResponse = { ...resp, events: [], fragment: true };
  const base = watchResponseSize(empty);
  let i = 0;
  while (i < resp.events.length) {
    const events: MvccEvent[] = [];
    let size = base;
    while (i < resp.events.length) {
      const add = lengthDelimited(eventSize(resp.events[i]!));
      if (events.length > 0 && size + add >= maxBytes) break;
      events.push(resp.events[i]!);
      size += add;
      i++;
    }
    pieces.push({ ...resp, events, fragment: i < resp.events.length });
  }
  return pieces;
}
