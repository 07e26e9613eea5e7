// A document on the page: an input's attention (grid / heatmap / lines tabs sharing a word-level
// switch) or an analysis result (every view its shapes offer, one under another).
import { AttentionSet } from '../data/attention';
import { attentionViews, resultViews } from '../data/detect';
import type { AttentionDoc, Document, ResultDoc } from '../data/types';
import type { View } from '../views/view';
import { ChartFrame } from './chart';
import { el } from './dom';

export interface Panel {
  root: HTMLElement;
  frames: ChartFrame[];
}

export function documentPanel(d: Document): Panel {
  return d.kind === 'attention' ? attentionPanel(d.name, d.doc) : resultPanel(d.name, d.doc);
}

// Long inputs (512 tokens is a page of text) are cut in the summary; the whole text is its tooltip.
function shortText(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

export function describeInput(doc: AttentionDoc): HTMLElement {
  const parts: (HTMLElement | string)[] = [];
  if (doc.text !== undefined) parts.push(el('span', { class: 'text-a', title: doc.text }, shortText(doc.text)));
  if (doc.text_pair) parts.push(' / ', el('span', { class: 'text-b', title: doc.text_pair }, shortText(doc.text_pair)));
  return el(
    'p',
    { class: 'input-summary' },
    ...parts,
    el('span', { class: 'dims' }, ` (${doc.length} tokens, ${doc.layers} layers x ${doc.heads} heads)`),
  );
}

export function attentionPanel(name: string, doc: AttentionDoc): Panel {
  const set = new AttentionSet(doc);
  const views = attentionViews(set);
  const frames = views.map((v) => new ChartFrame(v, name));
  const byId = new Map(frames.map((f) => [f.view.id, f]));
  const tabs = el('nav', { class: 'tabs', role: 'tablist' });
  const stack = el('div', { class: 'tab-panels' });
  const rendered = new Set<string>();
  let current = 'grid';
  const show = (id: string) => {
    current = id;
    for (const f of frames) {
      const on = f.view.id === id;
      f.root.hidden = !on;
      if (on && !rendered.has(id)) {
        f.render();
        rendered.add(id);
      }
    }
    for (const b of tabs.querySelectorAll('button')) b.classList.toggle('active', b.dataset.tab === id);
  };
  for (const f of frames) {
    const b = el('button', { type: 'button', 'data-tab': f.view.id, role: 'tab' }, f.view.title);
    b.addEventListener('click', () => show(f.view.id));
    tabs.append(b);
    stack.append(f.root);
  }
  for (const v of views) {
    v.onNavigate = (id, settings) => {
      const target = byId.get(id);
      if (!target) return;
      for (const [k, val] of Object.entries(settings)) target.view.set(k, val);
      if ('resetZoom' in target.view) (target.view as View & { resetZoom(): void }).resetZoom();
      target.syncControls();
      rendered.delete(id);
      show(id);
    };
  }
  // The layer stays in sync across the views (as in serve): the others take it and repaint when shown.
  for (const f of frames) {
    f.root.addEventListener('change', (ev) => {
      const target = ev.target as HTMLInputElement | null;
      if (!target || target.name !== 'layer' || !f.view.param('layer')) return;
      const layer = f.view.get('layer');
      for (const g of frames) {
        if (g === f || !g.view.param('layer') || g.view.get('layer') === layer) continue;
        g.view.set('layer', layer);
        g.syncControls();
        rendered.delete(g.view.id);
      }
    });
  }
  // Word-level merging applies to all three views at once; hidden views repaint when shown.
  const words = el('input', { type: 'checkbox', name: 'word-level-all' });
  words.addEventListener('change', () => {
    for (const f of frames) {
      f.view.set('word-level', words.checked ? 'true' : 'false');
      f.syncControls();
    }
    rendered.clear();
    show(current);
  });
  const root = el(
    'article',
    { class: 'document attention-document', 'data-name': name },
    el('h2', {}, name),
    describeInput(doc),
    el(
      'div',
      { class: 'doc-controls' },
      tabs,
      el('label', { class: 'word-toggle', title: "Merge word pieces (Clark et al.): sum over a word's columns, mean over its rows" }, words, ' merge word pieces'),
    ),
    stack,
  );
  show('grid');
  return { root, frames };
}

// A scalar or a short list as text; objects as compact JSON (the parameters block is for reading).
function valueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.join(', ');
  return JSON.stringify(v);
}

// What ran on what, in one line; the parameters in a collapsed table, one row per setting.
function meta(doc: ResultDoc): HTMLElement[] {
  const model = doc.model as Record<string, unknown> | undefined;
  const data = doc.data as Record<string, unknown> | undefined;
  const modelName = model && typeof model === 'object' ? (model.name ?? model.path ?? model.checkpoints) : undefined;
  const dataName = data && typeof data === 'object' ? (data.path ?? data.text ?? data.paths) : undefined;
  const line = [
    `method ${doc.method}`,
    modelName !== undefined ? `model ${valueText(modelName)}` : '',
    dataName !== undefined ? `data ${valueText(dataName)}` : '',
  ].filter(Boolean);
  const rows: HTMLElement[] = [];
  const add = (prefix: string, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) add(prefix ? `${prefix}.${k}` : k, x);
      return;
    }
    const text = valueText(v);
    rows.push(el('tr', {}, el('th', {}, prefix), el('td', { title: text.length > 300 ? text : undefined }, text.length > 300 ? `${text.slice(0, 300)}…` : text)));
  };
  if (doc.params !== undefined) add('', doc.params);
  const out: HTMLElement[] = [el('p', { class: 'doc-meta' }, line.join(' · '))];
  if (rows.length) {
    out.push(el('details', { class: 'params' }, el('summary', {}, 'parameters'), el('table', {}, el('tbody', {}, ...rows))));
  }
  return out;
}

export function resultPanel(name: string, doc: ResultDoc): Panel {
  const views = resultViews(doc);
  const frames = views.map((v) => new ChartFrame(v, name));
  const body =
    frames.length > 0
      ? frames.map((f) => f.root)
      : [
          el(
            'p',
            { class: 'empty' },
            'No part of this document has a shape the viewer draws (see docs/viewer.md). Its results:',
          ),
          el('pre', { class: 'raw' }, JSON.stringify(doc.results, null, 1).slice(0, 20000)),
        ];
  const root = el(
    'article',
    { class: 'document result-document', 'data-name': name, 'data-method': doc.method },
    el('h2', {}, `${name}`),
    ...meta(doc),
    ...body,
  );
  for (const f of frames) f.render();
  return { root, frames };
}
