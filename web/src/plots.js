// Copyright 2026 UnityKernel contributors. Licensed under the Apache License, Version 2.0.
// The live plots: the kernel's sample ring (GET /api/samples, one row a second over the last
// ten minutes) drawn with uPlot. Mounted into every element with a data-plots attribute.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { getJson } from './api.js';

const TIER_COLORS = { CRITICAL: '#cf222e', HIGH: '#bc4c00', NORMAL: '#0969da', LOW: '#1a7f37',
  DEFERRED: '#6e7781' };
const PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#bc4c00', '#8250df', '#bf3989', '#1b7c83',
  '#9a6700', '#57606a', '#0550ae', '#a40e26', '#116329'];

// One chart per group: which series go in it (by name prefix and suffix) and its unit.
export const CHARTS = [
  { id: 'tier-events', title: 'Events/s per tier', match: (n) => /^tier:.*:events_per_s$/.test(n) },
  { id: 'tier-drops', title: 'Drops/s per tier', match: (n) => /^tier:.*:drops_per_s$/.test(n) },
  { id: 'tier-depth', title: 'Queue depth per tier', match: (n) => /^tier:.*:depth$/.test(n) },
  { id: 'topic-rates', title: 'Events/s per topic', match: (n) => n.startsWith('topic:') },
  { id: 'mirror', title: 'Audit mirror: lag (journal pending) and writer queue',
    match: (n) => n === 'mirror:journal_pending' || n === 'mirror:queue_depth' },
  { id: 'journal', title: 'Audit journal size (bytes)', match: (n) => n === 'mirror:journal_bytes' },
  { id: 'cpu', title: 'Kernel CPU (% of one core)', match: (n) => n === 'kernel:cpu_percent' },
  { id: 'memory', title: 'Kernel memory (resident MB)', match: (n) => n === 'kernel:rss_mb' },
];

function label(name) {
  const parts = name.split(':');
  if (parts[0] === 'tier') return parts[1];
  if (parts[0] === 'topic') return parts.slice(1).join(':');
  return { journal_pending: 'lag (journal pending)', queue_depth: 'writer queue',
    journal_bytes: 'journal bytes', cpu_percent: 'CPU %', rss_mb: 'RSS MB' }[parts[1]] || name;
}

function color(name, index) {
  const parts = name.split(':');
  return parts[0] === 'tier' ? TIER_COLORS[parts[1]] || PALETTE[index % PALETTE.length]
    : PALETTE[index % PALETTE.length];
}

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

class Plots {
  constructor(root) {
    this.root = root;
    this.t = [];
    this.series = {};
    this.window = 600;
    this.charts = {};
    this.lastT = null;
    root.classList.add('plots');
    for (const chart of CHARTS) {
      const box = document.createElement('figure');
      box.className = 'plot';
      box.dataset.testid = `plot-${chart.id}`;
      box.setAttribute('aria-label', chart.title);
      const cap = document.createElement('figcaption');
      cap.textContent = chart.title;
      const area = document.createElement('div');
      area.className = 'plot-area';
      box.append(cap, area);
      root.append(box);
      this.charts[chart.id] = { spec: chart, box, area, plot: null, names: '' };
    }
    new ResizeObserver(() => this.resize()).observe(root);
  }

  merge(cols) {
    this.window = cols.window_s || this.window;
    const n = cols.t.length;
    if (!n) return;
    const before = this.t.length;
    for (const name of Object.keys(cols.series)) {
      if (!this.series[name]) this.series[name] = new Array(before).fill(null);
    }
    for (const name of Object.keys(this.series)) {
      const add = cols.series[name] || new Array(n).fill(null);
      this.series[name].push(...add);
    }
    this.t.push(...cols.t);
    this.lastT = this.t[this.t.length - 1];
    const cut = this.t.findIndex((t) => t > this.lastT - this.window);
    if (cut > 0) {
      this.t.splice(0, cut);
      for (const name of Object.keys(this.series)) this.series[name].splice(0, cut);
    }
    for (const name of Object.keys(this.series)) {
      if (this.series[name].every((v) => v === null)) delete this.series[name];
    }
  }

  draw() {
    for (const chart of Object.values(this.charts)) {
      const names = Object.keys(this.series).filter(chart.spec.match).sort();
      const key = names.join('|');
      const data = [this.t, ...names.map((n) => this.series[n])];
      if (!names.length) {
        chart.box.hidden = true;
        continue;
      }
      chart.box.hidden = false;
      if (chart.plot === null || chart.names !== key) {
        if (chart.plot) chart.plot.destroy();
        chart.plot = new uPlot(this.options(names), data, chart.area);
        chart.names = key;
      } else {
        chart.plot.setData(data);
      }
    }
  }

  options(names) {
    const fg = cssVar('--fg', '#1b1f24');
    const grid = cssVar('--line', '#d8dde3');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    return {
      width: this.width(), height: 150,
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: (_u, values) => Math.max(40, 18 + 7 * Math.max(0,
        ...(values || []).map((v) => String(v).length))) }],
      legend: { live: false },
      series: [{}, ...names.map((n, i) => ({ label: label(n), stroke: color(n, i), width: 1.5,
        spanGaps: false, points: { show: false } }))],
    };
  }

  width() {
    const first = Object.values(this.charts)[0];
    return Math.max(240, Math.floor((first ? first.box.clientWidth : this.root.clientWidth) - 8));
  }

  resize() {
    for (const chart of Object.values(this.charts)) {
      if (chart.plot) chart.plot.setSize({ width: this.width(), height: 150 });
    }
  }

  async poll() {
    try {
      const url = '/api/samples' + (this.lastT === null ? '' : `?since=${this.lastT}`);
      this.merge(await getJson(url));
      this.draw();
      this.root.dataset.rows = String(this.t.length);
    } catch (err) {
      this.root.dataset.error = String(err.message || err);
    }
  }

  start(periodMs = 1000) {
    this.poll();
    setInterval(() => this.poll(), periodMs);
  }
}

for (const root of document.querySelectorAll('[data-plots]')) new Plots(root).start();
