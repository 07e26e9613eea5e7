// Scores over the tokens of an input (saliency, rollout or flow to [CLS], importance): the text
// with each token shaded by its score.
import { lutIndex } from '../render/color';
import { COLORBAR_WIDTH, formatValue, paintColorbar, paintTitle } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { scaleFor } from './head_heatmap';
import { View, choice, type Figure } from './view';

export interface TokenExample {
  name?: string;
  tokens: string[];
  fields: Record<string, (number | null)[]>;
}

const LINE_W = 720;
const ROW = 28;
const PAD = 5;

export class TokensView extends View {
  private boxes: { x: number; y: number; w: number; i: number }[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly examples: TokenExample[],
    fields: string[],
  ) {
    super();
    if (examples.length > 1) {
      this.define({
        name: 'index',
        label: 'example',
        type: 'choice',
        options: choice(
          examples.map((_, i) => i),
          examples.map((e, i) => `${i}${e.name ? `: ${e.name}` : `: ${e.tokens.slice(0, 6).join(' ')}…`}`),
        ),
        initial: '0',
      });
    }
    this.define({ name: 'field', label: 'score', type: 'choice', options: choice(fields), initial: fields[0] });
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

  figure(): Figure {
    const ex = this.example();
    const field = this.get('field');
    const values = ex.fields[field] ?? [];
    const scale = scaleFor(
      values.filter((v): v is number => v !== null),
      this.get('colors'),
    );
    const top = 36;
    let x = 8;
    let y = top;
    this.boxes = [];
    ex.tokens.forEach((t, i) => {
      const w = textWidth(t, { size: 13 }) + 2 * PAD;
      if (x + w > LINE_W && x > 8) {
        x = 8;
        y += ROW;
      }
      this.boxes.push({ x, y, w, i });
      x += w + 3;
    });
    const textBottom = y + ROW;
    const barH = Math.max(80, textBottom - top);
    return {
      width: LINE_W + 24 + COLORBAR_WIDTH,
      height: top + barH + 16,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, `${this.title.replace(/\{field\}/g, field)}${ex.name ? `: ${ex.name}` : ''}`);
        p.group('tokens', { field, count: ex.tokens.length }, () => {
          for (const b of this.boxes) {
            const v = values[b.i];
            let fill = '#ffffff';
            let dark = false;
            if (v !== null && v !== undefined) {
              const t = scale.t(v);
              const c = lutIndex(t) * 3;
              fill = `rgb(${scale.map.lut[c]},${scale.map.lut[c + 1]},${scale.map.lut[c + 2]})`;
              dark = scale.map.name === 'diverging' ? Math.abs(t - 0.5) > 0.32 : t < 0.45;
            }
            p.rect(b.x, b.y, b.w, ROW - 6, {
              fill,
              stroke: '#ccc',
              lineWidth: 0.5,
              cls: 'token',
              data: { index: b.i, token: ex.tokens[b.i], value: v ?? '' },
            });
            p.text(b.x + PAD, b.y + (ROW - 6) / 2, ex.tokens[b.i], {
              size: 13,
              baseline: 'middle',
              color: dark ? '#fff' : '#111',
            });
          }
        });
        paintColorbar(p, LINE_W + 24, top, barH, scale, field);
      },
    };
  }

  override tooltip(x: number, y: number): string | null {
    const b = this.boxes.find((q) => x >= q.x && x <= q.x + q.w && y >= q.y && y <= q.y + ROW - 6);
    if (!b) return null;
    const ex = this.example();
    return `${ex.tokens[b.i]} (${b.i}): ${formatValue(ex.fields[this.get('field')]?.[b.i])}`;
  }
}
