// The neuron view, as bertviz's: how one head's attention from a chosen query token comes about.
// For the query q_i and every key k_j of head (layer, head): the vectors themselves, their
// elementwise product q_i ∘ k_j, its sum divided by sqrt(d) (the score) and the softmax of the
// scores over the keys, which is the attention row when the model's scores are q·k/sqrt(d)
// alone (BERT, RoBERTa, ALBERT, ELECTRA, DistilBERT). The figure says how far the softmax is from
// the attention the model applied, so a model whose scores have other terms (DeBERTa's relative
// positions, local attention windows) is not misread.
import type { AttentionSet, HeadVectors } from '../data/attention';
import { divergingMap, lutIndex, type ValueScale } from '../render/color';
import { COLORBAR_WIDTH, fitLabel, formatValue, paintColorbar, paintTitle } from '../render/guides';
import { textWidth, type Painter, type Raster } from '../render/painter';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';

const ROW_MAX = 18;
const PLOT_MAX = 800; // as the line view: rows shrink, the canvas stays on the screen
const LABEL_ROW = 11;
const MARGIN = 12;
const TOP = 64;
const BLOCK_GAP = 14;
const BAR_W = 80;
// Softmax and attention agree to float16 rounding (2^-11 relative, weights <= 1) when the
// scores are q·k/sqrt(d): a larger difference means the model's scores have other terms.
const AGREEMENT = 2e-3;

interface Row {
  product: Float32Array; // q ∘ k_j, [T x d]
  score: Float32Array; // q·k_j / sqrt(d)
  softmax: Float32Array;
  attention: Float32Array; // the model's row
  maxDiff: number;
}

interface Layout {
  labelW: number;
  row: number;
  font: number;
  every: number;
  cell: number;
  xq: number; // query vector block
  xk: number; // key vectors
  xp: number; // products
  xs: number; // score bars (centred)
  xw: number; // softmax bars
  xl: number; // key labels
  xbar: number; // colour bars
  width: number;
  height: number;
}

// Diverging scale symmetric about 0 up to the largest |value| (1 when all are 0).
function symmetric(values: Float32Array): ValueScale {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  m = m || 1;
  return { map: divergingMap, lo: -m, hi: m, t: (v) => (v + m) / (2 * m) };
}

function raster(values: Float32Array, rows: number, cols: number, scale: ValueScale): Raster {
  const rgba = new Uint8ClampedArray(rows * cols * 4);
  const lut = scale.map.lut;
  for (let k = 0; k < rows * cols; k++) {
    const c = lutIndex(scale.t(values[k])) * 3;
    rgba[4 * k] = lut[c];
    rgba[4 * k + 1] = lut[c + 1];
    rgba[4 * k + 2] = lut[c + 2];
    rgba[4 * k + 3] = 255;
  }
  return { width: cols, height: rows, rgba };
}

export class NeuronView extends View {
  readonly id = 'neuron';
  readonly title = 'Query and key vectors';
  override caption =
    'One head, one query token (click a token on the left): its query vector q, every key vector k, their elementwise product q ∘ k (blue negative, red positive), the score q·k/√d and its softmax over the keys, which is the attention row.';
  private hovered = -1;
  private rowCache: { key: string; row: Row } | null = null;

  constructor(
    private readonly attn: AttentionSet,
    private readonly vectors: HeadVectors,
  ) {
    super();
    const firstWord = attn.doc.sequence_ids.findIndex((s) => s === 0);
    this.define({ name: 'layer', label: 'layer', type: 'choice', options: choice(range(attn.layers)), initial: '0' });
    this.define({ name: 'head', label: 'head', type: 'choice', options: choice(range(attn.heads)), initial: '0' });
    this.define({
      name: 'query',
      label: 'query token',
      type: 'int',
      min: 0,
      max: attn.length - 1,
      initial: String(Math.max(0, firstWord)),
      interactive: true,
    });
  }

  private rows(): Row {
    const t = this.attn.length;
    const d = this.vectors.dim;
    const l = this.getInt('layer');
    const h = this.getInt('head');
    const i = this.getInt('query');
    const key = `${l}:${h}:${i}`;
    if (this.rowCache?.key === key) return this.rowCache.row;
    const q = this.vectors.queries(l, h).subarray(i * d, (i + 1) * d);
    const k = this.vectors.keys(l, h);
    const product = new Float32Array(t * d);
    const score = new Float32Array(t);
    const inv = 1 / Math.sqrt(d);
    let hi = -Infinity;
    for (let j = 0; j < t; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) {
        const x = q[c] * k[j * d + c];
        product[j * d + c] = x;
        s += x;
      }
      score[j] = s * inv;
      hi = Math.max(hi, score[j]);
    }
    const softmax = new Float32Array(t);
    let sum = 0;
    for (let j = 0; j < t; j++) sum += softmax[j] = Math.exp(score[j] - hi);
    const attention = this.attn.tokenHead(l, h).subarray(i * t, (i + 1) * t);
    let maxDiff = 0;
    for (let j = 0; j < t; j++) {
      softmax[j] /= sum;
      maxDiff = Math.max(maxDiff, Math.abs(softmax[j] - attention[j]));
    }
    const row = { product, score, softmax, attention, maxDiff };
    this.rowCache = { key, row };
    return row;
  }

  private layout(): Layout {
    const t = this.attn.length;
    const d = this.vectors.dim;
    const row = Math.min(ROW_MAX, PLOT_MAX / t);
    const font = Math.max(9, Math.min(12, row * 0.75));
    let labelW = 40;
    for (const tok of this.attn.doc.tokens) labelW = Math.max(labelW, textWidth(tok, { size: font }) + 10);
    labelW = Math.min(labelW, 140);
    const cell = Math.max(1, Math.min(8, Math.floor(192 / d)));
    const xq = MARGIN + labelW + 6;
    const xk = xq + d * cell + 2 * BLOCK_GAP;
    const xp = xk + d * cell + BLOCK_GAP;
    const xs = xp + d * cell + BLOCK_GAP;
    const xw = xs + BAR_W + BLOCK_GAP;
    const xl = xw + BAR_W + BLOCK_GAP;
    const xbar = xl + labelW + 10;
    return {
      labelW,
      row,
      font,
      every: Math.ceil(LABEL_ROW / row),
      cell,
      xq,
      xk,
      xp,
      xs,
      xw,
      xl,
      xbar,
      width: xbar + COLORBAR_WIDTH + 12,
      height: TOP + Math.max(t * row, 2 * 160 + 60) + 24,
    };
  }

  figure(): Figure {
    const t = this.attn.length;
    const d = this.vectors.dim;
    const l = this.getInt('layer');
    const h = this.getInt('head');
    const i = this.getInt('query');
    const tokens = this.attn.doc.tokens;
    const special = this.attn.doc.sequence_ids.map((s) => s < 0);
    const lay = this.layout();
    const { row, cell, every, font, labelW } = lay;
    const r = this.rows();
    const qk = new Float32Array(d + t * d);
    qk.set(this.vectors.queries(l, h).subarray(i * d, (i + 1) * d));
    qk.set(this.vectors.keys(l, h), d);
    const vecScale = symmetric(qk);
    const prodScale = symmetric(r.product);
    const qRaster = raster(qk.subarray(0, d), 1, d, vecScale);
    const kRaster = raster(qk.subarray(d), t, d, vecScale);
    const pRaster = raster(r.product, t, d, prodScale);
    let maxAbsScore = 0;
    for (let j = 0; j < t; j++) maxAbsScore = Math.max(maxAbsScore, Math.abs(r.score[j]));
    maxAbsScore = maxAbsScore || 1;
    const agrees = r.maxDiff <= AGREEMENT;
    const check = agrees
      ? `softmax(q·k/√${d}) is the attention row (largest difference ${formatValue(r.maxDiff)})`
      : `softmax(q·k/√${d}) differs from the attention row by up to ${formatValue(r.maxDiff)}: this model's scores have more than q·k (positions, windows); the bars show q·k alone`;
    const y = (j: number) => TOP + j * row;
    const hovered = this.hovered;
    return {
      width: lay.width,
      height: lay.height,
      paint: (p: Painter) => {
        paintTitle(p, MARGIN, 6, `Layer ${l}, head ${h} (${headLabel(l, h)}): query "${tokens[i]}" (${i})`, lay.width - 2 * MARGIN);
        p.text(MARGIN, 26, fitLabel(check, lay.width - 2 * MARGIN, 11), {
          size: 11,
          baseline: 'top',
          color: agrees ? '#555' : '#b30000',
          cls: agrees ? 'softmax-check' : 'softmax-check mismatch',
        });
        const head = (x: number, s: string) => p.text(x, TOP - 8, s, { size: 11, color: '#555', weight: 'bold' });
        head(lay.xq, 'q');
        head(lay.xk, 'k');
        head(lay.xp, 'q ∘ k');
        head(lay.xs, 'q·k/√d');
        head(lay.xw, 'softmax');
        if (hovered >= 0) p.rect(MARGIN, y(hovered), lay.xl + labelW - MARGIN, row, { fill: '#f2f2f2' });
        // Tokens: queries on the left (the chosen one marked), keys on the right.
        for (let j = 0; j < t; j++) {
          const chosen = j === i;
          if (!chosen && j % every !== 0 && j !== hovered) continue;
          const yc = y(j) + row / 2;
          const size = chosen ? Math.max(font, 11) : font;
          if (chosen) {
            const w = textWidth(tokens[j], { size }) + 6;
            const hh = Math.max(row, size + 4);
            p.rect(MARGIN + labelW - w, yc - hh / 2, w, hh, { fill: '#fdd0a2', cls: 'focus' });
          }
          const color = special[j] ? '#888' : '#222';
          p.text(MARGIN + labelW - 3, yc, fitLabel(tokens[j], labelW - 6, size), { size, anchor: 'end', baseline: 'middle', color, cls: 'token query' });
          p.text(lay.xl, yc, fitLabel(tokens[j], labelW - 6, font), { size: font, baseline: 'middle', color, cls: 'token key' });
        }
        p.group('query-vector', { token: i, dim: d }, () => {
          const qy = y(i) + row / 2 - Math.max(row, 8) / 2;
          p.cells(lay.xq, qy, cell, Math.max(row, 8), qRaster, { cls: 'cell' }, (_r, c) => ({ dim: c, value: formatValue(qk[c]) }));
          p.rect(lay.xq, qy, d * cell, Math.max(row, 8), { stroke: '#444', lineWidth: 0.5 });
          // q is compared with every key: an arrow from it to the key block.
          p.line(lay.xq + d * cell + 4, y(i) + row / 2, lay.xk - 4, y(i) + row / 2, { stroke: '#999', lineWidth: 1 });
        });
        p.group('key-vectors', { rows: t, dim: d }, () => {
          p.cells(lay.xk, TOP, cell, row, kRaster, { cls: 'cell' }, (j, c) => ({ key: j, dim: c, value: formatValue(qk[d + j * d + c]) }));
        });
        p.group('products', { rows: t, dim: d }, () => {
          p.cells(lay.xp, TOP, cell, row, pRaster, { cls: 'cell' }, (j, c) => ({ key: j, dim: c, value: formatValue(r.product[j * d + c]) }));
        });
        const mid = lay.xs + BAR_W / 2;
        p.line(mid, TOP, mid, TOP + t * row, { stroke: '#bbb', lineWidth: 1 });
        const barH = Math.max(1, row - (row > 4 ? 2 : 0));
        for (let j = 0; j < t; j++) {
          const s = r.score[j];
          const w = ((BAR_W / 2) * Math.abs(s)) / maxAbsScore;
          const by = y(j) + (row - barH) / 2;
          p.rect(s < 0 ? mid - w : mid, by, w, barH, {
            fill: s < 0 ? '#4393c3' : '#d6604d',
            cls: 'score',
            data: { key: j, score: s.toPrecision(6) },
          });
          p.rect(lay.xw, by, BAR_W * r.softmax[j], barH, {
            fill: '#6a51a3',
            cls: 'softmax',
            data: { key: j, softmax: r.softmax[j].toPrecision(6), attention: r.attention[j].toPrecision(6) },
          });
          if (row >= LABEL_ROW && r.softmax[j] >= 0.005) {
            p.text(lay.xw + BAR_W * r.softmax[j] + 3, y(j) + row / 2, formatValue(r.softmax[j]), { size: 9, baseline: 'middle', color: '#555' });
          }
        }
        // Two colour bars stacked beside the key labels: the vectors', then the products'.
        const barHeight = Math.max(60, Math.min(160, (t * row - 50) / 2));
        paintColorbar(p, lay.xbar, TOP + 10, barHeight, vecScale, 'q, k');
        paintColorbar(p, lay.xbar, TOP + 50 + barHeight, barHeight, prodScale, 'q ∘ k');
      },
    };
  }

  private rowAt(y: number): number {
    const j = Math.floor((y - TOP) / this.layout().row);
    return j >= 0 && j < this.attn.length ? j : -1;
  }

  override pointer(e: PointerEvent2): boolean {
    const lay = this.layout();
    const j = e.type === 'leave' ? -1 : this.rowAt(e.y);
    if (e.type === 'click' && j >= 0 && e.x < MARGIN + lay.labelW + 4) {
      super.set('query', String(j));
      return true;
    }
    const next = e.x >= lay.xk - 4 && e.x < lay.xl + lay.labelW ? j : -1;
    if (next === this.hovered) return false;
    this.hovered = next;
    return true;
  }

  override tooltip(x: number, y: number): string | null {
    const lay = this.layout();
    const j = this.rowAt(y);
    if (j < 0) return null;
    const tokens = this.attn.doc.tokens;
    if (x < MARGIN + lay.labelW + 4) return `${tokens[j]} (${j}): click to show its query`;
    if (x < lay.xk - 4) return null;
    const r = this.rows();
    const d = this.vectors.dim;
    const dim = [lay.xk, lay.xp].map((x0) => Math.floor((x - x0) / lay.cell)).find((c) => c >= 0 && c < d);
    let at = '';
    if (dim !== undefined) {
      const l = this.getInt('layer');
      const h = this.getInt('head');
      const q = this.vectors.queries(l, h)[this.getInt('query') * d + dim];
      const k = this.vectors.keys(l, h)[j * d + dim];
      at = `; dimension ${dim}: q ${formatValue(q)} × k ${formatValue(k)} = ${formatValue(r.product[j * d + dim])}`;
    }
    return `key ${tokens[j]} (${j}): q·k/√${d} = ${formatValue(r.score[j])}, softmax ${formatValue(r.softmax[j])}, attention ${formatValue(r.attention[j])}${at}`;
  }

  override describe(): Record<string, string | number> {
    const lay = this.layout();
    return {
      layer: this.getInt('layer'),
      head: this.getInt('head'),
      query: this.getInt('query'),
      dim: this.vectors.dim,
      'softmax-max-diff': this.rows().maxDiff.toExponential(3),
      top: TOP,
      row: lay.row,
      margin: MARGIN,
      'label-width': lay.labelW,
    };
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
