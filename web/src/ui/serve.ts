// The local web app of `bertscope serve`: type a sentence (or a pair), see its attention; open
// the result files the server was given, or any result JSON from disk. API: docs/viewer.md.
import { classify, type AttentionDoc, type Document } from '../data/types';
import { clear, el } from './dom';
import { documentPanel } from './panel';

interface ModelInfo {
  loaded: boolean;
  name?: string;
  layers?: number;
  heads?: number;
  hidden?: number;
  max_tokens?: number;
}

interface ResultEntry {
  name: string;
  bytes: number;
}

async function errorText(r: Response): Promise<string> {
  const body = await r.text();
  try {
    const j = JSON.parse(body) as { error?: string };
    if (j.error) return j.error;
  } catch {
    // Not JSON: show the text as it is.
  }
  return body || `${r.status} ${r.statusText}`;
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(await errorText(r));
  return (await r.json()) as T;
}

export async function runServe(root: HTMLElement): Promise<void> {
  const status = el('p', { class: 'status', role: 'status' });
  const main = el('main', { class: 'doc-view' });
  const text = el('textarea', { name: 'text', rows: 3, placeholder: 'A sentence' }) as HTMLTextAreaElement;
  const pair = el('textarea', { name: 'text_pair', rows: 2, placeholder: 'Optional second sentence (pair)' }) as HTMLTextAreaElement;
  const run = el('button', { type: 'submit', class: 'run' }, 'Run');
  const form = el('form', { class: 'input-form' }, text, pair, run);
  const resultList = el('div', { class: 'result-list' });
  const file = el('input', { type: 'file', accept: '.json,application/json', multiple: true, name: 'open-file' });
  const modelLine = el('span', { class: 'sub' });
  text.value = 'The keys to the cabinet are on the table.';

  const setStatus = (msg: string, error = false) => {
    status.textContent = msg;
    status.classList.toggle('error', error);
  };
  const show = (d: Document) => {
    clear(main);
    const t0 = performance.now();
    const p = documentPanel(d);
    main.append(p.root);
    document.body.dataset.showMs = (performance.now() - t0).toFixed(1);
    document.body.dataset.document = d.name;
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void (async () => {
      run.disabled = true;
      setStatus('Running…');
      const t0 = performance.now();
      try {
        const body: Record<string, string> = { text: text.value };
        if (pair.value.trim()) body.text_pair = pair.value;
        const doc = await getJson<AttentionDoc>('/api/run', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        const t1 = performance.now();
        show({ name: 'input', kind: 'attention', doc });
        const t2 = performance.now();
        document.body.dataset.requestMs = (t1 - t0).toFixed(1);
        document.body.dataset.runMs = (t2 - t0).toFixed(1);
        setStatus(`${doc.length} tokens; request ${(t1 - t0).toFixed(0)} ms, drawing ${(t2 - t1).toFixed(0)} ms`);
      } catch (e) {
        setStatus(e instanceof Error ? e.message : String(e), true);
      } finally {
        run.disabled = false;
      }
    })();
  });

  file.addEventListener('change', () => {
    void (async () => {
      for (const f of Array.from(file.files ?? [])) {
        try {
          show(classify(f.name, JSON.parse(await f.text())));
          setStatus(`Opened ${f.name}`);
        } catch (e) {
          setStatus(`${f.name}: ${e instanceof Error ? e.message : String(e)}`, true);
        }
      }
    })();
  });

  clear(root);
  root.append(
    el('header', { class: 'top' }, el('h1', {}, 'bertscope'), modelLine),
    el(
      'div',
      { class: 'layout' },
      el(
        'aside',
        {},
        el('h4', {}, 'Input'),
        form,
        el('h4', {}, 'Results'),
        resultList,
        el('label', { class: 'open-file' }, 'Open result JSON… ', file),
        status,
      ),
      main,
    ),
  );

  try {
    const info = await getJson<ModelInfo>('/api/model');
    if (info.loaded) {
      modelLine.textContent = `${info.name}: ${info.layers} layers x ${info.heads} heads, hidden ${info.hidden}, up to ${info.max_tokens} tokens`;
    } else {
      modelLine.textContent = 'no model (results only)';
      run.disabled = true;
      text.disabled = true;
      pair.disabled = true;
    }
    const list = await getJson<{ results: ResultEntry[] }>('/api/results');
    for (const r of list.results) {
      const b = el('button', { type: 'button', 'data-name': r.name }, r.name);
      b.addEventListener('click', () => {
        void (async () => {
          try {
            show(classify(r.name, await getJson<unknown>(`/api/results/${encodeURIComponent(r.name)}`)));
            setStatus(`Opened ${r.name}`);
          } catch (e) {
            setStatus(e instanceof Error ? e.message : String(e), true);
          }
        })();
      });
      resultList.append(b);
    }
    if (!list.results.length) resultList.append(el('p', { class: 'empty' }, 'none given (serve --results DIR)'));
    document.body.dataset.ready = 'true';
  } catch (e) {
    setStatus(e instanceof Error ? e.message : String(e), true);
  }
}
