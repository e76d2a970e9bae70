import { describe, expect, it } from 'vitest';
import type { Op } from '../../../harness/history.js';
import { renderReport, scriptJson } from '../../../harness/report/html.js';
import { faultPeriods, timelineOps } from '../../../harness/report/timeline.js';

const ms = 1e6;
const history: Op[] = [
  { index: 0, type: 'invoke', process: 0, f: 'write', value: { key: 'r0', value: 1 }, time: 1 * ms, member: 'n1' },
  { index: 1, type: 'invoke', process: 'nemesis', f: 'start-kill', value: null, time: 2 * ms },
  { index: 2, type: 'ok', process: 'nemesis', f: 'start-kill', value: { mode: 'one', targets: ['n2'] }, time: 3 * ms },
  { index: 3, type: 'ok', process: 0, f: 'write', value: { key: 'r0', value: 1 }, time: 4 * ms, member: 'n1', revision: 2 },
  { index: 4, type: 'invoke', process: 1, f: 'read', value: { key: 'r0', value: null }, time: 5 * ms, member: 'n2' },
  { index: 5, type: 'ok', process: 1, f: 'read', value: { key: 'r0', value: 7, modRevision: 9 }, time: 6 * ms, member: 'n2', revision: 9 },
  { index: 6, type: 'invoke', process: 'nemesis', f: 'stop-kill', value: null, time: 7 * ms },
  { index: 7, type: 'ok', process: 'nemesis', f: 'stop-kill', value: { targets: ['n2'] }, time: 8 * ms },
  { index: 8, type: 'invoke', process: 2, f: 'cas', value: { key: 'r0', from: 1, to: 2 }, time: 9 * ms, member: 'n3' },
];

function scriptOf(html: string): string {
  const m = /<script>([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no inline script');
  return m[1]!;
}

describe('timeline shaping', () => {
  it('pairs ops and turns nemesis start/stop into periods', () => {
    const ops = timelineOps(history);
    expect(ops.map((o) => [o.i, o.c, o.t])).toEqual([
      [0, 3, 'ok'],
      [4, 5, 'ok'],
      [8, -1, 'info'],
    ]);
    expect(ops[1]!.v).toBe('r0: 7 @9');
    expect(faultPeriods(history)).toEqual([{ fault: 'kill', startMs: 3, endMs: 8, detail: expect.stringContaining('n2') as unknown as string }]);
  });
});

describe('renderReport', () => {
  const html = renderReport({
    title: 'register-etcd-kill',
    valid: false,
    facts: { db: 'etcd', seed: 1 },
    anomalies: [{ type: 'stale-read', key: 'r0', explanation: 'read of key r0 returning 7 <never written>', opIndexes: [4, 5] }],
    history,
  });

  it('is self-contained: no external scripts, styles or fetches', () => {
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('contains the ops and the nemesis periods as data', () => {
    const data = /<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html);
    expect(data).not.toBeNull();
    const parsed = JSON.parse(data![1]!) as { ops: unknown[]; periods: unknown[]; history: Op[] };
    expect(parsed.ops).toHaveLength(3);
    expect(parsed.periods).toHaveLength(1);
    expect(parsed.history).toHaveLength(history.length);
  });

  it('has a jump link to the first anomaly and its anchor', () => {
    expect(html).toContain('href="#first-anomaly"');
    expect(html).toMatch(/<div class="anomaly" id="first-anomaly">/);
    expect(html).toContain('stale-read');
    // Escaped, not injected.
    expect(html).toContain('&lt;never written&gt;');
    expect(html).toContain('anomalies found');
  });

  it('has syntactically valid inline JavaScript', () => {
    expect(() => new Function(scriptOf(html))).not.toThrow();
  });

  it('says so when there are no anomalies', () => {
    const ok = renderReport({ title: 't', valid: true, facts: {}, anomalies: [], history });
    expect(ok).not.toContain('id="first-anomaly"');
    expect(ok).toContain('No anomalies.');
  });
});

describe('scriptJson', () => {
  it('cannot close the script element it is embedded in', () => {
    const s = scriptJson({ x: '</script><script>alert(1)</script>' });
    expect(s).not.toContain('</script>');
    expect(JSON.parse(s)).toEqual({ x: '</script><script>alert(1)</script>' });
  });
});

/** Just enough DOM to run the report's script outside a browser. */
class FakeEl {
  children: FakeEl[] = [];
  attrs: Record<string, string> = {};
  listeners: Record<string, (ev: unknown) => void> = {};
  style: Record<string, string> = {};
  textContent = '';
  innerHTML = '';
  scrollLeft = 0;
  scrollTop = 0;
  classes = new Set<string>();
  constructor(readonly tag: string) {}
  get firstChild(): FakeEl | null {
    return this.children[0] ?? null;
  }
  get childNodes(): FakeEl[] {
    return this.children;
  }
  get value() {
    return '1';
  }
  appendChild(c: FakeEl) {
    this.children.push(c);
    return c;
  }
  removeChild(c: FakeEl) {
    this.children = this.children.filter((x) => x !== c);
  }
  setAttribute(k: string, v: unknown) {
    this.attrs[k] = String(v);
    if (k === 'class') for (const c of String(v).split(' ')) this.classes.add(c);
  }
  addEventListener(type: string, fn: (ev: unknown) => void) {
    this.listeners[type] = fn;
  }
  get classList() {
    return { add: (c: string) => this.classes.add(c), remove: (c: string) => this.classes.delete(c) };
  }
  querySelectorAll(sel: string): FakeEl[] {
    const cls = sel.replace('.', '');
    const all: FakeEl[] = [];
    const walk = (e: FakeEl) => {
      for (const c of e.children) {
        if (c.classes.has(cls)) all.push(c);
        walk(c);
      }
    };
    walk(this);
    return all;
  }
  getBBox() {
    return { x: Number(this.attrs.x ?? 0), y: Number(this.attrs.y ?? 0) };
  }
  scrollIntoView() {}
}

describe('report script', () => {
  it('draws one rect per operation and highlights the ops of an anomaly', () => {
    const html = renderReport({
      title: 't',
      valid: false,
      facts: {},
      anomalies: [{ type: 'x', explanation: 'e', opIndexes: [5] }],
      history,
    });
    const data = /<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    const byId: Record<string, FakeEl> = {
      data: Object.assign(new FakeEl('script'), { textContent: data }),
      zoom: new FakeEl('input'),
      'timeline-wrap': new FakeEl('div'),
      tip: new FakeEl('div'),
      'history-body': new FakeEl('tbody'),
      'history-details': new FakeEl('details'),
    };
    const created: FakeEl[] = [];
    const document = {
      getElementById: (id: string) => {
        if (byId[id]) return byId[id];
        return created.find((e) => e.attrs.id === id) ?? null;
      },
      createElementNS: (_ns: string, tag: string) => {
        const e = new FakeEl(tag);
        created.push(e);
        return e;
      },
    };
    const window: Record<string, unknown> = {};
    new Function('document', 'window', 'location', scriptOf(html))(document, window, { hash: '#first-anomaly' });
    const svg = byId['timeline-wrap']!.children[0]!;
    const rects = svg.children.filter((c) => c.tag === 'rect' && c.attrs.id?.startsWith('op-'));
    expect(rects.map((r) => r.attrs.id)).toEqual(['op-0', 'op-4', 'op-8']);
    expect(rects[1]!.classes.has('anom')).toBe(true);
    // The #first-anomaly hash highlighted the anomaly's op (completion index 5 belongs to the op invoked at 4).
    expect(rects[1]!.classes.has('hl')).toBe(true);
    expect(svg.children.some((c) => c.tag === 'rect' && c.attrs['fill-opacity'] === '0.12')).toBe(true);
    byId['history-details']!.listeners.toggle!({});
    expect(byId['history-body']!.innerHTML.match(/<tr /g)).toHaveLength(history.length);
  });
});
