// Which members a fault hits. Modes follow Jepsen's: one member, a minority,
// a majority, the leader (its "primaries"), or all.
import type { Rng } from '../harness/random.js';

export type TargetMode = 'one' | 'minority' | 'majority' | 'leader' | 'all';

export interface TargetChoice {
  mode: TargetMode;
  targets: string[];
  /** Set when the leader was wanted but unknown, and one random member was hit instead. */
  note?: string;
}

export function chooseTargets(mode: TargetMode, names: readonly string[], leader: string | undefined, rng: Rng): TargetChoice {
  if (names.length === 0) return { mode, targets: [] };
  const shuffled = rng.shuffle(names);
  const minority = Math.max(1, Math.floor((names.length - 1) / 2));
  switch (mode) {
    case 'one':
      return { mode, targets: shuffled.slice(0, 1) };
    case 'minority':
      return { mode, targets: shuffled.slice(0, 1 + rng.int(minority)).sort() };
    case 'majority':
      return { mode, targets: shuffled.slice(0, Math.floor(names.length / 2) + 1).sort() };
    case 'all':
      return { mode, targets: [...names] };
    case 'leader':
      if (leader !== undefined && names.includes(leader)) return { mode, targets: [leader] };
      return { mode, targets: shuffled.slice(0, 1), note: 'leader unknown; hit one random member' };
  }
}
