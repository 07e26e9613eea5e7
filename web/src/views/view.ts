// A view turns one part of a document into a figure. Its settings are named parameters, shared
// by the page's controls and `bertscope figure --set NAME=VALUE` (docs/viewer.md).
import type { Painter } from '../render/painter';

export interface Figure {
  width: number;
  height: number;
  paint(p: Painter): void;
  scale?: number; // a styled figure's size against the view's own (pointer positions divide by it)
}

export interface ParamOption {
  value: string;
  label: string;
}

export interface ParamDef {
  name: string; // as on the command line: layer, head, field, word-level, ...
  label: string;
  // list: comma-separated integers, or "all"; text: any text; range: "auto" or "LOW,HIGH"
  type: 'choice' | 'bool' | 'int' | 'number' | 'list' | 'text' | 'range';
  options?: ParamOption[]; // choice
  min?: number;
  max?: number;
  step?: number;
  initial: string;
  // Set by interaction (hover, click, zoom) rather than by a control; still settable from
  // the command line so a figure can show a pinned token or a zoomed window.
  interactive?: boolean;
}

export interface PointerEvent2 {
  type: 'move' | 'leave' | 'click' | 'dblclick' | 'wheel' | 'dragstart' | 'drag' | 'dragend';
  x: number; // figure coordinates (CSS pixels)
  y: number;
  dx?: number; // drag: movement since the last event
  dy?: number;
  deltaY?: number; // wheel
}

// Settings every figure has, beside its own: how it is drawn for a paper rather than what it
// shows. The page lists them under "figure options"; `bertscope figure --set` takes the same names.
export const STYLE_PARAMS: ParamDef[] = [
  { name: 'title', label: 'title', type: 'text', initial: 'on' }, // on, off, or the title's text
  { name: 'x-label', label: 'x-axis title', type: 'text', initial: '' }, // empty: the figure's own
  { name: 'y-label', label: 'y-axis title', type: 'text', initial: '' },
  { name: 'font-size', label: 'font size (px)', type: 'number', min: 6, max: 40, step: 1, initial: '12' },
  { name: 'width', label: 'width (px, 0 = natural)', type: 'int', min: 0, max: 10000, initial: '0' },
  { name: 'height', label: 'height (px, 0 = natural)', type: 'int', min: 0, max: 10000, initial: '0' },
  {
    name: 'colormap',
    label: 'colour map',
    type: 'choice',
    options: ['auto', 'blues', 'viridis', 'magma', 'greys', 'rdbu', 'puor'].map((v) => ({ value: v, label: v })),
    initial: 'auto',
  },
  { name: 'range', label: 'value range', type: 'range', initial: 'auto' }, // so two figures share one scale
];

export abstract class View {
  abstract readonly id: string;
  abstract readonly title: string;
  // What the figure shows and how to compare it with the paper (declared figures; shown under it).
  caption = '';
  readonly params: ParamDef[] = [];
  private store = new Map<string, string>(STYLE_PARAMS.map((p) => [p.name, p.initial]));
  // Called when the view wants another view opened (the grid opens a head's heatmap).
  onNavigate?: (viewId: string, settings: Record<string, string>) => void;

  protected define(p: ParamDef): void {
    this.params.push(p);
    this.store.set(p.name, p.initial);
  }

  // The `index` setting that picks one of several examples (none for a single one), by these names.
  protected defineExamplePicker(names: string[]): void {
    if (names.length < 2) return;
    this.define({
      name: 'index',
      label: 'example',
      type: 'choice',
      options: choice(
        names.map((_, i) => i),
        names,
      ),
      initial: '0',
    });
  }

  param(name: string): ParamDef | undefined {
    return this.params.find((p) => p.name === name) ?? STYLE_PARAMS.find((p) => p.name === name);
  }

  get(name: string): string {
    const v = this.store.get(name);
    if (v === undefined) throw new Error(`view ${this.id} has no setting "${name}"`);
    return v;
  }
  getInt(name: string): number {
    return parseInt(this.get(name), 10);
  }
  getNumber(name: string): number {
    return parseFloat(this.get(name));
  }
  getList(name: string, all: number): number[] {
    const v = this.get(name);
    if (v === 'all') return Array.from({ length: all }, (_, i) => i);
    return v.split(',').map(Number);
  }
  getBool(name: string): boolean {
    return this.get(name) === 'true';
  }

  // Validates like the command line would: an unknown name or a bad value throws a message
  // that lists what is allowed.
  set(name: string, value: string): void {
    const p = this.param(name);
    if (!p) {
      throw new Error(
        `view ${this.id} has no setting "${name}"; it has: ${[...this.params, ...STYLE_PARAMS].map((q) => q.name).join(', ')}`,
      );
    }
    let v = value;
    if (p.type === 'bool') {
      if (['true', '1', 'yes', 'on', ''].includes(value)) v = 'true';
      else if (['false', '0', 'no', 'off'].includes(value)) v = 'false';
      else throw new Error(`${this.id}: ${name} is true or false, not "${value}"`);
    } else if (p.type === 'int' || p.type === 'number') {
      const x = Number(value);
      if (value.trim() === '' || !Number.isFinite(x) || (p.type === 'int' && !Number.isInteger(x))) {
        throw new Error(`${this.id}: ${name} is ${p.type === 'int' ? 'an integer' : 'a number'}, not "${value}"`);
      }
      if ((p.min !== undefined && x < p.min) || (p.max !== undefined && x > p.max)) {
        throw new Error(`${this.id}: ${name} must be in [${p.min ?? '-inf'}, ${p.max ?? 'inf'}], not ${value}`);
      }
    } else if (p.type === 'list') {
      if (value !== 'all') {
        const items = value.split(',').map((x) => x.trim());
        const bad = items.find(
          (x) => !/^\d+$/.test(x) || (p.min !== undefined && +x < p.min) || (p.max !== undefined && +x > p.max),
        );
        if (bad !== undefined || value.trim() === '') {
          throw new Error(
            `${this.id}: ${name} is "all" or a comma-separated list of integers in [${p.min ?? 0}, ${p.max ?? 'inf'}], not "${value}"`,
          );
        }
        v = [...new Set(items.map(Number))].sort((a, b) => a - b).join(',');
      }
    } else if (p.type === 'range') {
      const m = value.trim().match(/^(-?[\d.eE+-]+)\s*,\s*(-?[\d.eE+-]+)$/);
      if (value.trim() === 'auto') v = 'auto';
      else if (!m || !Number.isFinite(+m[1]) || !Number.isFinite(+m[2]) || !(+m[1] < +m[2]))
        throw new Error(`${this.id}: ${name} is "auto" or "LOW,HIGH" with LOW < HIGH, not "${value}"`);
      else v = `${+m[1]},${+m[2]}`;
    } else if (p.type === 'choice') {
      const opts = p.options ?? [];
      if (!opts.some((o) => o.value === value)) {
        const shown = opts.slice(0, 20).map((o) => o.value);
        throw new Error(
          `${this.id}: ${name} is one of ${shown.join(', ')}${opts.length > 20 ? `, ... (${opts.length})` : ''}; not "${value}"`,
        );
      }
    }
    this.store.set(name, v);
    this.changed(name);
  }

  settings(): Record<string, string> {
    return Object.fromEntries(this.store);
  }

  // Hook for views that derive state from a setting (e.g. reset the zoom on a new head).
  protected changed(_name: string): void {}

  abstract figure(): Figure;

  // Interaction; returns true when the figure must be repainted.
  pointer(_e: PointerEvent2): boolean {
    return false;
  }
  tooltip(_x: number, _y: number): string | null {
    return null;
  }
  // Changes when the list of parameters changes (a group switching members), so the page
  // rebuilds its controls.
  paramsVersion(): number {
    return 0;
  }

  // Facts about the last figure, written on the page as data-* attributes of its canvas (for
  // scripts and tests: how many layers and heads the grid shows, how many links are drawn).
  describe(): Record<string, string | number> {
    return {};
  }
}

export function choice(values: (string | number)[], labels?: string[]): ParamOption[] {
  return values.map((v, i) => ({ value: String(v), label: labels ? labels[i] : String(v) }));
}

export function headLabel(layer: number, head: number): string {
  return `${layer + 1}-${head + 1}`;
}
