// Which consistency models a set of anomalies rules out, after Elle's
// consistency-model graphs (which follow Adya, Bailis et al. and Cerone et
// al.), reduced to the six models we report. Two graphs: an anomaly implies
// weaker anomalies (a G0 cycle is also a G1c cycle; a plain cycle is also a
// -process and a -realtime one), and a model forbids anomalies; a model is
// ruled out when it forbids an anomaly the history has, directly or by
// implication, and so is every model stronger than it.

export const MODELS = ['strict-serializable', 'serializable', 'snapshot-isolation', 'repeatable-read', 'read-committed', 'read-uncommitted'] as const;
export type Model = (typeof MODELS)[number];

/** a → models a implies (a history satisfying a satisfies them). */
const IMPLIES: Record<Model, Model[]> = {
  'strict-serializable': ['serializable', 'snapshot-isolation'],
  serializable: ['repeatable-read', 'snapshot-isolation'],
  'snapshot-isolation': ['read-committed'],
  'repeatable-read': ['read-committed'],
  'read-committed': ['read-uncommitted'],
  'read-uncommitted': [],
};

/**
 * What each model forbids on its own. Repeatable read and snapshot isolation
 * include lost update through cursor stability; snapshot isolation includes
 * G-single through consistent view.
 */
const FORBIDS: Record<Model, string[]> = {
  'read-uncommitted': ['G0', 'duplicate-elements', 'cyclic-versions', 'garbage-read'],
  'read-committed': ['G1'],
  'repeatable-read': ['G1', 'G2-item', 'lost-update'],
  'snapshot-isolation': ['internal', 'G1', 'G-single', 'G-nonadjacent', 'lost-update'],
  serializable: ['internal', 'G1', 'G2'],
  'strict-serializable': ['G1', 'G1c-realtime', 'G2-realtime'],
};

/** anomaly → anomalies it implies. */
const ANOMALY_IMPLIES: Record<string, string[]> = {
  G0: ['G1c', 'G0-process'],
  'G0-process': ['G1c-process', 'G0-realtime'],
  'G0-realtime': ['G1c-realtime'],
  G1a: ['G1'],
  G1b: ['G1'],
  G1c: ['G1', 'G1c-process'],
  'G1c-process': ['G1c-realtime', 'G1-process'],
  'G1c-realtime': ['G1-realtime'],
  G1: ['G1-process'],
  'G1-process': ['G1-realtime'],
  // Our G-single and G-nonadjacent cycles are over items (no predicates), so they are G2-item too.
  'G-single': ['G-nonadjacent', 'G-single-process', 'G2-item'],
  'G-single-process': ['G-nonadjacent-process', 'G-single-realtime', 'G2-item-process'],
  'G-single-realtime': ['G-nonadjacent-realtime', 'G2-item-realtime'],
  'G-nonadjacent': ['G2', 'G2-item', 'G-nonadjacent-process'],
  'G-nonadjacent-process': ['G2-process', 'G2-item-process', 'G-nonadjacent-realtime'],
  'G-nonadjacent-realtime': ['G2-realtime', 'G2-item-realtime'],
  'G2-item': ['G2', 'G2-item-process'],
  'G2-item-process': ['G2-process', 'G2-item-realtime'],
  'G2-item-realtime': ['G2-realtime'],
  G2: ['G2-process'],
  'G2-process': ['G2-realtime'],
  'incompatible-order': ['G1a'],
  'dirty-update': ['G1a'],
  'future-read': ['G1c'],
  'lost-update': ['G2-item'],
};

export function impliedAnomalies(anomalies: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const queue = [...anomalies];
  while (queue.length > 0) {
    const a = queue.pop()!;
    if (out.has(a)) continue;
    out.add(a);
    queue.push(...(ANOMALY_IMPLIES[a] ?? []));
  }
  return out;
}

function stronger(model: Model): Model[] {
  return MODELS.filter((m) => m !== model && closure(m).has(model));
}

function closure(model: Model): Set<Model> {
  const out = new Set<Model>();
  const queue: Model[] = [model];
  while (queue.length > 0) {
    const m = queue.pop()!;
    if (out.has(m)) continue;
    out.add(m);
    queue.push(...IMPLIES[m]);
  }
  return out;
}

export interface ModelVerdict {
  /** The strongest models the history satisfies (several when incomparable, e.g. snapshot isolation and repeatable read). */
  strongest: Model[];
  satisfied: Model[];
  /** The weakest models ruled out. */
  not: Model[];
  /** Stronger models, also ruled out. */
  alsoNot: Model[];
}

/** Anomaly types that rule out at least this model (directly or through a stronger anomaly). */
export function anomaliesForbiddenBy(model: Model): Set<string> {
  const forbidden = new Set<string>();
  for (const m of closure(model)) for (const a of FORBIDS[m]) forbidden.add(a);
  return forbidden;
}

export function modelVerdict(anomalyTypes: Iterable<string>): ModelVerdict {
  const present = impliedAnomalies(anomalyTypes);
  const impossible = new Set<Model>();
  for (const m of MODELS) {
    if (FORBIDS[m].some((a) => present.has(a))) {
      impossible.add(m);
      for (const s of stronger(m)) impossible.add(s);
    }
  }
  const satisfied = MODELS.filter((m) => !impossible.has(m));
  const strongest = satisfied.filter((m) => !satisfied.some((o) => o !== m && closure(o).has(m)));
  const not = MODELS.filter((m) => impossible.has(m) && !MODELS.some((o) => o !== m && impossible.has(o) && closure(m).has(o)));
  const alsoNot = MODELS.filter((m) => impossible.has(m) && !not.includes(m));
  return { strongest, satisfied, not, alsoNot };
}
