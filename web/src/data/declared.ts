// The figures a method declares in its result document ("figures", written by
// src/analysis/figure.hpp; format in docs/viewer.md). Each declaration names its kind, the fields
// drawn (paths into `results`), title, caption, axis titles with units and fixed ranges; this file
// turns them into views. Documents without declarations (files of older versions) are read by
// shape instead (detect.ts).
import { isNumber, isObject, type Json, type Scalar } from './shapes';
import type { ResultDoc } from './types';
import { formatValue } from '../render/guides';
import { BarsView, SeriesView, type Bar, type Series } from '../views/charts';
import { GroupView } from '../views/group';
import { HeadHeatmapView } from '../views/head_heatmap';
import { MatrixView } from '../views/matrix';
import { PatternView, type PatternExample, type TokenPatternData } from '../views/pattern';
import { ScatterView, type Point } from '../views/scatter';
import { TableView } from '../views/table';
import { TokensView, type TokenExample } from '../views/tokens';
import type { View } from '../views/view';
import { documentDims } from './detect';

export interface FieldDecl {
  path: string; // into each record when the figure has rows, else into results; "@key": the record's name
  label: string;
  unit: string;
  format?: 'percent' | 'head';
}

export interface FigureDecl {
  id: string;
  kind: 'lines' | 'bars' | 'heatmap' | 'table' | 'scatter' | 'tokens' | 'pattern' | 'map';
  title: string;
  caption: string;
  axis: string;
  rows?: string;
  order?: string;
  x?: FieldDecl;
  x_axis?: string;
  values: FieldDecl[];
  range?: [number, number];
  centred?: boolean;
  references?: FieldDecl[];
  options?: Record<string, unknown>;
}

interface Row {
  key: string;
  record: Json;
}

export function figureDeclarations(doc: ResultDoc): FigureDecl[] {
  const figures = (doc as ResultDoc & { figures?: unknown }).figures;
  return Array.isArray(figures) ? (figures as FigureDecl[]) : [];
}

// The value at a dotted path ("best.accuracy"); undefined when any step is missing.
export function at(v: Json | undefined, path: string): Json | undefined {
  if (path === '') return v;
  let cur: Json | undefined = v;
  for (const part of path.split('.')) {
    if (Array.isArray(cur) && /^\d+$/.test(part)) cur = cur[+part];
    else if (isObject(cur)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

function num(v: Json | undefined): number | null {
  return isNumber(v) ? v : null;
}

function rowsOf(results: Json, f: FigureDecl): Row[] {
  if (!f.rows) return [];
  const v = at(results, f.rows);
  if (Array.isArray(v)) return v.map((record, i) => ({ key: String(i), record }));
  if (!isObject(v)) throw new Error(`figure ${f.id}: results.${f.rows} is neither a list nor an object`);
  const order = f.order ? at(results, f.order) : undefined;
  const keys = Array.isArray(order) ? order.map(String).filter((k) => k in v) : Object.keys(v);
  return keys.map((key) => ({ key, record: v[key] }));
}

function fieldOf(row: Row, path: string): Json | undefined {
  return path === '@key' ? row.key : at(row.record, path);
}

// A layer or head number as the papers write it (1-based); other positions as they are.
function positionLabel(x: FieldDecl | undefined, v: Json | undefined, i: number): string {
  if (x?.unit === 'index' && isNumber(v)) return String(v + 1);
  if (v === undefined || v === null) return String(i + 1);
  return String(v);
}

function referencesOf(results: Json, f: FigureDecl): { label: string; value: number }[] {
  return (f.references ?? [])
    .map((r) => ({ label: r.label, value: num(at(results, r.path)) }))
    .filter((r): r is { label: string; value: number } => r.value !== null);
}

function linesView(results: Json, f: FigureDecl): View {
  const rows = rowsOf(results, f);
  let series: Series[];
  let xLabels: string[];
  let xValues: number[] | undefined;
  if (rows.length) {
    series = f.values.map((v) => ({ name: v.label, values: rows.map((r) => num(fieldOf(r, v.path))) }));
    xLabels = rows.map((r, i) => positionLabel(f.x, f.x && f.x.path ? fieldOf(r, f.x.path) : i, i));
    if (f.options?.numeric_x && f.x) xValues = rows.map((r) => num(fieldOf(r, f.x!.path)) ?? 0);
  } else {
    series = f.values.map((v) => {
      const arr = at(results, v.path);
      return { name: v.label, values: Array.isArray(arr) ? arr.map((x) => num(x)) : [] };
    });
    const n = Math.max(0, ...series.map((s) => s.values.length));
    xLabels = Array.from({ length: n }, (_, i) => String(i + 1));
  }
  // Each head's value as a dot at its layer, from the per-head records named by "points".
  let dots: number[][][] | undefined;
  const points = typeof f.options?.points === 'string' ? at(results, f.options.points) : undefined;
  if (Array.isArray(points) && rows.length && f.x) {
    const position = new Map(rows.map((r, i) => [String(fieldOf(r, f.x!.path)), i]));
    dots = f.values.map((v) => {
      const out: number[][] = rows.map(() => []);
      for (const p of points) {
        const k = position.get(String(at(p, f.x!.path)));
        const value = num(at(p, v.path));
        if (k !== undefined && value !== null) out[k].push(value);
      }
      return out;
    });
  }
  const references = referencesOf(results, f);
  const view = new SeriesView(f.id, f.title, series, f.x_axis ?? f.x?.label ?? '', xLabels, {}, {
    yLabel: f.axis,
    range: f.range,
    references,
    dots,
    xValues,
  });
  return view;
}

function barsView(results: Json, f: FigureDecl): View {
  const rows = rowsOf(results, f);
  // options.note: a number beside each bar's label, from the record's field `path` ("{value}"
  // stands for the shown value's path), e.g. each ablation method's node budget for that task.
  const note = f.options?.note as { path: string; prefix?: string; suffix?: string } | undefined;
  const noteOf = (r: Row, v: FieldDecl): string | undefined => {
    const n = note ? num(fieldOf(r, note.path.replace(/\{value\}/g, v.path))) : null;
    return n === null ? undefined : `${note!.prefix ?? ''}${formatValue(n)}${note!.suffix ?? ''}`;
  };
  const bars = (label: string): Bar[] => {
    const v = f.values.find((x) => x.label === label) ?? f.values[0];
    if (rows.length) {
      return rows.map((r, i) => ({
        label: positionLabel(f.x, f.x && f.x.path ? fieldOf(r, f.x.path) : undefined, i),
        value: num(fieldOf(r, v.path)) ?? 0,
        note: noteOf(r, v),
      }));
    }
    const arr = at(results, v.path);
    return Array.isArray(arr) ? arr.map((x, i) => ({ label: String(i + 1), value: num(x) ?? 0 })) : [];
  };
  return new BarsView(f.id, f.title, { fields: f.values.map((v) => v.label), bars, valueName: f.axis }, f.x_axis, {
    range: f.range,
    references: referencesOf(results, f),
    centred: f.centred,
  });
}

function heatmapView(doc: ResultDoc, f: FigureDecl): View {
  const results = doc.results as Json;
  const dims = documentDims(doc);
  if (!dims) throw new Error(`figure ${f.id}: the document does not say how many layers and heads the model has`);
  const rows = rowsOf(results, f);
  const byHead = new Map<string, Json>();
  for (const r of rows) {
    if (isObject(r.record)) byHead.set(`${r.record.layer},${r.record.head}`, r.record);
  }
  const source = {
    fields: f.values.map((v) => v.label),
    value(label: string, layer: number, head: number): number | null {
      const v = f.values.find((x) => x.label === label);
      if (!v) return null;
      if (rows.length) return num(at(byHead.get(`${layer},${head}`), v.path));
      return num(at(at(results, v.path), `${layer}.${head}`));
    },
  };
  return new HeadHeatmapView(f.id, f.title, source, dims.layers, dims.heads, {
    range: f.range,
    centred: f.centred,
    label: f.axis,
    oneBased: true,
  });
}

function cellOf(row: Row, v: FieldDecl): Scalar {
  const x = fieldOf(row, v.path);
  if (v.format === 'head' && isObject(x) && isNumber(x.layer) && isNumber(x.head)) return `${x.layer + 1}-${x.head + 1}`;
  if (v.format === 'percent' && isNumber(x)) return Math.round(1000 * x) / 10;
  if (x === undefined || isObject(x) || Array.isArray(x)) return null;
  return x as Scalar;
}

function tableView(results: Json, f: FigureDecl): View {
  let rows = rowsOf(results, f);
  const min = f.options?.min as { path: string; value: number } | undefined;
  let note = '';
  if (min) {
    const before = rows.length;
    rows = rows.filter((r) => (num(at(r.record, min.path)) ?? 0) >= min.value);
    if (before > rows.length) note = ` Shown: ${min.path} at least ${min.value}; ${before - rows.length} rows hidden.`;
  }
  const columns = f.values.map((v) => v.label);
  const mark = f.options?.mark as { value: string; baseline: string; label: string } | undefined;
  if (mark) columns.push(mark.label);
  const records = rows.map((r) => {
    const out: Record<string, Scalar> = {};
    for (const v of f.values) out[v.label] = cellOf(r, v);
    if (mark) {
      const a = num(at(r.record, mark.value));
      const b = num(at(r.record, mark.baseline));
      out[mark.label] = a === null || b === null ? null : a > b ? 'beats' : 'misses';
    }
    return out;
  });
  const view = new TableView(f.id, f.title, records, columns);
  view.caption = f.caption + note;
  return view;
}

// Points from the records: x and the one value are numbers, the other label fields colour them.
function scatterView(results: Json, f: FigureDecl): View {
  const rows = rowsOf(results, f);
  const categories = (f.options?.colour as string[] | undefined) ?? [];
  const points: Point[] = [];
  for (const r of rows) {
    const x = num(fieldOf(r, f.x?.path ?? ''));
    const y = num(fieldOf(r, f.values[0].path));
    if (x === null || y === null) continue;
    const rec = isObject(r.record) ? r.record : {};
    points.push({
      x,
      y,
      layer: isNumber(rec.layer) ? rec.layer : undefined,
      head: isNumber(rec.head) ? rec.head : undefined,
      categories: Object.fromEntries(categories.map((c) => [c, String(at(r.record, c) ?? '(none)')])),
    });
  }
  return new ScatterView(f.id, f.title, points, categories, {
    xLabel: f.x_axis,
    yLabel: f.axis,
    equal: f.options?.equal === true,
  });
}

// A record's name in a picker, from the declared parts ({prefix, path, format, suffix}); a part
// whose field the record lacks is left out (an example without a gold label).
interface NamePart {
  path: string;
  prefix?: string;
  suffix?: string;
  format?: 'percent' | 'number';
}

function nameOf(record: Json, parts: NamePart[] | undefined): string | undefined {
  if (!parts?.length) return undefined;
  let out = '';
  for (const part of parts) {
    const v = at(record, part.path);
    if (v === undefined || v === null || isObject(v) || Array.isArray(v)) continue;
    let text = String(v);
    if (isNumber(v) && part.format === 'percent') text = `${(100 * v).toFixed(1)}%`;
    else if (isNumber(v) && part.format === 'number') text = formatValue(v);
    out += `${part.prefix ?? ''}${text}${part.suffix ?? ''}`;
  }
  return out || undefined;
}

function numbers(v: Json | undefined): (number | null)[] {
  return Array.isArray(v) ? v.map((x) => num(x)) : [];
}

function strings(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.map((x) => String(x)) : [];
}

// Each record's tokens shaded by its per-token values (one row per value when stacked).
function tokensView(results: Json, f: FigureDecl): View {
  const o = f.options ?? {};
  const tokensPath = typeof o.tokens === 'string' ? o.tokens : 'tokens';
  const highlight = typeof o.highlight === 'string' ? o.highlight : undefined;
  const examples: TokenExample[] = rowsOf(results, f).map((r) => {
    const h = highlight ? num(at(r.record, highlight)) : null;
    return {
      name: nameOf(r.record, o.name as NamePart[] | undefined),
      tokens: strings(at(r.record, tokensPath)),
      fields: Object.fromEntries(f.values.map((v) => [v.label, numbers(at(r.record, v.path))])),
      highlight: h ?? undefined,
    };
  });
  if (!examples.length) throw new Error(`figure ${f.id}: results.${f.rows} has no records`);
  return new TokensView(f.id, f.title, examples, f.values.map((v) => v.label), {
    stack: o.stack === true,
    range: f.range,
    centred: f.centred,
    label: f.axis,
  });
}

// Each record's influence patterns over tokens x layers.
function patternView(results: Json, f: FigureDecl): View {
  const o = f.options ?? {};
  const tokensPath = typeof o.tokens === 'string' ? o.tokens : 'tokens';
  const patternsPath = typeof o.patterns === 'string' ? o.patterns : 'patterns';
  const targetPath = typeof o.target === 'string' ? o.target : 'target';
  const examples: PatternExample[] = [];
  for (const r of rowsOf(results, f)) {
    const patterns = at(r.record, patternsPath);
    if (!Array.isArray(patterns) || !patterns.length) continue;
    examples.push({
      name: nameOf(r.record, o.name as NamePart[] | undefined),
      tokens: strings(at(r.record, tokensPath)),
      target: num(at(r.record, targetPath)) ?? -1,
      patterns: patterns as unknown as TokenPatternData[],
    });
  }
  if (!examples.length) throw new Error(`figure ${f.id}: no record of results.${f.rows} has patterns`);
  return new PatternView(f.id, f.title, examples, f.axis, typeof o.key === 'string' ? o.key : undefined);
}

// Each record's [tokens][tokens] matrix (an example attention map), one record at a time.
function mapView(results: Json, f: FigureDecl): View {
  const o = f.options ?? {};
  const tokensPath = typeof o.tokens === 'string' ? o.tokens : 'tokens';
  const members = new Map<string, View>();
  rowsOf(results, f).forEach((r, i) => {
    const tokens = strings(at(r.record, tokensPath));
    const map = at(r.record, f.values[0].path);
    const name = nameOf(r.record, o.name as NamePart[] | undefined) ?? `${i + 1}`;
    const view = new MatrixView(`${f.id}#${i}`, f.title, map, [tokens.length, tokens.length], [tokens, tokens], ['query', 'key'], f.axis);
    members.set(name, view);
  });
  if (!members.size) throw new Error(`figure ${f.id}: results.${f.rows} has no records`);
  const group = new GroupView(f.id, f.title, members);
  if (f.range) for (const v of members.values()) v.set('range', `${f.range[0]},${f.range[1]}`);
  return group;
}

// The views of a document's declared figures, in the order declared.
export function declaredViews(doc: ResultDoc): View[] {
  const results = doc.results as Json;
  const views: View[] = [];
  for (const f of figureDeclarations(doc)) {
    let view: View;
    if (f.kind === 'lines') view = linesView(results, f);
    else if (f.kind === 'bars') view = barsView(results, f);
    else if (f.kind === 'heatmap') view = heatmapView(doc, f);
    else if (f.kind === 'table') view = tableView(results, f);
    else if (f.kind === 'scatter') view = scatterView(results, f);
    else if (f.kind === 'tokens') view = tokensView(results, f);
    else if (f.kind === 'pattern') view = patternView(results, f);
    else if (f.kind === 'map') view = mapView(results, f);
    else throw new Error(`figure ${f.id}: this viewer does not draw "${f.kind}" figures yet`);
    if (!view.caption) view.caption = f.caption;
    views.push(view);
  }
  return views;
}
