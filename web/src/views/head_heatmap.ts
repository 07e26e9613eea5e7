// A layers x heads heatmap of any per-head statistic: from a per-head list (one map per
// numeric field) or from [layers][heads] matrices.
import { divergingMap, lutIndex, sequentialMap, valueScale, type ColorMap, type ValueScale } from '../render/color';
import { COLORBAR_WIDTH, formatValue, paintColorbar, paintTitle, titleWidth } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';
import { overridden } from '../render/scale_override';

export interface HeadValues {
  fields: string[];
  // value of `field` at (layer, head), null when missing
  value(field: string, layer: number, head: number): number | null;
}

// A declared figure's colour scale (analysis/figure.hpp): a fixed range (proportions 0..1, so
// 0.45-0.50 does not look like 0-1), diverging colours centred on 0, the colour bar's title.
export interface HeadScaleOptions {
  range?: [number, number];
  centred?: boolean;
  label?: string;
  oneBased?: boolean; // number layers and heads from 1, as the papers and head labels ("8-10") do
}

export class HeadHeatmapView extends View {
  private hover: [number, number] | null = null;
  private geometry = { left: 0, top: 0, cell: 0 };

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly source: HeadValues,
    private readonly layers: number,
    private readonly heads: number,
    private readonly scaleOptions: HeadScaleOptions = {},
  ) {
    super();
    this.define({ name: 'field', label: 'value', type: 'choice', options: choice(source.fields), initial: source.fields[0] });
    this.define({ name: 'values', label: 'numbers', type: 'bool', initial: 'false' });
    this.define({
      name: 'colors',
      label: 'colour',
      type: 'choice',
      options: choice(['auto', 'sequential', 'diverging']),
      initial: 'auto',
    });
  }

  private values(): (number | null)[] {
    const field = this.get('field');
    const out: (number | null)[] = [];
    for (let l = 0; l < this.layers; l++) for (let h = 0; h < this.heads; h++) out.push(this.source.value(field, l, h));
    return out;
  }

  figure(): Figure {
    const field = this.get('field');
    const vals = this.values();
    const present = vals.filter((v): v is number => v !== null);
    const scale = declaredScale(this.scaleOptions, present, this.get('colors')) ?? scaleFor(present, this.get('colors'));
    const cell = Math.max(10, Math.min(34, Math.floor(560 / Math.max(this.heads, this.layers))));
    const left = 52;
    const top = 62;
    this.geometry = { left, top, cell };
    const W = this.heads * cell;
    const H = this.layers * cell;
    const title = this.title.replace(/\{field\}/g, field);
    // A declared figure's colour-bar title (with its unit) runs along the bar, never cut short.
    const barTitle = this.scaleOptions.label;
    const width = Math.max(left + W + 20 + COLORBAR_WIDTH + (barTitle ? 16 : 0), titleWidth(title));
    const barH = Math.max(H, 60, barTitle ? textWidth(barTitle, { size: 10 }) + 12 : 0);
    const height = top + Math.max(H, barH) + 16;
    const rgba = new Uint8ClampedArray(this.layers * this.heads * 4);
    const map: ColorMap = scale.map;
    vals.forEach((v, k) => {
      if (v === null) return;
      const c = lutIndex(scale.t(v)) * 3;
      rgba.set([map.lut[c], map.lut[c + 1], map.lut[c + 2], 255], 4 * k);
    });
    const showValues = this.getBool('values') && cell >= 24;
    const first = this.scaleOptions.oneBased ? 1 : 0;
    const hover = this.hover;
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        p.text(left + W / 2, top - 26, 'head', { size: 11, anchor: 'middle', color: '#555', cls: 'x-axis-title' });
        p.text(14, top + H / 2, 'layer', { size: 11, anchor: 'middle', color: '#555', rotate: -90, cls: 'y-axis-title' });
        for (let h = 0; h < this.heads; h++) {
          p.text(left + (h + 0.5) * cell, top - 8, String(h + first), { size: 10, anchor: 'middle', color: '#555' });
        }
        for (let l = 0; l < this.layers; l++) {
          p.text(left - 6, top + (l + 0.5) * cell, String(l + first), { size: 10, anchor: 'end', baseline: 'middle', color: '#555' });
        }
        p.group('heatmap', { field, layers: this.layers, heads: this.heads }, () => {
          p.cells(left, top, cell, cell, { width: this.heads, height: this.layers, rgba }, { cls: 'cell' }, (l, h) => ({
            layer: l,
            head: h,
            label: headLabel(l, h),
            value: vals[l * this.heads + h] === null ? '' : String(vals[l * this.heads + h]),
          }));
        });
        p.rect(left, top, W, H, { stroke: '#999', lineWidth: 0.5 });
        if (showValues) {
          vals.forEach((v, k) => {
            if (v === null) return;
            const l = Math.floor(k / this.heads);
            const h = k % this.heads;
            const t = scale.t(v);
            const dark = scale.map.name === 'diverging' ? Math.abs(t - 0.5) > 0.3 : t < 0.55;
            p.text(left + (h + 0.5) * cell, top + (l + 0.5) * cell, shortValue(v), {
              size: Math.min(10, cell / 3),
              anchor: 'middle',
              baseline: 'middle',
              color: dark ? '#fff' : '#111',
            });
          });
        }
        if (hover) {
          p.rect(left + hover[1] * cell, top + hover[0] * cell, cell, cell, { stroke: '#e6550d', lineWidth: 2, cls: 'hover' });
        }
        paintColorbar(p, left + W + 20, top, barH, scale, barTitle ? undefined : field);
        if (barTitle) {
          p.text(left + W + 20 + COLORBAR_WIDTH + 6, top + barH / 2, barTitle, {
            size: 10,
            anchor: 'middle',
            color: '#444',
            rotate: -90,
            cls: 'colorbar-title',
          });
        }
      },
    };
  }

  private hit(x: number, y: number): [number, number] | null {
    const { left, top, cell } = this.geometry;
    const h = Math.floor((x - left) / cell);
    const l = Math.floor((y - top) / cell);
    return l >= 0 && h >= 0 && l < this.layers && h < this.heads ? [l, h] : null;
  }

  override pointer(e: PointerEvent2): boolean {
    const before = this.hover;
    this.hover = e.type === 'leave' ? null : this.hit(e.x, e.y);
    return before?.[0] !== this.hover?.[0] || before?.[1] !== this.hover?.[1];
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.hit(x, y);
    if (!at) return null;
    const v = this.source.value(this.get('field'), at[0], at[1]);
    return `layer ${at[0]}, head ${at[1]} (${headLabel(at[0], at[1])}): ${formatValue(v)}`;
  }
}

function shortValue(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// The declared scale, unless the colour setting asks for another map.
function declaredScale(o: HeadScaleOptions, values: number[], colors: string): ValueScale | null {
  if (colors !== 'auto') return null;
  if (o.centred) return scaleFor(values, 'diverging');
  if (!o.range) return null;
  const [lo, hi] = o.range;
  return overridden({ map: sequentialMap, lo, hi, t: (v) => (v - lo) / (hi - lo || 1) });
}

// 'auto' picks the diverging map for signed values; the others force one.
export function scaleFor(values: number[], colors: string): ValueScale {
  if (colors === 'diverging') {
    let m = 0;
    for (const v of values) m = Math.max(m, Math.abs(v));
    m = m || 1;
    return overridden({ map: divergingMap, lo: -m, hi: m, t: (v) => (v + m) / (2 * m) });
  }
  return colors === 'sequential' ? valueScale(values, sequentialMap) : valueScale(values);
}
