// Colour bars, legends and number formatting shared by the views.
import { format } from 'd3-format';
import { scaleLinear } from 'd3-scale';
import type { ValueScale } from './color';
import { textWidth, type Painter } from './painter';

const general = format('.3~g');
const fixed = format('.3~f');

export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? general(v) : fixed(v);
}

export const COLORBAR_WIDTH = 64;

// A vertical colour bar of height h at (x, y) with ticks on its right; about 64 px wide.
export function paintColorbar(p: Painter, x: number, y: number, h: number, scale: ValueScale, title?: string): void {
  const steps = Math.max(2, Math.min(128, Math.round(h)));
  const rgba = new Uint8ClampedArray(steps * 4);
  for (let i = 0; i < steps; i++) {
    const t = 1 - i / (steps - 1);
    const k = Math.round(t * 255) * 3;
    rgba[i * 4] = scale.map.lut[k];
    rgba[i * 4 + 1] = scale.map.lut[k + 1];
    rgba[i * 4 + 2] = scale.map.lut[k + 2];
    rgba[i * 4 + 3] = 255;
  }
  p.group('colorbar', { lo: scale.lo, hi: scale.hi }, () => {
    // Cells, not an image: in SVG each step is a rect, so the bar stays a vector (steps <= 128).
    p.group('colorbar-ramp', undefined, () => p.cells(x, y, 12, h / steps, { width: 1, height: steps, rgba }, {}));
    p.rect(x, y, 12, h, { stroke: '#888', lineWidth: 0.5 });
    const s = scaleLinear().domain([scale.lo, scale.hi]).range([y + h, y]);
    // At least four ticks: a bar of +-0.44 asked for two would only label its 0.
    for (const v of s.ticks(Math.max(4, Math.floor(h / 40)))) {
      const ty = s(v);
      p.line(x + 12, ty, x + 16, ty, { stroke: '#666' });
      p.text(x + 18, ty, formatValue(v), { size: 10, baseline: 'middle', color: '#444' });
    }
    if (title) p.text(x, y - 6, fitLabel(title, COLORBAR_WIDTH - 4, 10), { size: 10, color: '#444' });
  });
}

export interface LegendItem {
  label: string;
  color: string;
}

// A horizontal legend starting at (x, y) that wraps at maxWidth; returns its height.
export function paintLegend(p: Painter | null, x: number, y: number, maxWidth: number, items: LegendItem[]): number {
  let cx = x;
  let cy = y;
  const row = 16;
  for (const it of items) {
    const w = 14 + textWidth(it.label, { size: 11 }) + 12;
    if (cx + w > x + maxWidth && cx > x) {
      cx = x;
      cy += row;
    }
    if (p) {
      p.rect(cx, cy + 3, 10, 10, { fill: it.color, cls: 'legend-swatch' });
      p.text(cx + 14, cy + 8, it.label, { size: 11, baseline: 'middle', color: '#333' });
    }
    cx += w;
  }
  return items.length ? cy - y + row : 0;
}

// The width a figure needs for its title at x = 8.
export function titleWidth(s: string): number {
  return textWidth(s, { size: 13, weight: 'bold' }) + 16;
}

// A figure's title; with maxWidth, cut to fit it (the whole title stays in the page's caption).
export function paintTitle(p: Painter, x: number, y: number, s: string, maxWidth?: number): void {
  const text = maxWidth ? fitLabel(s, maxWidth, 13, 'bold') : s;
  p.text(x, y, text, { size: 13, weight: 'bold', baseline: 'top', color: '#222', cls: 'title' });
}

// Truncates a label to fit `width` pixels, with an ellipsis.
export function fitLabel(s: string, width: number, size: number, weight: 'normal' | 'bold' = 'normal'): string {
  if (textWidth(s, { size, weight }) <= width) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (textWidth(s.slice(0, mid) + '…', { size, weight }) <= width) lo = mid;
    else hi = mid - 1;
  }
  return s.slice(0, lo) + '…';
}
