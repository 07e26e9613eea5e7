// The local web app of `bertscope serve`: type a sentence (or a pair), see its attention and the
// model's outputs (with `--model-b`, both models' and their difference); open the result files
// the server was given, or any result JSON from disk. Errors are shown in the main pane, an
// over-long input with a button that truncates it. API: docs/viewer.md.
import type { ServedAttentionDoc } from '../data/attention';
import { classify, type Document } from '../data/types';
import { clear, el } from './dom';
import { documentPanel } from './panel';
import { servePanel, type ServedRun } from './serve_panel';

interface ModelDescription {
  name: string;
  layers: number;
  heads: number;
  hidden: number;
}

interface ModelInfo extends Partial<ModelDescription> {
  loaded: boolean;
  max_tokens?: number;
  b?: ModelDescription;
}

interface ResultEntry {
  name: string;
  bytes: number;
}

// An answer of the API that is not 2xx, with what its JSON body says.
class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

async function apiError(r: Response): Promise<ApiError> {
  const text = await r.text();
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    if (typeof j.error === 'string') return new ApiError(j.error, r.status, j);
  } catch {
    // Not JSON: show the text as it is.
  }
  return new ApiError(text || `${r.status} ${r.statusText}`, r.status, {});
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, init);
  if (!r.ok) throw await apiError(r);
  return (await r.json()) as T;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeModel(m: Partial<ModelDescription>): string {
  return `${m.name}: ${m.layers} layers x ${m.heads} heads, hidden ${m.hidden}`;
}

export async function runServe(root: HTMLElement): Promise<void> {
  const status = el('p', { class: 'status', role: 'status' });
  const main = el('main', { class: 'doc-view' });
  const text = el('textarea', { name: 'text', rows: 3, placeholder: 'A sentence ([MASK] for a prediction)' }) as HTMLTextAreaElement;
  const pair = el('textarea', { name: 'text_pair', rows: 2, placeholder: 'Optional second sentence (pair)' }) as HTMLTextAreaElement;
  const run = el('button', { type: 'submit', class: 'run' }, 'Run');
  const form = el('form', { class: 'input-form' }, text, pair, run);
  const resultList = el('div', { class: 'result-list' });
  const file = el('input', { type: 'file', accept: '.json,application/json', multiple: true, name: 'open-file' });
  const modelLine = el('span', { class: 'sub' });
  let compare = false;
  text.value = 'The keys to the cabinet are on the table.';

  const setStatus = (msg: string, error = false) => {
    status.textContent = msg;
    status.classList.toggle('error', error);
  };
  // A failure replaces the main pane's content: the message, and what can be done about it.
  const showError = (title: string, e: unknown, ...actions: HTMLElement[]) => {
    clear(main);
    main.append(
      el('div', { class: 'error-pane', role: 'alert' }, el('h3', {}, title), el('p', { class: 'message' }, message(e)), ...actions),
    );
    setStatus(message(e), true);
  };
  const showPanel = (build: () => HTMLElement, name: string) => {
    clear(main);
    const t0 = performance.now();
    main.append(build());
    document.body.dataset.showMs = (performance.now() - t0).toFixed(1);
    document.body.dataset.document = name;
  };
  const show = (d: Document) => showPanel(() => documentPanel(d).root, d.name);

  const runInput = async (truncate: boolean) => {
    run.disabled = true;
    setStatus('Running…');
    const t0 = performance.now();
    try {
      const body: Record<string, unknown> = { text: text.value, vectors: true };
      if (pair.value.trim()) body.text_pair = pair.value;
      if (truncate) body.truncate = true;
      const request = (model: 'a' | 'b') =>
        getJson<ServedAttentionDoc>('/api/run', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ...body, model }),
        });
      const [a, b] = await Promise.all([request('a'), compare ? request('b') : Promise.resolve(undefined)]);
      const t1 = performance.now();
      const served: ServedRun = { a, b };
      showPanel(() => servePanel('input', served), 'input');
      const t2 = performance.now();
      document.body.dataset.requestMs = (t1 - t0).toFixed(1);
      document.body.dataset.runMs = (t2 - t0).toFixed(1);
      setStatus(`${a.length} tokens; request ${(t1 - t0).toFixed(0)} ms, drawing ${(t2 - t1).toFixed(0)} ms`);
    } catch (e) {
      const over = e instanceof ApiError && e.status === 422 && typeof e.body.max_tokens === 'number' ? e.body.max_tokens : null;
      if (over !== null) {
        const cut = el('button', { type: 'button', class: 'truncate' }, `Truncate to ${over} tokens and run`);
        cut.addEventListener('click', () => void runInput(true));
        showError('The input is too long', e, el('p', {}, 'Cut it (the longer segment first, as Hugging Face does) to fit:'), cut);
      } else {
        showError('The model could not run on this input', e);
      }
    } finally {
      run.disabled = false;
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void runInput(false);
  });

  file.addEventListener('change', () => {
    void (async () => {
      for (const f of Array.from(file.files ?? [])) {
        try {
          show(classify(f.name, JSON.parse(await f.text())));
          setStatus(`Opened ${f.name}`);
        } catch (e) {
          showError(`Could not open ${f.name}`, e);
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
      compare = info.b !== undefined;
      modelLine.textContent = info.b
        ? `A: ${describeModel(info)}; B: ${describeModel(info.b)}; up to ${info.max_tokens} tokens`
        : `${describeModel(info)}, up to ${info.max_tokens} tokens`;
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
            showError(`Could not open ${r.name}`, e);
          }
        })();
      });
      resultList.append(b);
    }
    if (!list.results.length) resultList.append(el('p', { class: 'empty' }, 'none given (serve --results DIR)'));
    document.body.dataset.ready = 'true';
  } catch (e) {
    showError('The server did not answer', e);
  }
}
