// Two models on the same input (serve --model-b): one head side by side (A, B and B - A), and
// every head's difference B - A at once. Differences are drawn on a diverging scale centred on
// 0: red where B attends more than A, blue where less.
import { maxOf, type AttentionSet, type AttentionView } from '../data/attention';
import { attentionMap, divergingMap, lutIndex, type ColorMap, type ValueScale } from '../render/color';
import { COLORBAR_WIDTH, fitLabel, formatValue, paintColorbar, paintTitle, titleWidth } from '../render/guides';
import type { Painter, Raster } from '../render/painter';
import { defaultThumb, gridHit, gridPointer, GRID_GAP, GRID_LEFT, GRID_TOP } from './attention_grid';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';

const PLOT = 240;
const SPACING = 28;
const LABEL_MIN_CELL = 9;

export interface ComparedModels {
  a: AttentionSet;
  b: AttentionSet;
  nameA: string;
  nameB: string;
}

// Checks that two documents can be compared position by position.
export function checkComparable(m: ComparedModels): void {
  const { a, b } = m;
  if (a.layers !== b.layers || a.heads !== b.heads) {
    throw new Error(`${m.nameA} has ${a.layers} x ${a.heads} heads, ${m.nameB} ${b.layers} x ${b.heads}: they cannot be compared`);
  }
  if (a.length !== b.length || a.doc.tokens.some((t, i) => t !== b.doc.tokens[i])) {
    throw new Error(`${m.nameA} and ${m.nameB} tokenized the input differently: they cannot be compared`);
  }
}

function difference(a: Float32Array, b: Float32Array): Float32Array {
  const d = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = b[i] - a[i];
  return d;
}

function maxAbs(m: Float32Array): number {
  let hi = 0;
  for (let i = 0; i < m.length; i++) hi = Math.max(hi, Math.abs(m[i]));
  return hi;
}

function colour(m: Float32Array, map: ColorMap, t: (v: number) => number): Raster {
  const rgba = new Uint8ClampedArray(m.length * 4);
  const lut = map.lut;
  for (let k = 0; k < m.length; k++) {
    const c = lutIndex(t(m[k])) * 3;
    rgba[4 * k] = lut[c];
    rgba[4 * k + 1] = lut[c + 1];
    rgba[4 * k + 2] = lut[c + 2];
    rgba[4 * k + 3] = 255;
  }
  const n = Math.round(Math.sqrt(m.length));
  return { width: n, height: n, rgba };
}

function centred(limit: number): ValueScale {
  const m = limit || 1;
  return { map: divergingMap, lo: -m, hi: m, t: (v) => (v + m) / (2 * m) };
}

export class AttentionCompareView extends View {
  readonly id = 'compare';
  readonly title = 'A, B and B − A';
  private top = 0;
  private left = 0;

  constructor(private readonly models: ComparedModels) {
    super();
    const { a } = models;
    this.caption = `A is ${models.nameA}, B is ${models.nameB}, on the same tokens. B − A is red where B attends more, blue where it attends less.`;
    this.define({ name: 'layer', label: 'layer', type: 'choice', options: choice(range(a.layers)), initial: '0' });
    this.define({ name: 'head', label: 'head', type: 'choice', options: choice(range(a.heads)), initial: '0' });
    this.define({ name: 'word-level', label: 'words', type: 'bool', initial: 'false' });
    this.define({
      name: 'scale',
      label: 'colour',
      type: 'choice',
      options: choice(['map', 'one'], ['to the maps’ max', '0 to 1 (differences ±1)']),
      initial: 'map',
    });
  }

  private views(): [AttentionView, AttentionView] {
    const w = this.getBool('word-level');
    return [this.models.a.view(w), this.models.b.view(w)];
  }

  private maps(): { a: Float32Array; b: Float32Array; d: Float32Array } {
    const [va, vb] = this.views();
    const l = this.getInt('layer');
    const h = this.getInt('head');
    const a = va.head(l, h);
    const b = vb.head(l, h);
    return { a, b, d: difference(a, b) };
  }

  figure(): Figure {
    const [va] = this.views();
    const n = va.n;
    const l = this.getInt('layer');
    const h = this.getInt('head');
    const { a, b, d } = this.maps();
    const perMap = this.get('scale') === 'map';
    const hi = perMap ? Math.max(maxOf(a), maxOf(b)) || 1 : 1;
    const attScale: ValueScale = { map: attentionMap, lo: 0, hi, t: (x) => x / hi };
    const diffScale = centred(perMap ? maxAbs(d) : 1);
    const cell = PLOT / n;
    const labels = cell >= LABEL_MIN_CELL;
    const font = Math.max(8, Math.min(11, cell * 0.8));
    const labelW = labels ? 70 : 30;
    this.left = labelW + 14;
    this.top = 58 + (labels ? 60 : 14);
    const left = this.left;
    const top = this.top;
    const xs = [left, left + PLOT + SPACING, left + 2 * (PLOT + SPACING) + COLORBAR_WIDTH];
    const width = xs[2] + PLOT + 14 + COLORBAR_WIDTH;
    const height = top + PLOT + 28;
    const units = va.units;
    const panels: { x: number; name: string; cls: string; m: Float32Array; raster: Raster }[] = [
      { x: xs[0], name: `A: ${this.models.nameA}`, cls: 'heatmap-a', m: a, raster: colour(a, attentionMap, attScale.t) },
      { x: xs[1], name: `B: ${this.models.nameB}`, cls: 'heatmap-b', m: b, raster: colour(b, attentionMap, attScale.t) },
      { x: xs[2], name: 'B − A', cls: 'heatmap-diff', m: d, raster: colour(d, divergingMap, diffScale.t) },
    ];
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, `Layer ${l}, head ${h} (${headLabel(l, h)}): A, B and their difference`, width - 16);
        for (const panel of panels) {
          p.text(panel.x, 30, fitLabel(panel.name, PLOT, 12), { size: 12, weight: 'bold', baseline: 'top', color: '#333' });
          p.group(panel.cls, { layer: l, head: h, rows: n, cols: n }, () => {
            p.cells(panel.x, top, cell, cell, panel.raster, { cls: 'cell' }, (i, j) => ({ row: i, col: j, value: formatValue(panel.m[i * n + j]) }));
          });
          p.rect(panel.x, top, PLOT, PLOT, { stroke: '#999', lineWidth: 0.5 });
          if (!labels) continue;
          units.forEach((u, i) => {
            const color = u.special ? '#888' : '#222';
            if (panel.x === xs[0]) {
              p.text(panel.x - 4, top + (i + 0.5) * cell, fitLabel(u.label, labelW - 6, font), { size: font, anchor: 'end', baseline: 'middle', color });
            }
            p.text(panel.x + (i + 0.5) * cell, top - 4, fitLabel(u.label, 56, font), { size: font, baseline: 'middle', color, rotate: -60 });
          });
        }
        p.text(xs[0] + PLOT / 2, top + PLOT + 20, 'key (attended to)', { size: 11, anchor: 'middle', color: '#555' });
        p.text(10, top + PLOT / 2, 'query', { size: 11, anchor: 'middle', color: '#555', rotate: -90 });
        paintColorbar(p, xs[1] + PLOT + 12, top, PLOT, attScale, 'weight');
        paintColorbar(p, xs[2] + PLOT + 12, top, PLOT, diffScale, 'B − A');
      },
    };
  }

  private cellAt(x: number, y: number): [number, number] | null {
    const n = this.views()[0].n;
    const cell = PLOT / n;
    const i = Math.floor((y - this.top) / cell);
    for (const x0 of [this.left, this.left + PLOT + SPACING, this.left + 2 * (PLOT + SPACING) + COLORBAR_WIDTH]) {
      const j = Math.floor((x - x0) / cell);
      if (i >= 0 && i < n && j >= 0 && j < n) return [i, j];
    }
    return null;
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.cellAt(x, y);
    if (!at) return null;
    const [i, j] = at;
    const units = this.views()[0].units;
    const n = units.length;
    const { a, b, d } = this.maps();
    const k = i * n + j;
    return `${units[i].label} (${i}) → ${units[j].label} (${j}): A ${formatValue(a[k])}, B ${formatValue(b[k])}, B − A ${d[k] > 0 ? '+' : ''}${formatValue(d[k])}`;
  }

  override describe(): Record<string, string | number> {
    const { d } = this.maps();
    return { layer: this.getInt('layer'), head: this.getInt('head'), 'max-abs-diff': formatValue(maxAbs(d)), left: this.left, top: this.top, plot: PLOT };
  }
}

const GAP = GRID_GAP;

// Max-pools an n x n signed map into s x s by absolute value: the sign of the largest change in
// each block survives.
function signedPool(m: Float32Array, n: number, s: number): Float32Array {
  const pooled = new Float32Array(s * s);
  const block = new Int32Array(n);
  for (let i = 0; i < n; i++) block[i] = Math.min(s - 1, Math.floor((i * s) / n));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = m[i * n + j];
      const k = block[i] * s + block[j];
      if (Math.abs(v) > Math.abs(pooled[k])) pooled[k] = v;
    }
  }
  return pooled;
}

interface HeadDifference {
  maxAbs: number;
  // Total variation between A's and B's rows, averaged over the queries: the share of each
  // query's attention that B puts elsewhere than A (0 = the same, 1 = disjoint).
  meanTv: number;
}

export class DifferenceGridView extends View {
  readonly id = 'diff-grid';
  readonly title = 'B − A, all heads';
  private stats: { key: string; heads: HeadDifference[]; rasters: Raster[]; limit: number } | null = null;
  private hover: [number, number] | null = null;

  constructor(private readonly models: ComparedModels) {
    super();
    this.caption = `Every head's B − A (B: ${models.nameB}, A: ${models.nameA}), max-pooled by size; red where B attends more. Click a head to see A, B and B − A side by side.`;
    this.define({ name: 'word-level', label: 'words', type: 'bool', initial: 'false' });
    this.define({ name: 'thumb', label: 'size', type: 'choice', options: choice([32, 48, 64, 96]), initial: String(defaultThumb(models.a.layers)) });
    this.define({
      name: 'scale',
      label: 'colour',
      type: 'choice',
      options: choice(['all', 'map', 'one'], ['one scale for all heads', 'each head to its max', '±1']),
      initial: 'all',
    });
    this.define({ name: 'layer', label: 'current layer', type: 'int', min: -1, max: models.a.layers - 1, initial: '-1', interactive: true });
  }

  private ensure() {
    const w = this.getBool('word-level');
    const va = this.models.a.view(w);
    const vb = this.models.b.view(w);
    const n = va.n;
    const size = Math.min(this.getInt('thumb'), n);
    const mode = this.get('scale');
    const key = `${w}:${size}:${mode}`;
    if (this.stats?.key === key) return this.stats;
    const { layers, heads } = this.models.a;
    // Pooled first, coloured once the common scale is known: 144 full 512 x 512 differences
    // would hold 150 MB.
    const pooled: Float32Array[] = [];
    const stats: HeadDifference[] = [];
    const bufA = new Float32Array(n * n);
    const bufB = new Float32Array(n * n);
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) {
        const d = difference(va.headUncached(l, h, bufA), vb.headUncached(l, h, bufB));
        let tv = 0;
        for (let k = 0; k < d.length; k++) tv += Math.abs(d[k]);
        pooled.push(signedPool(d, n, size));
        stats.push({ maxAbs: maxAbs(d), meanTv: tv / 2 / n });
      }
    }
    const limit = mode === 'one' ? 1 : Math.max(...stats.map((s) => s.maxAbs));
    const rasters = pooled.map((m, k) => colour(m, divergingMap, centred(mode === 'map' ? stats[k].maxAbs : limit).t));
    this.stats = { key, heads: stats, rasters, limit };
    return this.stats;
  }

  figure(): Figure {
    const st = this.ensure();
    const { layers, heads } = this.models.a;
    const c = this.getInt('thumb');
    const title = `B − A for every head: largest change ${formatValue(Math.max(...st.heads.map((s) => s.maxAbs)))}`;
    const gridW = GRID_LEFT + heads * (c + GAP);
    const width = Math.max(gridW + 16 + COLORBAR_WIDTH, titleWidth(title));
    const height = GRID_TOP + layers * (c + GAP) + 8;
    const perMap = this.get('scale') === 'map';
    const current = this.getInt('layer');
    const hover = this.hover;
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        p.text(GRID_LEFT + (heads * (c + GAP)) / 2, GRID_TOP - 19, 'head', { size: 11, anchor: 'middle', color: '#555' });
        p.text(12, GRID_TOP + (layers * (c + GAP)) / 2, 'layer', { size: 11, anchor: 'middle', color: '#555', rotate: -90 });
        for (let h = 0; h < heads; h++) {
          p.text(GRID_LEFT + h * (c + GAP) + c / 2, GRID_TOP - 6, String(h), { size: 10, anchor: 'middle', color: '#555' });
        }
        for (let l = 0; l < layers; l++) {
          const y = GRID_TOP + l * (c + GAP);
          p.text(GRID_LEFT - 6, y + c / 2, String(l), { size: 10, anchor: 'end', baseline: 'middle', color: '#555' });
          for (let h = 0; h < heads; h++) {
            const s = st.heads[l * heads + h];
            p.image(GRID_LEFT + h * (c + GAP), y, c, c, st.rasters[l * heads + h], {
              cls: 'thumb diff',
              data: { layer: l, head: h, label: headLabel(l, h), 'max-abs': formatValue(s.maxAbs), 'mean-tv': formatValue(s.meanTv) },
            });
          }
        }
        if (current >= 0) {
          p.rect(GRID_LEFT - 3, GRID_TOP + current * (c + GAP) - 3, heads * (c + GAP) + 2, c + 6, { stroke: '#555', lineWidth: 1, dash: [3, 2], cls: 'current-layer' });
        }
        if (hover) {
          p.rect(GRID_LEFT + hover[1] * (c + GAP) - 2, GRID_TOP + hover[0] * (c + GAP) - 2, c + 4, c + 4, { stroke: '#e6550d', lineWidth: 2 });
        }
        if (!perMap) paintColorbar(p, gridW + 12, GRID_TOP, Math.min(240, layers * (c + GAP)), centred(st.limit), 'B − A');
      },
    };
  }

  private hit(x: number, y: number): [number, number] | null {
    return gridHit(x, y, this.getInt('thumb'), this.models.a.layers, this.models.a.heads);
  }

  override pointer(e: PointerEvent2): boolean {
    const before = this.hover;
    this.hover = gridPointer(e, before, (x, y) => this.hit(x, y), (l, h) => {
      if (!this.onNavigate) return;
      super.set('layer', String(l));
      this.onNavigate('compare', { layer: String(l), head: String(h) });
    });
    return before?.[0] !== this.hover?.[0] || before?.[1] !== this.hover?.[1];
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.hit(x, y);
    if (!at || !this.stats) return null;
    const [l, h] = at;
    const s = this.stats.heads[l * this.models.a.heads + h];
    return `layer ${l}, head ${h} (${headLabel(l, h)}): largest |B − A| ${formatValue(s.maxAbs)}; B moves ${formatValue(100 * s.meanTv)}% of a query's attention on average. Click to compare.`;
  }

  override describe(): Record<string, string | number> {
    const c = this.getInt('thumb');
    return { layers: this.models.a.layers, heads: this.models.a.heads, cell: c, left: GRID_LEFT, top: GRID_TOP, gap: GAP };
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
