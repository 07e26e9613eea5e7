// Which views a document offers. Attention documents get the grid, the single-head heatmap and
// the line view. Result documents are read by shape, not by method name, so a new analysis is
// shown as soon as its JSON uses a shape listed in docs/viewer.md:
//   per-head lists [{layer, head, ...}]      -> layer x head heatmap per numeric field, bars of
//                                               counts per category field, scatter when x/y,
//                                               table
//   [layers][heads] numeric matrices          -> layer x head heatmap
//   other numeric matrices / n-d arrays       -> heatmap (n-d: choose the leading indices)
//   [N][2] arrays under coordinates|coords|mds|embedding|xy (with a per-head list beside)
//                                             -> scatter
//   {name: number, ...}                       -> bars
//   {name: [numbers], ...} equal lengths      -> line chart (e.g. a value per layer)
//   {title?, steps, curves: {name: [numbers]}, targets?: {name: number}}
//                                             -> line chart over the steps, targets dashed
//   [numbers]                                 -> bars
//   {tokens, <numeric arrays of len(tokens)>} -> token scores (also a list of such objects)
//   {tokens, paths: [{nodes: [{layer, position, via?, head?}], score?}]} -> paths across layers
//   [flat objects] / {name: flat object}      -> table
import { AttentionSet } from './attention';
import {
  categoryColumns,
  columnsOf,
  flatRecord,
  isHeadTable,
  isNumber,
  isObject,
  isStringArray,
  numericColumns,
  numericShape,
  type Json,
  type JsonObject,
  type Scalar,
} from './shapes';
import { declaredViews, figureDeclarations } from './declared';
import type { Document, ResultDoc } from './types';
import { AttentionGridView } from '../views/attention_grid';
import { AttentionHeatmapView } from '../views/attention_heatmap';
import { AttentionLinesView } from '../views/attention_lines';
import { BarsView, SeriesView, type Bar } from '../views/charts';
import { GroupView } from '../views/group';
import { HeadHeatmapView } from '../views/head_heatmap';
import { MatrixView } from '../views/matrix';
import { PathsView, type InfluencePath, type PathExample, type PathNode } from '../views/paths';
import { ScatterView, type Point } from '../views/scatter';
import { TableView } from '../views/table';
import { TokensView, type TokenExample } from '../views/tokens';
import type { View } from '../views/view';

export interface Dims {
  layers: number;
  heads: number;
}

const COORD_KEYS = new Set(['coordinates', 'coords', 'mds', 'embedding', 'xy', 'points', 'positions2d']);
const TOKEN_KEYS = ['tokens', 'words'];
const PATH_KEYS = ['paths', 'patterns'];

export function attentionViews(set: AttentionSet): View[] {
  return [new AttentionGridView(set), new AttentionHeatmapView(set), new AttentionLinesView(set)];
}

export function documentViews(d: Document): View[] {
  if (d.kind === 'attention') return attentionViews(new AttentionSet(d.doc));
  return resultViews(d.doc);
}

function intField(o: unknown, ...keys: string[]): number | undefined {
  if (!isObject(o)) return undefined;
  for (const k of keys) {
    const v = o[k];
    if (Number.isInteger(v) && (v as number) > 0) return v as number;
  }
  return undefined;
}

// The model's layers and heads: from the document's model description, else from the largest
// layer/head named in a per-head list.
export function documentDims(doc: ResultDoc): Dims | null {
  const m = doc.model;
  const r = doc.results;
  const cfg = isObject(m) ? m.config : undefined;
  const layers =
    intField(m, 'layers', 'num_hidden_layers') ?? intField(cfg, 'num_hidden_layers') ?? intField(r, 'layers', 'num_layers');
  const heads =
    intField(m, 'heads', 'num_attention_heads') ?? intField(cfg, 'num_attention_heads') ?? intField(r, 'heads', 'num_heads');
  if (layers && heads) return { layers, heads };
  let maxL = -1;
  let maxH = -1;
  const visit = (v: Json, depth: number) => {
    if (depth > 6) return;
    if (isHeadTable(v)) {
      for (const e of v) {
        maxL = Math.max(maxL, e.layer as number);
        maxH = Math.max(maxH, e.head as number);
      }
    } else if (Array.isArray(v)) {
      return;
    } else if (isObject(v)) {
      for (const c of Object.values(v)) visit(c, depth + 1);
    }
  };
  visit(r as Json, 0);
  return maxL >= 0 ? { layers: layers ?? maxL + 1, heads: heads ?? maxH + 1 } : null;
}

class Collector {
  views: View[] = [];
  private ids = new Set<string>();
  constructor(readonly dims: Dims | null) {}

  id(kind: string, path: string): string {
    let id = `${kind}:${path}`;
    for (let k = 2; this.ids.has(id); k++) id = `${kind}:${path}#${k}`;
    this.ids.add(id);
    return id;
  }

  // A view found by a nested collector, keeping its id (unique: it contains the member's path).
  adopt(v: View): void {
    this.ids.add(v.id);
    this.views.push(v);
  }
}

// Views of the members of `o`. Object members with the same keys (results.features.<name>,
// results.links.<name>) are walked one by one and the views that recur at the same place in
// them (results.features.<name>.top) become one GroupView with a `key` setting; everything
// else is walked as usual.
function walkMembers(c: Collector, o: JsonObject, path: string, ctx: Context, depth: number, skip: Set<string>): void {
  const members = Object.entries(o).filter(([k]) => !skip.has(k));
  const signature = (v: Json) => (isObject(v) ? Object.keys(v).sort().join('\u0000') : '');
  const counts = new Map<string, number>();
  for (const [, v] of members) if (isObject(v)) counts.set(signature(v), (counts.get(signature(v)) ?? 0) + 1);
  let family = '';
  for (const [sig, n] of counts) if (n >= 2 && sig && (!family || n > (counts.get(family) ?? 0))) family = sig;
  const grouped = members.filter(([, v]) => family && signature(v) === family);
  for (const [k, v] of members) {
    if (grouped.some(([g]) => g === k)) continue;
    walk(c, v, `${path}.${k}`, k, ctx, depth + 1);
  }
  if (!grouped.length) return;
  const groups = new Map<string, { kind: string; rest: string; views: Map<string, View> }>();
  const loose: View[] = [];
  for (const [k, v] of grouped) {
    const sub = new Collector(c.dims);
    const prefix = `${path}.${k}`;
    walk(sub, v, prefix, k, ctx, depth + 1);
    for (const view of sub.views) {
      const colon = view.id.indexOf(':');
      const kind = view.id.slice(0, colon);
      const at = view.id.slice(colon + 1);
      if (!(at === prefix || at.startsWith(`${prefix}.`) || at.startsWith(`${prefix}#`))) {
        loose.push(view);
        continue;
      }
      const rest = at.slice(prefix.length);
      const key = `${kind}:${rest}`;
      let g = groups.get(key);
      if (!g) {
        g = { kind, rest, views: new Map() };
        groups.set(key, g);
      }
      g.views.set(k, view);
    }
  }
  for (const g of groups.values()) {
    if (g.views.size >= 2) {
      const [firstKey, first] = g.views.entries().next().value as [string, View];
      const title = first.title.split(pretty(`${path}.${firstKey}`)).join(`${pretty(path)}.{key}`);
      c.views.push(new GroupView(c.id(g.kind, `${path}.*${g.rest}`), title, g.views));
    } else {
      for (const v of g.views.values()) c.adopt(v);
    }
  }
  for (const v of loose) c.adopt(v);
}

function pretty(path: string): string {
  return path.replace(/^results\.?/, '') || 'results';
}

function headTableViews(c: Collector, path: string, table: JsonObject[]): void {
  const rows = table.map((e) => flatRecord(e) ?? {});
  const layers = c.dims?.layers ?? Math.max(...rows.map((r) => r.layer as number)) + 1;
  const heads = c.dims?.heads ?? Math.max(...rows.map((r) => r.head as number)) + 1;
  const byHead = new Map<number, Record<string, Scalar>>();
  for (const r of rows) byHead.set((r.layer as number) * heads + (r.head as number), r);
  const fields = numericColumns(rows, ['layer', 'head', 'x', 'y']);
  if (fields.length) {
    c.views.push(
      new HeadHeatmapView(
        c.id('heatmap', path),
        `${pretty(path)}: {field}`,
        {
          fields,
          value: (f, l, h) => {
            const v = byHead.get(l * heads + h)?.[f];
            return isNumber(v) ? v : null;
          },
        },
        layers,
        heads,
      ),
    );
  }
  const cats = categoryColumns(rows, ['label', 'layer', 'head']);
  if (cats.length) {
    c.views.push(
      new BarsView(c.id('bars', path), `${pretty(path)}: heads per {field}`, {
        fields: cats,
        valueName: 'heads',
        bars: (f) => {
          const counts = new Map<string, number>();
          for (const r of rows) {
            const v = r[f];
            if (v === undefined || v === null) continue;
            counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
          }
          return [...counts].map(([label, value]) => ({ label, value }));
        },
        stacked: (f) => {
          const classes = [...new Set(rows.map((r) => r[f]).filter((v) => v !== undefined && v !== null).map(String))];
          const counts = Array.from({ length: layers }, () => classes.map(() => 0));
          for (const r of rows) {
            const v = r[f];
            if (v === undefined || v === null) continue;
            counts[r.layer as number][classes.indexOf(String(v))]++;
          }
          return { groups: Array.from({ length: layers }, (_, l) => String(l)), classes, counts };
        },
      }),
    );
  }
  // Coordinates per head: numeric x and y fields, or a [x, y] array under a coordinates key.
  const coordKey = Object.keys(table[0]).find(
    (k) => COORD_KEYS.has(k.toLowerCase()) && table.every((e) => {
      const s = numericShape(e[k]);
      return !!s && s.length === 1 && (s[0] === 2 || s[0] === 3);
    }),
  );
  const xy = (i: number): [number, number] | null => {
    const r = rows[i];
    if (isNumber(r.x) && isNumber(r.y)) return [r.x, r.y];
    if (coordKey) {
      const a = table[i][coordKey] as (number | null)[];
      return [a[0] ?? 0, a[1] ?? 0];
    }
    return null;
  };
  if (rows.every((_, i) => xy(i) !== null)) {
    const points: Point[] = rows.map((r, i) => ({
      x: xy(i)![0],
      y: xy(i)![1],
      layer: r.layer as number,
      head: r.head as number,
      label: typeof r.label === 'string' ? r.label : undefined,
      categories: Object.fromEntries(cats.map((k) => [k, String(r[k] ?? '(none)')])),
    }));
    c.views.push(new ScatterView(c.id('scatter', path), `${pretty(path)}: heads`, points, cats));
  }
  c.views.push(new TableView(c.id('table', path), pretty(path), rows, columnsOf(rows)));
}

// Labels for the entries along each dimension of an n-d array: tokens where the length
// matches, layer/head indices where the dims match, explicit sibling label arrays.
function axisLabels(shape: number[], ctx: Context): { labels: (string[] | undefined)[]; names: string[] } {
  const labels: (string[] | undefined)[] = [];
  const names: string[] = [];
  shape.forEach((n, d) => {
    const last = d === shape.length - 1;
    const second = d === shape.length - 2;
    const explicit = last ? ctx.colLabels : second ? ctx.rowLabels : undefined;
    if (explicit && explicit.length === n) {
      labels.push(explicit);
      names.push('');
    } else if (ctx.headLabels && ctx.headLabels.length === n && d >= shape.length - 2) {
      labels.push(ctx.headLabels);
      names.push('head');
    } else if (ctx.tokens && ctx.tokens.length === n && d >= shape.length - 2) {
      labels.push(ctx.tokens);
      names.push(second ? 'query / to' : 'key / from');
    } else if (ctx.dims?.layers === n && d < shape.length - 2) {
      labels.push(undefined);
      names.push('layer');
    } else {
      labels.push(undefined);
      names.push('');
    }
  });
  // Token-by-token maps read as attention: rows attend to columns.
  if (ctx.tokens && shape.length >= 2 && shape[shape.length - 1] === ctx.tokens.length && shape[shape.length - 2] === ctx.tokens.length) {
    names[shape.length - 2] = 'query (attending)';
    names[shape.length - 1] = 'key (attended to)';
  }
  return { labels, names };
}

interface Context {
  tokens?: string[];
  headLabels?: string[]; // "l-h" of a per-head list beside the array (e.g. head x head distances)
  rowLabels?: string[];
  colLabels?: string[];
  dims: Dims | null;
  parent?: JsonObject;
}

function stringArrayAt(o: JsonObject | undefined, ...keys: string[]): string[] | undefined {
  if (!o) return undefined;
  for (const k of keys) if (isStringArray(o[k])) return o[k] as string[];
  return undefined;
}

function tokenExample(o: JsonObject, name?: string): TokenExample | null {
  const tokens = stringArrayAt(o, ...TOKEN_KEYS);
  if (!tokens) return null;
  const fields: Record<string, (number | null)[]> = {};
  for (const [k, v] of Object.entries(o)) {
    if (TOKEN_KEYS.includes(k)) continue;
    const shape = numericShape(v);
    if (shape && shape.length === 1 && shape[0] === tokens.length) fields[k] = v as (number | null)[];
  }
  if (!Object.keys(fields).length) return null;
  const label = typeof o.name === 'string' ? o.name : typeof o.text === 'string' ? o.text : name;
  return { name: label, tokens, fields };
}

function pathNode(v: unknown): PathNode | null {
  if (!isObject(v)) return null;
  const layer = v.layer;
  const position = v.position ?? v.token ?? v.pos;
  if (!Number.isInteger(layer) || !Number.isInteger(position)) return null;
  const node: PathNode = { layer: layer as number, position: position as number };
  const via = v.via ?? v.kind ?? v.type;
  if (typeof via === 'string') node.via = via;
  if (Number.isInteger(v.head)) node.head = v.head as number;
  return node;
}

function pathExample(o: JsonObject): PathExample | null {
  const tokens = stringArrayAt(o, ...TOKEN_KEYS);
  if (!tokens) return null;
  for (const key of PATH_KEYS) {
    const arr = o[key];
    if (!Array.isArray(arr) || !arr.length) continue;
    const paths: InfluencePath[] = [];
    for (const p of arr) {
      if (!isObject(p)) return null;
      const raw = p.nodes ?? p.steps;
      if (!Array.isArray(raw) || raw.length < 2) return null;
      const nodes = raw.map(pathNode);
      if (nodes.some((n) => n === null)) return null;
      const path: InfluencePath = { nodes: nodes as PathNode[] };
      if (isNumber(p.score)) path.score = p.score;
      else if (isNumber(p.influence)) path.score = p.influence;
      if (typeof p.label === 'string') path.label = p.label;
      paths.push(path);
    }
    const layers = Number.isInteger(o.layers) ? (o.layers as number) : undefined;
    return { name: typeof o.name === 'string' ? o.name : typeof o.text === 'string' ? o.text : undefined, tokens, paths, layers };
  }
  return null;
}

function isHeadMatrix(v: unknown, dims: Dims | null): boolean {
  if (!dims) return false;
  const s = numericShape(v);
  return !!s && s.length === 2 && s[0] === dims.layers && s[1] === dims.heads;
}

// Every [layers][heads] matrix below `node` (through objects only), by dotted relative path.
function headMatrices(node: Json, dims: Dims | null, prefix = '', out = new Map<string, (number | null)[][]>(), depth = 0) {
  if (depth > 6 || !isObject(node)) return out;
  for (const [k, v] of Object.entries(node)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (isHeadMatrix(v, dims)) out.set(p, v as (number | null)[][]);
    else if (isObject(v)) headMatrices(v, dims, p, out, depth + 1);
  }
  return out;
}

// One layers x heads heatmap over several named matrices, the name chosen by `field`.
function headMatrixView(c: Collector, path: string, matrices: Map<string, (number | null)[][]>): void {
  const dims = c.dims!;
  c.views.push(
    new HeadHeatmapView(
      c.id('heatmap', path),
      `${pretty(path)}: {field}`,
      {
        fields: [...matrices.keys()],
        value: (f, l, h) => {
          const v = matrices.get(f)?.[l]?.[h];
          return isNumber(v) ? v : null;
        },
      },
      dims.layers,
      dims.heads,
    ),
  );
}

// Per-layer records ([{layer, ...numbers}], no `head`): one line per numeric field over the layers.
function layerSeries(c: Collector, path: string, rows: Record<string, Scalar>[]): void {
  if (!rows.every((r) => Number.isInteger(r.layer) && r.head === undefined)) return;
  const fields = numericColumns(rows, ['layer']);
  if (!fields.length) return;
  const n = Math.max(...rows.map((r) => r.layer as number)) + 1;
  const series = fields.map((f) => {
    const values: (number | null)[] = Array.from({ length: n }, () => null);
    for (const r of rows) values[r.layer as number] = isNumber(r[f]) ? (r[f] as number) : null;
    return { name: f, values };
  });
  c.views.push(new SeriesView(c.id('lines', path), pretty(path), series, 'layer'));
}

function walk(c: Collector, node: Json, path: string, key: string, ctx: Context, depth: number): void {
  if (depth > 12) return;
  if (Array.isArray(node)) {
    if (isHeadTable(node)) {
      headTableViews(c, path, node);
      return;
    }
    const shape = numericShape(node);
    if (shape) {
      numericArrayViews(c, node, shape, path, key, ctx);
      return;
    }
    if (node.length && node.every(isObject)) {
      const objs = node as JsonObject[];
      const paths = objs.map(pathExample);
      if (paths.every((p) => p !== null)) {
        c.views.push(new PathsView(c.id('paths', path), pretty(path), paths as PathExample[]));
        return;
      }
      const toks = objs.map((o, i) => tokenExample(o, `${i}`));
      if (toks.every((t) => t !== null)) {
        const fields = [...new Set((toks as TokenExample[]).flatMap((t) => Object.keys(t.fields)))];
        c.views.push(new TokensView(c.id('tokens', path), `${pretty(path)}: {field}`, toks as TokenExample[], fields));
        return;
      }
      const rows = objs.map((o) => flatRecord(o));
      if (rows.every((r) => r !== null)) {
        const rs = rows as Record<string, Scalar>[];
        layerSeries(c, path, rs);
        c.views.push(new TableView(c.id('table', path), pretty(path), rs, columnsOf(rs)));
      }
    }
    return;
  }
  if (!isObject(node)) return;
  const o = node;
  const consumed = new Set<string>();
  const tokens = stringArrayAt(o, ...TOKEN_KEYS);

  const pex = pathExample(o);
  if (pex) {
    c.views.push(new PathsView(c.id('paths', path), pretty(path), [pex]));
    for (const k of PATH_KEYS) consumed.add(k);
  }
  const tex = tokenExample(o);
  if (tex) {
    c.views.push(new TokensView(c.id('tokens', path), `${pretty(path)}: {field}`, [tex], Object.keys(tex.fields)));
    for (const k of Object.keys(tex.fields)) consumed.add(k);
  }
  for (const k of TOKEN_KEYS) consumed.add(k);

  const entries = Object.entries(o).filter(([k]) => !consumed.has(k));
  // {name: [layers][heads]} (per class, per feature, per metric): one heatmap choosing the name.
  const matrixEntries = entries.filter(([, v]) => isHeadMatrix(v, c.dims));
  if (matrixEntries.length >= 2) {
    headMatrixView(c, path, new Map(matrixEntries.map(([k, v]) => [k, v as (number | null)[][]])));
    for (const [k] of matrixEntries) consumed.add(k);
  }
  const left = () => entries.filter(([k]) => !consumed.has(k));
  // {title?, steps: [numbers], curves: {name: [numbers]}, targets?: {name: number}}: a line chart
  // over the steps (training dynamics), each curve's target dashed.
  const steps = o.steps;
  const curves = o.curves;
  if (Array.isArray(steps) && steps.length && steps.every(isNumber) && isObject(curves)) {
    const cs = Object.entries(curves);
    const fits = cs.every(([, v]) => Array.isArray(v) && v.length === steps.length && v.every((x) => x === null || isNumber(x)));
    if (cs.length && fits) {
      const targets = isObject(o.targets)
        ? Object.fromEntries(Object.entries(o.targets).filter(([, v]) => isNumber(v)) as [string, number][])
        : {};
      c.views.push(
        new SeriesView(
          c.id('lines', path),
          typeof o.title === 'string' ? o.title : pretty(path),
          cs.map(([name, v]) => ({ name, values: v as (number | null)[] })),
          'training step',
          (steps as number[]).map(String),
          targets,
        ),
      );
      for (const k of ['title', 'steps', 'curves', 'targets']) consumed.add(k);
    }
  }
  // {name: number}: bars.
  const numbers = left().filter(([, v]) => isNumber(v));
  if (numbers.length >= 2 && numbers.length === left().length) {
    const bars: Bar[] = numbers.map(([label, v]) => ({ label, value: v as number }));
    c.views.push(new BarsView(c.id('bars', path), pretty(path), { fields: ['value'], valueName: 'value', bars: () => bars }));
    return;
  }
  // {name: [numbers]} of one length: a line chart (usually one value per layer).
  const series = left().filter(([, v]) => {
    const s = numericShape(v);
    return s && s.length === 1;
  });
  if (series.length >= 2) {
    const lengths = new Set(series.map(([, v]) => (v as unknown[]).length));
    const len = [...lengths][0];
    if (lengths.size === 1 && len >= 2 && !(tokens && tokens.length === len)) {
      const xName = c.dims && c.dims.layers === len ? 'layer' : c.dims && c.dims.layers + 1 === len ? 'layer (0 = embeddings)' : 'index';
      c.views.push(
        new SeriesView(
          c.id('lines', path),
          pretty(path),
          series.map(([name, v]) => ({ name, values: v as (number | null)[] })),
          xName,
        ),
      );
      for (const [k] of series) consumed.add(k);
    }
  }
  // {name: {flat record}}: a table with the names as the first column.
  const rest = left();
  const records = rest.filter(([, v]) => isObject(v) && flatRecord(v) !== null && Object.values(v).every((x) => !Array.isArray(x)));
  const recordTable = records.length >= 2 && records.length === rest.length;
  if (recordTable) {
    const rows = records.map(([name, v]) => ({ name, ...(flatRecord(v as JsonObject) as Record<string, Scalar>) }));
    c.views.push(new TableView(c.id('table', path), pretty(path), rows, columnsOf(rows)));
    // Per-head matrices inside the records (syntax: relations.<rel>.per_head.dep_to_head) go
    // into one heatmap choosing the record and matrix.
    const inner = headMatrices(Object.fromEntries(records) as JsonObject, c.dims);
    if (inner.size) headMatrixView(c, path, inner);
  }

  const headList = Object.values(o).find((v) => isHeadTable(v)) as JsonObject[] | undefined;
  const childCtx: Context = {
    dims: ctx.dims,
    tokens: tokens ?? ctx.tokens,
    headLabels: headList?.map((e) => (typeof e.label === 'string' ? e.label : `${(e.layer as number) + 1}-${(e.head as number) + 1}`)),
    rowLabels: stringArrayAt(o, 'row_labels', 'rows', 'labels'),
    colLabels: stringArrayAt(o, 'col_labels', 'columns', 'labels'),
    parent: o,
  };
  if (!recordTable) walkMembers(c, o, path, childCtx, depth, consumed);
}

function numericArrayViews(c: Collector, node: Json[], shape: number[], path: string, key: string, ctx: Context): void {
  if (shape.length === 1) {
    // A vector beside a token list is shown by the token view of the parent.
    if (ctx.tokens && ctx.tokens.length === shape[0]) return;
    const labels = ctx.rowLabels && ctx.rowLabels.length === shape[0] ? ctx.rowLabels : undefined;
    const bars: Bar[] = (node as (number | null)[]).map((v, i) => ({ label: labels ? labels[i] : String(i), value: v ?? 0 }));
    const valueName = key || 'value';
    c.views.push(new BarsView(c.id('bars', path), pretty(path), { fields: [valueName], valueName, bars: () => bars }));
    return;
  }
  if (shape.length === 2 && COORD_KEYS.has(key.toLowerCase()) && (shape[1] === 2 || shape[1] === 3)) {
    const heads = ctx.parent ? Object.values(ctx.parent).find((v) => isHeadTable(v) && v.length === shape[0]) : undefined;
    const headRows = heads ? (heads as JsonObject[]).map((e) => flatRecord(e) ?? {}) : [];
    const cats = headRows.length ? categoryColumns(headRows, ['label', 'layer', 'head']) : [];
    const labels = ctx.rowLabels && ctx.rowLabels.length === shape[0] ? ctx.rowLabels : undefined;
    const points: Point[] = (node as (number | null)[][]).map((xy, i) => {
      const r = headRows[i];
      return {
        x: xy[0] ?? 0,
        y: xy[1] ?? 0,
        layer: r && Number.isInteger(r.layer) ? (r.layer as number) : undefined,
        head: r && Number.isInteger(r.head) ? (r.head as number) : undefined,
        label: r && typeof r.label === 'string' ? r.label : labels?.[i],
        categories: Object.fromEntries(cats.map((k) => [k, String(r?.[k] ?? '(none)')])),
      };
    });
    c.views.push(new ScatterView(c.id('scatter', path), pretty(path), points, cats));
    return;
  }
  if (shape.length === 2 && c.dims && shape[0] === c.dims.layers && shape[1] === c.dims.heads && !(ctx.tokens && ctx.tokens.length === shape[1])) {
    const m = node as (number | null)[][];
    const field = key || 'value';
    c.views.push(
      new HeadHeatmapView(
        c.id('heatmap', path),
        pretty(path),
        { fields: [field], value: (_f, l, h) => (isNumber(m[l][h]) ? (m[l][h] as number) : null) },
        shape[0],
        shape[1],
      ),
    );
    return;
  }
  const { labels, names } = axisLabels(shape, ctx);
  c.views.push(new MatrixView(c.id('matrix', path), pretty(path), node, shape, labels, names));
}

// The figures the method declared; documents without declarations (older files) by shape.
export function resultViews(doc: ResultDoc): View[] {
  if (figureDeclarations(doc).length) return declaredViews(doc);
  const c = new Collector(documentDims(doc));
  walk(c, doc.results as Json, 'results', 'results', { dims: c.dims }, 0);
  return c.views;
}
