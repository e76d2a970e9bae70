import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../etcd/server/metrics.js';

describe('MetricsRegistry', () => {
  it('counts unlabelled and labelled samples apart, and an empty label set as unlabelled', () => {
    const m = new MetricsRegistry();
    const c = m.counter('x_total', 'Things.');
    c.inc();
    c.inc(2);
    c.inc(1, {});
    c.inc(5, { kind: 'put' });
    c.inc(1, { kind: 'say "hi"\n' });
    expect(c.get()).toBe(4);
    expect(c.get({})).toBe(4);
    expect(c.get({ kind: 'put' })).toBe(5);
    expect(m.render()).toBe(
      ['# HELP x_total Things.', '# TYPE x_total counter', 'x_total 4', 'x_total{kind="put"} 5', 'x_total{kind="say \\"hi\\"\\n"} 1', ''].join('\n'),
    );
  });

  it('renders a counter never incremented as zero and sampled gauges at scrape time', () => {
    const m = new MetricsRegistry();
    m.counter('never_total', 'Never.');
    let v = 1;
    m.sampledGauge('g', 'A gauge.', () => v);
    v = 7;
    expect(m.render()).toContain('never_total 0\n');
    expect(m.render()).toContain('g 7\n');
  });
});
