// A view's figure as its figure settings ask (views/view.ts STYLE_PARAMS): the title on, off or
// replaced, the axis titles replaced, the fonts resized, the whole figure scaled to a width or
// height, and the colour map and value range of its colour scales. The page, its PNG/SVG export
// and `bertscope figure` all draw through here, so the same settings give the same picture.
import type { Painter, Raster, Style, TextStyle } from '../render/painter';
import { namedColorMap, withScaleOverride, type ScaleOverride } from '../render/scale_override';
import type { Figure, View } from '../views/view';

interface FigureStyle {
  title: string;
  xLabel: string;
  yLabel: string;
  fontScale: number;
  scale: number;
}

// Draws through another painter with every coordinate scaled by k and the texts restyled.
class StyledPainter implements Painter {
  readonly kind: Painter['kind'];

  constructor(
    private readonly inner: Painter,
    private readonly k: number,
    private readonly style: FigureStyle,
  ) {
    this.kind = inner.kind;
  }

  private s(st: Style): Style {
    return this.k === 1 ? st : { ...st, lineWidth: (st.lineWidth ?? 1) * this.k };
  }

  rect(x: number, y: number, w: number, h: number, st: Style): void {
    const k = this.k;
    this.inner.rect(x * k, y * k, w * k, h * k, this.s(st));
  }
  line(x1: number, y1: number, x2: number, y2: number, st: Style): void {
    const k = this.k;
    this.inner.line(x1 * k, y1 * k, x2 * k, y2 * k, this.s(st));
  }
  path(d: string, st: Style): void {
    // The views' paths are M/L/H/V/C/Q/Z commands with absolute coordinates: every number scales.
    const k = this.k;
    this.inner.path(k === 1 ? d : d.replace(/-?\d*\.?\d+(?:e[-+]?\d+)?/gi, (n) => String(+n * k)), this.s(st));
  }
  circle(cx: number, cy: number, r: number, st: Style): void {
    const k = this.k;
    this.inner.circle(cx * k, cy * k, r * k, this.s(st));
  }
  segments(xy: Float32Array | number[], count: number, st: Style, dataAt?: (k: number) => Record<string, string | number>): void {
    const k = this.k;
    const scaled = k === 1 ? xy : Float32Array.from(xy.slice(0, 4 * count) as ArrayLike<number>, (v) => v * k);
    this.inner.segments(scaled, count, this.s(st), dataAt);
  }
  text(x: number, y: number, text: string, st: TextStyle): void {
    let s = text;
    const { title, xLabel, yLabel } = this.style;
    if (st.cls === 'title') {
      if (title === 'off') return;
      if (title !== 'on') s = title;
    } else if (st.cls === 'x-axis-title' && xLabel) s = xLabel;
    else if (st.cls === 'y-axis-title' && yLabel) s = yLabel;
    const k = this.k;
    this.inner.text(x * k, y * k, s, { ...st, size: (st.size ?? 12) * k * this.style.fontScale });
  }
  image(x: number, y: number, w: number, h: number, raster: Raster, st: Style): void {
    const k = this.k;
    this.inner.image(x * k, y * k, w * k, h * k, raster, this.s(st));
  }
  cells(
    x: number,
    y: number,
    cellW: number,
    cellH: number,
    raster: Raster,
    st: Style,
    dataAt?: (row: number, col: number) => Record<string, string | number>,
  ): void {
    const k = this.k;
    this.inner.cells(x * k, y * k, cellW * k, cellH * k, raster, this.s(st), dataAt);
  }
  clip(x: number, y: number, w: number, h: number, body: () => void): void {
    const k = this.k;
    this.inner.clip(x * k, y * k, w * k, h * k, body);
  }
  group(cls: string, data: Record<string, string | number> | undefined, body: () => void): void {
    this.inner.group(cls, data, body);
  }
}

function scaleOverride(view: View): ScaleOverride {
  const o: ScaleOverride = {};
  const map = namedColorMap(view.get('colormap'));
  if (map) o.map = map;
  const range = view.get('range');
  if (range !== 'auto') {
    const [lo, hi] = range.split(',').map(Number);
    o.range = [lo, hi];
  }
  return o;
}

// The view's figure, styled. Its size is the requested width or height (the other follows the
// figure's proportions), else the figure's own.
export function styledFigure(view: View): Figure {
  const override = scaleOverride(view);
  const fig = withScaleOverride(override, () => view.figure());
  const width = view.getInt('width');
  const height = view.getInt('height');
  const k = width > 0 ? width / fig.width : height > 0 ? height / fig.height : 1;
  const style: FigureStyle = {
    title: view.get('title'),
    xLabel: view.get('x-label'),
    yLabel: view.get('y-label'),
    fontScale: view.getNumber('font-size') / 12,
    scale: k,
  };
  const plain = k === 1 && style.title === 'on' && !style.xLabel && !style.yLabel && style.fontScale === 1;
  return {
    scale: k,
    width: fig.width * k,
    height: width > 0 && height > 0 ? height : fig.height * k,
    paint: (p: Painter) => withScaleOverride(override, () => fig.paint(plain ? p : new StyledPainter(p, k, style))),
  };
}
