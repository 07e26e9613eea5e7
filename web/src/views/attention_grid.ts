// All heads at once: a layers x heads grid of thumbnails of the attention maps. Each thumbnail
// is max-pooled down to at most `thumb` pixels a side (so one sharp weight in a 512-token map
// still shows) and coloured against its own maximum. Click a thumbnail to open the head; the
// layer the other views show is outlined.
import { maxOf, type AttentionSet, type AttentionView } from '../data/attention';
import { attentionMap, lutIndex } from '../render/color';
import { formatValue, paintTitle, titleWidth } from '../render/guides';
import type { Painter, Raster } from '../render/painter';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';

const GAP = 4;
const LEFT = 58;
const TOP = 48;
// The grid's default thumbnails keep it within a screen: 64 px for bert-base's 12 layers, 32 px
// for bert-large's 24.
const GRID_HEIGHT = 880;

// The (layer, head) of the thumbnail under (x, y) in a grid of `cell`-pixel thumbnails whose
// first one sits at (GRID_LEFT, GRID_TOP); null between thumbnails or outside the grid.
export const GRID_LEFT = LEFT;
export const GRID_TOP = TOP;
export const GRID_GAP = GAP;
export function gridHit(x: number, y: number, cell: number, layers: number, heads: number): [number, number] | null {
  const h = Math.floor((x - LEFT) / (cell + GAP));
  const l = Math.floor((y - TOP) / (cell + GAP));
  if (h < 0 || l < 0 || h >= heads || l >= layers) return null;
  if (x - LEFT - h * (cell + GAP) > cell || y - TOP - l * (cell + GAP) > cell) return null;
  return [l, h];
}

// Hover and click on a grid of heads: the head under the pointer after event `e` (the previous
// one when the event is neither), and a click on a head calls `open` with it.
export function gridPointer(
  e: PointerEvent2,
  hovered: [number, number] | null,
  hit: (x: number, y: number) => [number, number] | null,
  open: (layer: number, head: number) => void,
): [number, number] | null {
  if (e.type === 'leave') return null;
  if (e.type === 'move') return hit(e.x, e.y);
  if (e.type === 'click') {
    const at = hit(e.x, e.y);
    if (at) open(at[0], at[1]);
  }
  return hovered;
}

export function defaultThumb(layers: number): number {
  return [64, 48].find((t) => layers * (t + GAP) <= GRID_HEIGHT) ?? 32;
}

interface Thumbs {
  key: string;
  rasters: Raster[]; // [layer * heads + head]
  maxima: Float32Array;
  ms: number; // time to compute them
}

// Max-pools an n x n map into s x s (s <= n), normalised by `scale`, coloured.
function thumbnail(m: Float32Array, n: number, s: number, scale: number, pooled: Float32Array): Raster {
  pooled.fill(0);
  const block = new Int32Array(n);
  for (let i = 0; i < n; i++) block[i] = Math.min(s - 1, Math.floor((i * s) / n));
  for (let i = 0; i < n; i++) {
    const row = i * n;
    const dst = block[i] * s;
    for (let j = 0; j < n; j++) {
      const v = m[row + j];
      const k = dst + block[j];
      if (v > pooled[k]) pooled[k] = v;
    }
  }
  const rgba = new Uint8ClampedArray(s * s * 4);
  const lut = attentionMap.lut;
  const inv = scale > 0 ? 1 / scale : 0;
  for (let k = 0; k < s * s; k++) {
    const c = lutIndex(pooled[k] * inv) * 3;
    rgba[4 * k] = lut[c];
    rgba[4 * k + 1] = lut[c + 1];
    rgba[4 * k + 2] = lut[c + 2];
    rgba[4 * k + 3] = 255;
  }
  return { width: s, height: s, rgba };
}

export class AttentionGridView extends View {
  readonly id = 'grid';
  readonly title = 'All heads';
  private thumbs: Thumbs | null = null;
  private hover: [number, number] | null = null;
  // Milliseconds the last figure took to build its thumbnails (shown to users and read by the
  // performance test).
  lastBuildMs = 0;

  constructor(private readonly attn: AttentionSet) {
    super();
    this.define({ name: 'word-level', label: 'words', type: 'bool', initial: 'false' });
    this.define({
      name: 'thumb',
      label: 'size',
      type: 'choice',
      options: choice([32, 48, 64, 96, 128]),
      initial: String(defaultThumb(attn.layers)),
    });
    this.define({
      name: 'scale',
      label: 'colour',
      type: 'choice',
      options: choice(['map', 'one'], ['each map to its max', '0 to 1']),
      initial: 'map',
    });
    // The layer the page's other views show (-1: none), outlined so the grid says where they are.
    this.define({ name: 'layer', label: 'current layer', type: 'int', min: -1, max: attn.layers - 1, initial: '-1', interactive: true });
  }

  private view(): AttentionView {
    return this.attn.view(this.getBool('word-level'));
  }

  private cell(): number {
    return this.getInt('thumb');
  }

  layout(): { left: number; top: number; cell: number; gap: number; layers: number; heads: number } {
    return { left: LEFT, top: TOP, cell: this.cell(), gap: GAP, layers: this.attn.layers, heads: this.attn.heads };
  }

  private ensureThumbs(): Thumbs {
    const v = this.view();
    const size = Math.min(this.cell(), v.n);
    const key = `${v.wordLevel}:${size}:${this.get('scale')}`;
    if (this.thumbs && this.thumbs.key === key) return this.thumbs;
    const t0 = performance.now();
    const rasters: Raster[] = [];
    const maxima = new Float32Array(v.layers * v.heads);
    const buf = new Float32Array(v.n * v.n);
    const pooled = new Float32Array(size * size);
    const perMap = this.get('scale') === 'map';
    for (let l = 0; l < v.layers; l++) {
      for (let h = 0; h < v.heads; h++) {
        const m = v.headUncached(l, h, buf);
        const hi = maxOf(m);
        maxima[l * v.heads + h] = hi;
        rasters.push(thumbnail(m, v.n, size, perMap ? hi : 1, pooled));
      }
    }
    this.thumbs = { key, rasters, maxima, ms: performance.now() - t0 };
    return this.thumbs;
  }

  figure(): Figure {
    const thumbs = this.ensureThumbs();
    this.lastBuildMs = thumbs.ms;
    const { layers, heads } = this.attn;
    const c = this.cell();
    const v = this.view();
    const title = `All heads: ${layers} layers x ${heads} heads, ${v.n} ${v.wordLevel ? 'words' : 'tokens'}`;
    const width = Math.max(LEFT + heads * (c + GAP) + 8, titleWidth(title));
    const height = TOP + layers * (c + GAP) + 8;
    const hover = this.hover;
    const current = this.getInt('layer');
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        p.text(LEFT + (heads * (c + GAP)) / 2, TOP - 19, 'head', { size: 11, anchor: 'middle', color: '#555' });
        p.text(12, TOP + (layers * (c + GAP)) / 2, 'layer', {
          size: 11,
          anchor: 'middle',
          color: '#555',
          rotate: -90,
        });
        for (let h = 0; h < heads; h++) {
          p.text(LEFT + h * (c + GAP) + c / 2, TOP - 6, String(h), { size: 10, anchor: 'middle', color: '#555' });
        }
        for (let l = 0; l < layers; l++) {
          const y = TOP + l * (c + GAP);
          p.text(LEFT - 6, y + c / 2, String(l), { size: 10, anchor: 'end', baseline: 'middle', color: '#555' });
          for (let h = 0; h < heads; h++) {
            const x = LEFT + h * (c + GAP);
            const r = thumbs.rasters[l * heads + h];
            p.image(x, y, c, c, r, {
              cls: 'thumb',
              data: { layer: l, head: h, label: headLabel(l, h), max: formatValue(thumbs.maxima[l * heads + h]) },
            });
          }
        }
        if (current >= 0) {
          p.rect(LEFT - 3, TOP + current * (c + GAP) - 3, heads * (c + GAP) + 2, c + 6, {
            stroke: '#555',
            lineWidth: 1,
            dash: [3, 2],
            cls: 'current-layer',
          });
        }
        if (hover) {
          const [l, h] = hover;
          p.rect(LEFT + h * (c + GAP) - 2, TOP + l * (c + GAP) - 2, c + 4, c + 4, {
            stroke: '#e6550d',
            lineWidth: 2,
            cls: 'hover',
          });
        }
      },
    };
  }

  override describe(): Record<string, string | number> {
    return {
      layers: this.attn.layers,
      heads: this.attn.heads,
      cells: this.attn.layers * this.attn.heads,
      cell: this.cell(),
      left: LEFT,
      top: TOP,
      gap: GAP,
      'build-ms': this.lastBuildMs.toFixed(1),
    };
  }

  private hit(x: number, y: number): [number, number] | null {
    return gridHit(x, y, this.cell(), this.attn.layers, this.attn.heads);
  }

  override pointer(e: PointerEvent2): boolean {
    const before = this.hover;
    this.hover = gridPointer(e, before, (x, y) => this.hit(x, y), (l, h) => {
      if (!this.onNavigate) return;
      super.set('layer', String(l));
      this.onNavigate('heatmap', { layer: String(l), head: String(h) });
    });
    return before?.[0] !== this.hover?.[0] || before?.[1] !== this.hover?.[1];
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.hit(x, y);
    if (!at) return null;
    const [l, h] = at;
    const m = this.thumbs?.maxima[l * this.attn.heads + h];
    return `layer ${l}, head ${h} (${headLabel(l, h)}); max ${formatValue(m)}. Click to open.`;
  }
}
