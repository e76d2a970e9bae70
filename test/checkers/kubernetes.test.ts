import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkKubernetes } from '../../checkers/kubernetes.js';
import type { Op } from '../../harness/history.js';
import { createRng } from '../../harness/random.js';
import type { KubeGet, KubeItem, KubeListWatch, KubeWrite } from '../../workloads/kubernetes-types.js';

/**
 * A model of kube-apiserver's storage against a correct etcd: writes
 * conditional on mod revision, reads and lists of the current state, and
 * list-watches during which other processes write (the watch reports
 * exactly those writes; the check list is the state it reached).
 */
function kubeHistory(seed: number, steps: number): Op[] {
  const rng = createRng(seed);
  const ops: Op[] = [];
  const push = (o: Omit<Op, 'index' | 'time'>) => ops.push({ ...o, index: ops.length, time: ops.length } as Op);
  const keys = ['/registry/pods/default/a', '/registry/pods/default/b', '/registry/pods/default/c'];
  const state = new Map<string, { rev: number; uid: number; basedOn: number }>();
  let rev = 1;
  let uid = 1;
  const items = (): KubeItem[] => [...state.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, s]) => ({ key, modRevision: s.rev, uid: s.uid, basedOn: s.basedOn }));
  const write = (p: number, onEvent?: (e: { type: 'put' | 'delete'; key: string; rev: number; uid?: number }) => void) => {
    const key = rng.pick(keys);
    const cur = state.get(key);
    if (!cur) {
      const v: KubeWrite = { key, uid: uid++ };
      push({ type: 'invoke', process: p, f: 'create', value: v });
      rev++;
      state.set(key, { rev, uid: v.uid!, basedOn: 0 });
      push({ type: 'ok', process: p, f: 'create', value: { ...v, basedOn: 0, modRevision: rev }, revision: rev });
      onEvent?.({ type: 'put', key, rev, uid: v.uid! });
    } else if (rng.next() < 0.2) {
      push({ type: 'invoke', process: p, f: 'delete', value: { key } });
      rev++;
      state.delete(key);
      push({ type: 'ok', process: p, f: 'delete', value: { key, basedOn: cur.rev, modRevision: rev, attempts: 1 }, revision: rev });
      onEvent?.({ type: 'delete', key, rev });
    } else {
      const v: KubeWrite = { key, uid: uid++ };
      push({ type: 'invoke', process: p, f: 'update', value: v });
      rev++;
      state.set(key, { rev, uid: v.uid!, basedOn: cur.rev });
      push({ type: 'ok', process: p, f: 'update', value: { ...v, basedOn: cur.rev, modRevision: rev, attempts: 1 }, revision: rev });
      onEvent?.({ type: 'put', key, rev, uid: v.uid! });
    }
  };
  for (let i = 0; i < steps; i++) {
    const roll = rng.next();
    const p = rng.int(3);
    if (roll < 0.5) write(p);
    else if (roll < 0.7) {
      const key = rng.pick(keys);
      const s = state.get(key);
      push({ type: 'invoke', process: p, f: 'get', value: { key } });
      push({ type: 'ok', process: p, f: 'get', value: { key, item: s ? { key, modRevision: s.rev, uid: s.uid, basedOn: s.basedOn } : null } satisfies KubeGet, revision: rev });
    } else if (roll < 0.85) {
      push({ type: 'invoke', process: p, f: 'list', value: {} });
      push({ type: 'ok', process: p, f: 'list', value: { revision: rev, items: items(), pages: 1 }, revision: rev });
    } else {
      push({ type: 'invoke', process: 10, f: 'list-watch', value: { durationMs: 1 } });
      const listRev = rev;
      const listed = items();
      const events: NonNullable<KubeListWatch['events']> = [];
      const n = rng.int(5);
      for (let k = 0; k < n; k++) write(3 + rng.int(2), (e) => events.push(e));
      push({ type: 'ok', process: 10, f: 'list-watch', value: { durationMs: 1, revision: listRev, items: listed, events, watchedTo: rev, checkItems: items() }, revision: listRev });
    }
  }
  return ops;
}

const types = (h: Op[]) => Object.keys(checkKubernetes(h).counts);
const args = fc.record({ seed: fc.integer(), steps: fc.integer({ min: 10, max: 120 }) });

describe('checkKubernetes', () => {
  it('accepts histories of the model', () => {
    fc.assert(
      fc.property(args, ({ seed, steps }) => {
        const r = checkKubernetes(kubeHistory(seed, steps));
        expect(r.anomalies.map((a) => a.explanation)).toEqual([]);
        expect(r.valid).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('names a lost update: a write based on a version that was no longer current', () => {
    let injected = 0;
    fc.assert(
      fc.property(args, ({ seed, steps }) => {
        const h = kubeHistory(seed, steps);
        // An update whose base was itself an update: rebase it on the version before.
        const byRev = new Map(h.filter((o) => (o.f === 'update' || o.f === 'create') && o.type === 'ok').map((o) => [(o.value as KubeWrite).modRevision!, o.value as KubeWrite]));
        const target = h.find((o) => o.f === 'update' && o.type === 'ok' && byRev.get((o.value as KubeWrite).basedOn!)?.basedOn);
        if (!target) return;
        injected++;
        const v = target.value as KubeWrite;
        v.basedOn = byRev.get(v.basedOn!)!.basedOn!;
        expect(types(h)).toContain('lost-update');
      }),
      { numRuns: 80 },
    );
    expect(injected).toBeGreaterThan(20);
  });

  it('names a resourceVersion going back', () => {
    let injected = 0;
    fc.assert(
      fc.property(args, ({ seed, steps }) => {
        const h = kubeHistory(seed, steps);
        // A get of an object that had an earlier version: make it return that one.
        const versions = new Map<number, KubeWrite>();
        for (const o of h) if ((o.f === 'update' || o.f === 'create') && o.type === 'ok') versions.set((o.value as KubeWrite).modRevision!, o.value as KubeWrite);
        const get = h.find((o) => o.f === 'get' && o.type === 'ok' && (o.value as KubeGet).item && versions.get((o.value as KubeGet).item!.basedOn)?.basedOn !== undefined);
        if (!get) return;
        injected++;
        const item = (get.value as KubeGet).item!;
        const older = versions.get(item.basedOn)!;
        (get.value as KubeGet).item = { key: item.key, modRevision: older.modRevision!, uid: older.uid!, basedOn: older.basedOn! };
        expect(types(h)).toContain('resource-version-regressed');
      }),
      { numRuns: 80 },
    );
    expect(injected).toBeGreaterThan(20);
  });

  it('names a list + watch that does not reconstruct the list at the same revision', () => {
    let injected = 0;
    fc.assert(
      fc.property(args, ({ seed, steps }) => {
        const h = kubeHistory(seed, Math.max(steps, 40));
        const lw = h.find((o) => o.f === 'list-watch' && o.type === 'ok' && ((o.value as KubeListWatch).events ?? []).length > 0);
        if (!lw) return;
        injected++;
        const v = lw.value as KubeListWatch;
        v.events = v.events!.slice(0, -1);
        expect(types(h)).toContain('list-watch-mismatch');
      }),
      { numRuns: 80 },
    );
    expect(injected).toBeGreaterThan(20);
  });

  it('names a create over an existing object, and a stale list', () => {
    const h = kubeHistory(9, 60);
    const list = h.find((o) => o.f === 'list' && o.type === 'ok' && (o.value as { items: KubeItem[] }).items.length > 0)!;
    const v = list.value as { revision: number; items: KubeItem[] };
    const listed = v.items[0]!;
    const newer = h.find((o) => o.f === 'update' && o.type === 'ok' && (o.value as KubeWrite).key === listed.key && (o.value as KubeWrite).modRevision! > listed.modRevision);
    expect(newer).toBeDefined();
    v.revision = (newer!.value as KubeWrite).modRevision!;
    expect(types(h)).toContain('stale-list');
    const h2 = kubeHistory(9, 60);
    const upd = h2.find((o) => o.f === 'update' && o.type === 'ok')!;
    (upd.value as KubeWrite).basedOn = 0;
    expect(types(h2)).toContain('lost-update');
  });

  it('summarises what it covered', () => {
    const r = checkKubernetes(kubeHistory(4, 80));
    expect(r.summary.lostUpdate).toMatch(/^\d+ version links checked over \d+ known versions of \d+ objects$/);
    expect(r.coverage.chainLinks).toBeGreaterThan(0);
  });
});
