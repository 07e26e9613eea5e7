// The self-contained report of `bertscope report`: every document of a run, embedded in the
// page. It opens with the summary of findings (what `bertscope summary` prints), each linked to
// the figures behind it; the documents are listed by paper and question, and the chosen one is
// shown with all its figures.
import { classify, type Document } from '../data/types';
import { clear, el } from './dom';
import { documentPanel, type Panel } from './panel';

export interface ReportFinding {
  method: string;
  title: string;
  lines: string[];
  document?: string;
  figures?: string[];
  paper?: string;
  question?: string;
}

export interface ReportSection {
  paper: string;
  question: string;
  methods: string[];
}

export interface ReportSummary {
  models?: string[];
  findings?: ReportFinding[];
  sections?: ReportSection[];
  skipped?: string[];
}

const SUMMARY = '#summary';

export function runReport(
  root: HTMLElement,
  title: string,
  embedded: { name: string; json: unknown }[],
  summary?: ReportSummary,
): void {
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
  const byName = new Map(docs.map((d) => [d.name, d]));
  const nav = el('nav', { class: 'doc-list' });
  const main = el('main', { class: 'doc-view' });
  const panels = new Map<string, Panel>();
  const mark = (name: string) => {
    for (const b of nav.querySelectorAll('button')) b.classList.toggle('active', b.dataset.name === name);
  };
  const select = (d: Document, figure?: string) => {
    let p = panels.get(d.name);
    clear(main);
    try {
      if (!p) {
        p = documentPanel(d);
        panels.set(d.name, p);
      }
      main.append(p.root);
      if (figure) p.root.querySelector(`section.chart[data-view="${CSS.escape(figure)}"]`)?.scrollIntoView();
      else main.scrollTop = 0;
    } catch (err) {
      main.append(el('p', { class: 'error' }, `${d.name}: ${err instanceof Error ? err.message : String(err)}`));
    }
    mark(d.name);
  };
  const docButton = (d: Document) => {
    const b = el(
      'button',
      { type: 'button', 'data-name': d.name, title: d.name },
      d.name,
      d.kind === 'result' ? el('small', {}, ` ${d.doc.method}`) : null,
    );
    b.addEventListener('click', () => select(d));
    return b;
  };

  const findings = summary?.findings ?? [];
  const showSummary = () => {
    clear(main);
    main.append(summaryPanel(summary ?? {}, byName, (d, fig) => select(d, fig)));
    main.scrollTop = 0;
    mark(SUMMARY);
  };
  if (summary) {
    const b = el('button', { type: 'button', 'data-name': SUMMARY, class: 'summary-link' }, 'Summary of findings');
    b.addEventListener('click', showSummary);
    nav.append(b);
  }
  // Result documents by paper and question (the sections' order), then the rest, then inputs.
  const results = docs.filter((d) => d.kind === 'result');
  const placed = new Set<string>();
  let paper = '';
  for (const sec of summary?.sections ?? []) {
    const items = results.filter((d) => d.kind === 'result' && sec.methods.includes(d.doc.method));
    if (!items.length) continue;
    if (sec.paper !== paper) {
      paper = sec.paper;
      nav.append(el('h4', {}, paper));
    }
    nav.append(el('h5', {}, sec.question));
    for (const d of items) {
      nav.append(docButton(d));
      placed.add(d.name);
    }
  }
  const rest = results.filter((d) => !placed.has(d.name));
  if (rest.length) {
    nav.append(el('h4', {}, placed.size ? 'Other results' : 'Results'));
    for (const d of rest) nav.append(docButton(d));
  }
  const inputs = docs.filter((d) => d.kind === 'attention');
  if (inputs.length) {
    nav.append(el('h4', {}, 'Inputs'));
    for (const d of inputs) nav.append(docButton(d));
  }
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
  if (summary && findings.length) showSummary();
  else if (docs.length) select(docs[0]);
  else main.append(el('p', { class: 'empty' }, 'This report holds no documents.'));
}

// The findings by paper and question, each with links to the figures its numbers come from.
function summaryPanel(
  summary: ReportSummary,
  docs: Map<string, Document>,
  open: (d: Document, figure?: string) => void,
): HTMLElement {
  const root = el('article', { class: 'document summary-document', 'data-name': SUMMARY });
  root.append(el('h2', {}, 'Summary of findings'));
  if (summary.models?.length) root.append(el('p', { class: 'models' }, `Model: ${summary.models.join(', ')}`));
  const findings = summary.findings ?? [];
  if (!findings.length) root.append(el('p', { class: 'empty' }, 'No document here has findings of its own; see the documents on the left.'));
  let paper = '';
  let question = '';
  for (const f of findings) {
    if (f.paper && f.paper !== paper) {
      paper = f.paper;
      root.append(el('h3', { class: 'paper' }, paper));
    }
    if (f.question && f.question !== question) {
      question = f.question;
      root.append(el('h4', { class: 'question' }, question));
    }
    const doc = f.document ? docs.get(f.document) : undefined;
    const links = el('p', { class: 'figure-links' });
    if (doc) {
      const titles = new Map(
        doc.kind === 'result'
          ? ((doc.doc as { figures?: { id: string; title: string }[] }).figures ?? []).map((x) => [x.id, x.title])
          : [],
      );
      for (const id of f.figures ?? []) {
        const a = el('a', { href: '#', 'data-document': doc.name, 'data-view': id }, titles.get(id) ?? id);
        a.addEventListener('click', (e) => {
          e.preventDefault();
          open(doc, id);
        });
        links.append(a);
      }
      if (!f.figures?.length) {
        const a = el('a', { href: '#', 'data-document': doc.name }, doc.name);
        a.addEventListener('click', (e) => {
          e.preventDefault();
          open(doc);
        });
        links.append(a);
      }
    }
    root.append(
      el(
        'section',
        { class: 'finding', 'data-method': f.method },
        el('h5', {}, f.title),
        el('ul', {}, ...f.lines.map((l) => el('li', {}, l))),
        links.childNodes.length ? links : null,
      ),
    );
  }
  if (summary.skipped?.length) {
    root.append(
      el('details', { class: 'skipped' }, el('summary', {}, 'not in the summary'), el('ul', {}, ...summary.skipped.map((s) => el('li', {}, s)))),
    );
  }
  return root;
}
