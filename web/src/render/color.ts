// Colour maps as 256-entry lookup tables, so a 512 x 512 map (or 144 of them) is coloured
// with one table read per cell instead of a d3 interpolator call and a CSS string parse.
import { rgb } from 'd3-color';
import {
  interpolateBlues,
  interpolateRdBu,
  interpolateViridis,
  schemeTableau10,
} from 'd3-scale-chromatic';
import { overridden } from './scale_override';

export type MapName = 'attention' | 'sequential' | 'diverging';

export class ColorMap {
  readonly lut: Uint8ClampedArray; // 256 x RGB
  constructor(
    readonly name: MapName,
    interpolate: (t: number) => string,
  ) {
    this.lut = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const c = rgb(interpolate(i / 255));
      this.lut[i * 3] = c.r;
      this.lut[i * 3 + 1] = c.g;
      this.lut[i * 3 + 2] = c.b;
    }
  }

  // t in [0, 1] (clamped) -> CSS colour.
  css(t: number): string {
    const i = lutIndex(t) * 3;
    return `rgb(${this.lut[i]},${this.lut[i + 1]},${this.lut[i + 2]})`;
  }
}

export function lutIndex(t: number): number {
  if (!(t > 0)) return 0; // also NaN
  if (t >= 1) return 255;
  return (t * 255 + 0.5) | 0;
}

// Attention: white for 0 to dark blue for the map's maximum, as in the papers' figures.
export const attentionMap = new ColorMap('attention', (t) => interpolateBlues(0.04 + 0.96 * t));
// Statistics of one sign.
export const sequentialMap = new ColorMap('sequential', (t) => interpolateViridis(t));
// Signed statistics (ablation deltas, correlations): blue negative, white 0, red positive.
export const divergingMap = new ColorMap('diverging', (t) => interpolateRdBu(1 - t));

export const categorical: readonly string[] = schemeTableau10;
export function categoryColor(i: number): string {
  return categorical[((i % categorical.length) + categorical.length) % categorical.length];
}

// Attention heads: 16 colours, so that bert-base's 12 heads (and bert-large's 16) each get their
// own. d3's category10 without its grey (the colour of a head switched off) and olive, extended
// greedily from the sRGB cube by the largest smallest CIEDE2000 distance to the colours already
// chosen, among colours of lightness 28-70 (pale lines vanish on white at low opacity): every
// pair differs by at least as much as category10's closest pair (CIEDE2000 16, CIE76 26).
export const headPalette: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf',
  '#005544', '#776600', '#0011dd', '#bbaa77', '#880066', '#99aadd', '#ff8888', '#226600',
];
export function headColor(head: number): string {
  return headPalette[((head % headPalette.length) + headPalette.length) % headPalette.length];
}

// A value domain and the map that goes with it: a signed range gets the diverging map,
// centred on 0.
export interface ValueScale {
  map: ColorMap;
  lo: number;
  hi: number;
  t(v: number): number; // value -> [0, 1]
}

// The scale for these values, as the figure's colormap/range settings have it (scale_override.ts).
export function valueScale(values: Iterable<number>, forceMap?: ColorMap): ValueScale {
  return overridden(dataValueScale(values, forceMap));
}

function dataValueScale(values: Iterable<number>, forceMap?: ColorMap): ValueScale {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) {
    lo = 0;
    hi = 1;
  }
  if (lo < 0 && hi > 0 && !forceMap) {
    const m = Math.max(-lo, hi);
    return { map: divergingMap, lo: -m, hi: m, t: (v) => (v + m) / (2 * m) };
  }
  if (hi === lo) {
    // A constant map still needs a non-empty domain.
    const l = lo;
    return { map: forceMap ?? sequentialMap, lo: l, hi: l + 1, t: (v) => v - l };
  }
  const span = hi - lo;
  return { map: forceMap ?? sequentialMap, lo, hi, t: (v) => (v - lo) / span };
}
