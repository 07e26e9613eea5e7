// A heatmap of any numeric matrix, e.g. rollout or flow [T][T] with token labels, or one slice
// of an n-d array ([layers][T][T]: choose the layer).
import { numericAt } from '../data/shapes';
import { lutIndex } from '../render/color';
import { COLORBAR_WIDTH, fitLabel, formatValue, paintColorbar, paintTitle, titleWidth } from '../render/guides';
import type { Painter } from '../render/painter';
import { scaleFor } from './head_heatmap';
import { View, choice, type Figure } from './view';

const PLOT = 560;

export class MatrixView extends View {
  private geometry = { left: 0, top: 0, cell: 0 };
  private readonly rows: number;
  private readonly cols: number;

  // labels[d]: names of the entries along dimension d (tokens, relation names), when known.
  constructor(
    readonly id: string,
    readonly title: string,
    private readonly data: unknown,
    private readonly shape: number[],
    private readonly labels: (string[] | undefined)[],
    private readonly axisNames: string[],
    private readonly valueName?: string, // what the colours mean, with the unit (declared figures)
  ) {
    super();
    for (let d = 0; d < shape.length - 2; d++) {
      const names = labels[d];
      this.define({
        name: `index${d}`,
        label: axisNames[d] ?? `index ${d}`,
        type: 'choice',
        options: choice(
          Array.from({ length: shape[d] }, (_, i) => i),
          names ? names.map((n, i) => `${i}: ${n}`) : undefined,
        ),
        initial: '0',
      });
    }
    this.define({
      name: 'colors',
      label: 'colour',
      type: 'choice',
      options: choice(['auto', 'sequential', 'diverging']),
      initial: 'auto',
    });
    this.rows = shape[shape.length - 2];
    this.cols = shape[shape.length - 1];
  }

  private prefix(): number[] {
    return Array.from({ length: this.shape.length - 2 }, (_, d) => this.getInt(`index${d}`));
  }

  private slice(): (number | null)[] {
    const pre = this.prefix();
    const out: (number | null)[] = [];
    for (let i = 0; i < this.rows; i++) for (let j = 0; j < this.cols; j++) out.push(numericAt(this.data, [...pre, i, j]));
    return out;
  }

  figure(): Figure {
    const vals = this.slice();
    const scale = scaleFor(
      vals.filter((v): v is number => v !== null),
      this.get('colors'),
    );
    const d = this.shape.length;
    const rowLabels = this.labels[d - 2];
    const colLabels = this.labels[d - 1];
    const cell = Math.max(1, Math.min(30, PLOT / Math.max(this.rows, this.cols)));
    const showLabels = cell >= 9;
    const rowLabelW = showLabels && rowLabels ? 100 : 40;
    const colLabelH = showLabels && colLabels ? 80 : 20;
    const left = rowLabelW + 18;
    const top = 34 + colLabelH;
    this.geometry = { left, top, cell };
    const W = this.cols * cell;
    const H = this.rows * cell;
    const rgba = new Uint8ClampedArray(this.rows * this.cols * 4);
    vals.forEach((v, k) => {
      if (v === null) return;
      const c = lutIndex(scale.t(v)) * 3;
      rgba.set([scale.map.lut[c], scale.map.lut[c + 1], scale.map.lut[c + 2], 255], 4 * k);
    });
    const pre = this.prefix();
    const sliceName = pre
      .map((i, k) => `${this.axisNames[k] ?? `index ${k}`} ${this.labels[k]?.[i] ?? i}`)
      .join(', ');
    const fontSize = Math.max(8, Math.min(11, cell * 0.8));
    const title = sliceName ? `${this.title} (${sliceName})` : this.title;
    return {
      width: Math.max(left + W + 20 + COLORBAR_WIDTH, titleWidth(title)),
      height: top + Math.max(H, 80) + 24 + (this.valueName ? 18 : 0),
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        p.group('matrix', { rows: this.rows, cols: this.cols }, () => {
          p.cells(left, top, cell, cell, { width: this.cols, height: this.rows, rgba }, { cls: 'cell' }, (i, j) => ({
            row: i,
            col: j,
            value: vals[i * this.cols + j] ?? '',
          }));
        });
        p.rect(left, top, W, H, { stroke: '#999', lineWidth: 0.5 });
        const ra = this.axisNames[d - 2];
        const ca = this.axisNames[d - 1];
        if (ra) p.text(12, top + H / 2, ra, { size: 11, anchor: 'middle', color: '#555', rotate: -90, cls: 'y-axis-title' });
        if (ca) p.text(left + W / 2, top + H + 16, ca, { size: 11, anchor: 'middle', color: '#555', cls: 'x-axis-title' });
        if (showLabels) {
          for (let i = 0; i < this.rows; i++) {
            p.text(left - 4, top + (i + 0.5) * cell, fitLabel(rowLabels ? rowLabels[i] : String(i), rowLabelW, fontSize), {
              size: fontSize,
              anchor: 'end',
              baseline: 'middle',
              color: '#333',
            });
          }
          for (let j = 0; j < this.cols; j++) {
            p.text(left + (j + 0.5) * cell, top - 4, fitLabel(colLabels ? colLabels[j] : String(j), 76, fontSize), {
              size: fontSize,
              anchor: 'start',
              baseline: 'middle',
              color: '#333',
              rotate: colLabels ? -60 : 0,
            });
          }
        } else {
          const step = Math.max(1, Math.ceil(this.rows / 10));
          for (let i = 0; i < this.rows; i += step) {
            p.text(left - 4, top + (i + 0.5) * cell, String(i), { size: 10, anchor: 'end', baseline: 'middle', color: '#555' });
          }
          const cstep = Math.max(1, Math.ceil(this.cols / 10));
          for (let j = 0; j < this.cols; j += cstep) {
            p.text(left + (j + 0.5) * cell, top - 5, String(j), { size: 10, anchor: 'middle', color: '#555' });
          }
        }
        paintColorbar(p, left + W + 20, top, Math.max(H, 80), scale);
        if (this.valueName) {
          p.text(8, top + Math.max(H, 80) + 32, this.valueName, { size: 11, color: '#555', baseline: 'middle', cls: 'axis-title' });
        }
      },
    };
  }

  private hit(x: number, y: number): [number, number] | null {
    const { left, top, cell } = this.geometry;
    const j = Math.floor((x - left) / cell);
    const i = Math.floor((y - top) / cell);
    return i >= 0 && j >= 0 && i < this.rows && j < this.cols ? [i, j] : null;
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.hit(x, y);
    if (!at) return null;
    const d = this.shape.length;
    const v = numericAt(this.data, [...this.prefix(), at[0], at[1]]);
    const rl = this.labels[d - 2]?.[at[0]];
    const cl = this.labels[d - 1]?.[at[1]];
    return `${rl !== undefined ? `${rl} (${at[0]})` : `row ${at[0]}`} → ${cl !== undefined ? `${cl} (${at[1]})` : `column ${at[1]}`}: ${formatValue(v)}`;
  }
}
