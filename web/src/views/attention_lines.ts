// The token-to-token line view: queries on the left, keys on the right, one line per weight of
// each chosen head, as opaque as the weight. Hover a token to see only its attention (from it
// on the left, to it on the right), click to pin it; filters for sentence A/B and for
// [CLS]/[SEP]. Weights are shown as they are (no renormalisation when tokens are hidden).
import type { AttentionSet, AttentionView, Unit } from '../data/attention';
import { categoryColor } from '../render/color';
import { fitLabel, formatValue, paintLegend, paintTitle } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';

const ROW = 18;
const GAP = 240;
const MARGIN = 12;
const LEVELS = 16;

type Side = 'query' | 'key';

interface Links {
  // Per head: segments bucketed by opacity level, so the canvas strokes few paths.
  byHead: { head: number; buckets: { xy: number[]; meta: number[] }[] }[];
  count: number;
}

export class AttentionLinesView extends View {
  readonly id = 'lines';
  readonly title = 'Token to token';
  private layoutCache: {
    left: Unit[];
    right: Unit[];
    leftIdx: number[];
    rightIdx: number[];
    labelW: number;
    top: number;
  } | null = null;
  private lastLinks = 0;

  constructor(private readonly attn: AttentionSet) {
    super();
    this.define({ name: 'layer', label: 'layer', type: 'choice', options: choice(range(attn.layers)), initial: '0' });
    this.define({ name: 'heads', label: 'heads', type: 'list', min: 0, max: attn.heads - 1, initial: 'all' });
    this.define({ name: 'word-level', label: 'words', type: 'bool', initial: 'false' });
    this.define({ name: 'hide-special', label: 'hide [CLS]/[SEP]', type: 'bool', initial: 'false' });
    const pair = attn.doc.sequence_ids.some((s) => s === 1);
    this.define({
      name: 'segments',
      label: 'sentences',
      type: 'choice',
      options: pair
        ? choice(['all', 'a-a', 'a-b', 'b-a', 'b-b'], ['all', 'A → A', 'A → B', 'B → A', 'B → B'])
        : choice(['all']),
      initial: 'all',
    });
    this.define({ name: 'threshold', label: 'min weight', type: 'number', min: 0, max: 1, step: 0.01, initial: '0.01' });
    // Hover/click state: the focused unit (-1: none), on which side, and whether it is pinned.
    this.define({ name: 'focus', label: 'focused token', type: 'int', min: -1, initial: '-1', interactive: true });
    this.define({
      name: 'side',
      label: 'focus side',
      type: 'choice',
      options: choice(['query', 'key']),
      initial: 'query',
      interactive: true,
    });
    this.define({ name: 'pinned', label: 'pinned', type: 'bool', initial: 'false', interactive: true });
  }

  private view(): AttentionView {
    return this.attn.view(this.getBool('word-level'));
  }

  protected override changed(name: string): void {
    if (['word-level', 'hide-special', 'segments', 'heads'].includes(name)) {
      this.layoutCache = null;
      if (name === 'word-level') {
        super.set('focus', '-1');
        super.set('pinned', 'false');
      }
    }
  }

  // The units shown on each side, after the filters.
  private layout() {
    if (this.layoutCache) return this.layoutCache;
    const v = this.view();
    const hide = this.getBool('hide-special');
    const seg = this.get('segments');
    const qSeg = seg === 'all' ? -2 : seg[0] === 'a' ? 0 : 1;
    const kSeg = seg === 'all' ? -2 : seg[2] === 'a' ? 0 : 1;
    const keep = (u: Unit, s: number) => (!hide || !u.special) && (s === -2 || u.segment === s);
    const leftIdx: number[] = [];
    const rightIdx: number[] = [];
    v.units.forEach((u, i) => {
      if (keep(u, qSeg)) leftIdx.push(i);
      if (keep(u, kSeg)) rightIdx.push(i);
    });
    let labelW = 40;
    for (const u of v.units) labelW = Math.max(labelW, textWidth(u.label, { size: 12 }) + 10);
    labelW = Math.min(labelW, 150);
    const legendH = paintLegend(null, MARGIN, 0, 2 * labelW + GAP, this.legendItems());
    this.layoutCache = {
      left: leftIdx.map((i) => v.units[i]),
      right: rightIdx.map((i) => v.units[i]),
      leftIdx,
      rightIdx,
      labelW,
      top: 34 + legendH + 8,
    };
    return this.layoutCache;
  }

  private legendItems() {
    return this.getList('heads', this.attn.heads).map((h) => ({ label: `head ${h}`, color: categoryColor(h) }));
  }

  private links(): Links {
    const v = this.view();
    const n = v.n;
    const lay = this.layout();
    const { leftIdx, rightIdx, labelW, top } = lay;
    const layer = this.getInt('layer');
    const threshold = this.getNumber('threshold');
    const focus = this.getInt('focus');
    const side = this.get('side') as Side;
    const x1 = MARGIN + labelW + 4;
    const x2 = MARGIN + labelW + GAP - 4;
    const rowOfLeft = new Map(leftIdx.map((u, r) => [u, r]));
    const rowOfRight = new Map(rightIdx.map((u, r) => [u, r]));
    const qs = focus >= 0 && side === 'query' ? (rowOfLeft.has(focus) ? [focus] : []) : leftIdx;
    const ks = focus >= 0 && side === 'key' ? (rowOfRight.has(focus) ? [focus] : []) : rightIdx;
    const out: Links = { byHead: [], count: 0 };
    for (const h of this.getList('heads', this.attn.heads)) {
      const m = v.head(layer, h);
      const buckets = Array.from({ length: LEVELS }, () => ({ xy: [] as number[], meta: [] as number[] }));
      for (const i of qs) {
        const yq = top + (rowOfLeft.get(i)! + 0.5) * ROW;
        const row = i * n;
        for (const j of ks) {
          const w = m[row + j];
          if (!(w >= threshold) || w <= 0) continue;
          const b = buckets[Math.min(LEVELS - 1, Math.floor(Math.min(1, w) * LEVELS))];
          b.xy.push(x1, yq, x2, top + (rowOfRight.get(j)! + 0.5) * ROW);
          b.meta.push(i, j, w);
          out.count++;
        }
      }
      out.byHead.push({ head: h, buckets });
    }
    return out;
  }

  figure(): Figure {
    const lay = this.layout();
    const { left, right, leftIdx, rightIdx, labelW, top } = lay;
    const links = this.links();
    this.lastLinks = links.count;
    const layer = this.getInt('layer');
    const focus = this.getInt('focus');
    const side = this.get('side') as Side;
    const pinned = this.getBool('pinned');
    const width = 2 * MARGIN + 2 * labelW + GAP;
    const height = top + Math.max(left.length, right.length) * ROW + 10;
    const xl = MARGIN + labelW;
    const xr = MARGIN + labelW + GAP;
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, MARGIN, 6, `Layer ${layer}: ${links.count} links${focus >= 0 ? ` of ${side} ${focus}` : ''}`);
        paintLegend(p, MARGIN, 30, 2 * labelW + GAP, this.legendItems());
        p.group('links', { layer, count: links.count }, () => {
          for (const { head, buckets } of links.byHead) {
            buckets.forEach((b, level) => {
              if (!b.meta.length) return;
              p.segments(
                b.xy,
                b.meta.length / 3,
                {
                  stroke: categoryColor(head),
                  lineWidth: 1.5,
                  opacity: (level + 1) / LEVELS,
                  cls: 'link',
                },
                (k) => ({
                  head,
                  label: headLabel(layer, head),
                  q: b.meta[3 * k],
                  k: b.meta[3 * k + 1],
                  w: formatValue(b.meta[3 * k + 2]),
                }),
              );
            });
          }
        });
        const drawSide = (units: Unit[], idx: number[], x: number, anchor: 'start' | 'end', s: Side) => {
          units.forEach((u, r) => {
            const y = top + (r + 0.5) * ROW;
            const focused = focus === idx[r] && side === s;
            if (focused) {
              const w = textWidth(u.label, { size: 12 }) + 6;
              p.rect(anchor === 'end' ? x - 4 - w : x + 4 - 3, y - ROW / 2 + 1, w, ROW - 2, {
                fill: pinned ? '#fdd0a2' : '#fee6ce',
                cls: 'focus',
              });
            }
            p.text(anchor === 'end' ? x - 4 : x + 4, y, fitLabel(u.label, labelW - 8, 12), {
              size: 12,
              anchor,
              baseline: 'middle',
              color: u.special ? '#888' : u.segment === 1 ? '#08519c' : '#222',
              cls: `token ${s}`,
            });
          });
        };
        drawSide(left, leftIdx, xl, 'end', 'query');
        drawSide(right, rightIdx, xr, 'start', 'key');
      },
    };
  }

  // Which token label is at (x, y): its unit index and side.
  private hit(x: number, y: number): { unit: number; side: Side } | null {
    const { leftIdx, rightIdx, labelW, top } = this.layout();
    const r = Math.floor((y - top) / ROW);
    if (r < 0) return null;
    if (x >= MARGIN - 4 && x <= MARGIN + labelW + 8 && r < leftIdx.length) return { unit: leftIdx[r], side: 'query' };
    const xr = MARGIN + labelW + GAP;
    if (x >= xr - 8 && x <= xr + labelW + 4 && r < rightIdx.length) return { unit: rightIdx[r], side: 'key' };
    return null;
  }

  override pointer(e: PointerEvent2): boolean {
    const before = `${this.get('focus')}:${this.get('side')}:${this.get('pinned')}`;
    const at = e.type === 'leave' ? null : this.hit(e.x, e.y);
    if (e.type === 'click') {
      if (at && !(this.getBool('pinned') && this.getInt('focus') === at.unit && this.get('side') === at.side)) {
        super.set('focus', String(at.unit));
        super.set('side', at.side);
        super.set('pinned', 'true');
      } else {
        super.set('pinned', 'false');
        super.set('focus', at ? String(at.unit) : '-1');
        if (at) super.set('side', at.side);
      }
    } else if ((e.type === 'move' || e.type === 'leave') && !this.getBool('pinned')) {
      super.set('focus', at ? String(at.unit) : '-1');
      if (at) super.set('side', at.side);
    }
    return before !== `${this.get('focus')}:${this.get('side')}:${this.get('pinned')}`;
  }

  override tooltip(x: number, y: number): string | null {
    const at = this.hit(x, y);
    if (!at) return null;
    const u = this.view().units[at.unit];
    const pinned = this.getBool('pinned') && this.getInt('focus') === at.unit;
    return `${u.label} (${at.unit}), ${at.side === 'query' ? 'attending' : 'attended to'}; click to ${pinned ? 'unpin' : 'pin'}`;
  }

  override describe(): Record<string, string | number> {
    const lay = this.layout();
    return {
      links: this.lastLinks,
      focus: this.getInt('focus'),
      side: this.get('side'),
      pinned: String(this.getBool('pinned')),
      'label-width': lay.labelW,
      top: lay.top,
      row: ROW,
      margin: MARGIN,
      gap: GAP,
    };
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
