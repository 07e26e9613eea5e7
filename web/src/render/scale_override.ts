// A figure's colour map and value range chosen by the user (the "colormap" and "range" figure
// settings): while a figure is built and painted, every colour scale the views make passes
// through `overridden`, so two figures can share one scale and a paper its colour map.
import {
  interpolateBlues,
  interpolateGreys,
  interpolateMagma,
  interpolatePuOr,
  interpolateRdBu,
  interpolateViridis,
} from 'd3-scale-chromatic';
import { ColorMap, type ValueScale } from './color';

export interface ScaleOverride {
  map?: ColorMap;
  range?: [number, number];
}

let active: ScaleOverride = {};

const maps: Record<string, () => ColorMap> = {
  blues: () => new ColorMap('sequential', (t) => interpolateBlues(0.04 + 0.96 * t)),
  viridis: () => new ColorMap('sequential', (t) => interpolateViridis(t)),
  magma: () => new ColorMap('sequential', (t) => interpolateMagma(t)),
  greys: () => new ColorMap('sequential', (t) => interpolateGreys(0.02 + 0.98 * t)),
  rdbu: () => new ColorMap('diverging', (t) => interpolateRdBu(1 - t)),
  puor: () => new ColorMap('diverging', (t) => interpolatePuOr(t)),
};
const made = new Map<string, ColorMap>();

// The map of a "colormap" setting (undefined for "auto": the view's own).
export function namedColorMap(name: string): ColorMap | undefined {
  const make = maps[name];
  if (!make) return undefined;
  let m = made.get(name);
  if (!m) {
    m = make();
    made.set(name, m);
  }
  return m;
}

export function withScaleOverride<T>(o: ScaleOverride, body: () => T): T {
  const previous = active;
  active = o;
  try {
    return body();
  } finally {
    active = previous;
  }
}

// The scale as the user's settings have it: their range (values outside it are clamped by the
// colour lookup) and their map; unchanged when they set neither.
export function overridden(scale: ValueScale): ValueScale {
  const map = active.map ?? scale.map;
  if (!active.range) return map === scale.map ? scale : { ...scale, map };
  const [lo, hi] = active.range;
  return { map, lo, hi, t: (v) => (v - lo) / (hi - lo) };
}
