// A chart on the page: the view's title and controls, its canvas (or table), a tooltip, and
// PNG / SVG export buttons that render the current state of the view.
import { CanvasPainter, SvgPainter } from '../render/painter';
import { GroupView } from '../views/group';
import { cellText, TableView } from '../views/table';
import { STYLE_PARAMS, type Figure, type ParamDef, type PointerEvent2, type View } from '../views/view';
import { clear, download, el, safeName } from './dom';
import { styledFigure } from './figure_style';

export const PNG_SCALE = 2;

// Paints a figure onto a fresh canvas at `scale` device pixels per CSS pixel, on white.
export function renderCanvas(fig: Figure, scale: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  paintInto(canvas, fig, scale);
  return canvas;
}

function paintInto(canvas: HTMLCanvasElement, fig: Figure, scale: number): void {
  const w = Math.max(1, Math.ceil(fig.width));
  const h = Math.max(1, Math.ceil(fig.height));
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2D canvas');
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  fig.paint(new CanvasPainter(ctx));
}

export function renderSvg(fig: Figure): string {
  const p = new SvgPainter(Math.ceil(fig.width), Math.ceil(fig.height));
  fig.paint(p);
  return p.toString();
}

// The table a view shows, if it is one (itself, or a group's current member).
function tableOf(view: View): TableView | null {
  if (view instanceof TableView) return view;
  if (view instanceof GroupView) return tableOf(view.current());
  return null;
}

export class ChartFrame {
  readonly root: HTMLElement;
  private readonly controls: HTMLElement;
  private readonly body: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly tableHolder: HTMLElement;
  private readonly csv: HTMLButtonElement;
  private readonly tip: HTMLElement;
  private controlsVersion = -1;
  private figure: Figure | null = null;
  private pending = 0;
  private drag: { x: number; y: number; active: boolean } | null = null;
  private suppressClick = false;
  // How long the last repaint took (figure construction + painting), in ms.
  lastRenderMs = 0;

  constructor(
    readonly view: View,
    private readonly fileStem: string,
  ) {
    this.controls = el('div', { class: 'controls' });
    this.canvas = el('canvas', { class: 'figure' });
    this.tip = el('div', { class: 'tooltip', hidden: true });
    this.body = el('div', { class: 'chart-body' });
    const buttons = el('div', { class: 'export' });
    const png = el('button', { type: 'button', class: 'export-png', title: 'Save this chart as PNG' }, 'PNG');
    const svg = el('button', { type: 'button', class: 'export-svg', title: 'Save this chart as SVG' }, 'SVG');
    png.addEventListener('click', () => this.exportPng());
    svg.addEventListener('click', () => this.exportSvg());
    this.csv = el('button', { type: 'button', class: 'export-csv', title: 'Save this table as CSV' }, 'CSV');
    this.csv.addEventListener('click', () => {
      const t = tableOf(this.view);
      if (t) download(new Blob([t.csv()], { type: 'text/csv' }), `${this.stem()}.csv`);
    });
    buttons.append(png, svg, this.csv);
    this.root = el(
      'section',
      { class: 'chart', 'data-view': view.id },
      el('header', {}, el('h3', { text: view.title.replace(/: \{\w+\}$/, '').replace(/\{\w+\}/g, '…') }), buttons),
      this.controls,
      this.body,
    );
    if (view.caption) this.root.append(el('p', { class: 'caption' }, view.caption));
    this.tableHolder = el('div', { class: 'table-holder' });
    this.body.append(this.canvas, this.tableHolder, this.tip);
    this.buildControls();
    this.listen();
  }

  private stem(): string {
    return safeName(`${this.fileStem}-${this.view.id}`);
  }

  private buildControls(): void {
    this.controlsVersion = this.view.paramsVersion();
    clear(this.controls);
    for (const p of this.view.params) {
      if (p.interactive) continue;
      if (p.type === 'choice' && (p.options?.length ?? 0) < 2) continue;
      this.controls.append(this.control(p));
    }
    // Tables have no figure to style.
    if (!tableOf(this.view)) {
      const options = el('details', { class: 'figure-options' }, el('summary', {}, 'figure options'));
      for (const p of STYLE_PARAMS) options.append(this.control(p));
      options.open = this.optionsOpen;
      options.addEventListener('toggle', () => (this.optionsOpen = options.open));
      this.controls.append(options);
    }
  }

  private optionsOpen = false;

  private control(p: ParamDef): HTMLElement {
    const v = this.view;
    const set = (value: string) => {
      try {
        v.set(p.name, value);
        this.tip.hidden = true;
        if (v.paramsVersion() !== this.controlsVersion) this.buildControls();
        this.render();
      } catch (e) {
        this.showError(e);
      }
    };
    let input: HTMLElement;
    if (p.type === 'bool') {
      const box = el('input', { type: 'checkbox', name: p.name });
      box.checked = v.getBool(p.name);
      box.addEventListener('change', () => set(box.checked ? 'true' : 'false'));
      input = box;
    } else if (p.type === 'choice') {
      const sel = el('select', { name: p.name });
      for (const o of p.options ?? []) sel.append(el('option', { value: o.value }, o.label));
      sel.value = v.get(p.name);
      sel.addEventListener('change', () => set(sel.value));
      input = sel;
    } else {
      const text = p.type === 'list' || p.type === 'text' || p.type === 'range';
      const box = el('input', {
        type: text ? 'text' : 'number',
        name: p.name,
        min: p.min,
        max: p.max,
        step: text ? undefined : (p.step ?? (p.type === 'int' ? 1 : 'any')),
        size: text ? 12 : 6,
      });
      box.value = v.get(p.name);
      box.addEventListener('change', () => set(box.value));
      input = box;
    }
    return el('label', { class: `control control-${p.name}` }, `${p.label} `, input);
  }

  // Re-reads the controls from the view (after something else changed its settings).
  syncControls(): void {
    this.buildControls();
  }

  private showError(e: unknown): void {
    this.tip.hidden = false;
    this.tip.classList.add('error');
    this.tip.textContent = e instanceof Error ? e.message : String(e);
  }

  // Repaints now (the first time, and whenever a setting changes).
  render(): void {
    const t0 = performance.now();
    const v = this.view;
    // A view whose settings changed their own list (a legend click choosing heads) gets new controls.
    if (v.paramsVersion() !== this.controlsVersion) this.buildControls();
    const table = tableOf(v);
    this.canvas.hidden = table !== null;
    this.tableHolder.hidden = table === null;
    this.csv.hidden = table === null;
    if (table) {
      this.renderTable(table);
    } else {
      this.figure = styledFigure(v);
      paintInto(this.canvas, this.figure, window.devicePixelRatio || 1);
      for (const [k, val] of Object.entries(v.describe())) this.canvas.dataset[camel(k)] = String(val);
    }
    this.lastRenderMs = performance.now() - t0;
    this.root.dataset.renderMs = this.lastRenderMs.toFixed(1);
    this.root.dataset.state = JSON.stringify(v.settings());
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.render();
    });
  }

  private renderTable(v: TableView): void {
    const rows = v.sortedRows();
    const sortCol = v.get('sort');
    const head = el('tr');
    for (const c of v.columns) {
      const th = el('th', { 'data-column': c, class: c === sortCol ? `sorted ${v.get('order')}` : undefined }, c);
      th.addEventListener('click', () => {
        v.toggleSort(c);
        this.buildControls();
        this.render();
      });
      head.append(th);
    }
    const tbody = el('tbody');
    for (const r of rows) {
      const tr = el('tr');
      for (const c of v.columns) {
        const x = r[c];
        tr.append(el('td', { class: typeof x === 'number' ? 'num' : undefined }, cellText(x)));
      }
      tbody.append(tr);
    }
    clear(this.tableHolder);
    this.tableHolder.append(el('table', { class: 'data-table' }, el('thead', {}, head), tbody));
  }

  private point(ev: MouseEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    const fig = this.figure;
    const k = fig?.scale ?? 1;
    const sx = fig && r.width ? fig.width / r.width : 1;
    const sy = fig && r.height ? fig.height / r.height : 1;
    return { x: ((ev.clientX - r.left) * sx) / k, y: ((ev.clientY - r.top) * sy) / k };
  }

  private send(e: PointerEvent2): boolean {
    const changed = this.view.pointer(e);
    if (changed) this.schedule();
    return changed;
  }

  private showTip(ev: MouseEvent, x: number, y: number): void {
    const text = this.view.tooltip(x, y);
    this.tip.classList.remove('error');
    if (!text) {
      this.tip.hidden = true;
      return;
    }
    this.tip.hidden = false;
    this.tip.textContent = text;
    const r = this.body.getBoundingClientRect();
    this.tip.style.left = `${ev.clientX - r.left + 14}px`;
    this.tip.style.top = `${ev.clientY - r.top + 14}px`;
  }

  private listen(): void {
    const c = this.canvas;
    c.addEventListener('mousemove', (ev) => {
      const { x, y } = this.point(ev);
      if (this.drag) {
        const dx = ev.clientX - this.drag.x;
        const dy = ev.clientY - this.drag.y;
        if (!this.drag.active && Math.hypot(dx, dy) > 3) {
          this.drag.active = true;
          this.send({ type: 'dragstart', x, y });
        }
        if (this.drag.active) {
          this.drag.x = ev.clientX;
          this.drag.y = ev.clientY;
          this.send({ type: 'drag', x, y, dx, dy });
          return;
        }
      }
      this.send({ type: 'move', x, y });
      this.showTip(ev, x, y);
    });
    c.addEventListener('mouseleave', (ev) => {
      const { x, y } = this.point(ev);
      this.tip.hidden = true;
      if (this.drag?.active) this.send({ type: 'dragend', x, y });
      this.drag = null;
      this.send({ type: 'leave', x, y });
    });
    c.addEventListener('mousedown', (ev) => {
      if (ev.button === 0) this.drag = { x: ev.clientX, y: ev.clientY, active: false };
    });
    c.addEventListener('mouseup', (ev) => {
      if (this.drag?.active) {
        const { x, y } = this.point(ev);
        this.send({ type: 'dragend', x, y });
        this.suppressClick = true;
      }
      this.drag = null;
    });
    c.addEventListener('click', (ev) => {
      if (this.suppressClick) {
        this.suppressClick = false;
        return;
      }
      const { x, y } = this.point(ev);
      this.send({ type: 'click', x, y });
      this.showTip(ev, x, y);
    });
    c.addEventListener('dblclick', (ev) => {
      const { x, y } = this.point(ev);
      this.send({ type: 'dblclick', x, y });
    });
    c.addEventListener(
      'wheel',
      (ev) => {
        const { x, y } = this.point(ev);
        if (this.send({ type: 'wheel', x, y, deltaY: ev.deltaY })) ev.preventDefault();
      },
      { passive: false },
    );
  }

  exportPng(): void {
    const canvas = renderCanvas(styledFigure(this.view), PNG_SCALE);
    canvas.toBlob((blob) => {
      if (blob) download(blob, `${this.stem()}.png`);
    }, 'image/png');
  }

  exportSvg(): void {
    download(new Blob([renderSvg(styledFigure(this.view))], { type: 'image/svg+xml' }), `${this.stem()}.svg`);
  }
}

function camel(k: string): string {
  return k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
