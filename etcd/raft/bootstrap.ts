// A brand-new cluster starts from conf entries in the log (as etcd's
// StartNode does) rather than from a snapshot, so members that join later
// learn the initial membership by replaying the log from index 1.

import { encodeConfChange } from './confchange.js';
import type { MemoryStorage } from './storage.js';
import { assert, type Entry, type NodeId } from './types.js';

/** Writes the initial voters as committed term-1 'addNode' entries into an empty storage. */
export function bootstrapStorage(storage: MemoryStorage, voters: NodeId[]): void {
  assert(storage.lastIndex() === 0 && storage.hardState().term === 0, 'bootstrap needs an empty storage');
  assert(voters.length > 0, 'bootstrap needs at least one voter');
  const ents: Entry[] = [...voters].sort().map((id, k) => ({
    term: 1,
    index: k + 1,
    type: 'conf',
    data: encodeConfChange({ type: 'addNode', nodeId: id, context: new Uint8Array() }),
  }));
  storage.append(ents);
  storage.setHardState({ term: 1, vote: '', commit: ents.length });
}
