// The self-contained report of `bertscope report`: every document of a run, embedded in the
// page, listed on the left; the chosen one is shown with all its views.
import { classify, type Document } from '../data/types';
import { clear, el } from './dom';
import { documentPanel, type Panel } from './panel';

export function runReport(root: HTMLElement, title: string, embedded: { name: string; json: unknown }[]): void {
  document.title = title;
  const docs: Document[] = [];
  const problems: string[] = [];
  for (const e of embedded) {
    try {
      docs.push(classify(e.name, e.json));
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  const nav = el('nav', { class: 'doc-list' });
  const main = el('main', { class: 'doc-view' });
  const panels = new Map<string, Panel>();
  const select = (d: Document) => {
    let p = panels.get(d.name);
    clear(main);
    try {
      if (!p) {
        p = documentPanel(d);
        panels.set(d.name, p);
      }
      main.append(p.root);
    } catch (err) {
      main.append(el('p', { class: 'error' }, `${d.name}: ${err instanceof Error ? err.message : String(err)}`));
    }
    for (const b of nav.querySelectorAll('button')) b.classList.toggle('active', b.dataset.name === d.name);
  };
  const group = (label: string, kind: Document['kind']) => {
    const items = docs.filter((d) => d.kind === kind);
    if (!items.length) return;
    nav.append(el('h4', {}, label));
    for (const d of items) {
      const b = el(
        'button',
        { type: 'button', 'data-name': d.name, title: d.name },
        d.name,
        d.kind === 'result' ? el('small', {}, ` ${d.doc.method}`) : null,
      );
      b.addEventListener('click', () => select(d));
      nav.append(b);
    }
  };
  group('Results', 'result');
  group('Inputs', 'attention');
  clear(root);
  root.append(
    el('header', { class: 'top' }, el('h1', {}, title), el('span', { class: 'sub' }, `${docs.length} documents`)),
    el(
      'div',
      { class: 'layout' },
      el('aside', {}, nav, ...problems.map((p) => el('p', { class: 'error' }, p))),
      main,
    ),
  );
  if (docs.length) select(docs[0]);
  else main.append(el('p', { class: 'empty' }, 'This report holds no documents.'));
}
