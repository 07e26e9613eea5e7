// What the model's task head says about the input (serve): the top predictions at each mask
// token of a masked language model, or the class probabilities of a sequence classifier.
import type { ModelOutputs } from '../data/attention';
import { formatValue } from '../render/guides';
import { el } from './dom';

function percent(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

// A row of a label, a bar as long as the probability and the number.
function barRow(label: string, p: number, cls: string, data: Record<string, string>): HTMLElement {
  const bar = el('span', { class: 'bar' });
  // A style property set from script is allowed by the page's CSP (inline style attributes are not).
  bar.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
  return el(
    'li',
    { class: cls, ...Object.fromEntries(Object.entries(data).map(([k, v]) => [`data-${k}`, v])) },
    el('span', { class: 'label', title: label }, label),
    el('span', { class: 'bar-track' }, bar),
    el('span', { class: 'value' }, percent(p)),
  );
}

export function modelOutputs(outputs: ModelOutputs | undefined, modelName: string): HTMLElement | null {
  if (!outputs || outputs.head === 'none') return null;
  const box = el('section', { class: 'model-outputs', 'data-head': outputs.head, 'data-model': modelName });
  if (outputs.head === 'masked_lm') {
    box.append(el('h4', {}, `${modelName}: predictions at ${outputs.mask_token ?? 'the mask token'}`));
    const masked = outputs.masked ?? [];
    if (!masked.length) {
      box.append(el('p', { class: 'empty' }, `Write ${outputs.mask_token ?? '[MASK]'} in the text to see what the model predicts there.`));
    }
    for (const m of masked) {
      const list = el('ol', { class: 'predictions', 'data-position': String(m.position) });
      for (const t of m.top) list.append(barRow(t.token, t.probability, 'prediction', { token: t.token, probability: String(t.probability) }));
      box.append(el('div', { class: 'mask' }, el('span', { class: 'where' }, `position ${m.position}`), list));
    }
  } else {
    const classes = outputs.classes ?? [];
    const how = outputs.activation === 'sigmoid' ? 'label probabilities (sigmoid)' : outputs.activation === 'none' ? 'regression outputs' : 'class probabilities';
    box.append(el('h4', {}, `${modelName}: ${how}`));
    const best = classes.reduce((b, c, i) => ((c.probability ?? c.value ?? 0) > (classes[b].probability ?? classes[b].value ?? 0) ? i : b), 0);
    const list = el('ol', { class: 'classes' });
    classes.forEach((c, i) => {
      if (c.probability === undefined) {
        list.append(el('li', { class: 'class', 'data-label': c.label, 'data-value': String(c.value) }, `${c.label}: ${formatValue(c.value)}`));
        return;
      }
      const row = barRow(c.label, c.probability, i === best ? 'class best' : 'class', { label: c.label, probability: String(c.probability) });
      list.append(row);
    });
    box.append(list);
  }
  return box;
}
