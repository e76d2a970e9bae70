// Checks the kubernetes workload: no lost update (every write was based on
// the version current at its revision), resourceVersions never going back
// in real time, lists that match every known version, and list + watch
// reconstructing the state a list at the same revision returns.

import type { Op, ProcessId } from '../harness/history.js';
import type { KubeGet, KubeItem, KubeList, KubeListWatch, KubeWrite } from '../workloads/kubernetes-types.js';
import { AnomalyLog } from './result.js';
import type { CheckResult } from './result.js';

export interface KubeCheckResult extends CheckResult {
  counts: Record<string, number>;
  coverage: { versions: number; chainLinks: number; rvObservations: number; lists: number; listWatches: number; watchEvents: number };
  summary: Record<string, string>;
}

interface Version {
  rev: number;
  deleted: boolean;
  /** Put versions: the uid written; deletes: undefined. */
  uid?: number;
  /** The version this one replaced (0: a create), when known. */
  basedOn?: number;
  op: Op;
}

interface Observation {
  key: string;
  rev: number;
  invokeIndex: number;
  completeIndex: number;
  /** Only reads are judged; writes and deletes raise the bar for later reads. */
  read: boolean;
  op: Op;
}

export function checkKubernetes(history: readonly Op[], opts: { maxPerType?: number } = {}): KubeCheckResult {
  const log = new AnomalyLog(opts.maxPerType ?? 100);
  const invokes = new Map<ProcessId, Op>();
  const versions = new Map<string, Map<number, Version>>();
  const observations: Observation[] = [];
  const lists: { op: Op; revision: number; items: KubeItem[]; invokeIndex: number }[] = [];
  const listWatches: { op: Op<KubeListWatch>; v: KubeListWatch }[] = [];
  const headerRevs: { rev: number; invokeIndex: number; completeIndex: number; op: Op }[] = [];
  let watchEvents = 0;
  /** Keys with a delete of unknown outcome: an unseen deletion may explain an absence there. */
  const uncertainDeletes = new Set<string>();

  const addVersion = (key: string, v: Version) => {
    const m = versions.get(key) ?? new Map<number, Version>();
    versions.set(key, m);
    const prior = m.get(v.rev);
    if (!prior) {
      m.set(v.rev, v);
      return;
    }
    if (prior.deleted !== v.deleted || (prior.uid !== undefined && v.uid !== undefined && prior.uid !== v.uid)) {
      log.add({
        type: 'divergent-version',
        key,
        ops: [prior.op, v.op],
        explanation: `${key} at resourceVersion ${v.rev} was seen as ${describe(prior)} (op ${prior.op.index}) and as ${describe(v)} (op ${v.op.index})`,
      });
    }
    if (prior.basedOn === undefined && v.basedOn !== undefined) prior.basedOn = v.basedOn;
    if (prior.uid === undefined && v.uid !== undefined) prior.uid = v.uid;
  };
  const addItem = (item: KubeItem, op: Op, invokeIndex: number) => {
    addVersion(item.key, { rev: item.modRevision, deleted: false, uid: item.uid, ...(item.basedOn >= 0 ? { basedOn: item.basedOn } : {}), op });
    observations.push({ key: item.key, rev: item.modRevision, invokeIndex, completeIndex: op.index, read: true, op });
  };

  for (const op of history) {
    if (op.process === 'nemesis') continue;
    if (op.type === 'invoke') {
      invokes.set(op.process, op);
      continue;
    }
    const invokeIndex = invokes.get(op.process)?.index ?? op.index;
    invokes.delete(op.process);
    if (op.f === 'delete' && op.type === 'info') uncertainDeletes.add((op.value as KubeWrite).key);
    if (op.type !== 'ok') continue;
    if (op.revision !== undefined) headerRevs.push({ rev: op.revision, invokeIndex, completeIndex: op.index, op });
    switch (op.f) {
      case 'create':
      case 'update': {
        const v = op.value as KubeWrite;
        if (v.modRevision === undefined) break;
        addVersion(v.key, { rev: v.modRevision, deleted: false, ...(v.uid !== undefined ? { uid: v.uid } : {}), ...(v.basedOn !== undefined ? { basedOn: v.basedOn } : {}), op });
        observations.push({ key: v.key, rev: v.modRevision, invokeIndex, completeIndex: op.index, read: false, op });
        break;
      }
      case 'delete': {
        const v = op.value as KubeWrite;
        if (v.modRevision === undefined) break;
        addVersion(v.key, { rev: v.modRevision, deleted: true, ...(v.basedOn !== undefined ? { basedOn: v.basedOn } : {}), op });
        observations.push({ key: v.key, rev: v.modRevision, invokeIndex, completeIndex: op.index, read: false, op });
        break;
      }
      case 'get': {
        const item = (op.value as KubeGet).item;
        if (item) addItem(item, op, invokeIndex);
        break;
      }
      case 'list': {
        const v = op.value as KubeList;
        if (v.revision === undefined || !v.items) break;
        for (const i of v.items) addItem(i, op, invokeIndex);
        lists.push({ op, revision: v.revision, items: v.items, invokeIndex });
        break;
      }
      case 'list-watch': {
        const v = op.value as KubeListWatch;
        if (v.revision === undefined || !v.items) break;
        for (const i of v.items) addItem(i, op, invokeIndex);
        lists.push({ op, revision: v.revision, items: v.items, invokeIndex });
        for (const e of v.events ?? []) {
          watchEvents++;
          addVersion(e.key, { rev: e.rev, deleted: e.type === 'delete', ...(e.uid !== undefined ? { uid: e.uid } : {}), op });
        }
        if (v.checkItems && v.watchedTo !== undefined) {
          for (const i of v.checkItems) addVersion(i.key, { rev: i.modRevision, deleted: false, uid: i.uid, ...(i.basedOn >= 0 ? { basedOn: i.basedOn } : {}), op });
          // The check list is at a revision chosen from the watch, not a fresh read: judged for staleness only as a list.
          lists.push({ op, revision: v.watchedTo, items: v.checkItems, invokeIndex: Number.POSITIVE_INFINITY });
        }
        listWatches.push({ op: op as Op<KubeListWatch>, v });
        break;
      }
    }
  }

  for (const op of invokes.values()) if (op.f === 'delete') uncertainDeletes.add((op.value as KubeWrite).key);

  // ---- No lost update: each version replaced the one current before it -----
  let chainLinks = 0;
  const sorted = new Map<string, Version[]>();
  for (const [key, m] of versions) sorted.set(key, [...m.values()].sort((a, b) => a.rev - b.rev));
  for (const [key, list] of sorted) {
    for (let i = 0; i < list.length; i++) {
      const v = list[i]!;
      if (v.basedOn === undefined) continue;
      chainLinks++;
      const prev = i > 0 ? list[i - 1]! : undefined;
      if (v.basedOn === 0) {
        if (prev && !prev.deleted && !uncertainDeletes.has(key)) {
          log.add({
            type: 'lost-update',
            key,
            ops: [prev.op, v.op],
            explanation: `${key} was created at resourceVersion ${v.rev} while version ${prev.rev} existed: the create overwrote an object it never saw`,
          });
        }
        continue;
      }
      if (prev && prev.rev > v.basedOn) {
        log.add({
          type: 'lost-update',
          key,
          ops: [prev.op, v.op],
          explanation: `${key} at resourceVersion ${v.rev} was ${v.deleted ? 'deleted' : 'written'} based on resourceVersion ${v.basedOn}, but version ${prev.rev} (${describe(prev)}) came in between and was lost`,
        });
      }
      const base = versions.get(key)!.get(v.basedOn);
      if (base?.deleted) {
        log.add({ type: 'lost-update', key, ops: [base.op, v.op], explanation: `${key} at resourceVersion ${v.rev} was based on ${v.basedOn}, which is a deletion` });
      }
    }
  }

  // ---- resourceVersions never go back in real time -------------------------
  const byKey = new Map<string, Observation[]>();
  for (const o of observations) {
    const l = byKey.get(o.key) ?? [];
    l.push(o);
    byKey.set(o.key, l);
  }
  for (const [key, obs] of byKey) {
    const byComplete = [...obs].sort((a, b) => a.completeIndex - b.completeIndex);
    const reads = obs.filter((o) => o.read).sort((a, b) => a.invokeIndex - b.invokeIndex);
    let ci = 0;
    let best: Observation | undefined;
    for (const r of reads) {
      while (ci < byComplete.length && byComplete[ci]!.completeIndex < r.invokeIndex) {
        const c = byComplete[ci++]!;
        if (!best || c.rev > best.rev) best = c;
      }
      if (best && r.rev < best.rev) {
        log.add({
          type: 'resource-version-regressed',
          key,
          ops: [best.op, r.op],
          explanation: `op ${r.op.index} read ${key} at resourceVersion ${r.rev}, older than ${best.rev} which op ${best.op.index} had already ${best.read ? 'read' : 'written'} before it began`,
        });
      }
    }
  }
  {
    const byComplete = [...headerRevs].sort((a, b) => a.completeIndex - b.completeIndex);
    const listOps = lists.filter((l) => Number.isFinite(l.invokeIndex)).sort((a, b) => a.invokeIndex - b.invokeIndex);
    let ci = 0;
    let best: (typeof headerRevs)[number] | undefined;
    for (const l of listOps) {
      while (ci < byComplete.length && byComplete[ci]!.completeIndex < l.invokeIndex) {
        const c = byComplete[ci++]!;
        if (!best || c.rev > best.rev) best = c;
      }
      if (best && l.revision < best.rev) {
        log.add({
          type: 'resource-version-regressed',
          ops: [best.op, l.op],
          explanation: `op ${l.op.index} listed at revision ${l.revision}, older than revision ${best.rev} that op ${best.op.index} had already observed before it began`,
        });
      }
    }
  }

  // ---- Lists agree with every known version --------------------------------
  for (const l of lists) {
    const listed = new Map(l.items.map((i) => [i.key, i]));
    for (const [key, vs] of sorted) {
      let latest: Version | undefined;
      let after: Version | undefined;
      for (const v of vs) {
        if (v.rev <= l.revision) latest = v;
        else if (!after) after = v;
      }
      const item = listed.get(key);
      if (!latest) continue;
      // An absence is only provably wrong when the object continued from that version past the list's revision.
      const absentOk = latest.deleted || uncertainDeletes.has(key) || after?.basedOn !== latest.rev;
      const ok = item ? !latest.deleted && latest.rev === item.modRevision : absentOk;
      if (!ok) {
        log.add({
          type: 'stale-list',
          key,
          ops: [latest.op, l.op],
          explanation: `the list at revision ${l.revision} (op ${l.op.index}) shows ${key} ${item ? `at resourceVersion ${item.modRevision}` : 'absent'}, but ${describe(latest)} at ${latest.rev} (op ${latest.op.index}) was its state at that revision`,
        });
      }
    }
  }

  // ---- List + watch reconstructs the state of a list at the same revision --
  for (const { op, v } of listWatches) {
    if (!v.checkItems || v.watchedTo === undefined || v.revision === undefined) continue;
    const state = new Map((v.items ?? []).map((i) => [i.key, { rev: i.modRevision, uid: i.uid }]));
    let last = v.revision;
    let bad: string | undefined;
    for (const e of v.events ?? []) {
      if (e.rev <= v.revision || e.rev < last) bad ??= `event at revision ${e.rev} arrived after revision ${last}, but the watch started at ${v.revision + 1}`;
      last = Math.max(last, e.rev);
      if (e.type === 'put') state.set(e.key, { rev: e.rev, uid: e.uid ?? -1 });
      else state.delete(e.key);
    }
    const want = new Map(v.checkItems.map((i) => [i.key, { rev: i.modRevision, uid: i.uid }]));
    for (const key of new Set([...state.keys(), ...want.keys()])) {
      const a = state.get(key);
      const b = want.get(key);
      if (a?.rev !== b?.rev || a?.uid !== b?.uid) {
        bad ??= `${key} is ${a ? `at ${a.rev}` : 'absent'} after list + watch but ${b ? `at ${b.rev}` : 'absent'} in a list at revision ${v.watchedTo}`;
      }
    }
    if (bad) log.add({ type: 'list-watch-mismatch', ops: [op], explanation: `list at ${v.revision} plus watch to ${v.watchedTo} (op ${op.index}): ${bad}` });
  }

  let nVersions = 0;
  for (const m of versions.values()) nVersions += m.size;
  const coverage = { versions: nVersions, chainLinks, rvObservations: observations.length, lists: lists.length, listWatches: listWatches.length, watchEvents };
  return {
    valid: log.size === 0,
    anomalies: log.anomalies,
    counts: log.counts,
    coverage,
    summary: {
      lostUpdate: `${chainLinks} version links checked over ${nVersions} known versions of ${versions.size} objects`,
      resourceVersion: `${observations.length} resourceVersion observations checked against real-time order`,
      lists: `${lists.length} lists checked against known versions`,
      listWatch: `${listWatches.length} list+watch reconstructions (${watchEvents} events) compared with a list at the same revision`,
    },
  };
}

function describe(v: Version): string {
  return v.deleted ? 'a deletion' : `uid ${v.uid ?? '?'}`;
}
