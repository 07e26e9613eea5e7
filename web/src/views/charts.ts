// Bar charts (pattern classes, any name -> number map, per-head categories counted, optionally
// per layer) and line charts (several per-layer series side by side).
import { scaleLinear } from 'd3-scale';
import { categoryColor } from '../render/color';
import { fitLabel, formatValue, paintLegend, paintTitle, titleWidth } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { View, choice, type Figure } from './view';

export interface Bar {
  label: string;
  value: number;
  note?: string; // shown beside the label (a method's node budget)
}

// A bar's label as drawn: the name, then its note in parentheses.
function barText(b: Bar): string {
  return b.note ? `${b.label} (${b.note})` : b.label;
}

export interface BarSource {
  fields: string[];
  bars(field: string): Bar[];
  // Counts of each class per group (layer), for stacked bars; absent when not meaningful.
  stacked?(field: string): { groups: string[]; classes: string[]; counts: number[][] };
  valueName: string; // y-axis title: "count", "value", ...
}

const PLOT_H = 260;

function paintYAxis(
  p: Painter,
  x: number,
  y0: number,
  plotW: number,
  y: (v: number) => number,
  ticks: number[],
  title: string,
): void {
  for (const t of ticks) {
    p.line(x, y(t), x + plotW, y(t), { stroke: '#eee' });
    p.line(x - 4, y(t), x, y(t), { stroke: '#666' });
    p.text(x - 6, y(t), formatValue(t), { size: 10, anchor: 'end', baseline: 'middle', color: '#444' });
  }
  p.line(x, y0, x, y0 + PLOT_H, { stroke: '#666' });
  p.text(14, y0 + PLOT_H / 2, title, { size: 11, anchor: 'middle', color: '#555', rotate: -90, cls: 'y-axis-title' });
}

export class BarsView extends View {
  private hits: { x: number; y: number; w: number; h: number; text: string }[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly source: BarSource,
    private readonly xName = '',
    // A declared figure's fixed value range and reference lines (a baseline's score).
    // centred: signed changes coloured as the diverging heatmaps (red above 0, blue below).
    private readonly options: { range?: [number, number]; references?: { label: string; value: number }[]; centred?: boolean } = {},
  ) {
    super();
    this.define({ name: 'field', label: 'value', type: 'choice', options: choice(source.fields), initial: source.fields[0] });
    this.define({
      name: 'sort',
      label: 'order',
      type: 'choice',
      options: choice(['none', 'desc', 'asc'], ['as given', 'largest first', 'smallest first']),
      initial: 'none',
    });
    if (source.stacked) {
      this.define({
        name: 'group',
        label: 'bars',
        type: 'choice',
        options: choice(['all', 'layer'], ['all heads', 'per layer']),
        initial: 'all',
      });
    }
  }

  figure(): Figure {
    const field = this.get('field');
    if (this.source.stacked && this.get('group') === 'layer') return this.stackedFigure(field);
    const bars = [...this.source.bars(field)];
    const order = this.get('sort');
    if (order === 'desc') bars.sort((a, b) => b.value - a.value);
    if (order === 'asc') bars.sort((a, b) => a.value - b.value);
    const n = bars.length;
    const bw = Math.max(6, Math.min(48, Math.floor(640 / Math.max(1, n))));
    const longest = Math.max(0, ...bars.map((b) => textWidth(barText(b), { size: 11 })));
    const rotate = longest > bw - 4;
    const labelH = rotate ? Math.min(120, longest * 0.75 + 10) : 18;
    const left = 64;
    const top = 34;
    const refs = (this.options.references ?? []).filter((r) => Number.isFinite(r.value));
    const lo = Math.min(0, ...bars.map((b) => b.value), ...refs.map((r) => r.value));
    const hi = Math.max(0, ...bars.map((b) => b.value), ...refs.map((r) => r.value));
    const y = scaleLinear()
      .domain(this.options.range ?? [lo, hi === lo ? lo + 1 : hi])
      .range([top + PLOT_H, top]);
    if (!this.options.range) y.nice();
    const title = this.title.replace(/\{field\}/g, field);
    const width = Math.max(left + n * bw + 24, titleWidth(title));
    const height = top + PLOT_H + labelH + 12 + (this.xName ? 18 : 0);
    this.hits = [];
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        paintYAxis(p, left, top, n * bw + 4, (v) => y(v), y.ticks(6), this.source.valueName);
        p.clip(left, top - 2, n * bw + 20, PLOT_H + 4, () => {
          p.group('bars', { field, count: n }, () => {
            bars.forEach((b, i) => {
              const x = left + i * bw + 2;
              const y0 = y(Math.max(0, b.value));
              const h = Math.abs(y(b.value) - y(0));
              p.rect(x, y0, bw - 4, h, {
                fill: this.options.centred ? (b.value < 0 ? '#4393c3' : '#d6604d') : b.value < 0 ? '#d6604d' : '#4e79a7',
                cls: 'bar',
                data: { label: b.label, value: b.value, ...(b.note ? { note: b.note } : {}) },
              });
              this.hits.push({ x, y: top, w: bw - 4, h: PLOT_H, text: `${barText(b)}: ${formatValue(b.value)}` });
            });
          });
        });
        p.line(left, y(0), left + n * bw + 4, y(0), { stroke: '#666' });
        refs.forEach((r, k) => {
          p.line(left, y(r.value), left + n * bw + 4, y(r.value), { stroke: '#555', lineWidth: 1.2, dash: [6, 4], cls: 'reference-line' });
          p.text(left + n * bw, y(r.value) - 5 - 12 * k, `${r.label} ${formatValue(r.value)}`, { size: 10, anchor: 'end', color: '#555' });
        });
        bars.forEach((b, i) => {
          const x = left + i * bw + bw / 2;
          if (rotate) {
            p.text(x, top + PLOT_H + 6, fitLabel(barText(b), 150, 11), { size: 11, anchor: 'end', baseline: 'middle', rotate: -45 });
          } else {
            p.text(x, top + PLOT_H + 14, barText(b), { size: 11, anchor: 'middle' });
          }
        });
        if (this.xName) {
          p.text(left + (n * bw) / 2, top + PLOT_H + labelH + 16, this.xName, { size: 11, anchor: 'middle', color: '#555', cls: 'x-axis-title' });
        }
      },
    };
  }

  private stackedFigure(field: string): Figure {
    const { groups, classes, counts } = this.source.stacked!(field);
    const n = groups.length;
    const bw = Math.max(10, Math.min(48, Math.floor(640 / Math.max(1, n))));
    const left = 64;
    const legendW = Math.max(300, n * bw);
    const legendH = paintLegend(null, left, 0, legendW, classes.map((c, i) => ({ label: c, color: categoryColor(i) })));
    const top = 34 + legendH + 8;
    const totals = counts.map((row) => row.reduce((a, b) => a + b, 0));
    const y = scaleLinear()
      .domain([0, Math.max(1, ...totals)])
      .nice()
      .range([top + PLOT_H, top]);
    this.hits = [];
    const title = `${this.title.replace(/\{field\}/g, field)} per layer`;
    return {
      width: Math.max(left + Math.max(n * bw, legendW) + 24, titleWidth(title)),
      height: top + PLOT_H + 36,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        paintLegend(p, left, 30, legendW, classes.map((c, i) => ({ label: c, color: categoryColor(i) })));
        paintYAxis(p, left, top, n * bw + 4, (v) => y(v), y.ticks(6), 'heads');
        p.group('bars', { field, groups: n }, () => {
          groups.forEach((g, gi) => {
            let acc = 0;
            classes.forEach((c, ci) => {
              const v = counts[gi][ci];
              if (!v) return;
              const x = left + gi * bw + 2;
              p.rect(x, y(acc + v), bw - 4, y(acc) - y(acc + v), {
                fill: categoryColor(ci),
                cls: 'bar',
                data: { group: g, label: c, value: v },
              });
              this.hits.push({ x, y: y(acc + v), w: bw - 4, h: y(acc) - y(acc + v), text: `layer ${g}: ${c} ${v}` });
              acc += v;
            });
          });
        });
        p.line(left, y(0), left + n * bw + 4, y(0), { stroke: '#666' });
        groups.forEach((g, gi) => p.text(left + gi * bw + bw / 2, top + PLOT_H + 14, g, { size: 11, anchor: 'middle' }));
        p.text(left + (n * bw) / 2, top + PLOT_H + 30, 'layer', { size: 11, anchor: 'middle', color: '#555' });
      },
    };
  }

  override tooltip(x: number, y: number): string | null {
    const h = this.hits.find((b) => x >= b.x && x <= b.x + b.w && y >= b.y && y <= b.y + b.h);
    return h ? h.text : null;
  }
}

export interface Series {
  name: string;
  values: (number | null)[];
}

// What a declared figure adds to a line chart (analysis/figure.hpp): the value axis's title with
// its unit, a fixed range, reference lines, each head as a dot beside its layer's mean, and x
// positions read from the data (the fraction of heads pruned) instead of evenly spaced steps.
export interface SeriesOptions {
  yLabel?: string;
  range?: [number, number];
  references?: { label: string; value: number }[];
  dots?: number[][][]; // [series][x index] -> the heads' values
  xValues?: number[];
}

// Several series over the same index (usually the layer, or the training step), one line each;
// a series' target, when given, is a dashed line in its colour.
export class SeriesView extends View {
  private hits: { x: number; y: number; text: string }[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly series: Series[],
    private readonly xName: string,
    private readonly xLabels?: string[],
    private readonly targets: Record<string, number> = {},
    private readonly options: SeriesOptions = {},
  ) {
    super();
    this.define({
      name: 'series',
      label: 'series',
      type: 'choice',
      options: choice(['all', ...series.map((s) => s.name)]),
      initial: 'all',
    });
  }

  figure(): Figure {
    const pick = this.get('series');
    const shown = this.series.map((s, i) => ({ s, i })).filter(({ s }) => pick === 'all' || s.name === pick);
    const n = Math.max(...this.series.map((s) => s.values.length));
    const left = 64;
    const plotW = Math.max(240, Math.min(640, n * 40));
    // The legend wraps within the plot's width, or within its longest entry (never clipped).
    const legend = shown.map(({ s, i }) => ({ label: s.name, color: categoryColor(i) }));
    const legendW = Math.max(plotW, ...legend.map((l) => 26 + textWidth(l.label, { size: 11 })));
    const legendH = paintLegend(null, left, 0, legendW, legend);
    const top = 34 + legendH + 8;
    const target = (s: Series) => (Number.isFinite(this.targets[s.name]) ? this.targets[s.name] : null);
    const refs = this.options.references ?? [];
    const dots = this.options.dots;
    const all = shown.flatMap(({ s, i }) => [
      ...s.values,
      target(s),
      ...(dots?.[i]?.flat() ?? []),
    ]).filter((v): v is number => v !== null && Number.isFinite(v));
    all.push(...refs.map((r) => r.value).filter((v) => Number.isFinite(v)));
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    const fixed = this.options.range;
    const y = scaleLinear()
      .domain(fixed ?? (lo === hi ? [lo - 1, hi + 1] : [lo, hi]))
      .range([top + PLOT_H, top]);
    if (!fixed) y.nice();
    const xv = this.options.xValues;
    const xScale = xv
      ? scaleLinear()
          .domain([Math.min(...xv), Math.max(...xv) === Math.min(...xv) ? Math.min(...xv) + 1 : Math.max(...xv)])
          .range([left + 16, left + plotW - 16])
      : null;
    const x = (i: number) =>
      xScale ? xScale(xv![i]) : left + 16 + (n > 1 ? (i * (plotW - 32)) / (n - 1) : (plotW - 32) / 2);
    this.hits = [];
    return {
      width: Math.max(left + plotW + 24, left + legendW + 8, titleWidth(this.title)),
      height: top + PLOT_H + 40,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, this.title);
        paintLegend(p, left, 30, legendW, legend);
        paintYAxis(p, left, top, plotW, (v) => y(v), y.ticks(6), this.options.yLabel ?? 'value');
        p.line(left, top + PLOT_H, left + plotW, top + PLOT_H, { stroke: '#666' });
        if (xScale) {
          for (const t of xScale.ticks(6)) {
            p.text(xScale(t), top + PLOT_H + 14, formatValue(t), { size: 10, anchor: 'middle', color: '#444' });
          }
        } else {
          const step = Math.max(1, Math.ceil(n / 16));
          for (let i = 0; i < n; i += step) {
            p.text(x(i), top + PLOT_H + 14, this.xLabels?.[i] ?? String(i), { size: 10, anchor: 'middle', color: '#444' });
          }
        }
        // Where the value axis's ends are, for scripts and tests that check a mark's position.
        p.group('plot-area', { y0: y.domain()[0], y0px: y(y.domain()[0]), y1: y.domain()[1], y1px: y(y.domain()[1]) }, () => {});
        refs.forEach((r, k) => {
          if (!Number.isFinite(r.value)) return;
          p.line(left, y(r.value), left + plotW, y(r.value), { stroke: '#555', lineWidth: 1.2, dash: [6, 4], cls: 'reference-line' });
          p.text(left + plotW - 4, y(r.value) - 5 - 12 * k, `${r.label} ${formatValue(r.value)}`, { size: 10, anchor: 'end', color: '#555' });
          this.hits.push({ x: left + plotW - 8, y: y(r.value), text: `${r.label}: ${formatValue(r.value)}` });
        });
        if (dots) {
          for (const { s, i } of shown) {
            p.group('head-dots', { name: s.name }, () => {
              dots[i]?.forEach((vals, k) => {
                for (const v of vals) {
                  if (!Number.isFinite(v)) continue;
                  p.circle(x(k), y(v), 2, { fill: categoryColor(i), opacity: 0.45, cls: 'head-dot', data: { series: s.name, index: k, value: v } });
                }
              });
            });
          }
        }
        p.text(left + plotW / 2, top + PLOT_H + 32, this.xName, { size: 11, anchor: 'middle', color: '#555', cls: 'x-axis-title' });
        for (const { s, i } of shown) {
          const t = target(s);
          if (t === null) continue;
          p.line(left, y(t), left + plotW, y(t), { stroke: categoryColor(i), lineWidth: 1.5, dash: [6, 4], cls: 'target-line' });
          this.hits.push({ x: left + plotW - 8, y: y(t), text: `${s.name}: target ${formatValue(t)}` });
        }
        for (const { s, i } of shown) {
          const color = categoryColor(i);
          let d = '';
          let pen = false;
          s.values.forEach((v, k) => {
            if (v === null) {
              pen = false;
              return;
            }
            d += `${pen ? 'L' : 'M'}${x(k).toFixed(2)} ${y(v).toFixed(2)}`;
            pen = true;
          });
          p.group('series', { name: s.name }, () => {
            p.path(d, { stroke: color, lineWidth: 2, cls: 'series-line' });
            s.values.forEach((v, k) => {
              if (v === null) return;
              p.circle(x(k), y(v), 3, { fill: color, cls: 'point', data: { series: s.name, index: k, value: v } });
              this.hits.push({ x: x(k), y: y(v), text: `${s.name}, ${this.xName} ${this.xLabels?.[k] ?? k}: ${formatValue(v)}` });
            });
          });
        }
      },
    };
  }

  override tooltip(x: number, y: number): string | null {
    let best: { d: number; text: string } | null = null;
    for (const h of this.hits) {
      const d = Math.hypot(h.x - x, h.y - y);
      if (d < 8 && (!best || d < best.d)) best = { d, text: h.text };
    }
    return best?.text ?? null;
  }
}
