// Writes the vocabularies that tests/wordpiece_trainer_test.cpp compares `bertscope train vocab`
// with, each learned by Hugging Face's Rust WordPieceTrainer (the `tokenizers` npm binding):
//
//   tests/data/tokenizers/wordpiece-trainer/<setting>.vocab.txt   one token a line, id order
//   tests/data/tokenizers/wordpiece-trainer/settings.json         inputs and options of each
//
// The binding trains only with the model's default trainer (WordPieceTrainer::default():
// vocab_size 30000, min_frequency 0, no special tokens, no alphabet limit). Training is greedy
// and ids are handed out in order, so the first N tokens are what vocab_size N gives; special
// tokens only shift every id by their number. The test uses both facts.
//
// tokenizers gives the "##" characters their ids in the order of a hash map seeded afresh in
// every process, and ties between pair counts go to the smaller ids, so two runs differ from
// about the 80th merge on. The golden keeps this run's order; the test replays it.
//
// Usage (from the repository root, after `npm ci --ignore-scripts` here):
//   node tools/reference/tokenizer/make_wordpiece_trainer_goldens.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tk from 'tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const out = path.join(root, 'tests/data/tokenizers/wordpiece-trainer');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-wordpiece-'));

// Inputs, relative to the repository root: UD English EWT dev sentences, the first chapters of A
// Tale of Two Cities (a Gutenberg body), and a whole Gutenberg file with header and licence.
const inputs = [
  'tests/data/ud_ewt_dev_sentences.txt',
  'data/prose/a_tale_of_two_cities.sentences.txt',
  'tests/data/tokenizers/wordpiece-trainer/pg7256_The_Gift_of_the_Magi.txt',
];

// bertscope's rule (io::gutenberg_body): the text after the "*** START OF" line, before "*** END OF".
function gutenbergBody(text) {
  const start = text.indexOf('*** START OF');
  if (start < 0) return text;
  const newline = text.indexOf('\n', start);
  if (newline < 0) return '';
  let end = text.indexOf('*** END OF');
  if (end < 0 || end < newline) end = text.length;
  return text.slice(newline + 1, end);
}

function train(files, lowercase) {
  const bodies = files.map((file, i) => {
    const body = path.join(tmp, `${i}.txt`);
    fs.writeFileSync(body, gutenbergBody(fs.readFileSync(path.join(root, file), 'utf8')));
    return body;
  });
  const tokenizer = new tk.Tokenizer(tk.WordPiece.empty());
  tokenizer.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase }));
  tokenizer.setPreTokenizer(tk.bertPreTokenizer());
  tokenizer.train(bodies);
  return Object.entries(tokenizer.getVocab(false)).sort((a, b) => a[1] - b[1]).map(([token]) => token);
}

// name, inputs, lowercase, tokens kept (0: all, i.e. training ran until no pair was left).
const settings = [
  { name: 'uncased-8000', inputs, lowercase: true, keep: 8000 },
  { name: 'cased-6000', inputs, lowercase: false, keep: 6000 },
  { name: 'ewt-uncased-all', inputs: inputs.slice(0, 1), lowercase: true, keep: 0 },
];

fs.mkdirSync(out, { recursive: true });
const written = [];
for (const s of settings) {
  const vocab = train(s.inputs, s.lowercase);
  const kept = s.keep ? vocab.slice(0, s.keep) : vocab;
  if (s.keep && vocab.length < s.keep) throw new Error(`${s.name}: only ${vocab.length} tokens`);
  if (kept.some((t) => /[\r\n]/.test(t))) throw new Error(`${s.name}: a token holds a line break`);
  fs.writeFileSync(path.join(out, `${s.name}.vocab.txt`), kept.join('\n') + '\n');
  written.push({ name: s.name, inputs: s.inputs, lowercase: s.lowercase, tokens: kept.length,
    trained_tokens: vocab.length, complete: !s.keep });
  console.log(`${s.name}: ${kept.length} of ${vocab.length} tokens`);
}
fs.writeFileSync(path.join(out, 'settings.json'), JSON.stringify({
  reference: 'tokenizers 0.23.2 (npm), WordPieceTrainer::default() with BertNormalizer and BertPreTokenizer',
  settings: written,
}, null, 1) + '\n');
fs.rmSync(tmp, { recursive: true });
