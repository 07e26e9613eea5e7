// Headless rendering for `bertscope figure`: Chromium loads a page holding one document and
// the request, this code renders the chosen view synchronously and writes the result, base64
// encoded, into <pre id="bertscope-output">, which the command reads back with --dump-dom.
import { documentViews } from '../data/detect';
import { classify } from '../data/types';
import { TableView } from '../views/table';
import { STYLE_PARAMS, type View } from '../views/view';
import { renderCanvas, renderSvg } from './chart';
import { styledFigure } from './figure_style';

export interface FigureRequest {
  // a view id ("grid", "heatmap:results.heads"), or a kind when only one view has it; "*": every
  // view (tables excepted), answered as a JSON object of view id -> base64 file
  view: string;
  settings: Record<string, string>;
  format: 'svg' | 'png' | 'list';
  scale?: number; // PNG pixels per figure unit
}

function bytesToBase64(bytes: Uint8Array): string {
  let s = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) s += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(s);
}

function output(status: 'ok' | 'error', format: string, text: string): void {
  const pre = document.createElement('pre');
  pre.id = 'bertscope-output';
  pre.dataset.status = status;
  pre.dataset.format = format;
  pre.textContent = text;
  document.body.append(pre);
}

export function pickView(views: View[], name: string): View {
  const exact = views.find((v) => v.id === name);
  if (exact) return exact;
  const byKind = views.filter((v) => v.id.split(':')[0] === name);
  if (byKind.length === 1) return byKind[0];
  const ids = views.map((v) => v.id).join(', ');
  if (byKind.length > 1) {
    throw new Error(`--view ${name} is ambiguous here; name one of: ${byKind.map((v) => v.id).join(', ')}`);
  }
  throw new Error(`this document has no view "${name}"; its views: ${ids || 'none'}`);
}

export function listViews(views: View[]): unknown {
  return views.map((v) => ({
    id: v.id,
    title: v.title,
    settings: [...v.params, ...STYLE_PARAMS].map((p) => ({
      name: p.name,
      type: p.type,
      initial: p.initial,
      ...(p.options ? { values: p.options.map((o) => o.value) } : {}),
      ...(p.min !== undefined ? { min: p.min } : {}),
      ...(p.max !== undefined ? { max: p.max } : {}),
    })),
  }));
}

export function runFigure(docs: { name: string; json: unknown }[], req: FigureRequest | undefined): void {
  try {
    if (!req) throw new Error('no figure request in the page');
    if (docs.length !== 1) throw new Error(`expected one document, got ${docs.length}`);
    const views = documentViews(classify(docs[0].name, docs[0].json));
    if (req.format === 'list') {
      output('ok', 'list', bytesToBase64(new TextEncoder().encode(JSON.stringify(listViews(views)))));
      return;
    }
    const encode = (view: View): string => {
      const fig = styledFigure(view);
      if (req.format === 'svg') return bytesToBase64(new TextEncoder().encode(renderSvg(fig)));
      const url = renderCanvas(fig, req.scale ?? 2).toDataURL('image/png');
      return url.slice(url.indexOf(',') + 1);
    };
    if (req.view === '*') {
      // Every figure; a setting applies to the views that have it and must fit at least one.
      const figures = views.filter((v) => !(v instanceof TableView));
      for (const k of Object.keys(req.settings))
        if (!figures.some((v) => v.param(k))) throw new Error(`no figure of this document has a setting "${k}"`);
      const out: Record<string, string> = {};
      for (const view of figures) {
        for (const [k, v] of Object.entries(req.settings)) if (view.param(k)) view.set(k, v);
        out[view.id] = encode(view);
      }
      output('ok', req.format, bytesToBase64(new TextEncoder().encode(JSON.stringify(out))));
      return;
    }
    const view = pickView(views, req.view);
    for (const [k, v] of Object.entries(req.settings)) view.set(k, v);
    output('ok', req.format, encode(view));
  } catch (e) {
    output('error', req?.format ?? '', e instanceof Error ? e.message : String(e));
  }
}
