// Membership changes travel through the log as 'conf' entries; the caller
// decodes them when applying and hands them back via applyConfChange.
// Wire layout: [version=1][type][8-byte big-endian node id][context...].

import { assert, isNodeId, nodeIdFromBigInt, nodeIdToBigInt, type NodeId } from './types.js';

export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode' | 'promote';

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to raft; etcd puts the member's attributes (peer URLs) here. */
  context: Uint8Array;
}

const TYPES: readonly ConfChangeType[] = ['addNode', 'addLearner', 'removeNode', 'promote'];
const VERSION = 1;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const t = TYPES.indexOf(cc.type);
  assert(t >= 0, () => `unknown conf change type ${cc.type}`);
  assert(isNodeId(cc.nodeId), () => `conf change node id ${JSON.stringify(cc.nodeId)} is not 16 hex chars`);
  const out = new Uint8Array(10 + cc.context.byteLength);
  out[0] = VERSION;
  out[1] = t;
  new DataView(out.buffer).setBigUint64(2, nodeIdToBigInt(cc.nodeId));
  out.set(cc.context, 10);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.byteLength < 10 || data[0] !== VERSION) throw new Error('malformed conf change entry');
  const type = TYPES[data[1]!];
  if (type === undefined) throw new Error(`unknown conf change type code ${data[1]}`);
  const id = new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(2);
  return { type, nodeId: nodeIdFromBigInt(id), context: data.slice(10) };
}
