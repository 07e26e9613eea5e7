// One head's attention map, query rows by key columns, with zoom: the wheel zooms about the
// pointer, dragging pans, a double click resets. Token labels appear once cells are big enough.
import { maxOf, type AttentionSet, type AttentionView } from '../data/attention';
import { attentionMap, lutIndex, type ValueScale } from '../render/color';
import { COLORBAR_WIDTH, fitLabel, formatValue, paintColorbar, paintTitle } from '../render/guides';
import type { Painter } from '../render/painter';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';

const PLOT = 560;
const LABEL_MIN_CELL = 9;

export class AttentionHeatmapView extends View {
  readonly id = 'heatmap';
  readonly title = 'One head';
  private left = 0;
  private top = 0;
  private dragX = 0;
  private dragY = 0;

  constructor(private readonly attn: AttentionSet) {
    super();
    this.define({ name: 'layer', label: 'layer', type: 'choice', options: choice(range(attn.layers)), initial: '0' });
    this.define({ name: 'head', label: 'head', type: 'choice', options: choice(range(attn.heads)), initial: '0' });
    this.define({ name: 'word-level', label: 'words', type: 'bool', initial: 'false' });
    this.define({
      name: 'scale',
      label: 'colour',
      type: 'choice',
      options: choice(['map', 'one'], ['0 to the map max', '0 to 1']),
      initial: 'map',
    });
    // The zoom window: rows [row, row + span) x columns [col, col + span) of the map.
    this.define({ name: 'row', label: 'first row', type: 'int', min: 0, initial: '0', interactive: true });
    this.define({ name: 'col', label: 'first column', type: 'int', min: 0, initial: '0', interactive: true });
    this.define({ name: 'span', label: 'rows shown', type: 'int', min: 0, initial: '0', interactive: true });
  }

  private view(): AttentionView {
    return this.attn.view(this.getBool('word-level'));
  }

  protected override changed(name: string): void {
    if (name === 'word-level') this.resetZoom();
  }

  resetZoom(): void {
    super.set('row', '0');
    super.set('col', '0');
    super.set('span', '0');
  }

  // The window clamped to the map; span 0 means the whole map.
  private window(): { r0: number; c0: number; span: number } {
    const n = this.view().n;
    let span = this.getInt('span');
    if (span <= 0 || span > n) span = n;
    const r0 = Math.max(0, Math.min(n - span, this.getInt('row')));
    const c0 = Math.max(0, Math.min(n - span, this.getInt('col')));
    return { r0, c0, span };
  }

  figure(): Figure {
    const v = this.view();
    const l = this.getInt('layer');
    const h = this.getInt('head');
    const m = v.head(l, h);
    const n = v.n;
    const hi = this.get('scale') === 'map' ? maxOf(m) || 1 : 1;
    const scale: ValueScale = { map: attentionMap, lo: 0, hi, t: (x) => x / hi };
    const { r0, c0, span } = this.window();
    const cellPx = PLOT / span;
    const labels = cellPx >= LABEL_MIN_CELL;
    const fontSize = Math.max(8, Math.min(12, cellPx * 0.8));
    const labelW = labels ? 90 : 36;
    this.left = labelW + 16;
    this.top = 40 + (labels ? 70 : 18);
    const left = this.left;
    const top = this.top;
    const width = left + PLOT + 16 + COLORBAR_WIDTH;
    const height = top + PLOT + 28;

    const rgba = new Uint8ClampedArray(span * span * 4);
    const lut = attentionMap.lut;
    const inv = 1 / hi;
    for (let i = 0; i < span; i++) {
      const src = (r0 + i) * n + c0;
      for (let j = 0; j < span; j++) {
        const c = lutIndex(m[src + j] * inv) * 3;
        const o = (i * span + j) * 4;
        rgba[o] = lut[c];
        rgba[o + 1] = lut[c + 1];
        rgba[o + 2] = lut[c + 2];
        rgba[o + 3] = 255;
      }
    }
    const units = v.units;
    const zoomed = span < n;
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(
          p,
          8,
          6,
          `Layer ${l}, head ${h} (${headLabel(l, h)})${zoomed ? `: rows ${r0}–${r0 + span - 1}, columns ${c0}–${c0 + span - 1}` : ''}`,
        );
        p.group('heatmap', { layer: l, head: h, rows: span, cols: span }, () => {
          p.cells(left, top, cellPx, cellPx, { width: span, height: span, rgba }, { cls: 'cell' });
        });
        p.rect(left, top, PLOT, PLOT, { stroke: '#999', lineWidth: 0.5 });
        p.text(left + PLOT / 2, top + PLOT + 20, 'key (attended to)', { size: 11, anchor: 'middle', color: '#555' });
        p.text(12, top + PLOT / 2, 'query (attending)', { size: 11, anchor: 'middle', color: '#555', rotate: -90 });
        if (labels) {
          for (let i = 0; i < span; i++) {
            const u = units[r0 + i];
            p.text(left - 4, top + (i + 0.5) * cellPx, fitLabel(u.label, labelW - 6, fontSize), {
              size: fontSize,
              anchor: 'end',
              baseline: 'middle',
              color: u.special ? '#888' : '#222',
              cls: 'row-label',
            });
          }
          for (let j = 0; j < span; j++) {
            const u = units[c0 + j];
            const x = left + (j + 0.5) * cellPx;
            p.text(x, top - 4, fitLabel(u.label, 80, fontSize), {
              size: fontSize,
              anchor: 'start',
              baseline: 'middle',
              color: u.special ? '#888' : '#222',
              rotate: -60,
              cls: 'col-label',
            });
          }
        } else {
          const step = niceStep(span);
          for (let i = Math.ceil(r0 / step) * step; i < r0 + span; i += step) {
            p.text(left - 4, top + (i - r0 + 0.5) * cellPx, String(i), { size: 10, anchor: 'end', baseline: 'middle', color: '#555' });
          }
          for (let j = Math.ceil(c0 / step) * step; j < c0 + span; j += step) {
            p.text(left + (j - c0 + 0.5) * cellPx, top - 5, String(j), { size: 10, anchor: 'middle', color: '#555' });
          }
        }
        paintColorbar(p, left + PLOT + 16, top, PLOT, scale, 'weight');
      },
    };
  }

  override describe(): Record<string, string | number> {
    const { r0, c0, span } = this.window();
    return { layer: this.getInt('layer'), head: this.getInt('head'), row: r0, col: c0, span, left: this.left, top: this.top, plot: PLOT };
  }

  private cellAt(x: number, y: number): [number, number] | null {
    const { r0, c0, span } = this.window();
    const cell = PLOT / span;
    const j = Math.floor((x - this.left) / cell);
    const i = Math.floor((y - this.top) / cell);
    if (i < 0 || j < 0 || i >= span || j >= span) return null;
    return [r0 + i, c0 + j];
  }

  override pointer(e: PointerEvent2): boolean {
    const n = this.view().n;
    const { r0, c0, span } = this.window();
    if (e.type === 'dblclick') {
      this.resetZoom();
      return true;
    }
    if (e.type === 'wheel' && e.deltaY) {
      const at = this.cellAt(e.x, e.y);
      if (!at) return false;
      const factor = e.deltaY > 0 ? 1.25 : 0.8;
      const next = Math.max(4, Math.min(n, Math.round(span * factor)));
      if (next === span) return false;
      // Keep the cell under the pointer where it is.
      const fy = (at[0] - r0) / span;
      const fx = (at[1] - c0) / span;
      super.set('span', String(next === n ? 0 : next));
      super.set('row', String(Math.max(0, Math.min(n - next, Math.round(at[0] - fy * next)))));
      super.set('col', String(Math.max(0, Math.min(n - next, Math.round(at[1] - fx * next)))));
      return true;
    }
    if (e.type === 'dragstart') {
      this.dragX = 0;
      this.dragY = 0;
      return false;
    }
    if (e.type === 'drag' && span < n) {
      // The window moves by whole cells; movement smaller than a cell is kept for later.
      const cell = PLOT / span;
      this.dragX += e.dx ?? 0;
      this.dragY += e.dy ?? 0;
      const dr = Math.trunc(-this.dragY / cell);
      const dc = Math.trunc(-this.dragX / cell);
      if (!dr && !dc) return false;
      this.dragY += dr * cell;
      this.dragX += dc * cell;
      super.set('row', String(Math.max(0, Math.min(n - span, r0 + dr))));
      super.set('col', String(Math.max(0, Math.min(n - span, c0 + dc))));
      return true;
    }
    return false;
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.cellAt(x, y);
    if (!at) return null;
    const v = this.view();
    const m = v.head(this.getInt('layer'), this.getInt('head'));
    const [i, j] = at;
    return `${v.units[i].label} (${i}) → ${v.units[j].label} (${j}): ${formatValue(m[i * v.n + j])}`;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function niceStep(span: number): number {
  const raw = span / 10;
  const p = 10 ** Math.floor(Math.log10(Math.max(1, raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
