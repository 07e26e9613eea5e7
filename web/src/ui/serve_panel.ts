// One input run by `serve`: the model's outputs, then its attention in tabs (all heads, one
// head, token to token, query and key vectors), which show the same layer: choosing a layer in
// one view (or opening a head from the grid) moves the others there. With a second model, a
// switch shows either model's views, and two more tabs show A, B and B - A for one head and
// B - A for every head.
import { AttentionSet, headVectors, type ServedAttentionDoc } from '../data/attention';
import { AttentionGridView } from '../views/attention_grid';
import { AttentionHeatmapView } from '../views/attention_heatmap';
import { AttentionLinesView } from '../views/attention_lines';
import { AttentionCompareView, DifferenceGridView, checkComparable, type ComparedModels } from '../views/attention_compare';
import { NeuronView } from '../views/neuron';
import type { View } from '../views/view';
import { ChartFrame } from './chart';
import { el } from './dom';
import { describeInput } from './panel';
import { modelOutputs } from './model_outputs';

export interface ServedRun {
  a: ServedAttentionDoc;
  b?: ServedAttentionDoc; // the second model's run of the same input
}

type Slot = 'a' | 'b' | 'both';

interface Tab {
  id: string;
  title: string;
  frames: Partial<Record<Slot, ChartFrame>>;
}

// Settings that mean the same in every view that has them.
const SHARED = ['layer', 'head'];

function modelName(doc: ServedAttentionDoc, fallback: string): string {
  const name = doc.model?.name;
  return typeof name === 'string' && name ? name : fallback;
}


function attentionViewsOf(set: AttentionSet): View[] {
  const views: View[] = [new AttentionGridView(set), new AttentionHeatmapView(set), new AttentionLinesView(set)];
  const vectors = headVectors(set);
  if (vectors) views.push(new NeuronView(set, vectors));
  return views;
}

export function servePanel(name: string, run: ServedRun): HTMLElement {
  const nameA = modelName(run.a, 'A');
  const nameB = run.b ? modelName(run.b, 'B') : '';
  const setA = new AttentionSet(run.a);
  const setB = run.b ? new AttentionSet(run.b) : null;
  const tabs: Tab[] = [];
  const tabOf = (id: string, title: string) => {
    let t = tabs.find((x) => x.id === id);
    if (!t) tabs.push((t = { id, title, frames: {} }));
    return t;
  };
  const add = (slot: Slot, v: View) => {
    const stem = slot === 'b' ? `${name}-b` : name;
    tabOf(v.id, v.title).frames[slot] = new ChartFrame(v, stem);
  };
  for (const v of attentionViewsOf(setA)) add('a', v);
  if (setB) {
    for (const v of attentionViewsOf(setB)) add('b', v);
    const models: ComparedModels = { a: setA, b: setB, nameA, nameB };
    checkComparable(models);
    add('both', new AttentionCompareView(models));
    add('both', new DifferenceGridView(models));
  }
  const frames = tabs.flatMap((t) => Object.values(t.frames));
  const stale = new Set(frames);
  const versions = new Map(frames.map((f) => [f, f.view.paramsVersion()]));
  let slot: 'a' | 'b' = 'a';
  let current = 'grid';

  const frameOf = (t: Tab): ChartFrame | undefined => t.frames.both ?? t.frames[slot];
  const nav = el('nav', { class: 'tabs', role: 'tablist' });
  const stack = el('div', { class: 'tab-panels' });
  const show = (id: string) => {
    current = id;
    const tab = tabs.find((t) => t.id === id) ?? tabs[0];
    const shown = frameOf(tab);
    for (const f of frames) {
      f.root.hidden = f !== shown;
      if (f === shown && stale.has(f)) {
        f.render();
        stale.delete(f);
      }
    }
    for (const b of nav.querySelectorAll('button')) b.classList.toggle('active', b.dataset.tab === tab.id);
  };
  // Another view shows this layer (and head) now: the others follow, and repaint when shown.
  const follow = (source: ChartFrame) => {
    for (const name of SHARED) {
      if (!source.view.param(name)) continue;
      const value = source.view.get(name);
      if (+value < 0) continue;
      for (const f of frames) {
        if (f === source || !f.view.param(name) || f.view.get(name) === value) continue;
        f.view.set(name, value);
        f.syncControls();
        stale.add(f);
      }
    }
  };
  for (const tab of tabs) {
    const b = el('button', { type: 'button', 'data-tab': tab.id, role: 'tab' }, tab.title);
    b.addEventListener('click', () => show(tab.id));
    nav.append(b);
  }
  for (const f of frames) {
    stack.append(f.root);
    f.root.addEventListener('change', (ev) => {
      const target = ev.target as HTMLInputElement | null;
      if (target && SHARED.includes(target.name)) follow(f);
    });
    // The line view's legend switches heads: its controls then show the new list.
    const reread = () => {
      const v = f.view.paramsVersion();
      if (v !== versions.get(f)) {
        versions.set(f, v);
        f.syncControls();
      }
    };
    f.root.addEventListener('click', reread);
    f.root.addEventListener('dblclick', reread);
    f.view.onNavigate = (id, settings) => {
      const tab = tabs.find((t) => t.id === id);
      const target = tab && (tab.frames.both ?? tab.frames[slot]);
      if (!target) return;
      for (const [k, val] of Object.entries(settings)) target.view.set(k, val);
      if ('resetZoom' in target.view) (target.view as View & { resetZoom(): void }).resetZoom();
      target.syncControls();
      stale.add(target);
      follow(target);
      show(id);
    };
  }

  const words = el('input', { type: 'checkbox', name: 'word-level-all' });
  words.addEventListener('change', () => {
    for (const f of frames) {
      if (!f.view.param('word-level')) continue;
      f.view.set('word-level', words.checked ? 'true' : 'false');
      f.syncControls();
      stale.add(f);
    }
    show(current);
  });
  const controls = el(
    'div',
    { class: 'doc-controls' },
    nav,
    el('label', { class: 'word-toggle', title: "Merge word pieces (Clark et al.): sum over a word's columns, mean over its rows" }, words, ' merge word pieces'),
  );
  if (setB) {
    const which = el('select', { name: 'model-shown' }, el('option', { value: 'a' }, `A: ${nameA}`), el('option', { value: 'b' }, `B: ${nameB}`));
    which.addEventListener('change', () => {
      slot = which.value === 'b' ? 'b' : 'a';
      show(current);
    });
    controls.append(el('label', { class: 'model-toggle', title: 'Which model the other tabs show' }, 'model ', which));
  }

  const outputs = el('div', { class: 'outputs-row' });
  for (const [doc, label] of setB && run.b ? [[run.a, `A: ${nameA}`], [run.b, `B: ${nameB}`]] as const : [[run.a, nameA]] as const) {
    const box = modelOutputs(doc.outputs, label);
    if (box) outputs.append(box);
  }
  const notices: HTMLElement[] = [];
  if (run.a.truncated) {
    notices.push(el('p', { class: 'notice truncated' }, `The input was truncated: ${run.a.truncated} tokens were cut (longest segment first) to fit the server's limit.`));
  }
  const root = el(
    'article',
    { class: `document attention-document${setB ? ' compared' : ''}`, 'data-name': name },
    el('h2', {}, setB ? `${name}: A = ${nameA}, B = ${nameB}` : name),
    describeInput(run.a),
    ...notices,
    outputs,
    controls,
    stack,
  );
  show('grid');
  return root;
}
