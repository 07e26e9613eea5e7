// Influence patterns (Lu et al., 2021) and other paths through the network, drawn across
// layers: x is the layer (0 = embeddings), y the token position; each path is a polyline
// through its nodes. An edge is dashed when it goes through the skip connection and labelled
// with the head when it goes through one.
import { categoryColor } from '../render/color';
import { fitLabel, formatValue, paintTitle, titleWidth } from '../render/guides';
import type { Painter } from '../render/painter';
import { View, type Figure } from './view';

export interface PathNode {
  layer: number;
  position: number;
  via?: string; // how this node was reached: "skip", "attention", "head", "ffn", ...
  head?: number;
}

export interface InfluencePath {
  nodes: PathNode[];
  score?: number;
  label?: string;
}

export interface PathExample {
  name?: string;
  tokens: string[];
  paths: InfluencePath[];
  layers?: number;
}

const ROW = 20;
const COL = 64;
const LABEL_W = 110;

export class PathsView extends View {
  private placed: { x: number; y: number; text: string }[] = [];

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly examples: PathExample[],
  ) {
    super();
    this.defineExamplePicker(examples.map((e, i) => `${i}${e.name ? `: ${e.name}` : ''}`));
    const most = Math.max(...examples.map((e) => e.paths.length));
    this.define({ name: 'top', label: 'paths shown', type: 'int', min: 1, max: Math.max(1, most), initial: String(Math.max(1, most)) });
  }

  private example(): PathExample {
    return this.examples[this.param('index') ? this.getInt('index') : 0];
  }

  // The `top` paths by |score| (all when scores are absent), in their original order.
  private shown(): { path: InfluencePath; index: number }[] {
    const ex = this.example();
    const all = ex.paths.map((path, index) => ({ path, index }));
    const top = this.getInt('top');
    if (top >= all.length) return all;
    return [...all]
      .sort((a, b) => Math.abs(b.path.score ?? 0) - Math.abs(a.path.score ?? 0))
      .slice(0, top)
      .sort((a, b) => a.index - b.index);
  }

  figure(): Figure {
    const ex = this.example();
    const shown = this.shown();
    let layers = ex.layers ?? 0;
    for (const { path } of shown) for (const n of path.nodes) layers = Math.max(layers, n.layer);
    const top = 54;
    const left = LABEL_W + 16;
    const x = (l: number) => left + l * COL;
    const y = (pos: number) => top + (pos + 0.5) * ROW;
    const maxScore = Math.max(1e-12, ...shown.map(({ path }) => Math.abs(path.score ?? 0)));
    const hasScores = shown.some(({ path }) => path.score !== undefined);
    this.placed = [];
    const title = `${this.title}${ex.name ? `: ${ex.name}` : ''} (${shown.length} of ${ex.paths.length} paths)`;
    return {
      width: Math.max(left + layers * COL + 60, titleWidth(title)),
      height: top + ex.tokens.length * ROW + 30,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, title);
        for (let l = 0; l <= layers; l++) {
          p.line(x(l), top - 6, x(l), top + ex.tokens.length * ROW, { stroke: '#eee' });
          p.text(x(l), top - 12, l === 0 ? 'emb' : String(l), { size: 10, anchor: 'middle', color: '#555' });
        }
        p.text(left + (layers * COL) / 2, 30, 'layer (0 = embeddings)', { size: 11, anchor: 'middle', color: '#555' });
        ex.tokens.forEach((t, i) => {
          p.text(left - 10, y(i), fitLabel(t, LABEL_W, 11), { size: 11, anchor: 'end', baseline: 'middle', color: '#222' });
          p.line(left - 4, y(i), x(layers) + 4, y(i), { stroke: '#f4f4f4' });
        });
        for (const { path, index } of shown) {
          const color = categoryColor(index);
          const w = hasScores ? 1 + (3 * Math.abs(path.score ?? 0)) / maxScore : 2;
          const data: Record<string, string | number> = { index, nodes: path.nodes.length };
          if (path.score !== undefined) data.score = path.score;
          if (path.label) data.label = path.label;
          p.group('influence-path', data, () => {
            for (let k = 1; k < path.nodes.length; k++) {
              const a = path.nodes[k - 1];
              const b = path.nodes[k];
              const skip = (b.via ?? '').toLowerCase() === 'skip';
              p.path(`M${x(a.layer)} ${y(a.position)}L${x(b.layer)} ${y(b.position)}`, {
                stroke: color,
                lineWidth: w,
                dash: skip ? [4, 3] : undefined,
                opacity: 0.85,
                cls: 'edge',
                data: { via: b.via ?? '' },
              });
              if (b.head !== undefined) {
                p.text((x(a.layer) + x(b.layer)) / 2, (y(a.position) + y(b.position)) / 2 - 4, `h${b.head}`, {
                  size: 9,
                  anchor: 'middle',
                  color,
                });
              }
            }
            for (const n of path.nodes) {
              p.circle(x(n.layer), y(n.position), 3.5, {
                fill: color,
                stroke: '#fff',
                lineWidth: 0.8,
                cls: 'node',
                data: { layer: n.layer, position: n.position },
              });
              this.placed.push({
                x: x(n.layer),
                y: y(n.position),
                text: `path ${index}${path.label ? ` (${path.label})` : ''}${path.score !== undefined ? `, score ${formatValue(path.score)}` : ''}: layer ${n.layer}, ${ex.tokens[n.position] ?? '?'} (${n.position})${n.via ? ` via ${n.via}` : ''}${n.head !== undefined ? ` head ${n.head}` : ''}`,
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
      if (d <= 6 && (!best || d < best.d)) best = { d, text: q.text };
    }
    return best?.text ?? null;
  }
}
