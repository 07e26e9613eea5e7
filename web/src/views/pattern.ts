// Lu et al. (2021)'s influence patterns of one example, drawn over tokens x layers: each source
// token's path from its embedding (layer 0) to the target at the top, one position per layer; per
// block the skip connection (dashed) or one head (solid, labelled layer-head). Node area follows
// |influence| of the pattern refined up to that layer, node colour its sign.
import { categoryColor, divergingMap } from '../render/color';
import { fitLabel, formatValue, paintLegend, paintTitle } from '../render/guides';
import type { Painter } from '../render/painter';
import { View, choice, type Figure } from './view';

export interface PatternBlock {
  block: number;
  from: number;
  to: number;
  edge: 'skip' | 'head';
  head?: number;
  label?: string; // the head as the papers write it, 1-based "layer-head"
  influence: number; // the pattern's influence refined up to this block
}

export interface TokenPatternData {
  source: number;
  token: string;
  attribution: number; // the source token's attribution (its influence at layer 0)
  influence: number; // the final pattern's influence
  layers: PatternBlock[];
}

export interface PatternExample {
  name?: string;
  tokens: string[];
  target: number;
  patterns: TokenPatternData[];
}

const ROW = 20;
const COL = 72;
const LABEL_W = 120;
const ALL = 'all';

export class PatternView extends View {
  private placed: { x: number; y: number; text: string }[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly examples: PatternExample[],
    private readonly axis = 'influence',
    private readonly key = 'dashed: skip; solid: a head (layer-head); node area: |influence|; red raises the QoI, blue lowers it; node values:',
  ) {
    super();
    this.defineExamplePicker(examples.map((e, i) => `${i + 1}: ${e.name ?? e.tokens.join(' ')}`));
    const most = examples.reduce((m, e) => Math.max(m, e.tokens.length), 0);
    this.define({
      name: 'source',
      label: 'source token',
      type: 'choice',
      options: [{ value: ALL, label: 'all' }, ...choice(Array.from({ length: most }, (_, i) => i))],
      initial: ALL,
    });
  }

  private example(): PatternExample {
    return this.examples[this.param('index') ? this.getInt('index') : 0];
  }

  private shown(ex: PatternExample): TokenPatternData[] {
    const s = this.get('source');
    return s === ALL ? ex.patterns : ex.patterns.filter((p) => p.source === +s);
  }

  figure(): Figure {
    const ex = this.example();
    const shown = this.shown(ex);
    const layers = ex.patterns.reduce((m, p) => Math.max(m, p.layers.length), 0);
    const legend = shown.map((p) => ({
      label: `${p.token} (${p.source}): ${formatValue(p.influence)}`,
      color: categoryColor(ex.patterns.indexOf(p)),
    }));
    const plotW = LABEL_W + 16 + layers * COL + 40;
    const legendH = paintLegend(null, 8, 0, Math.max(plotW, 520) - 16, legend);
    const sub = ex.name ? 18 : 0;
    const top = 64 + sub + legendH;
    const left = LABEL_W + 16;
    const x = (l: number) => left + l * COL;
    const y = (pos: number) => top + (pos + 0.5) * ROW;
    // Node radius from |influence| against the largest shown, so one figure compares its paths.
    let most = 1e-12;
    for (const p of shown) {
      most = Math.max(most, Math.abs(p.attribution));
      for (const b of p.layers) most = Math.max(most, Math.abs(b.influence));
    }
    const radius = (v: number) => 2 + 6 * Math.sqrt(Math.abs(v) / most);
    const signColor = (v: number) => divergingMap.css(v > 0 ? 0.85 : v < 0 ? 0.15 : 0.5);
    const sources = new Set(ex.patterns.map((p) => p.source));
    this.placed = [];
    const title = this.title;
    return {
      width: Math.max(plotW, 520),
      height: top + ex.tokens.length * ROW + 44,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title, Math.max(plotW, 520) - 16);
        if (ex.name) p.text(8, 28, fitLabel(ex.name, Math.max(plotW, 520) - 16, 12), { size: 12, color: '#222', baseline: 'top', cls: 'subtitle' });
        paintLegend(p, 8, 28 + sub, Math.max(plotW, 520) - 16, legend);
        p.text(left + (layers * COL) / 2, top - 26, 'layer (0 = embeddings; the top is the target)', {
          size: 11,
          anchor: 'middle',
          color: '#555',
        });
        for (let l = 0; l <= layers; l++) {
          p.line(x(l), top - 6, x(l), top + ex.tokens.length * ROW, { stroke: '#eee' });
          p.text(x(l), top - 12, String(l), { size: 10, anchor: 'middle', color: '#555' });
        }
        ex.tokens.forEach((t, i) => {
          const target = i === ex.target;
          const label = `${target ? '▶ ' : ''}${t}`;
          p.text(left - 10, y(i), fitLabel(label, LABEL_W, 11), {
            size: 11,
            anchor: 'end',
            baseline: 'middle',
            color: target ? '#d62728' : sources.has(i) ? '#111' : '#888',
            weight: target ? 'bold' : 'normal',
          });
          p.line(left - 4, y(i), x(layers) + 4, y(i), { stroke: '#f4f4f4' });
        });
        p.circle(x(layers), y(ex.target), 9, { stroke: '#d62728', lineWidth: 1.5, cls: 'target' });
        p.text(
          8,
          top + ex.tokens.length * ROW + 18,
          this.key,
          { size: 10, color: '#555', baseline: 'middle', cls: 'key' },
        );
        p.text(8, top + ex.tokens.length * ROW + 32, this.axis, { size: 10, color: '#555', baseline: 'middle', cls: 'axis-title' });
        for (const pat of shown) {
          const k = ex.patterns.indexOf(pat);
          const color = categoryColor(k);
          p.group('influence-pattern', { source: pat.source, token: pat.token, influence: pat.influence }, () => {
            for (const b of pat.layers) {
              const skip = b.edge === 'skip';
              p.path(`M${x(b.block)} ${y(b.from)}L${x(b.block + 1)} ${y(b.to)}`, {
                stroke: color,
                lineWidth: 2,
                dash: skip ? [4, 3] : undefined,
                opacity: 0.85,
                cls: 'edge',
                data: { block: b.block, edge: b.edge, head: b.label ?? '' },
              });
              if (!skip && b.label) {
                p.text((x(b.block) + x(b.block + 1)) / 2, (y(b.from) + y(b.to)) / 2 - 5, b.label, {
                  size: 9,
                  anchor: 'middle',
                  color,
                  cls: 'head-label',
                });
              }
            }
            const nodes: { layer: number; position: number; value: number; via: string }[] = [
              { layer: 0, position: pat.source, value: pat.attribution, via: 'source' },
              ...pat.layers.map((b) => ({
                layer: b.block + 1,
                position: b.to,
                value: b.influence,
                via: b.edge === 'skip' ? 'skip' : `head ${b.label ?? b.head}`,
              })),
            ];
            for (const n of nodes) {
              p.circle(x(n.layer), y(n.position), radius(n.value), {
                fill: signColor(n.value),
                stroke: color,
                lineWidth: 1.2,
                cls: 'node',
                data: { layer: n.layer, position: n.position, influence: n.value },
              });
              this.placed.push({
                x: x(n.layer),
                y: y(n.position),
                text: `${pat.token} (${pat.source}) at layer ${n.layer}: ${ex.tokens[n.position] ?? '?'} (${n.position}) via ${n.via}; influence ${formatValue(n.value)}`,
              });
            }
          });
        }
      },
    };
  }

  override tooltip(x: number, y: number): string | null {
    let best: { d: number; text: string } | null = null;
    for (const q of this.placed) {
      const d = Math.hypot(q.x - x, q.y - y);
      if (d <= 8 && (!best || d < best.d)) best = { d, text: q.text };
    }
    return best?.text ?? null;
  }

  override describe(): Record<string, string | number> {
    const ex = this.example();
    return { patterns: this.shown(ex).length, tokens: ex.tokens.length };
  }
}
