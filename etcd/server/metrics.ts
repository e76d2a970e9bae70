// A small Prometheus text-format registry: counters and gauges with HELP/TYPE
// lines. Gauges may be sampled lazily from server state at scrape time.

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Map<string, { labels: Labels; value: number }>;
  sample?: () => number | Array<{ labels: Labels; value: number }>;
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`)
    .join(',');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The labels of an unlabelled sample; recognised by identity so the hot path builds no key. */
const NO_LABELS: Labels = Object.freeze({});

export class Counter {
  constructor(private readonly family: Family) {}
  inc(by = 1, labels: Labels = NO_LABELS): void {
    const key = labels === NO_LABELS ? '' : labelKey(labels);
    const s = this.family.samples.get(key);
    if (s) s.value += by;
    else this.family.samples.set(key, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.family.samples.get(labelKey(labels))?.value ?? 0;
  }
}

export class Gauge {
  constructor(private readonly family: Family) {}
  set(value: number, labels: Labels = {}): void {
    this.family.samples.set(labelKey(labels), { labels, value });
  }
}

export class MetricsRegistry {
  private readonly families: Family[] = [];

  private add(name: string, help: string, type: Family['type'], sample?: Family['sample']): Family {
    const f: Family = { name, help, type, samples: new Map() };
    if (sample) f.sample = sample;
    this.families.push(f);
    return f;
  }

  counter(name: string, help: string): Counter {
    return new Counter(this.add(name, help, 'counter'));
  }

  gauge(name: string, help: string): Gauge {
    return new Gauge(this.add(name, help, 'gauge'));
  }

  /** A gauge whose value is read from `sample` at scrape time. */
  sampledGauge(name: string, help: string, sample: () => number | Array<{ labels: Labels; value: number }>): void {
    this.add(name, help, 'gauge', sample);
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.families) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      let samples = [...f.samples.values()];
      if (f.sample) {
        const v = f.sample();
        samples = typeof v === 'number' ? [{ labels: {}, value: v }] : v;
      }
      if (samples.length === 0 && f.type === 'counter') samples = [{ labels: {}, value: 0 }];
      for (const s of samples) {
        const key = labelKey(s.labels);
        out.push(`${f.name}${key ? `{${key}}` : ''} ${formatValue(s.value)}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
