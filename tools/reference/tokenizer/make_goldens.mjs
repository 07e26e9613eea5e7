// Writes the golden token ids that tests/tokenizer_test.cpp compares bertscope's tokenizer with.
//
// Two independent implementations produce every golden: transformers.js (@huggingface/transformers,
// a JavaScript re-implementation) and the Node binding of Hugging Face `tokenizers` (the Rust code
// that Python's AutoTokenizer runs). Where both agree the ids are golden; where they disagree the
// Rust ids are golden (bertscope follows the Rust tokenizer) and the case is marked, so that the
// README can list it. Offsets and word ids come from the Rust binding (transformers.js has none).
//
// Usage (from the repository root):  node tools/reference/tokenizer/make_goldens.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { bertConverterJson, readVocab } from './bert_converter.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const data = path.join(root, 'tests/data');
const out = path.join(data, 'tokenizer');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-tok-'));
function pairOfTokenizers(json) {
  const file = path.join(tmp, `tokenizer-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(json));
  return { js: new PreTrainedTokenizer(json, {}), rust: RustTokenizer.fromFile(file), file };
}

const uncasedJson = JSON.parse(fs.readFileSync(path.join(data, 'bert-base-uncased/tokenizer.json'), 'utf8'));
const models = {
  uncased: pairOfTokenizers(uncasedJson),
  cased: pairOfTokenizers(bertConverterJson(path.join(data, 'bert-base-cased/vocab.txt'), false)),
};
// The uncased tokenizer.json must be what BertConverter makes of the uncased vocab.txt, or the
// vocab.txt-only loading path would need goldens of its own.
const converted = pairOfTokenizers(bertConverterJson(path.join(data, 'bert-base-uncased/vocab.txt'), true));

const toArray = (t) => Array.from(t.data, Number);
function jsEncode(tok, text, pair, extra = {}) {
  const opts = { add_special_tokens: true, return_token_type_ids: true, ...extra };
  if (pair !== undefined) opts.text_pair = pair;
  const enc = tok(text, opts);
  return { ids: toArray(enc.input_ids), type_ids: toArray(enc.token_type_ids) };
}
async function rustEncode(tok, text, pair) {
  const enc = await tok.encode(text, pair === undefined ? null : pair);
  return {
    ids: enc.getIds(),
    type_ids: enc.getTypeIds(),
    tokens: enc.getTokens(),
    word_ids: enc.getWordIds().map((w) => (w === null || w === undefined ? -1 : w)),
    offsets: enc.getOffsets(),
  };
}
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

// 1. UD English EWT dev: every sentence, both models. Both references must agree on all of them.
const sentences = readVocab(path.join(data, 'ud_ewt_dev_sentences.txt'));
const summary = [];
for (const [name, m] of Object.entries(models)) {
  const lines = [];
  let disagreements = 0;
  for (const s of sentences) {
    const js = jsEncode(m.js, s);
    const rust = await rustEncode(m.rust, s);
    if (!same(js.ids, rust.ids)) {
      disagreements += 1;
      console.error(`ewt ${name}: references disagree on ${JSON.stringify(s)}`);
    }
    if (name === 'uncased') {
      const conv = await rustEncode(converted.rust, s);
      if (!same(conv.ids, rust.ids)) throw new Error(`converted uncased vocab.txt differs on ${JSON.stringify(s)}`);
    }
    lines.push(rust.ids.join(' '));
  }
  if (disagreements > 0) throw new Error(`ewt ${name}: ${disagreements} sentences where the references disagree`);
  fs.writeFileSync(path.join(out, `ewt_dev.${name}.ids`), lines.join('\n') + '\n');
  summary.push(`ewt_dev ${name}: ${sentences.length} sentences, transformers.js == tokenizers on all`);
}

// 2. Edge cases: ids, type ids, word ids, offsets.
const cases = fs.readFileSync(path.join(out, 'edge_cases.jsonl'), 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
const edge = [];
for (const c of cases) {
  for (const [name, m] of Object.entries(models)) {
    const js = jsEncode(m.js, c.text, c.pair);
    const rust = await rustEncode(m.rust, c.text, c.pair);
    const agree = same(js.ids, rust.ids) && same(js.type_ids, rust.type_ids);
    const entry = { name: c.name, model: name, reference: agree ? 'transformers.js+tokenizers' : 'tokenizers', ...rust };
    if (!agree) {
      entry.transformers_js_ids = js.ids;
      summary.push(`edge ${c.name} (${name}): transformers.js differs from tokenizers`);
    }
    if (name === 'uncased') {
      const conv = await rustEncode(converted.rust, c.text, c.pair);
      if (!same(conv.ids, rust.ids)) throw new Error(`converted uncased vocab.txt differs on case ${c.name}`);
    }
    edge.push(entry);
  }
}
fs.writeFileSync(path.join(out, 'edge_cases.golden.json'), JSON.stringify(edge, null, 1) + '\n');
summary.push(`edge cases: ${cases.length} inputs x 2 models, ${edge.filter((e) => e.reference !== 'tokenizers').length} agreed`);

// 3. Truncation (longest_first; max_length counts the special tokens).
const truncInputs = [
  { text: 'The quick brown fox jumps over the lazy dog.', max_length: 6 },
  { text: 'The quick brown fox jumps over the lazy dog.', pair: 'A short one.', max_length: 12 },
  { text: 'Short.', pair: 'A much longer second sentence that has to lose some of its tokens.', max_length: 10 },
  { text: 'one two three four five six seven', pair: 'eight nine ten eleven twelve thirteen', max_length: 9 },
  { text: 'one two three four five six seven', pair: 'eight nine ten eleven twelve thirteen', max_length: 10 },
  { text: 'unbelievably tokenizable words', max_length: 4 },
  { text: 'exactly fits', max_length: 4 },
  { text: 'a b', pair: 'c d', max_length: 3 },
];
const trunc = [];
for (const t of truncInputs) {
  for (const [name, m] of Object.entries(models)) {
    const js = jsEncode(m.js, t.text, t.pair, { truncation: true, max_length: t.max_length });
    m.rust.setTruncation(t.max_length, { strategy: 'LongestFirst' });
    const rust = await rustEncode(m.rust, t.text, t.pair);
    m.rust.disableTruncation();
    const agree = same(js.ids, rust.ids);
    trunc.push({ ...t, model: name, reference: agree ? 'transformers.js+tokenizers' : 'tokenizers', ids: rust.ids,
      type_ids: rust.type_ids, ...(agree ? {} : { transformers_js_ids: js.ids }) });
    if (!agree) summary.push(`truncation ${JSON.stringify(t)} (${name}): transformers.js differs from tokenizers`);
  }
}
fs.writeFileSync(path.join(out, 'truncation.golden.json'), JSON.stringify(trunc, null, 1) + '\n');

// 4. Pre-split words (is_split_into_words=True): word ids index the words, offsets are per word.
// The Node binding takes no pre-split input, so this does what tokenizers' encode does with one:
// each word encoded on its own (no special tokens), word index = position, then [CLS] ... [SEP].
const wordInputs = [
  ['The', 'café', 'opened', 'yesterday', '.'],
  ['New', 'York-based', 'start-ups', 'raised', '$5.5M'],
  ['[MASK]', 'is', 'unbelievable', '!'],
  ['', 'empty', 'word', ''],
];
const words = [];
for (const w of wordInputs) {
  for (const [name, m] of Object.entries(models)) {
    const ids = [m.rust.tokenToId('[CLS]')];
    const wordIds = [-1];
    const offsets = [[0, 0]];
    for (let i = 0; i < w.length; i += 1) {
      const enc = await m.rust.encode(w[i], null, { addSpecialTokens: false });
      ids.push(...enc.getIds());
      enc.getIds().forEach(() => wordIds.push(i));
      offsets.push(...enc.getOffsets());
    }
    ids.push(m.rust.tokenToId('[SEP]'));
    wordIds.push(-1);
    offsets.push([0, 0]);
    words.push({ words: w, model: name, reference: 'tokenizers', ids, word_ids: wordIds, offsets });
  }
}
fs.writeFileSync(path.join(out, 'words.golden.json'), JSON.stringify(words, null, 1) + '\n');

fs.rmSync(tmp, { recursive: true, force: true });
fs.writeFileSync(path.join(out, 'REFERENCE_SUMMARY.txt'), summary.join('\n') + '\n');
console.log(summary.join('\n'));
