/**
 * The run report as one self-contained HTML page: SVG charts, sample grids and plots inlined as data
 * URIs, a few lines of script for the grid sliders, and a content security policy that forbids every
 * request, so the page shows the same offline as online and reaches nothing when opened.
 */
import { readFileSync } from 'node:fs';
import { cssColor } from '../plots/chart.js';
import { escapeXml as escapeHtml, lineSvg } from '../plots/svg-plots.js';
import { type ReportChart, reportCharts } from './charts.js';
import type { RunData } from './run-data.js';

const STYLE = `
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1500px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.charts, .side { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
figure { margin: 0; } figcaption { font-weight: bold; margin-bottom: .3em; }
.legend span { margin-right: 1em; white-space: nowrap; } .swatch { display: inline-block; width: 1.4em; height: .35em; vertical-align: middle; margin-right: .3em; }
.missing { color: #777; font-style: italic; }
.run-grids img, .partition img { image-rendering: pixelated; border: 1px solid #ccc; max-width: 100%; }
.run-grids img { width: 384px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .2em .5em; text-align: left; vertical-align: top; }
pre { background: #f6f6f6; padding: .6em; max-height: 30em; overflow: auto; font-size: .85em; }
.problems { color: #a33; }`;

/** The slider of each run's grids shows the snapshot it points at. */
const SCRIPT = `
for (const box of document.querySelectorAll('.run-grids')) {
  const grids = JSON.parse(box.querySelector('script[type="application/json"]').textContent);
  const slider = box.querySelector('input[type=range]');
  const img = box.querySelector('img');
  const label = box.querySelector('.grid-label');
  const show = () => {
    const g = grids[Number(slider.value)];
    img.src = g.src;
    label.textContent = g.label;
  };
  slider.addEventListener('input', show);
  show();
}`;

const count = (n: number): string => n.toLocaleString('en-US');
const dataUri = (path: string): string => `data:image/png;base64,${readFileSync(path).toString('base64')}`;
/** JSON inside a <script> element: '<' escaped so no "</script>" can end it early. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

function chartHtml(c: ReportChart): string {
  if (!c.plot) return `<figure class="chart-box" id="chart-${c.id}"><figcaption>${escapeHtml(c.title)}</figcaption><p class="missing">${escapeHtml(c.missing ?? 'no data')}</p></figure>`;
  const legend = [
    ...c.plot.series.map((s) => `<span><i class="swatch" style="background:${cssColor(s.color)}"></i>${escapeHtml(s.name ?? '')}</span>`),
    ...(c.absent ?? []).map((name) => `<span class="missing">${escapeHtml(name)}: no points</span>`),
  ].join('');
  return `<figure class="chart-box" id="chart-${c.id}"><figcaption>${escapeHtml(c.title)}</figcaption>${lineSvg(c.plot, { x: c.xLabel, y: c.yLabel })}<div class="legend">${legend}</div></figure>`;
}

function summaryRow(r: RunData): string {
  const last = r.train.at(-1);
  const nonFinite = r.train.reduce((s, p) => s + p.nonFiniteSteps, 0);
  const evals = [...new Set(r.evals.map((e) => e.metric))].map((m) => {
    const best = r.evals.filter((e) => e.metric === m).reduce((a, b) => (b.value < a.value ? b : a));
    return `${escapeHtml(m)} ${best.value.toPrecision(4)} at ${count(best.images)} images`;
  });
  const cells = last
    ? [count(last.images), count(last.step), `${(last.elapsedSeconds / 60).toFixed(1)} min`, last.loss.toPrecision(4), last.lossPerStage.map((l) => (l === null ? '-' : l.toPrecision(4))).join(' / '), last.imagesPerSecond.toFixed(1), String(nonFinite)]
    : ['-', '-', '-', '-', '-', '-', '-'];
  return `<tr><th>${escapeHtml(r.name)}</th><td>${escapeHtml(r.dir)}</td>${cells.map((c) => `<td>${c}</td>`).join('')}<td>${evals.join('<br>') || '-'}</td></tr>`;
}

/** At most this many grids per run go into the page, evenly spread, so a long run's page stays small enough to open. */
export const MAX_GRIDS = 100;

/** `max` indices of 0..n-1, evenly spread, always with the first and the last (all of them when n <= max). */
export function spreadIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, k) => Math.round((k * (n - 1)) / (max - 1)));
}

function gridsHtml(r: RunData): string {
  if (r.grids.length === 0) return `<div class="run-grids-missing"><h3>${escapeHtml(r.name)}</h3><p class="missing">no sample grid yet (one is written at every snapshot)</p></div>`;
  const grids = spreadIndices(r.grids.length, MAX_GRIDS).map((i) => ({ src: dataUri(r.grids[i].path), label: `${count(r.grids[i].images)} images` }));
  const last = grids.length - 1;
  const shown = grids.length === r.grids.length ? `${grids.length} snapshots` : `${grids.length} of ${r.grids.length} snapshots, evenly spread`;
  return (
    `<div class="run-grids"><h3>${escapeHtml(r.name)}</h3>` +
    `<input type="range" min="0" max="${last}" value="${last}" step="1" aria-label="snapshot of ${escapeHtml(r.name)}"> <span class="grid-label">${grids[last].label}</span> (${shown})<br>` +
    `<img alt="sample grid of ${escapeHtml(r.name)}" src="${grids[last].src}">` +
    `<script type="application/json">${scriptJson(grids)}</script></div>`
  );
}

function partitionHtml(r: RunData): string {
  const model = r.info?.config.model;
  const where = model?.stagesFrom ? `from ${escapeHtml(model.stagesFrom)}` : model?.stageBoundaries ? `boundaries ${escapeHtml(model.stageBoundaries.join(', '))} (${escapeHtml(model.stageUnits)}) from the config` : 'no stage partition recorded';
  const plot = r.partitionPlot ? `<br><img alt="stage partition of ${escapeHtml(r.name)}" src="${dataUri(r.partitionPlot)}">` : '';
  return `<div class="partition"><h3>${escapeHtml(r.name)}</h3><p>${model ? `${escapeHtml(model.kind)} model, ` : ''}${where}</p>${plot}</div>`;
}

function environmentHtml(r: RunData): string {
  const records = r.info?.environment ?? [];
  if (records.length === 0) return `<div><h3>${escapeHtml(r.name)}</h3><p class="missing">not recorded</p></div>`;
  const keys = [...new Set(records.flatMap((e) => Object.keys(e)))];
  const rows = keys.map((k) => `<tr><th>${escapeHtml(k)}</th>${records.map((e) => `<td>${escapeHtml(String(e[k] ?? ''))}</td>`).join('')}</tr>`);
  return `<div><h3>${escapeHtml(r.name)}</h3><table>${rows.join('')}</table></div>`;
}

/** Dotted paths of every leaf of a JSON value, with the leaf as JSON text. */
function flatten(v: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
  else out.set(path, JSON.stringify(v));
  return out;
}

function configDifferencesHtml(runs: readonly RunData[]): string {
  const flat = runs.map((r) => flatten(r.info?.config ?? {}));
  const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((k) => k !== 'runDir' && new Set(flat.map((f) => f.get(k))).size > 1).sort();
  if (keys.length === 0) return '<p>The configs are the same (apart from the run folder).</p>';
  const head = `<tr><th>field</th>${runs.map((r) => `<th>${escapeHtml(r.name)}</th>`).join('')}</tr>`;
  return `<table>${head}${keys.map((k) => `<tr><td>${escapeHtml(k)}</td>${flat.map((f) => `<td>${escapeHtml(f.get(k) ?? '-')}</td>`).join('')}</tr>`).join('')}</table>`;
}

export function renderReport(runs: readonly RunData[], generatedAt = new Date()): string {
  if (runs.length === 0) throw new Error('a report needs at least one run folder');
  const names = runs.map((r) => r.name).join(', ');
  const problems = runs.flatMap((r) => r.problems);
  const body = [
    `<h1>stagediff run report: ${escapeHtml(names)}</h1>`,
    `<p>Written ${generatedAt.toISOString()}. Training refreshes this file at every snapshot; <code>stagediff report</code> rewrites it.</p>`,
    problems.length ? `<ul class="problems">${problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>` : '',
    '<h2>Summary</h2><table><tr><th>run</th><th>folder</th><th>images</th><th>steps</th><th>training time</th><th>loss</th><th>loss per stage</th><th>images/s</th><th>non-finite steps</th><th>best eval</th></tr>',
    ...runs.map(summaryRow),
    '</table>',
    `<h2>Curves</h2><div class="charts">${reportCharts(runs).map(chartHtml).join('')}</div>`,
    `<h2>Samples (EMA weights, the same noise at every snapshot)</h2><div class="side">${runs.map(gridsHtml).join('')}</div>`,
    `<h2>Stage partition</h2><div class="side">${runs.map(partitionHtml).join('')}</div>`,
    runs.length > 1 ? `<h2>Config differences</h2>${configDifferencesHtml(runs)}` : '',
    `<h2>Config</h2><div class="side">${runs.map((r) => `<div><h3>${escapeHtml(r.name)}</h3>${r.info ? `<pre>${escapeHtml(JSON.stringify(r.info.config, null, 2))}</pre>` : '<p class="missing">not recorded</p>'}</div>`).join('')}</div>`,
    `<h2>Environment (one column per start of training)</h2><div class="side">${runs.map(environmentHtml).join('')}</div>`,
  ];
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">`,
    `<title>stagediff report: ${escapeHtml(names)}</title><style>${STYLE}</style></head>`,
    `<body>${body.join('\n')}<script>${SCRIPT}</script></body></html>`,
    '',
  ].join('\n');
}
