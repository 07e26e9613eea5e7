// A 2-D scatter, e.g. the MDS embedding of heads by their attention distances (Clark et al.,
// Fig. 6), coloured by layer or by any category (the heads' behaviour).
import { scaleLinear } from 'd3-scale';
import { categoryColor, sequentialMap } from '../render/color';
import { formatValue, paintLegend, paintTitle } from '../render/guides';
import type { Painter } from '../render/painter';
import { View, choice, headLabel, type Figure } from './view';

export interface Point {
  x: number;
  y: number;
  layer?: number;
  head?: number;
  label?: string;
  categories: Record<string, string>;
}

const PLOT = 480;

export class ScatterView extends View {
  private placed: { x: number; y: number; p: Point }[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly points: Point[],
    categoryFields: string[],
    // A declared figure's axis titles, and equal scales on both axes (an MDS embedding, where
    // distances must not be stretched one way).
    private readonly axes: { xLabel?: string; yLabel?: string; equal?: boolean } = {},
  ) {
    super();
    const hasLayer = points.some((p) => p.layer !== undefined);
    // A declared category (the heads' behaviour) first: it is what the figure is coloured by.
    const options = [...categoryFields, ...(hasLayer ? ['layer'] : []), 'none'];
    this.define({ name: 'color-by', label: 'colour by', type: 'choice', options: choice(options), initial: options[0] });
    this.define({ name: 'labels', label: 'labels', type: 'bool', initial: 'false' });
  }

  private name(p: Point): string {
    if (p.label) return p.label;
    if (p.layer !== undefined && p.head !== undefined) return headLabel(p.layer, p.head);
    return '';
  }

  figure(): Figure {
    const by = this.get('color-by');
    const pts = this.points;
    const xs = pts.map((p) => p.x);
    const ys = pts.map((p) => p.y);
    const left = 56;
    let classes: string[] = [];
    let colorOf: (p: Point) => string = () => '#4e79a7';
    let legendItems: { label: string; color: string }[] = [];
    if (by === 'layer') {
      const maxLayer = Math.max(1, ...pts.map((p) => p.layer ?? 0));
      colorOf = (p) => sequentialMap.css((p.layer ?? 0) / maxLayer);
      legendItems = Array.from({ length: maxLayer + 1 }, (_, l) => ({ label: `layer ${l}`, color: sequentialMap.css(l / maxLayer) }));
    } else if (by !== 'none') {
      classes = [...new Set(pts.map((p) => p.categories[by] ?? '(none)'))].sort();
      colorOf = (p) => categoryColor(classes.indexOf(p.categories[by] ?? '(none)'));
      legendItems = classes.map((c, i) => ({ label: c, color: categoryColor(i) }));
    }
    const legendH = paintLegend(null, left, 0, PLOT, legendItems);
    const top = 34 + legendH + 10;
    let xDomain = extent(xs);
    let yDomain = extent(ys);
    if (this.axes.equal) {
      const half = Math.max(xDomain[1] - xDomain[0], yDomain[1] - yDomain[0]) / 2;
      const mid = (d: [number, number]) => (d[0] + d[1]) / 2;
      xDomain = [mid(xDomain) - half, mid(xDomain) + half];
      yDomain = [mid(yDomain) - half, mid(yDomain) + half];
    }
    const x = scaleLinear()
      .domain(xDomain)
      .range([left + 8, left + PLOT - 8]);
    const y = scaleLinear()
      .domain(yDomain)
      .range([top + PLOT - 8, top + 8]);
    if (!this.axes.equal) {
      x.nice();
      y.nice();
    }
    const labels = this.getBool('labels');
    this.placed = pts.map((p) => ({ x: x(p.x), y: y(p.y), p }));
    return {
      width: left + PLOT + 20,
      height: top + PLOT + 36,
      paint: (pa: Painter) => {
        paintTitle(pa, 8, 6, this.title);
        paintLegend(pa, left, 30, PLOT, legendItems);
        pa.rect(left, top, PLOT, PLOT, { stroke: '#999', lineWidth: 0.5 });
        for (const t of x.ticks(6)) {
          pa.line(x(t), top + PLOT, x(t), top + PLOT + 4, { stroke: '#666' });
          pa.text(x(t), top + PLOT + 15, formatValue(t), { size: 10, anchor: 'middle', color: '#444' });
        }
        for (const t of y.ticks(6)) {
          pa.line(left - 4, y(t), left, y(t), { stroke: '#666' });
          pa.text(left - 6, y(t), formatValue(t), { size: 10, anchor: 'end', baseline: 'middle', color: '#444' });
        }
        if (this.axes.xLabel) {
          pa.text(left + PLOT / 2, top + PLOT + 30, this.axes.xLabel, { size: 11, anchor: 'middle', color: '#555', cls: 'x-axis-title' });
        }
        if (this.axes.yLabel) {
          pa.text(14, top + PLOT / 2, this.axes.yLabel, { size: 11, anchor: 'middle', color: '#555', rotate: -90, cls: 'y-axis-title' });
        }
        pa.group('points', { count: pts.length }, () => {
          for (const q of this.placed) {
            const data: Record<string, string | number> = { x: q.p.x, y: q.p.y };
            if (q.p.layer !== undefined) data.layer = q.p.layer;
            if (q.p.head !== undefined) data.head = q.p.head;
            const nm = this.name(q.p);
            if (nm) data.label = nm;
            pa.circle(q.x, q.y, 5, { fill: colorOf(q.p), stroke: '#fff', lineWidth: 0.8, cls: 'point', data });
          }
        });
        if (labels) {
          for (const q of this.placed) {
            pa.text(q.x + 7, q.y, this.name(q.p), { size: 9, baseline: 'middle', color: '#333' });
          }
        }
      },
    };
  }

  override tooltip(x: number, y: number): string | null {
    let best: { d: number; p: Point } | null = null;
    for (const q of this.placed) {
      const d = Math.hypot(q.x - x, q.y - y);
      if (d <= 7 && (!best || d < best.d)) best = { d, p: q.p };
    }
    if (!best) return null;
    const p = best.p;
    const cats = Object.entries(p.categories)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    return `${this.name(p) || 'point'} (${formatValue(p.x)}, ${formatValue(p.y)})${cats ? `; ${cats}` : ''}`;
  }
}

function extent(v: number[]): [number, number] {
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  return [lo, hi];
}
