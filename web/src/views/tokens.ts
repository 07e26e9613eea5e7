// Scores over the tokens of an input (saliency, rollout or flow from one output position): the
// text with each token shaded by its score. Several scores of one unit can be stacked, one row of
// tokens each on one colour scale (rollout beside raw attention), or picked one at a time.
import { attentionMap, divergingMap, lutIndex, type ValueScale } from '../render/color';
import { COLORBAR_WIDTH, fitLabel, formatValue, paintColorbar, paintTitle } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { overridden } from '../render/scale_override';
import { scaleFor } from './head_heatmap';
import { View, choice, type Figure } from './view';

export interface TokenExample {
  name?: string;
  tokens: string[];
  fields: Record<string, (number | null)[]>;
  highlight?: number; // a position to outline (the output position explained)
}

export interface TokensOptions {
  stack?: boolean; // open with every score shown (one row each); else the first
  range?: [number, number]; // fixed value range
  centred?: boolean; // signed scale centred on 0
  label?: string; // colour bar title (with the unit)
}

const LINE_W = 720;
const ROW = 28;
const PAD = 5;
const ALL = 'all';

interface Box {
  x: number;
  y: number;
  w: number;
  i: number;
  field: string;
}

export class TokensView extends View {
  private boxes: Box[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly examples: TokenExample[],
    private readonly fields: string[],
    private readonly options: TokensOptions = {},
  ) {
    super();
    this.defineExamplePicker(examples.map((e, i) => `${i + 1}: ${e.name ?? `${e.tokens.slice(0, 8).join(' ')}…`}`));
    const values = fields.length > 1 ? [...fields, ALL] : fields;
    const labels = fields.length > 1 ? [...fields, 'all, one row each'] : fields;
    this.define({
      name: 'field',
      label: 'score',
      type: 'choice',
      options: choice(values, labels),
      initial: options.stack && fields.length > 1 ? ALL : fields[0],
    });
    this.define({
      name: 'colors',
      label: 'colour',
      type: 'choice',
      options: choice(['auto', 'sequential', 'diverging']),
      initial: 'auto',
    });
  }

  private example(): TokenExample {
    return this.examples[this.param('index') ? this.getInt('index') : 0];
  }

  private shownFields(): string[] {
    const f = this.get('field');
    return f === ALL ? this.fields : [f];
  }

  // One scale for every row shown: fixed, centred on 0, or from 0 to the largest value (shares and
  // other non-negative scores), so a pale token means little, not "the smallest of this input".
  private scale(values: number[]): ValueScale {
    const colors = this.get('colors');
    if (colors !== 'auto') return scaleFor(values, colors);
    const { range, centred } = this.options;
    if (range) {
      const [lo, hi] = range;
      return overridden({ map: lo < 0 ? divergingMap : attentionMap, lo, hi, t: (v) => (v - lo) / (hi - lo) });
    }
    const negative = values.some((v) => v < 0);
    if (centred || negative) return scaleFor(values, 'diverging');
    const hi = Math.max(0, ...values) || 1;
    return overridden({ map: attentionMap, lo: 0, hi, t: (v) => v / hi });
  }

  figure(): Figure {
    const ex = this.example();
    const shown = this.shownFields();
    const all: number[] = [];
    for (const f of shown) for (const v of ex.fields[f] ?? []) if (v !== null && Number.isFinite(v)) all.push(v);
    const scale = this.scale(all);
    const labelled = shown.length > 1;
    // The colour's meaning under the title (a colour bar's own title has room for a word or two).
    const axis = this.options.label;
    const lines = [ex.name, axis].filter((l): l is string => !!l);
    const top = 36 + 18 * lines.length;
    let y = top;
    this.boxes = [];
    const rowLabels: { y: number; text: string }[] = [];
    for (const field of shown) {
      if (labelled) {
        rowLabels.push({ y, text: field });
        y += 18;
      }
      let x = 8;
      ex.tokens.forEach((t, i) => {
        const w = textWidth(t, { size: 13 }) + 2 * PAD;
        if (x + w > LINE_W && x > 8) {
          x = 8;
          y += ROW;
        }
        this.boxes.push({ x, y, w, i, field });
        x += w + 3;
      });
      y += ROW + (labelled ? 6 : 0);
    }
    const barH = Math.max(80, Math.min(240, y - top));
    const title = this.title.replace(/\{field\}/g, shown.join(', '));
    const width = LINE_W + 24 + COLORBAR_WIDTH;
    return {
      width,
      height: Math.max(y, top + barH) + 16,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title, width - 16);
        lines.forEach((l, k) =>
          p.text(8, 28 + 18 * k, fitLabel(l, width - 16, 12), { size: 12, color: k === 0 && ex.name ? '#222' : '#555', baseline: 'top', cls: k === 0 && ex.name ? 'subtitle' : 'axis-title' }),
        );
        for (const r of rowLabels) p.text(8, r.y + 6, r.text, { size: 11, weight: 'bold', color: '#333', baseline: 'middle' });
        p.group('tokens', { field: shown.join(','), count: ex.tokens.length }, () => {
          for (const b of this.boxes) {
            const v = ex.fields[b.field]?.[b.i];
            let fill = '#ffffff';
            let dark = false;
            if (v !== null && v !== undefined && Number.isFinite(v)) {
              const t = scale.t(v);
              const c = lutIndex(t) * 3;
              fill = `rgb(${scale.map.lut[c]},${scale.map.lut[c + 1]},${scale.map.lut[c + 2]})`;
              dark = scale.map.name === 'diverging' ? Math.abs(t - 0.5) > 0.32 : t > 0.55;
            }
            const outlined = ex.highlight === b.i;
            p.rect(b.x, b.y, b.w, ROW - 6, {
              fill,
              stroke: outlined ? '#d62728' : '#ccc',
              lineWidth: outlined ? 2 : 0.5,
              cls: 'token',
              data: { index: b.i, token: ex.tokens[b.i], field: b.field, value: v ?? '' },
            });
            p.text(b.x + PAD, b.y + (ROW - 6) / 2, ex.tokens[b.i], {
              size: 13,
              baseline: 'middle',
              color: dark ? '#fff' : '#111',
            });
          }
        });
        paintColorbar(p, LINE_W + 24, top, barH, scale, axis ? undefined : shown.join(', '));
      },
    };
  }

  override tooltip(x: number, y: number): string | null {
    const b = this.boxes.find((q) => x >= q.x && x <= q.x + q.w && y >= q.y && y <= q.y + ROW - 6);
    if (!b) return null;
    const ex = this.example();
    return `${ex.tokens[b.i]} (position ${b.i}), ${b.field}: ${formatValue(ex.fields[b.field]?.[b.i])}`;
  }

  override describe(): Record<string, string | number> {
    return { tokens: this.example().tokens.length, rows: this.shownFields().length };
  }
}
