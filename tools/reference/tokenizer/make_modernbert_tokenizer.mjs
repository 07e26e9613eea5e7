// Writes tests/data/tokenizers/modernbert-bpe/: a small tokenizer laid out like
// answerdotai/ModernBERT-base's (an OLMo / GPT-NeoX byte-level BPE with BERT's special tokens
// added), trained offline by Hugging Face's Rust `tokenizers` (npm binding 0.23.2) on the text
// roberta-bpe was trained on (make_pipeline_goldens.mjs): UD English EWT train sentences (not dev,
// which the goldens test on) and WikiText-2 valid, so that the agreement words the analyses need
// (is / are, laughs / laugh, ...) are single pieces as in a real vocabulary.
//
//   normalizer      NFC
//   pre_tokenizer   ByteLevel(add_prefix_space false, trim_offsets true, use_regex true)
//   model           BPE: ids 0 |||IP_ADDRESS|||, 1 <|padding|>, the 256 byte symbols, then one token
//                   per merge (the first kMerges merges the BpeTrainer found; training is greedy, so
//                   that is what a smaller vocab_size gives); no unk_token, no prefixes, fuse_unk false
//   added tokens    as ModernBERT's tokenizer_config.json lists them, in its order: |||IP_ADDRESS|||
//                   (not special, normalized), <|padding|> (special), the runs of 24 down to 2 spaces
//                   (not special, normalized), |||EMAIL_ADDRESS||| |||PHONE_NUMBER||| (not special,
//                   normalized), <|endoftext|> [UNK] [CLS] [SEP] [PAD] (special), [MASK] (special,
//                   lstrip), then [unused0].. (not special, normalized) up to a multiple of 64 tokens
//                   (ModernBERT: 50,368 = 787 x 64)
//   post_processor  TemplateProcessing "[CLS]:0 $A:0 [SEP]:0" / "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"
//   decoder         ByteLevel
//
// Deterministic: the BpeTrainer gives the same merges on every run (checked: three runs, 5,374
// merges, identical). Usage, from the repository root after `npm ci` here:
//   node tools/reference/tokenizer/make_modernbert_tokenizer.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tk from 'tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const kMerges = 3500;
const shared = path.resolve(root, '../shared/data');

export function makeModernBert(outDir = path.join(root, 'tests/data/tokenizers/modernbert-bpe')) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-modernbert-'));
  const trainer = new tk.Tokenizer(tk.BPE.empty());
  trainer.setNormalizer(tk.nfcNormalizer());
  trainer.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
  const ewtTrain = fs.readFileSync(path.join(shared, 'ud_english_ewt/en_ewt-ud-train.conllu'), 'utf8')
    .split('\n').filter((l) => l.startsWith('# text = ')).map((l) => l.slice(9));
  const corpus = path.join(tmp, 'corpus.txt');
  fs.writeFileSync(corpus, ewtTrain.join('\n') + '\n' + fs.readFileSync(path.join(shared, 'wikitext2/wiki.valid.tokens'), 'utf8'));
  trainer.train([corpus]);
  trainer.save(path.join(tmp, 'trained.json'));
  const trained = JSON.parse(fs.readFileSync(path.join(tmp, 'trained.json'), 'utf8'));
  fs.rmSync(tmp, { recursive: true });

  const vocab = {};
  const add = (t) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  add('|||IP_ADDRESS|||');
  add('<|padding|>');
  for (const c of tk.byteLevelAlphabet().sort()) add(c);
  const merges = trained.model.merges.slice(0, kMerges).map((m) => (Array.isArray(m) ? m : m.split(' ')));
  for (const [a, b] of merges) add(a + b);

  const added = [];
  const addToken = (content, { special, normalized, lstrip = false, id }) => {
    added.push({ id: id ?? Object.keys(vocab).length + added.filter((t) => !(t.content in vocab)).length, content,
                 single_word: false, lstrip, rstrip: false, normalized, special });
  };
  addToken('|||IP_ADDRESS|||', { special: false, normalized: true, id: 0 });
  addToken('<|padding|>', { special: true, normalized: false, id: 1 });
  for (let n = 24; n >= 2; --n) addToken(' '.repeat(n), { special: false, normalized: true });
  addToken('|||EMAIL_ADDRESS|||', { special: false, normalized: true });
  addToken('|||PHONE_NUMBER|||', { special: false, normalized: true });
  addToken('<|endoftext|>', { special: true, normalized: false });
  for (const t of ['[UNK]', '[CLS]', '[SEP]', '[PAD]']) addToken(t, { special: true, normalized: false });
  addToken('[MASK]', { special: true, normalized: false, lstrip: true });
  for (let i = 0; (Object.keys(vocab).length + added.length - 2) % 64 !== 0; ++i) {
    addToken(`[unused${i}]`, { special: false, normalized: true });
  }
  const idOf = Object.fromEntries(added.map((t) => [t.content, t.id]));
  const special = (id, type_id) => ({ SpecialToken: { id, type_id } });
  const sequence = (id, type_id) => ({ Sequence: { id, type_id } });
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0)],
      pair: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0), sequence('B', 1), special('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [idOf['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [idOf['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
             byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const config = {
    added_tokens_decoder: Object.fromEntries(added.map((t) => [String(t.id), {
      content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.single_word, special: t.special,
    }])),
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]', mask_token: '[MASK]', model_max_length: 8192, pad_token: '[PAD]', sep_token: '[SEP]',
    tokenizer_class: 'PreTrainedTokenizerFast', model_input_names: ['input_ids', 'attention_mask'], unk_token: '[UNK]',
  };
  const specialTokensMap = Object.fromEntries(['cls_token', 'mask_token', 'pad_token', 'sep_token', 'unk_token'].map((k) => {
    const content = config[k];
    const t = added.find((a) => a.content === content);
    return [k, { content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.single_word }];
  }));
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, 'special_tokens_map.json'), JSON.stringify(specialTokensMap, null, 2) + '\n');
  return { dir: outDir, vocab: Object.keys(vocab).length, merges: merges.length, added: added.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = makeModernBert();
  console.log(`${path.relative(root, r.dir)}: ${r.vocab} BPE tokens (${r.merges} merges), ${r.added} added tokens`);
}
