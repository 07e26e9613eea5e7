// Writes the tokenizer files and golden encodings that tests/tokenizer_pipeline_test.cpp compares
// bertscope's tokenizer pipeline with, all from Hugging Face's Rust `tokenizers` (the npm binding):
//
//   tests/data/tokenizers/roberta-bpe/     byte-level BPE trained here, RoBERTa-style: tokenizer.json,
//                                          vocab.json + merges.txt (what RobertaConverter reads)
//   tests/data/tokenizers/xlmr-unigram/    sentencepiece.bpe.model (spm_train, Debian's sentencepiece)
//                                          and tokenizer.json converted by xlmr_converter.mjs
//   tests/data/tokenizers/hf-unigram/      a Unigram model trained by tokenizers itself
//
// and, for each, golden.json: ids, char offsets, word ids and type ids of every UD English EWT dev
// sentence (tests/data/ud_ewt_dev_sentences.txt) and of the edge cases below, singly and in pairs.
//
// Usage (from the repository root, after `npm ci` here; needs spm_train):
//   node tools/reference/tokenizer/make_pipeline_goldens.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tk from 'tokenizers';
import { xlmRobertaTokenizerJson } from './xlmr_converter.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const shared = path.resolve(root, '../shared/data');
const out = path.join(root, 'tests/data/tokenizers');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-pipeline-'));

// Training text: UD English EWT train sentences (not dev, which the goldens test on) and
// WikiText-2 valid.
const ewtTrain = fs.readFileSync(path.join(shared, 'ud_english_ewt/en_ewt-ud-train.conllu'), 'utf8')
  .split('\n').filter((l) => l.startsWith('# text = ')).map((l) => l.slice(9));
const corpus = path.join(tmp, 'corpus.txt');
fs.writeFileSync(corpus, ewtTrain.join('\n') + '\n' + fs.readFileSync(path.join(shared, 'wikitext2/wiki.valid.tokens'), 'utf8'));

const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value));
const sortedById = (vocab) => Object.entries(vocab).sort((a, b) => a[1] - b[1]);

// (a) Byte-level BPE, RoBERTa-style. tokenizers' default BpeTrainer has no vocabulary limit
// here, so the trained merges are cut to the first kMerges: BPE training is greedy, so that is
// the model a smaller vocab_size would have produced. Every byte is in the alphabet, as in GPT-2.
function makeRobertaBpe() {
  const kMerges = 3500;
  const trainer = new tk.Tokenizer(tk.BPE.empty());
  trainer.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
  trainer.train([corpus]);
  const trained = JSON.parse(trainerJson(trainer));
  const vocab = {};
  const add = (t) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  for (const t of ['<s>', '<pad>', '</s>', '<unk>']) add(t);
  for (const c of tk.byteLevelAlphabet().sort()) add(c);
  const merges = trained.model.merges.slice(0, kMerges).map((m) => (Array.isArray(m) ? m : m.split(' ')));
  for (const [a, b] of merges) add(a + b);
  add('<mask>');
  const dir = path.join(out, 'roberta-bpe');
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'vocab.json'), vocab);
  fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n' + merges.map((m) => m.join(' ')).join('\n') + '\n');
  const special = (content, id, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special('<s>', 0), special('<pad>', 1), special('</s>', 2), special('<unk>', 3), special('<mask>', vocab['<mask>'], true)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
             byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  writeJson(path.join(dir, 'tokenizer.json'), json);
  return dir;
}

function trainerJson(tok) {
  const file = path.join(tmp, `trained-${Math.random().toString(36).slice(2)}.json`);
  tok.save(file);
  return fs.readFileSync(file, 'utf8');
}

// (b) spm_train Unigram, converted as transformers' XLMRobertaConverter does.
function makeXlmrUnigram() {
  const dir = path.join(out, 'xlmr-unigram');
  fs.mkdirSync(dir, { recursive: true });
  const prefix = path.join(tmp, 'spm');
  execFileSync('spm_train', [`--input=${corpus}`, `--model_prefix=${prefix}`, '--vocab_size=3000', '--model_type=unigram',
    '--character_coverage=0.9995', '--seed_sentencepiece_size=200000', '--num_threads=1', '--minloglevel=2'], { stdio: 'ignore' });
  fs.copyFileSync(`${prefix}.model`, path.join(dir, 'sentencepiece.bpe.model'));
  writeJson(path.join(dir, 'tokenizer.json'), xlmRobertaTokenizerJson(path.join(dir, 'sentencepiece.bpe.model')));
  return dir;
}

// (c) Unigram trained by tokenizers (its default UnigramTrainer), with an NFKC + lower-casing
// normaliser and Metaspace; XLM-R-style special tokens are put around the trained pieces.
function makeHfUnigram() {
  const trainer = new tk.Tokenizer(tk.Unigram.empty());
  trainer.setNormalizer(tk.sequenceNormalizer([tk.nfkcNormalizer(), tk.lowercase()]));
  trainer.setPreTokenizer(tk.metaspacePreTokenizer('▁', 'always', true));
  trainer.train([corpus]);
  const json = JSON.parse(trainerJson(trainer));
  const pieces = json.model.vocab;
  const vocab = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...pieces, ['<mask>', 0]];
  const special = (content, id, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true });
  json.added_tokens = [special('<s>', 0), special('<pad>', 1), special('</s>', 2), special('<unk>', 3), special('<mask>', vocab.length - 1, true)];
  json.model = { type: 'Unigram', unk_id: 3, vocab, byte_fallback: false };
  json.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } },
           { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
  };
  const dir = path.join(out, 'hf-unigram');
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'tokenizer.json'), json);
  return dir;
}

// Edge cases: accents (composed and decomposed), CJK, emoji (with ZWJ and skin tones), control
// and format characters, very long words, runs of spaces, leading/trailing whitespace, added
// tokens with lstrip (<mask>) and special tokens typed into the text.
const longWord = 'Pneumonoultramicroscopicsilicovolcanoconiosis'.repeat(12);
const edgeCases = [
  'Café naïve résumé façade Ångström', 'Cafe\u0301 nai\u0308ve', 'ÀÉÎÕÜ àéîõü ß ẞ ﬁ ﬂ', '東京は日本の首都です。',
  '中文 字符 and English 混合', '한국어 텍스트', 'Emoji 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ done', 'tab\there\nnew line\r\nend',
  'control\u0000\u0001\u0007\u001f chars', 'zero\u200bwidth\u200dspace\ufeff bom', 'soft\u00adhyphen', longWord,
  `a ${longWord} b`, 'runs   of    spaces', '   leading and trailing   ', ' ', '', 'a', '<mask>', 'The capital of France is <mask>.',
  'Paris is<mask>and<mask> ok', 'x <s> y </s> z <pad>', "It's 12,345.67 dollars — isn't it?", '...!!!???',
  'ÄÖÜ äöü ÉÈÊ', 'Ελληνικά κείμενα ΟΔΟΣ', 'Русский текст', 'עברית ערבית العربية', 'हिन्दी', 'ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ',
  '\u00a0nbsp\u00a0text', 'line\u2028sep\u2029para', 'numbers 1234567890 ١٢٣ ½ ² ⅷ', 'e-mail: someone@example.com http://x.y/z?a=b',
];
const pairs = [['Hello world', 'How are you?'], ['The <mask> sat.', 'on the mat'], ['', 'second only'], ['Café', '東京']];

async function encode(tok, text, pair) {
  const e = await tok.encode(text, pair === undefined ? null : pair);
  return {
    ids: e.getIds(),
    offsets: e.getOffsets().flat(),
    words: e.getWordIds().map((w) => (w === null || w === undefined ? -1 : w)),
    types: e.getTypeIds(),
    tokens: e.getTokens(),
  };
}

async function goldens(dir) {
  const tok = tk.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
  const sentences = fs.readFileSync(path.join(root, 'tests/data/ud_ewt_dev_sentences.txt'), 'utf8').split('\n').filter((s) => s.length > 0);
  const pack = (e) => ({ ids: e.ids.join(' '), offsets: e.offsets.join(' '), words: e.words.join(' '), types: e.types.join(' ') });
  const ewt = [];
  for (const s of sentences) ewt.push(pack(await encode(tok, s)));
  const edge = [];
  for (const s of edgeCases) edge.push({ text: s, ...pack(await encode(tok, s)), tokens: (await encode(tok, s)).tokens });
  const pairCases = [];
  for (const [a, b] of pairs) pairCases.push({ text: a, pair: b, ...pack(await encode(tok, a, b)) });
  writeJson(path.join(dir, 'golden.json'), { reference: 'tokenizers 0.23.2 (npm)', ewt_dev: ewt, edge_cases: edge, pairs: pairCases });
  return { sentences: sentences.length, ids: ewt.reduce((n, e) => n + e.ids.split(' ').length, 0) };
}

for (const make of [makeRobertaBpe, makeXlmrUnigram, makeHfUnigram]) {
  const dir = make();
  const stats = await goldens(dir);
  console.log(`${path.relative(root, dir)}: ${stats.sentences} EWT dev sentences, ${stats.ids} ids, ${edgeCases.length} edge cases, ${pairs.length} pairs`);
}
fs.rmSync(tmp, { recursive: true });
