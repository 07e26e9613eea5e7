// Writes the ALBERT-, DeBERTa-v3- and ModernBERT-style tokenizer folders and their goldens, all
// offline, beside the pipeline goldens of make_pipeline_goldens.mjs and in the same golden.json
// format (ids, char offsets, word ids, type ids from the Rust `tokenizers` binding):
//
//   tests/data/tokenizers/albert-lower-unigram/  spiece.model (spm_train Unigram, vocab 3,000, ALBERT's
//       layout: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4 as pad/unk/control symbols) and the tokenizer.json
//       AlbertConverter makes of it with albert-base-v2's settings (do_lower_case true, keep_accents false)
//   tests/data/tokenizers/albert-cased-unigram/  the same spiece.model converted with do_lower_case false,
//       keep_accents true (no NFKD / StripAccents / Lowercase)
//   tests/data/tokenizers/debertav3-unigram/     spm.model (spm_train Unigram, vocab 3,000, DeBERTa-v3's
//       layout: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3) and the tokenizer.json DebertaV2Converter makes of it
//       with deberta-v3-base's settings (do_lower_case false, split_by_punct false); [MASK] = 3000
//   tests/data/tokenizers/modernbert-bpe/        make_modernbert_tokenizer.mjs
//
// The converters are spm_family_converters.mjs. Inputs: every UD English EWT dev sentence
// (tests/data/ud_ewt_dev_sentences.txt), the 34 edge cases of make_pipeline_goldens.mjs, the 64 of
// tests/data/tokenizer/edge_cases.jsonl and a few per family (quotes for ALBERT, specials typed into
// the text, ModernBERT's non-special added tokens), singly, and 8 pairs. transformers.js encodes
// every input too: where it gives other ids than the Rust binding, the Rust ids stay golden and
// its ids are kept beside them (transformers_js_ids), as in make_goldens.mjs.
//
// Usage (from the repository root, after `npm ci` here; needs spm_train, Debian's sentencepiece):
//   node tools/reference/tokenizer/make_family_goldens.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tk from 'tokenizers';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { albertTokenizerJson, debertaV2TokenizerJson } from './spm_family_converters.mjs';
import { makeModernBert } from './make_modernbert_tokenizer.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const shared = path.resolve(root, '../shared/data');
const out = path.join(root, 'tests/data/tokenizers');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-family-'));
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value));
const writePretty = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');

// Training text of the SentencePiece models: as make_pipeline_goldens.mjs (EWT train, WikiText-2 valid).
const ewtTrain = fs.readFileSync(path.join(shared, 'ud_english_ewt/en_ewt-ud-train.conllu'), 'utf8')
  .split('\n').filter((l) => l.startsWith('# text = ')).map((l) => l.slice(9));
const corpus = path.join(tmp, 'corpus.txt');
fs.writeFileSync(corpus, ewtTrain.join('\n') + '\n' + fs.readFileSync(path.join(shared, 'wikitext2/wiki.valid.tokens'), 'utf8'));

function spmTrain(file, extra) {
  const prefix = path.join(tmp, `spm-${path.basename(file)}`);
  execFileSync('spm_train', [`--input=${corpus}`, `--model_prefix=${prefix}`, '--vocab_size=3000', '--model_type=unigram',
    '--character_coverage=0.9995', '--seed_sentencepiece_size=200000', '--num_threads=1', '--minloglevel=2', ...extra], { stdio: 'ignore' });
  fs.copyFileSync(`${prefix}.model`, file);
}

const specialsMap = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'string'
  ? v : { content: v.content, lstrip: v.lstrip ?? false, normalized: false, rstrip: false, single_word: false }]));

function makeAlbert() {
  const lower = path.join(out, 'albert-lower-unigram');
  const cased = path.join(out, 'albert-cased-unigram');
  fs.mkdirSync(lower, { recursive: true });
  fs.mkdirSync(cased, { recursive: true });
  const model = path.join(lower, 'spiece.model');
  spmTrain(model, ['--pad_id=0', '--unk_id=1', '--bos_id=-1', '--eos_id=-1', '--control_symbols=[CLS],[SEP],[MASK]']);
  const map = specialsMap({ bos_token: '[CLS]', cls_token: '[CLS]', eos_token: '[SEP]', mask_token: { content: '[MASK]', lstrip: true },
    pad_token: '<pad>', sep_token: '[SEP]', unk_token: '<unk>' });
  const config = (doLowerCase, keepAccents) => ({ tokenizer_class: 'AlbertTokenizer', do_lower_case: doLowerCase, keep_accents: keepAccents,
    remove_space: true, bos_token: '[CLS]', eos_token: '[SEP]', unk_token: '<unk>', sep_token: '[SEP]', pad_token: '<pad>',
    cls_token: '[CLS]', mask_token: '[MASK]', model_max_length: 512 });
  writeJson(path.join(lower, 'tokenizer.json'), albertTokenizerJson(model, { doLowerCase: true, keepAccents: false }));
  writePretty(path.join(lower, 'tokenizer_config.json'), config(true, false));
  writePretty(path.join(lower, 'special_tokens_map.json'), map);
  writeJson(path.join(cased, 'tokenizer.json'), albertTokenizerJson(model, { doLowerCase: false, keepAccents: true }));
  writePretty(path.join(cased, 'tokenizer_config.json'), config(false, true));
  writePretty(path.join(cased, 'special_tokens_map.json'), map);
  return [lower, cased];
}

function makeDebertaV3() {
  const dir = path.join(out, 'debertav3-unigram');
  fs.mkdirSync(dir, { recursive: true });
  const model = path.join(dir, 'spm.model');
  spmTrain(model, ['--pad_id=0', '--pad_piece=[PAD]', '--bos_id=1', '--bos_piece=[CLS]', '--eos_id=2', '--eos_piece=[SEP]',
    '--unk_id=3', '--unk_piece=[UNK]']);
  writeJson(path.join(dir, 'tokenizer.json'), debertaV2TokenizerJson(model, { doLowerCase: false, splitByPunct: false }));
  writePretty(path.join(dir, 'tokenizer_config.json'), { tokenizer_class: 'DebertaV2Tokenizer', do_lower_case: false, split_by_punct: false,
    vocab_type: 'spm', bos_token: '[CLS]', eos_token: '[SEP]', unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]',
    cls_token: '[CLS]', mask_token: '[MASK]', model_max_length: 512 });
  writePretty(path.join(dir, 'special_tokens_map.json'), specialsMap({ bos_token: '[CLS]', cls_token: '[CLS]', eos_token: '[SEP]',
    mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]' }));
  return dir;
}

// The edge cases of make_pipeline_goldens.mjs, verbatim.
const longWord = 'Pneumonoultramicroscopicsilicovolcanoconiosis'.repeat(12);
const pipelineEdgeCases = [
  'Café naïve résumé façade Ångström', 'Cafe\u0301 nai\u0308ve', 'ÀÉÎÕÜ àéîõü ß ẞ ﬁ ﬂ', '東京は日本の首都です。',
  '中文 字符 and English 混合', '한국어 텍스트', 'Emoji 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ done', 'tab\there\nnew line\r\nend',
  'control\u0000\u0001\u0007\u001f chars', 'zero\u200bwidth\u200dspace\ufeff bom', 'soft\u00adhyphen', longWord,
  `a ${longWord} b`, 'runs   of    spaces', '   leading and trailing   ', ' ', '', 'a', '<mask>', 'The capital of France is <mask>.',
  'Paris is<mask>and<mask> ok', 'x <s> y </s> z <pad>', "It's 12,345.67 dollars — isn't it?", '...!!!???',
  'ÄÖÜ äöü ÉÈÊ', 'Ελληνικά κείμενα ΟΔΟΣ', 'Русский текст', 'עברית ערבית العربية', 'हिन्दी', 'ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ',
  '\u00a0nbsp\u00a0text', 'line\u2028sep\u2029para', 'numbers 1234567890 ١٢٣ ½ ² ⅷ', 'e-mail: someone@example.com http://x.y/z?a=b',
];
const bertEdgeCases = fs.readFileSync(path.join(root, 'tests/data/tokenizer/edge_cases.jsonl'), 'utf8')
  .split('\n').filter((l) => l.trim().length > 0).map((l) => JSON.parse(l).text);
const familyEdgeCases = [
  "He said ``hello'' and ''bye''", 'The capital of France is [MASK].', 'Paris is[MASK]and[MASK] ok', '[CLS] x [SEP] y [PAD] z [UNK]',
  '[MASK]', ' [MASK] ', 'a  [MASK]  b', '<pad> <unk> [PAD] [UNK]', 'Prices: 1, 2, 3,4 and 10,000,000 or 1,5',
  'Ready?\tSet:\n\nGo!', 'UPPER lower MiXeD Ünïcödé', 'ﬁnancial ﬀ ℌ ①②③ ㈱ ㎏', '\u3000ideographic\u3000space\u3000',
  'contact |||EMAIL_ADDRESS||| or |||PHONE_NUMBER||| at |||IP_ADDRESS|||', '|||IP_ADDRESS|||', '<|endoftext|>text<|padding|>',
  '[unused0] [unused1][unused2]', 'def f(x):\n    return x  # two spaces\n        deep', 'a' + ' '.repeat(30) + 'b',
  'Unicode NFC: Å vs A\u030a, ñ vs n\u0303, 가 vs \u1100\u1161', "don't won't y'all 'quoted' \"double\"",
];
const edgeCases = [...pipelineEdgeCases, ...bertEdgeCases, ...familyEdgeCases];
const pairs = [['Hello world', 'How are you?'], ['The <mask> sat.', 'on the mat'], ['', 'second only'], ['Café', '東京'],
  ['The [MASK] sat.', 'on the mat'], ["``Quoted''  text", '  spaced   out  '], ['first only', ''], ['|||IP_ADDRESS||| a', 'b [SEP] c']];

async function encode(tok, text, pair) {
  const e = await tok.encode(text, pair === undefined ? null : pair);
  return {
    ids: e.getIds(), offsets: e.getOffsets().flat(), types: e.getTypeIds(), tokens: e.getTokens(),
    words: e.getWordIds().map((w) => (w === null || w === undefined ? -1 : w)),
  };
}
function jsIds(js, text, pair) {
  const opts = { add_special_tokens: true, return_token_type_ids: true };
  if (pair !== undefined) opts.text_pair = pair;
  try { return Array.from(js(text, opts).input_ids.data, Number); } catch (e) { return `error: ${e.message}`; }
}
const same = (a, b) => Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);

async function goldens(dir) {
  const file = path.join(dir, 'tokenizer.json');
  const tok = tk.Tokenizer.fromFile(file);
  const js = new PreTrainedTokenizer(JSON.parse(fs.readFileSync(file, 'utf8')), JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
  const sentences = fs.readFileSync(path.join(root, 'tests/data/ud_ewt_dev_sentences.txt'), 'utf8').split('\n').filter((s) => s.length > 0);
  const pack = (e) => ({ ids: e.ids.join(' '), offsets: e.offsets.join(' '), words: e.words.join(' '), types: e.types.join(' ') });
  const agree = { ewt_dev: 0, edge_cases: 0, pairs: 0 };
  const withJs = (entry, rust, text, pair, part) => {
    const j = jsIds(js, text, pair);
    if (same(rust.ids, j)) { agree[part]++; return { ...entry, reference: 'transformers.js+tokenizers' }; }
    return { ...entry, reference: 'tokenizers', transformers_js_ids: Array.isArray(j) ? j.join(' ') : j };
  };
  const ewt = [];
  for (const s of sentences) { const r = await encode(tok, s); ewt.push(withJs(pack(r), r, s, undefined, 'ewt_dev')); }
  const edge = [];
  for (const s of edgeCases) { const r = await encode(tok, s); edge.push(withJs({ text: s, ...pack(r), tokens: r.tokens }, r, s, undefined, 'edge_cases')); }
  const pairCases = [];
  for (const [a, b] of pairs) { const r = await encode(tok, a, b); pairCases.push(withJs({ text: a, pair: b, ...pack(r), tokens: r.tokens }, r, a, b, 'pairs')); }
  const transformersJsAgrees = { ewt_dev: `${agree.ewt_dev}/${ewt.length}`, edge_cases: `${agree.edge_cases}/${edge.length}`, pairs: `${agree.pairs}/${pairCases.length}` };
  writeJson(path.join(dir, 'golden.json'), { reference: 'tokenizers 0.23.2 (npm)', transformers_js_agrees: transformersJsAgrees,
    ewt_dev: ewt, edge_cases: edge, pairs: pairCases });
  return { sentences: sentences.length, ids: ewt.reduce((n, e) => n + e.ids.split(' ').length, 0), transformersJsAgrees };
}

const dirs = [...makeAlbert(), makeDebertaV3(), makeModernBert().dir];
for (const dir of dirs) {
  const s = await goldens(dir);
  console.log(`${path.relative(root, dir)}: ${s.sentences} EWT dev sentences, ${s.ids} ids, ${edgeCases.length} edge cases, ${pairs.length} pairs;` +
    ` transformers.js agrees on ${JSON.stringify(s.transformersJsAgrees)}`);
}
fs.rmSync(tmp, { recursive: true });
