// One drawing interface with two back ends: a canvas for the interactive page and PNG export,
// and an SVG writer for SVG export and `bertscope figure --format svg`. Every view paints
// through it, so the PNG and the SVG of a chart are the same picture by construction.

export interface Style {
  fill?: string;
  stroke?: string;
  lineWidth?: number;
  opacity?: number;
  dash?: number[];
  // SVG only: a class and data-* attributes that name what a mark stands for, so an exported
  // SVG can be read back (tests count marks by class against the data).
  cls?: string;
  data?: Record<string, string | number>;
}

export interface TextStyle {
  size?: number;
  color?: string;
  anchor?: 'start' | 'middle' | 'end';
  baseline?: 'top' | 'middle' | 'alphabetic' | 'bottom';
  weight?: 'normal' | 'bold';
  rotate?: number; // degrees, about (x, y)
  mono?: boolean;
  cls?: string;
}

// An RGBA raster of width x height pixels, row-major.
export interface Raster {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

export interface Painter {
  readonly kind: 'canvas' | 'svg';
  rect(x: number, y: number, w: number, h: number, style: Style): void;
  line(x1: number, y1: number, x2: number, y2: number, style: Style): void;
  // An SVG path string ("M x y L ..."); canvas draws it through Path2D.
  path(d: string, style: Style): void;
  circle(cx: number, cy: number, r: number, style: Style): void;
  // Many straight segments in one style: xy holds x1, y1, x2, y2 per segment. Canvas strokes
  // them as one path (100k links stay fast); SVG writes one <line> each, with dataAt(k).
  segments(
    xy: Float32Array | number[],
    count: number,
    style: Style,
    dataAt?: (k: number) => Record<string, string | number>,
  ): void;
  text(x: number, y: number, s: string, style: TextStyle): void;
  // A raster stretched over (x, y, w, h) without smoothing: one pixel per matrix cell.
  image(x: number, y: number, w: number, h: number, raster: Raster, style: Style): void;
  // A heatmap block: rows x cols cells. In SVG each cell is its own <rect> (so the file is a
  // true vector figure whose marks can be counted) up to VECTOR_CELL_LIMIT cells; bigger
  // blocks become one embedded image, since a 512 x 512 map as rects would be a 20 MB file.
  cells(
    x: number,
    y: number,
    cellW: number,
    cellH: number,
    raster: Raster,
    style: Style,
    dataAt?: (row: number, col: number) => Record<string, string | number>,
  ): void;
  clip(x: number, y: number, w: number, h: number, body: () => void): void;
  group(cls: string, data: Record<string, string | number> | undefined, body: () => void): void;
}

export const VECTOR_CELL_LIMIT = 65536;

const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';
const MONO_FAMILY = 'DejaVu Sans Mono, Liberation Mono, Menlo, Consolas, monospace';

export function fontSpec(style: TextStyle): string {
  return `${style.weight === 'bold' ? 'bold ' : ''}${style.size ?? 12}px ${style.mono ? MONO_FAMILY : FONT_FAMILY}`;
}

let measureContext: CanvasRenderingContext2D | null = null;
// Text width in CSS pixels, as both back ends will lay it out (SVG text is rendered by the
// same browser fonts, so canvas metrics are the right ones for layout).
export function textWidth(s: string, style: TextStyle = {}): number {
  if (!measureContext) {
    const c = document.createElement('canvas');
    measureContext = c.getContext('2d');
    if (!measureContext) return s.length * (style.size ?? 12) * 0.6;
  }
  measureContext.font = fontSpec(style);
  return measureContext.measureText(s).width;
}

// ---------------------------------------------------------------------------------------------
// Canvas

function rasterCanvas(raster: Raster): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = raster.width;
  c.height = raster.height;
  const ctx = c.getContext('2d');
  if (ctx && raster.width > 0 && raster.height > 0) {
    ctx.putImageData(new ImageData(raster.rgba as Uint8ClampedArray<ArrayBuffer>, raster.width, raster.height), 0, 0);
  }
  return c;
}

// Rasters are often drawn many times (a thumbnail on every hover repaint); the canvas made
// from one is kept beside it.
const rasterCanvases = new WeakMap<Raster, HTMLCanvasElement>();
function canvasOf(raster: Raster): HTMLCanvasElement {
  let c = rasterCanvases.get(raster);
  if (!c) {
    c = rasterCanvas(raster);
    rasterCanvases.set(raster, c);
  }
  return c;
}

export class CanvasPainter implements Painter {
  readonly kind = 'canvas' as const;
  constructor(private readonly ctx: CanvasRenderingContext2D) {}

  private applyStroke(style: Style): boolean {
    if (!style.stroke) return false;
    this.ctx.strokeStyle = style.stroke;
    this.ctx.lineWidth = style.lineWidth ?? 1;
    this.ctx.setLineDash(style.dash ?? []);
    return true;
  }

  rect(x: number, y: number, w: number, h: number, style: Style): void {
    const ctx = this.ctx;
    ctx.globalAlpha = style.opacity ?? 1;
    if (style.fill) {
      ctx.fillStyle = style.fill;
      ctx.fillRect(x, y, w, h);
    }
    if (this.applyStroke(style)) ctx.strokeRect(x, y, w, h);
    ctx.globalAlpha = 1;
  }

  line(x1: number, y1: number, x2: number, y2: number, style: Style): void {
    const ctx = this.ctx;
    if (!this.applyStroke(style)) return;
    ctx.globalAlpha = style.opacity ?? 1;
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
    ctx.stroke();
    ctx.globalAlpha = 1;
  }

  path(d: string, style: Style): void {
    const ctx = this.ctx;
    const p = new Path2D(d);
    ctx.globalAlpha = style.opacity ?? 1;
    if (style.fill) {
      ctx.fillStyle = style.fill;
      ctx.fill(p);
    }
    if (this.applyStroke(style)) ctx.stroke(p);
    ctx.globalAlpha = 1;
  }

  circle(cx: number, cy: number, r: number, style: Style): void {
    const ctx = this.ctx;
    ctx.globalAlpha = style.opacity ?? 1;
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    if (style.fill) {
      ctx.fillStyle = style.fill;
      ctx.fill();
    }
    if (this.applyStroke(style)) ctx.stroke();
    ctx.globalAlpha = 1;
  }

  segments(xy: Float32Array | number[], count: number, style: Style): void {
    const ctx = this.ctx;
    if (!count || !this.applyStroke(style)) return;
    ctx.globalAlpha = style.opacity ?? 1;
    ctx.beginPath();
    for (let k = 0; k < count; k++) {
      ctx.moveTo(xy[4 * k], xy[4 * k + 1]);
      ctx.lineTo(xy[4 * k + 2], xy[4 * k + 3]);
    }
    ctx.stroke();
    ctx.globalAlpha = 1;
  }

  text(x: number, y: number, s: string, style: TextStyle): void {
    const ctx = this.ctx;
    ctx.font = fontSpec(style);
    ctx.fillStyle = style.color ?? '#222';
    ctx.textAlign = style.anchor === 'middle' ? 'center' : style.anchor === 'end' ? 'right' : 'left';
    ctx.textBaseline = style.baseline ?? 'alphabetic';
    if (style.rotate) {
      ctx.save();
      ctx.translate(x, y);
      ctx.rotate((style.rotate * Math.PI) / 180);
      ctx.fillText(s, 0, 0);
      ctx.restore();
    } else {
      ctx.fillText(s, x, y);
    }
  }

  image(x: number, y: number, w: number, h: number, raster: Raster, style: Style): void {
    if (raster.width === 0 || raster.height === 0) return;
    const ctx = this.ctx;
    ctx.globalAlpha = style.opacity ?? 1;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(canvasOf(raster), x, y, w, h);
    ctx.globalAlpha = 1;
  }

  cells(x: number, y: number, cellW: number, cellH: number, raster: Raster, style: Style): void {
    this.image(x, y, cellW * raster.width, cellH * raster.height, raster, style);
  }

  clip(x: number, y: number, w: number, h: number, body: () => void): void {
    const ctx = this.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, y, w, h);
    ctx.clip();
    body();
    ctx.restore();
  }

  group(_cls: string, _data: Record<string, string | number> | undefined, body: () => void): void {
    body();
  }
}

// ---------------------------------------------------------------------------------------------
// SVG

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

function num(v: number): string {
  // Three decimals keep files small and are far below a pixel.
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

function attrs(style: Style): string {
  let a = '';
  if (style.cls) a += ` class="${escapeXml(style.cls)}"`;
  if (style.data) {
    for (const [k, v] of Object.entries(style.data)) a += ` data-${k}="${escapeXml(String(v))}"`;
  }
  a += ` fill="${style.fill ? escapeXml(style.fill) : 'none'}"`;
  if (style.stroke) {
    a += ` stroke="${escapeXml(style.stroke)}" stroke-width="${num(style.lineWidth ?? 1)}"`;
    if (style.dash && style.dash.length) a += ` stroke-dasharray="${style.dash.map(num).join(' ')}"`;
  }
  if (style.opacity !== undefined && style.opacity !== 1) a += ` opacity="${num(style.opacity)}"`;
  return a;
}

function dataAttrs(data: Record<string, string | number> | undefined): string {
  if (!data) return '';
  return Object.entries(data)
    .map(([k, v]) => ` data-${k}="${escapeXml(String(v))}"`)
    .join('');
}

export function rasterToPngDataUrl(raster: Raster): string {
  return rasterCanvas(raster).toDataURL('image/png');
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

export class SvgPainter implements Painter {
  readonly kind = 'svg' as const;
  private parts: string[] = [];
  private clipCount = 0;

  constructor(
    private readonly width: number,
    private readonly height: number,
    private readonly background = '#ffffff',
  ) {}

  rect(x: number, y: number, w: number, h: number, style: Style): void {
    this.parts.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}"${attrs(style)}/>`);
  }

  line(x1: number, y1: number, x2: number, y2: number, style: Style): void {
    this.parts.push(`<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}"${attrs(style)}/>`);
  }

  path(d: string, style: Style): void {
    this.parts.push(`<path d="${escapeXml(d)}"${attrs(style)}/>`);
  }

  circle(cx: number, cy: number, r: number, style: Style): void {
    this.parts.push(`<circle cx="${num(cx)}" cy="${num(cy)}" r="${num(r)}"${attrs(style)}/>`);
  }

  segments(
    xy: Float32Array | number[],
    count: number,
    style: Style,
    dataAt?: (k: number) => Record<string, string | number>,
  ): void {
    const out: string[] = [];
    for (let k = 0; k < count; k++) {
      const st = dataAt ? { ...style, data: { ...style.data, ...dataAt(k) } } : style;
      out.push(
        `<line x1="${num(xy[4 * k])}" y1="${num(xy[4 * k + 1])}" x2="${num(xy[4 * k + 2])}" y2="${num(xy[4 * k + 3])}"${attrs(st)}/>`,
      );
    }
    this.parts.push(out.join(''));
  }

  text(x: number, y: number, s: string, style: TextStyle): void {
    const anchor = style.anchor ?? 'start';
    const baseline =
      style.baseline === 'top'
        ? 'hanging'
        : style.baseline === 'middle'
          ? 'central'
          : style.baseline === 'bottom'
            ? 'text-after-edge'
            : 'alphabetic';
    const transform = style.rotate ? ` transform="rotate(${num(style.rotate)} ${num(x)} ${num(y)})"` : '';
    const cls = style.cls ? ` class="${escapeXml(style.cls)}"` : '';
    this.parts.push(
      `<text x="${num(x)}" y="${num(y)}"${cls} font-family="${escapeXml(style.mono ? MONO_FAMILY : FONT_FAMILY)}" ` +
        `font-size="${num(style.size ?? 12)}"${style.weight === 'bold' ? ' font-weight="bold"' : ''} fill="${escapeXml(style.color ?? '#222')}" ` +
        `text-anchor="${anchor}" dominant-baseline="${baseline}"${transform}>${escapeXml(s)}</text>`,
    );
  }

  image(x: number, y: number, w: number, h: number, raster: Raster, style: Style): void {
    if (raster.width === 0 || raster.height === 0) return;
    const cls = style.cls ? ` class="${escapeXml(style.cls)}"` : '';
    this.parts.push(
      `<image x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}"${cls}${dataAttrs(style.data)} ` +
        `preserveAspectRatio="none" style="image-rendering:pixelated" href="${rasterToPngDataUrl(raster)}"/>`,
    );
  }

  cells(
    x: number,
    y: number,
    cellW: number,
    cellH: number,
    raster: Raster,
    style: Style,
    dataAt?: (row: number, col: number) => Record<string, string | number>,
  ): void {
    const { width: cols, height: rows, rgba } = raster;
    if (rows * cols > VECTOR_CELL_LIMIT) {
      this.image(x, y, cellW * cols, cellH * rows, raster, { ...style, cls: `${style.cls ?? 'cells'} raster` });
      return;
    }
    const cls = style.cls ? ` class="${escapeXml(style.cls)}"` : '';
    const out: string[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const o = (r * cols + c) * 4;
        const a = rgba[o + 3];
        // A fully transparent cell is a missing value: it is still a mark of the data (with
        // its own class) so counts match, but it draws nothing.
        const fill = a === 0 ? 'none' : `#${hex2(rgba[o])}${hex2(rgba[o + 1])}${hex2(rgba[o + 2])}`;
        const opacity = a === 0 || a === 255 ? '' : ` fill-opacity="${num(a / 255)}"`;
        out.push(
          `<rect x="${num(x + c * cellW)}" y="${num(y + r * cellH)}" width="${num(cellW)}" height="${num(cellH)}"${cls}` +
            `${dataAttrs(dataAt?.(r, c))} fill="${fill}"${opacity}/>`,
        );
      }
    }
    this.parts.push(out.join(''));
  }

  clip(x: number, y: number, w: number, h: number, body: () => void): void {
    const id = `clip${this.clipCount++}`;
    this.parts.push(
      `<clipPath id="${id}"><rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}"/></clipPath><g clip-path="url(#${id})">`,
    );
    body();
    this.parts.push('</g>');
  }

  group(cls: string, data: Record<string, string | number> | undefined, body: () => void): void {
    this.parts.push(`<g class="${escapeXml(cls)}"${dataAttrs(data)}>`);
    body();
    this.parts.push('</g>');
  }

  toString(): string {
    const w = num(this.width);
    const h = num(this.height);
    return (
      `<?xml version="1.0" encoding="UTF-8"?>\n` +
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" ` +
      `width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
      `<rect class="background" x="0" y="0" width="${w}" height="${h}" fill="${this.background}"/>` +
      this.parts.join('') +
      `</svg>\n`
    );
  }
}
