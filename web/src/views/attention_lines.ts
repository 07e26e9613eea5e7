// The token-to-token line view: queries on the left, keys on the right, one line per weight of
// each chosen head, as opaque as the weight. Hover a token to see only its attention (from it
// on the left, to it on the right), click to pin it; hover a line for its weight; click a head
// in the legend to switch it on or off, double-click to show it alone. Filters for sentence A/B
// and for [CLS]/[SEP]. Weights are shown as they are (no renormalisation when tokens are hidden);
// those under the minimum weight are counted in a notice.
import type { AttentionSet, AttentionView, Unit } from '../data/attention';
import { headColor } from '../render/color';
import { fitLabel, formatValue, paintTitle } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { View, choice, headLabel, type Figure, type PointerEvent2 } from './view';

const ROW_MAX = 18;
// The token columns never get taller than this: 512 tokens at 18 px would be a 9,000 px canvas
// that takes seconds to paint and cannot be seen at once. Rows shrink instead, and labels are
// written for every k-th token (the focused one always).
const PLOT_MAX = 800;
const LABEL_ROW = 11;
// The space the lines cross; wider when the labels are short, so the title and notice fit.
const GAP = 240;
const MIN_WIDTH = 480;
const MARGIN = 12;
const LEVELS = 16;
const LEGEND_TOP = 44;
const LEGEND_ROW = 16;
// How close (px) the pointer must be to a line to show its weight.
const HOVER_PX = 4;

type Side = 'query' | 'key';

// The minimum weight a line needs to be drawn. At a fixed minimum the lines grow with T^2 on
// flat heads, so longer inputs get a higher one: a few lines per token and head remain.
export function defaultLineThreshold(tokens: number): number {
  if (tokens <= 64) return 0.01;
  if (tokens <= 128) return 0.02;
  if (tokens <= 256) return 0.05;
  return 0.1;
}

interface Links {
  key: string;
  // Per head: segments bucketed by opacity level, so the canvas strokes few paths.
  byHead: { head: number; buckets: { xy: number[]; meta: number[] }[] }[];
  count: number;
  hidden: number; // weights under the minimum (or 0) among the shown pairs
  hiddenMass: number; // their sum
  mass: number; // sum of every shown pair's weight
}

interface LegendBox {
  head: number;
  x: number;
  y: number;
  w: number;
}

interface Layout {
  left: Unit[];
  right: Unit[];
  leftIdx: number[];
  rightIdx: number[];
  labelW: number;
  gap: number;
  legend: LegendBox[];
  top: number;
  row: number;
  every: number; // a label for every k-th row
  font: number;
}

interface HoveredLink {
  head: number;
  q: number;
  k: number;
  w: number;
  xy: [number, number, number, number];
}

export class AttentionLinesView extends View {
  readonly id = 'lines';
  readonly title = 'Token to token';
  private layoutCache: Layout | null = null;
  private linkCache: Links | null = null;
  private hovered: HoveredLink | null = null;
  private version = 0;

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
    this.define({
      name: 'threshold',
      label: 'min weight',
      type: 'number',
      min: 0,
      max: 1,
      step: 0.01,
      initial: String(defaultLineThreshold(attn.length)),
    });
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
    this.hovered = null;
  }

  // Changes when the legend switches heads, so the page re-reads the heads control.
  override paramsVersion(): number {
    return this.version;
  }

  private shownHeads(): number[] {
    return this.getList('heads', this.attn.heads);
  }

  // The units shown on each side, after the filters, and where everything goes.
  private layout(): Layout {
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
    const rows = Math.max(1, leftIdx.length, rightIdx.length);
    const row = Math.min(ROW_MAX, PLOT_MAX / rows);
    const font = Math.max(9, Math.min(12, row * 0.75));
    let labelW = 40;
    for (const u of v.units) labelW = Math.max(labelW, textWidth(u.label, { size: font }) + 10);
    labelW = Math.min(labelW, 150);
    const gap = Math.max(GAP, MIN_WIDTH - 2 * MARGIN - 2 * labelW);
    // The legend lists every head (switched-off ones hollow), wrapping at the figure's width.
    const legend: LegendBox[] = [];
    const maxX = MARGIN + 2 * labelW + gap;
    let x = MARGIN;
    let y = LEGEND_TOP;
    for (let h = 0; h < this.attn.heads; h++) {
      const w = 14 + textWidth(`head ${h}`, { size: 11 }) + 12;
      if (x + w > maxX && x > MARGIN) {
        x = MARGIN;
        y += LEGEND_ROW;
      }
      legend.push({ head: h, x, y, w });
      x += w;
    }
    this.layoutCache = {
      left: leftIdx.map((i) => v.units[i]),
      right: rightIdx.map((i) => v.units[i]),
      leftIdx,
      rightIdx,
      labelW,
      gap,
      legend,
      top: y + LEGEND_ROW + 8,
      row,
      every: Math.ceil(LABEL_ROW / row),
      font,
    };
    return this.layoutCache;
  }

  private links(): Links {
    const v = this.view();
    const n = v.n;
    const lay = this.layout();
    const { leftIdx, rightIdx, labelW, gap, top, row } = lay;
    const layer = this.getInt('layer');
    const threshold = this.getNumber('threshold');
    const focus = this.getInt('focus');
    const side = this.get('side') as Side;
    const heads = this.shownHeads();
    const key = [v.wordLevel, layer, threshold, focus, side, heads.join(','), this.get('segments'), this.get('hide-special')].join(':');
    if (this.linkCache && this.linkCache.key === key) return this.linkCache;
    const x1 = MARGIN + labelW + 4;
    const x2 = MARGIN + labelW + gap - 4;
    const rowOfLeft = new Int32Array(n).fill(-1);
    const rowOfRight = new Int32Array(n).fill(-1);
    leftIdx.forEach((u, r) => (rowOfLeft[u] = r));
    rightIdx.forEach((u, r) => (rowOfRight[u] = r));
    const qs = focus >= 0 && side === 'query' ? (rowOfLeft[focus] >= 0 ? [focus] : []) : leftIdx;
    const ks = focus >= 0 && side === 'key' ? (rowOfRight[focus] >= 0 ? [focus] : []) : rightIdx;
    const out: Links = { key, byHead: [], count: 0, hidden: 0, hiddenMass: 0, mass: 0 };
    for (const h of heads) {
      const m = v.head(layer, h);
      const buckets = Array.from({ length: LEVELS }, () => ({ xy: [] as number[], meta: [] as number[] }));
      for (const i of qs) {
        const yq = top + (rowOfLeft[i] + 0.5) * row;
        const base = i * n;
        for (const j of ks) {
          const w = m[base + j];
          if (w > 0) out.mass += w;
          if (!(w >= threshold && w > 0)) {
            out.hidden++;
            if (w > 0) out.hiddenMass += w;
            continue;
          }
          const b = buckets[Math.min(LEVELS - 1, Math.floor(Math.min(1, w) * LEVELS))];
          b.xy.push(x1, yq, x2, top + (rowOfRight[j] + 0.5) * row);
          b.meta.push(i, j, w);
          out.count++;
        }
      }
      out.byHead.push({ head: h, buckets });
    }
    this.linkCache = out;
    return out;
  }

  figure(): Figure {
    const lay = this.layout();
    const { left, right, leftIdx, rightIdx, labelW, gap, top, row, every, font } = lay;
    const links = this.links();
    const layer = this.getInt('layer');
    const focus = this.getInt('focus');
    const side = this.get('side') as Side;
    const pinned = this.getBool('pinned');
    const threshold = this.getNumber('threshold');
    const shown = new Set(this.shownHeads());
    const width = 2 * MARGIN + 2 * labelW + gap;
    const height = top + Math.max(left.length, right.length) * row + 10;
    const xl = MARGIN + labelW;
    const xr = MARGIN + labelW + gap;
    const hovered = this.hovered;
    const notice =
      links.hidden > 0
        ? `${links.hidden.toLocaleString('en')} weights below ${formatValue(threshold)} hidden (${(
            (100 * links.hiddenMass) /
            links.mass
          ).toFixed(1)}% of the attention)`
        : `no weight below ${formatValue(threshold)}`;
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, MARGIN, 6, `Layer ${layer}: ${links.count} links${focus >= 0 ? ` of ${side} ${focus}` : ''}`, width - 2 * MARGIN);
        p.text(MARGIN, 26, fitLabel(notice, width - 2 * MARGIN, 11), { size: 11, baseline: 'top', color: '#666', cls: 'hidden-notice' });
        for (const b of lay.legend) {
          const on = shown.has(b.head);
          const color = headColor(b.head);
          p.rect(b.x, b.y + 3, 10, 10, on ? { fill: color, cls: 'legend-swatch' } : { stroke: color, lineWidth: 1.5, cls: 'legend-swatch off' });
          p.text(b.x + 14, b.y + 8, `head ${b.head}`, { size: 11, baseline: 'middle', color: on ? '#333' : '#aaa' });
        }
        p.group('links', { layer, count: links.count }, () => {
          for (const { head, buckets } of links.byHead) {
            buckets.forEach((b, level) => {
              if (!b.meta.length) return;
              p.segments(
                b.xy,
                b.meta.length / 3,
                {
                  stroke: headColor(head),
                  lineWidth: row < 4 ? 1 : 1.5,
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
        if (hovered) {
          const [x1, y1, x2, y2] = hovered.xy;
          p.line(x1, y1, x2, y2, { stroke: '#222', lineWidth: 3 });
          p.line(x1, y1, x2, y2, { stroke: headColor(hovered.head), lineWidth: 2 });
        }
        const drawSide = (units: Unit[], idx: number[], x: number, anchor: 'start' | 'end', s: Side) => {
          units.forEach((u, r) => {
            const focused = focus === idx[r] && side === s;
            if (!focused && r % every !== 0) return;
            const y = top + (r + 0.5) * row;
            const size = focused ? Math.max(font, 11) : font;
            if (focused) {
              const w = textWidth(u.label, { size }) + 6;
              const h = Math.max(row, size + 4);
              p.rect(anchor === 'end' ? x - 4 - w : x + 4 - 3, y - h / 2 + 1, w, h - 2, {
                fill: pinned ? '#fdd0a2' : '#fee6ce',
                cls: 'focus',
              });
            }
            p.text(anchor === 'end' ? x - 4 : x + 4, y, fitLabel(u.label, labelW - 8, size), {
              size,
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
    const { leftIdx, rightIdx, labelW, gap, top, row } = this.layout();
    const r = Math.floor((y - top) / row);
    if (r < 0) return null;
    if (x >= MARGIN - 4 && x <= MARGIN + labelW + 8 && r < leftIdx.length) return { unit: leftIdx[r], side: 'query' };
    const xr = MARGIN + labelW + gap;
    if (x >= xr - 8 && x <= xr + labelW + 4 && r < rightIdx.length) return { unit: rightIdx[r], side: 'key' };
    return null;
  }

  private legendAt(x: number, y: number): number | null {
    const b = this.layout().legend.find((l) => x >= l.x && x < l.x + l.w && y >= l.y && y < l.y + LEGEND_ROW);
    return b ? b.head : null;
  }

  // The drawn line nearest to (x, y), if one is within HOVER_PX.
  private linkAt(x: number, y: number): HoveredLink | null {
    const { labelW, gap } = this.layout();
    const x1 = MARGIN + labelW + 4;
    const x2 = MARGIN + labelW + gap - 4;
    if (x < x1 || x > x2) return null;
    const t = (x - x1) / (x2 - x1);
    let best: HoveredLink | null = null;
    let bestD = HOVER_PX;
    // Lines run from x1 to x2, so the distance is measured vertically at x, then scaled by the
    // slope to the perpendicular one.
    for (const { head, buckets } of this.links().byHead) {
      for (const b of buckets) {
        for (let k = 0; k < b.meta.length / 3; k++) {
          const ya = b.xy[4 * k + 1];
          const yb = b.xy[4 * k + 3];
          const dy = Math.abs(ya + t * (yb - ya) - y);
          if (dy > 4 * HOVER_PX) continue;
          const d = dy / Math.hypot(1, (yb - ya) / (x2 - x1));
          if (d < bestD) {
            bestD = d;
            best = { head, q: b.meta[3 * k], k: b.meta[3 * k + 1], w: b.meta[3 * k + 2], xy: [x1, ya, x2, yb] };
          }
        }
      }
    }
    return best;
  }

  // Click: the head on or off (at least one stays on). Double click: that head alone, or all
  // heads again when it already is alone.
  private toggleHead(head: number, alone: boolean): boolean {
    const all = this.attn.heads;
    const on = new Set(this.shownHeads());
    let next: number[];
    if (alone) next = on.size === 1 && on.has(head) ? range(all) : [head];
    else {
      if (on.has(head)) {
        if (on.size === 1) return false;
        on.delete(head);
      } else on.add(head);
      next = [...on].sort((a, b) => a - b);
    }
    this.set('heads', next.length === all ? 'all' : next.join(','));
    this.version++;
    return true;
  }

  override pointer(e: PointerEvent2): boolean {
    if (e.type === 'click' || e.type === 'dblclick') {
      const head = this.legendAt(e.x, e.y);
      if (head !== null) return this.toggleHead(head, e.type === 'dblclick');
    }
    if (e.type === 'dblclick') return false;
    const before = `${this.get('focus')}:${this.get('side')}:${this.get('pinned')}`;
    const hoveredBefore = this.hovered;
    const at = e.type === 'leave' ? null : this.hit(e.x, e.y);
    if (e.type === 'click') {
      if (at && !(this.getBool('pinned') && this.getInt('focus') === at.unit && this.get('side') === at.side)) {
        super.set('focus', String(at.unit));
        super.set('side', at.side);
        super.set('pinned', 'true');
      } else if (at || this.getBool('pinned')) {
        super.set('pinned', 'false');
        super.set('focus', at ? String(at.unit) : '-1');
        if (at) super.set('side', at.side);
      }
    } else if ((e.type === 'move' || e.type === 'leave') && !this.getBool('pinned')) {
      super.set('focus', at ? String(at.unit) : '-1');
      if (at) super.set('side', at.side);
    }
    this.hovered = e.type === 'move' && !at ? this.linkAt(e.x, e.y) : null;
    const sameLink =
      hoveredBefore === this.hovered ||
      (hoveredBefore !== null &&
        this.hovered !== null &&
        hoveredBefore.head === this.hovered.head &&
        hoveredBefore.q === this.hovered.q &&
        hoveredBefore.k === this.hovered.k);
    return before !== `${this.get('focus')}:${this.get('side')}:${this.get('pinned')}` || !sameLink;
  }

  override tooltip(x: number, y: number): string | null {
    const head = this.legendAt(x, y);
    if (head !== null) {
      const on = this.shownHeads().includes(head);
      return `head ${head} (${headLabel(this.getInt('layer'), head)}): click to ${on ? 'hide' : 'show'}, double-click to show it alone`;
    }
    const at = this.hit(x, y);
    const units = this.view().units;
    if (at) {
      const u = units[at.unit];
      const pinned = this.getBool('pinned') && this.getInt('focus') === at.unit;
      return `${u.label} (${at.unit}), ${at.side === 'query' ? 'attending' : 'attended to'}; click to ${pinned ? 'unpin' : 'pin'}`;
    }
    const l = this.linkAt(x, y);
    if (!l) return null;
    return `head ${l.head} (${headLabel(this.getInt('layer'), l.head)}): ${units[l.q].label} (${l.q}) → ${units[l.k].label} (${l.k}): ${formatValue(l.w)}`;
  }

  override describe(): Record<string, string | number> {
    const lay = this.layout();
    const links = this.links();
    return {
      links: links.count,
      hidden: links.hidden,
      threshold: this.get('threshold'),
      heads: this.get('heads'),
      focus: this.getInt('focus'),
      side: this.get('side'),
      pinned: String(this.getBool('pinned')),
      'label-width': lay.labelW,
      top: lay.top,
      row: lay.row,
      margin: MARGIN,
      gap: lay.gap,
      // Each head's legend entry as "x,y,width" (its height is legend-row), for scripts that click it.
      legend: lay.legend.map((b) => `${b.x.toFixed(1)},${b.y},${b.w.toFixed(1)}`).join(' '),
      'legend-row': LEGEND_ROW,
      'head-colors': range(this.attn.heads).map(headColor).join(' '),
      hovered: this.hovered ? `${this.hovered.head}:${this.hovered.q}:${this.hovered.k}` : '',
    };
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
