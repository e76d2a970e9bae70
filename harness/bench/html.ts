// report.html for a benchmark: self-contained (inline CSS and SVG, no
// scripts, no network) so it can be attached to a CI run and opened anywhere.
import { escapeHtml } from '../report/html.js';
import { fmtMs, formatComparison, formatRun, type BenchResults } from './results.js';

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

export interface ChartSpec {
  title: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
  width?: number;
  height?: number;
}

const PALETTE = ['#1565c0', '#c62828', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#8d6e63', '#455a64'];

/** 1, 2, 5 × 10^k steps giving about `count` ticks over [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toPrecision(3).replace(/\.?0+$/, '')}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toPrecision(3).replace(/\.?0+$/, '')}k`;
  return Number(v.toPrecision(3)).toString();
}

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 760;
  const H = spec.height ?? 250;
  const m = { l: 58, r: 12, t: 26, b: 34 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = spec.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const ys = all.map((p) => p[1]).filter((y) => Number.isFinite(y));
  let yTicks: number[];
  let yOf: (v: number) => number;
  if (spec.logY) {
    const pos = ys.filter((y) => y > 0);
    const lo = 10 ** Math.floor(Math.log10(pos.length ? Math.min(...pos) : 0.1));
    const hi = 10 ** Math.ceil(Math.log10(pos.length ? Math.max(...pos) : 1));
    const top = hi > lo ? hi : lo * 10;
    yTicks = [];
    for (let v = lo; v <= top * 1.0001; v *= 10) yTicks.push(v);
    const span = Math.log10(top) - Math.log10(lo);
    yOf = (v) => m.t + ph - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * ph;
  } else {
    yTicks = niceTicks(Math.max(0, ...ys));
    const top = yTicks[yTicks.length - 1]! || 1;
    yOf = (v) => m.t + ph - (v / top) * ph;
  }
  const xOf = (v: number) => m.l + (v / xMax) * pw;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(spec.title)}">`);
  out.push(`<text x="${m.l}" y="16" class="ct">${escapeHtml(spec.title)}</text>`);
  for (const v of yTicks) {
    const y = yOf(v).toFixed(1);
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" class="grid"/><text x="${m.l - 6}" y="${y}" class="yt">${fmtTick(v)}</text>`);
  }
  for (const v of niceTicks(xMax, 8)) {
    if (v > xMax) continue;
    const x = xOf(v).toFixed(1);
    out.push(`<text x="${x}" y="${m.t + ph + 16}" class="xt">${fmtTick(v)}</text>`);
  }
  out.push(`<text x="${m.l + pw}" y="${H - 4}" class="xl">seconds</text>`);
  out.push(`<text x="12" y="${m.t + ph / 2}" class="yl" transform="rotate(-90 12 ${m.t + ph / 2})">${escapeHtml(spec.yLabel)}</text>`);
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" class="frame"/>`);
  spec.series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1]) && (!spec.logY || p[1] > 0));
    if (pts.length === 0) return;
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${xOf(p[0]).toFixed(1)},${yOf(p[1]).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    const lx = m.l + 8 + (i % 4) * 170;
    const ly = m.t + 12 + Math.floor(i / 4) * 14;
    out.push(`<line x1="${lx}" x2="${lx + 16}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/><text x="${lx + 20}" y="${ly}" class="lg">${escapeHtml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}

const CSS = `
body{font:13px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;font-weight:600;color:#fff}
.v-pass{background:#2e7d32}.v-fail{background:#c62828}.v-none{background:#607d8b}.v-error{background:#ef6c00}
main{padding:8px 20px 30px}pre{background:#fff;border:1px solid #ddd;padding:10px;overflow-x:auto;font-size:12px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
svg{background:#fff;border:1px solid #ddd;margin:4px 0;display:block}
.ct{font-weight:600;font-size:13px}.yt{font-size:10px;text-anchor:end;dominant-baseline:middle;fill:#555}.xt{font-size:10px;text-anchor:middle;fill:#555}
.xl,.yl{font-size:10px;fill:#777}.xl{text-anchor:end}.yl{text-anchor:middle}.lg{font-size:11px}
.grid{stroke:#eee}.frame{fill:none;stroke:#ccc}
`;

export function renderBenchReport(results: BenchResults, title: string): string {
  const runs = results.runs;
  const colorOf = (i: number) => PALETTE[i % PALETTE.length]!;
  const isWatch = runs[0]?.op === 'watch-fanout';
  // A drain tail shorter than half a second would plot as a spike: left out of the rate plot (still in the totals).
  const throughput = lineChart({
    title: isWatch ? 'Events delivered per second' : 'Successful requests per second',
    yLabel: isWatch ? 'events/s' : 'requests/s',
    series: runs.map((r, i) => ({ name: r.label, color: colorOf(i), points: r.timeline.filter((s) => s.spanS >= 0.5).map((s) => [s.t + s.spanS / 2, (isWatch ? s.events : s.ok) / s.spanS] as [number, number]) })),
  });
  const latency = lineChart({
    title: isWatch ? 'Event delivery latency per second (log scale)' : 'Latency per second (log scale)',
    yLabel: 'ms',
    logY: true,
    series: runs.flatMap((r, i) => [
      { name: `${r.label} p50`, color: colorOf(i), dashed: true, points: r.timeline.filter((s) => s.ok > 0).map((s) => [s.t + 0.5, s.p50Ms] as [number, number]) },
      { name: `${r.label} p99`, color: colorOf(i), points: r.timeline.filter((s) => s.ok > 0).map((s) => [s.t + 0.5, s.p99Ms] as [number, number]) },
    ]),
  });
  // The first CPU reading of a process has no interval behind it (skipFirst).
  const memberSeries = (pick: (p: [number, number, number]) => number, skipFirst: boolean) =>
    runs.flatMap((r, i) =>
      [...r.members, ...(r.client ? [r.client] : [])].map((m, j) => ({
        name: `${r.label} ${m.name}`,
        color: colorOf(i),
        dashed: j > 0,
        points: m.points.slice(skipFirst ? 1 : 0).map((p) => [p[0], pick(p)] as [number, number]),
      })),
    );
  const rss = lineChart({ title: 'RSS per process', yLabel: 'MiB', series: memberSeries((p) => p[2], false) });
  const cpu = lineChart({ title: 'CPU per process (100 % = one core)', yLabel: '%', series: memberSeries((p) => p[1], true) });

  const summaryRows = runs
    .map((r) => {
      const l = r.latencyUs;
      const errs = Object.entries(r.errors).map(([c, n]) => `${c} ${n}`).join(', ') || '0';
      const rssMax = r.members.length ? Math.max(...r.members.map((m) => m.rssMaxMiB)).toFixed(1) : 'n/a';
      const cpuSum = r.members.reduce((s, m) => s + m.cpuAvgPercent, 0).toFixed(0);
      return `<tr><td>${escapeHtml(r.label)}</td><td>${r.nodes}</td><td>${r.throughput.ops.toFixed(0)}</td><td>${fmtMs(l.p50)}</td><td>${fmtMs(l.p90)}</td><td>${fmtMs(l.p99)}</td><td>${fmtMs(l.p999)}</td><td>${fmtMs(l.max)}</td><td>${escapeHtml(errs)}</td><td>${r.requests.dropped}</td><td>${cpuSum}</td><td>${rssMax}</td></tr>`;
    })
    .join('');
  const verdictText = { pass: 'TARGET MET', fail: 'TARGET MISSED', none: 'NO TARGET', error: 'COULD NOT RUN' }[results.verdict];
  const text = [...runs.map(formatRun), ...(results.comparison ? [formatComparison(results.comparison)] : [])].join('\n\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body><header><h1>${escapeHtml(title)}</h1><span class="verdict v-${results.verdict}">${verdictText}</span>
<div>${escapeHtml(results.command.join(' '))} — started ${escapeHtml(results.startedAt)}</div></header>
<main>
<h2>Summary</h2>
<table><tr><th>run</th><th>nodes</th><th>${isWatch ? 'events/s' : 'ops/s'}</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th>dropped</th><th>member CPU % (sum of avgs)</th><th>member RSS max MiB</th></tr>${summaryRows}</table>
<h2>Throughput</h2>${throughput}
<h2>Latency</h2>${latency}
<h2>Members</h2>${rss}${cpu}
<h2>Details</h2><pre>${escapeHtml(text)}</pre>
</main></body></html>
`;
}
