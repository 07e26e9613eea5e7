// Goldens for the tokenizer components that the three pipeline tokenizers do not use (Split and
// its behaviours, Punctuation, Whitespace, Digits, NFD/NFKD, StripAccents, Strip, Prepend,
// Metaspace options, BPE unk/fuse_unk/byte_fallback/ignore_merges, ByteLevel options,
// BertProcessing, processor Sequence), from the Rust tokenizers (npm 0.23.2).
//
// Each variant is a JSON merge patch (RFC 7386) over one of the tokenizer.json files under
// tests/data/tokenizers/; tests/tokenizer_component_test.cpp applies the same patch
// (nlohmann::json::merge_patch) and compares ids, offsets, word ids and type ids.
//
// Usage (from the repository root, after make_pipeline_goldens.mjs):
//   node tools/reference/tokenizer/make_component_goldens.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tk from 'tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const data = path.join(root, 'tests/data/tokenizers');

function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const bertPair = { type: 'BertProcessing', sep: ['</s>', 2], cls: ['<s>', 0] };
const robertaBytes = {};
for (let b = 0; b < 256; ++b) robertaBytes[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3761 + b;

const variants = [
  { name: 'split-string-removed', base: 'hf-unigram', patch: { pre_tokenizer: split({ String: ' ' }, 'Removed') } },
  { name: 'split-regex-isolated', base: 'hf-unigram', patch: { pre_tokenizer: split({ Regex: '\\d+|[.,!?]' }, 'Isolated') } },
  { name: 'split-merged-with-previous', base: 'hf-unigram', patch: { pre_tokenizer: split({ Regex: '[,.;:!?]' }, 'MergedWithPrevious') } },
  { name: 'split-merged-with-next', base: 'hf-unigram', patch: { pre_tokenizer: split({ String: ' ' }, 'MergedWithNext') } },
  { name: 'split-contiguous-inverted', base: 'hf-unigram', patch: { pre_tokenizer: split({ Regex: '\\w+' }, 'Contiguous', true) } },
  { name: 'whitespace-split-then-punctuation', base: 'hf-unigram',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Contiguous' }] } } },
  { name: 'whitespace', base: 'hf-unigram', patch: { pre_tokenizer: { type: 'Whitespace' } } },
  { name: 'digits', base: 'hf-unigram',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true }] } } },
  { name: 'nfd-strip-accents-lowercase', base: 'hf-unigram',
    patch: { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] } } },
  { name: 'nfkd-replace-strip-prepend', base: 'hf-unigram',
    patch: { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'Replace', pattern: { String: 'th' }, content: 'TH' },
      { type: 'Strip', strip_left: true, strip_right: true }, { type: 'Lowercase' }, { type: 'Prepend', prepend: '▁' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true } } },
  { name: 'metaspace-first-no-split', base: 'hf-unigram',
    patch: { pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false } } },
  { name: 'bert-processing', base: 'hf-unigram', patch: { post_processor: bertPair } },
  { name: 'bpe-unk-fuse', base: 'roberta-bpe',
    patch: { pre_tokenizer: { type: 'Whitespace' }, post_processor: bertPair, model: { unk_token: '<unk>', fuse_unk: true } } },
  { name: 'bpe-unk-no-fuse', base: 'roberta-bpe',
    patch: { pre_tokenizer: { type: 'Whitespace' }, post_processor: null, model: { unk_token: '<unk>', fuse_unk: false } } },
  { name: 'bpe-byte-fallback', base: 'roberta-bpe',
    patch: { pre_tokenizer: { type: 'Metaspace', replacement: 'Ġ', prepend_scheme: 'always', split: true },
      model: { unk_token: '<unk>', byte_fallback: true, vocab: robertaBytes } } },
  { name: 'bpe-ignore-merges', base: 'roberta-bpe', patch: { model: { ignore_merges: true } } },
  { name: 'byte-level-prefix-space-untrimmed', base: 'roberta-bpe',
    patch: { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }, bertPair] } } },
  { name: 'byte-level-no-regex-trimmed', base: 'roberta-bpe',
    patch: { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false } } },
];

const texts = [
  'Hello, world! It costs 1,234.50 dollars.', 'The  quick brown fox -- jumped;over: the lazy dog?!',
  'Café naïve RÉSUMÉ Ångström ﬁne ½', '  leading and trailing  ', 'mixed 中文 text 👍🏽 and émojis',
  'x<mask>y and <mask> z', 'tabs\tand\nnewlines', 'ﾌﾙｳｲﾄﾞ ｶﾀｶﾅ', 'a', '', 'Zażółć gęślą jaźń',
];
const sentences = fs.readFileSync(path.join(root, 'tests/data/ud_ewt_dev_sentences.txt'), 'utf8').split('\n').filter((s) => s).slice(0, 20);
const pairs = [['First segment here.', 'And the second, 2nd one.']];

const out = [];
for (const v of variants) {
  const base = JSON.parse(fs.readFileSync(path.join(data, v.base, 'tokenizer.json'), 'utf8'));
  // A component given in the patch replaces the base's whole: its other keys are patched to null.
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor']) {
    const given = v.patch[key];
    if (!given || !base[key]) continue;
    const nulls = Object.fromEntries(Object.keys(base[key]).map((k) => [k, null]));
    v.patch[key] = { ...nulls, ...given };
  }
  const tok = tk.Tokenizer.fromString(JSON.stringify(mergePatch(base, v.patch)));
  const cases = [];
  const encode = async (text, pair) => {
    const e = await tok.encode(text, pair === undefined ? null : pair);
    const c = { text, ids: e.getIds().join(' '), offsets: e.getOffsets().flat().join(' '),
      words: e.getWordIds().map((w) => (w === null || w === undefined ? -1 : w)).join(' '), types: e.getTypeIds().join(' ') };
    if (pair !== undefined) c.pair = pair;
    cases.push(c);
  };
  for (const t of [...texts, ...sentences]) await encode(t);
  for (const [a, b] of pairs) await encode(a, b);
  out.push({ name: v.name, base: v.base, patch: v.patch, cases });
}
fs.writeFileSync(path.join(data, 'components.json'), JSON.stringify({ reference: 'tokenizers 0.23.2 (npm)', variants: out }));
console.log(`tests/data/tokenizers/components.json: ${out.length} variants x ${texts.length + sentences.length + pairs.length} cases`);
