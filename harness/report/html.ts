// index.html: an offline, self-contained report (inline CSS and JS, no
// network). A timeline of every operation per process, fault periods shaded,
// anomalies listed with a jump link to the first, and the raw history.
import type { Op } from '../history.js';
import { faultPeriods, timelineOps } from './timeline.js';

export interface ReportAnomaly {
  type: string;
  key?: string;
  explanation: string;
  opIndexes: number[];
}

export interface ReportInput {
  title: string;
  valid: true | false | 'unknown';
  reason?: string;
  /** Short facts shown at the top (db, nodes, nemesis, mechanism, seed...). */
  facts: Record<string, string | number | boolean>;
  anomalies: ReportAnomaly[];
  history: readonly Op[];
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON safe inside <script>: no "</script>" or "<!--" can close it early. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const CSS = `
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:2}
h1{font-size:18px;margin:0 0 4px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;font-weight:600;color:#fff}
.v-true{background:#2e7d32}.v-false{background:#c62828}.v-unknown{background:#ef6c00}
.facts span{margin-right:14px;color:#555}
main{padding:12px 20px}
section{margin-bottom:24px}
h2{font-size:15px;margin:8px 0}
#timeline-wrap{overflow:auto;max-height:70vh;border:1px solid #ddd;background:#fff}
svg text{font:11px monospace}
.ok{fill:#66bb6a}.fail{fill:#ef9a9a}.info{fill:#ffb74d}
.anom{stroke:#b71c1c;stroke-width:2}
.hl{stroke:#1565c0;stroke-width:3}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;font:12px monospace}
td,th{padding:1px 6px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
.anomaly{background:#fff;border:1px solid #e0b4b4;border-left:4px solid #c62828;padding:6px 10px;margin:6px 0}
.anomaly a{cursor:pointer}
#tip{position:fixed;pointer-events:none;background:#333;color:#fff;padding:4px 8px;border-radius:3px;font:12px monospace;display:none;z-index:3;white-space:pre}
`;

const SCRIPT = `
(function(){
var D=JSON.parse(document.getElementById('data').textContent);
var ops=D.ops, periods=D.periods, anomalies=D.anomalies;
var NS='http://www.w3.org/2000/svg';
var lanes=[], laneOf={};
ops.forEach(function(o){var k=String(o.p); if(!(k in laneOf)){laneOf[k]=lanes.length; lanes.push(o.p);}});
lanes.sort(function(a,b){return Number(a)-Number(b);}); lanes.forEach(function(p,i){laneOf[String(p)]=i;});
var end=0; ops.forEach(function(o){end=Math.max(end,o.e===null?o.s:o.e);}); periods.forEach(function(p){end=Math.max(end,p.endMs===null?p.startMs:p.endMs);});
end=Math.max(end,1);
var scale=Math.max(0.05, Math.min(1, 1600/end)); // px per ms
var zoom=document.getElementById('zoom');
var left=70, laneH=14, top=30;
var svg=document.createElementNS(NS,'svg'); document.getElementById('timeline-wrap').appendChild(svg);
var anomalous={}; anomalies.forEach(function(a){a.opIndexes.forEach(function(i){anomalous[i]=true;});});
var byIndex={}; ops.forEach(function(o){byIndex[o.i]=o; if(o.c>=0) byIndex[o.c]=o;});
function el(name,attrs,parent){var e=document.createElementNS(NS,name); for(var k in attrs) e.setAttribute(k,attrs[k]); (parent||svg).appendChild(e); return e;}
var tip=document.getElementById('tip');
function draw(){
  while(svg.firstChild) svg.removeChild(svg.firstChild);
  var s=scale*Number(zoom.value);
  var w=left+end*s+40, h=top+lanes.length*laneH+20;
  svg.setAttribute('width',w); svg.setAttribute('height',h);
  var colors={kill:'#e53935',pause:'#8e24aa',partition:'#1e88e5',slow:'#fdd835'};
  var faults=[]; periods.forEach(function(p){if(faults.indexOf(p.fault)<0) faults.push(p.fault);});
  periods.forEach(function(p){
    var x=left+p.startMs*s, x2=left+(p.endMs===null?end:p.endMs)*s;
    var r=el('rect',{x:x,y:top-20+4*faults.indexOf(p.fault),width:Math.max(1,x2-x),height:h-top+16,fill:colors[p.fault]||'#999','fill-opacity':0.12});
    var t=el('title',{},r); t.textContent=p.fault+' '+p.detail+' ('+p.startMs+'–'+(p.endMs===null?'end':p.endMs)+' ms)';
    var lbl=el('text',{x:x+2,y:10+10*faults.indexOf(p.fault),fill:colors[p.fault]||'#999'}); lbl.textContent=p.fault;
  });
  for(var sec=0; sec*1000<=end; sec+=Math.max(1,Math.round(100/(s*1000))*1)){
    var x=left+sec*1000*s; el('line',{x1:x,x2:x,y1:top-4,y2:h,stroke:'#eee'});
    if(sec%5===0){var tt=el('text',{x:x+2,y:h-4,fill:'#999'}); tt.textContent=sec+'s';}
  }
  lanes.forEach(function(p,i){var t=el('text',{x:4,y:top+i*laneH+10,fill:'#555'}); t.textContent='p'+p;});
  ops.forEach(function(o){
    var x=left+o.s*s, x2=left+(o.e===null?end:o.e)*s;
    var a={x:x,y:top+laneOf[String(o.p)]*laneH+1,width:Math.max(2,x2-x),height:laneH-3,'class':o.t+(anomalous[o.i]||anomalous[o.c]?' anom':''),id:'op-'+o.i};
    var r=el('rect',a);
    r.addEventListener('mousemove',function(ev){tip.style.display='block';tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';
      tip.textContent='#'+o.i+(o.c>=0?'/'+o.c:'')+' p'+o.p+' '+o.f+' '+o.t+'\\n'+o.v+(o.m?'\\nmember '+o.m:'')+(o.rev!==undefined?'\\nrevision '+o.rev:'')+(o.err?'\\n'+o.err:'')+'\\n'+o.s+' → '+(o.e===null?'never':o.e)+' ms';});
    r.addEventListener('mouseleave',function(){tip.style.display='none';});
  });
}
zoom.addEventListener('input',draw);
draw();
window.showOps=function(idx){
  var first=null;
  Array.prototype.forEach.call(svg.querySelectorAll('.hl'),function(e){e.classList.remove('hl');});
  idx.forEach(function(i){var o=byIndex[i]; if(!o) return; var r=document.getElementById('op-'+o.i); if(r){r.classList.add('hl'); if(!first) first=r;}});
  if(first){var wrap=document.getElementById('timeline-wrap'); var b=first.getBBox(); wrap.scrollLeft=Math.max(0,b.x-200); wrap.scrollTop=Math.max(0,b.y-100); wrap.scrollIntoView({block:'start'});}
};
function onHash(){ if(location.hash==='#first-anomaly' && anomalies.length) window.showOps(anomalies[0].opIndexes); }
onHash();
if(window.addEventListener) window.addEventListener('hashchange', onHash);
var tbody=document.getElementById('history-body');
document.getElementById('history-details').addEventListener('toggle',function(){
  if(tbody.childNodes.length) return;
  var rows=D.history.map(function(o){return '<tr id="h-'+o.index+'"><td>'+o.index+'</td><td>'+o.type+'</td><td>'+o.process+'</td><td>'+o.f+'</td><td>'+esc(JSON.stringify(o.value))+'</td><td>'+(o.time/1e6).toFixed(1)+'</td><td>'+(o.member||'')+'</td><td>'+(o.revision===undefined?'':o.revision)+'</td><td>'+esc(o.error||'')+'</td></tr>';});
  tbody.innerHTML=rows.join('');
});
function esc(s){return String(s).replace(/[&<>]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;'}[c];});}
})();
`;

export function renderReport(input: ReportInput): string {
  const ops = timelineOps(input.history);
  const periods = faultPeriods(input.history);
  const verdict = input.valid === true ? 'valid' : input.valid === false ? 'anomalies found' : 'unknown';
  const facts = Object.entries(input.facts)
    .map(([k, v]) => `<span><b>${escapeHtml(k)}</b> ${escapeHtml(String(v))}</span>`)
    .join('');
  const anomalies = input.anomalies
    .map((a, n) => {
      const idx = scriptJson(a.opIndexes);
      return `<div class="anomaly"${n === 0 ? ' id="first-anomaly"' : ''}><b>${escapeHtml(a.type)}</b>${a.key ? ` on key <code>${escapeHtml(a.key)}</code>` : ''}: ${escapeHtml(a.explanation)}<br><a onclick='showOps(${escapeHtml(idx)})'>show ops ${a.opIndexes.map((i) => `#${i}`).join(', ')} in the timeline</a></div>`;
    })
    .join('\n');
  const data = { ops, periods, anomalies: input.anomalies.map((a) => ({ type: a.type, opIndexes: a.opIndexes })), history: input.history };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>${CSS}</style></head>
<body>
<header>
<h1>${escapeHtml(input.title)} <span class="verdict v-${String(input.valid)}">${verdict}</span></h1>
<div class="facts">${facts}</div>
${input.reason ? `<div>${escapeHtml(input.reason)}</div>` : ''}
<div>${input.anomalies.length > 0 ? `<a href="#first-anomaly">Jump to first anomaly</a> · ${input.anomalies.length} anomal${input.anomalies.length === 1 ? 'y' : 'ies'} listed` : 'No anomalies.'} · ${ops.length} operations · ${periods.length} fault periods</div>
</header>
<main>
<section><h2>Timeline</h2>
<div class="legend"><span><i class="ok" style="background:#66bb6a"></i>ok</span><span><i style="background:#ef9a9a"></i>fail</span><span><i style="background:#ffb74d"></i>info (unknown)</span><span><i style="border:2px solid #b71c1c"></i>in an anomaly</span>
zoom <input id="zoom" type="range" min="0.2" max="20" step="0.1" value="1"></div>
<div id="timeline-wrap"></div>
</section>
<section id="anomalies"><h2>Anomalies</h2>
${anomalies || '<p>None found.</p>'}
</section>
<section><details id="history-details"><summary>History (${input.history.length} records)</summary>
<table><thead><tr><th>#</th><th>type</th><th>process</th><th>f</th><th>value</th><th>ms</th><th>member</th><th>rev</th><th>error</th></tr></thead><tbody id="history-body"></tbody></table>
</details></section>
</main>
<div id="tip"></div>
<script type="application/json" id="data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
