// transformers' AlbertConverter and DebertaV2Converter (src/transformers/convert_slow_tokenizer.py,
// SpmConverter.tokenizer / pre_tokenizer / decoder / converted plus each class's vocab, normalizer
// and post_processor) in JavaScript: a SentencePiece Unigram model file and the slow tokenizer's
// settings in, the tokenizer.json transformers would save out. The model is parsed with protobufjs,
// as xlmr_converter.mjs does.
//
//   AlbertConverter
//     vocab           the pieces with their ids; a piece "<digit>," gets score - 100 (check_number_comma)
//     normalizer      Sequence[Replace("``" -> '"'), Replace("''" -> '"'),
//                              NFKD, StripAccents          (unless keep_accents)
//                              Lowercase                   (if do_lower_case)
//                              Precompiled(charsmap)       (if the model has one)
//                              Replace(/ {2,}/ -> " ")]
//     pre_tokenizer   Metaspace("▁", prepend_scheme "always", split true)   (legacy tokenizer)
//     decoder         Metaspace("▁", "always", split true)
//     post_processor  TemplateProcessing "[CLS]:0 $A:0 [SEP]:0" / "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"
//     added tokens    control pieces (special, normalized false), then what AlbertTokenizerFast
//                     registers: <unk>, and [MASK] with lstrip (its mask_token is
//                     AddedToken("[MASK]", lstrip=True, normalized=False))
//   DebertaV2Converter
//     normalizer      Sequence[Lowercase (if do_lower_case), Strip(left, right),
//                              Precompiled(charsmap), Replace(/ {2,}/ -> " ")]
//     pre_tokenizer   Sequence[Punctuation(isolated) (if split_by_punct), Metaspace("▁", "always", split true)]
//     decoder         Metaspace("▁", "always", split true)
//     post_processor  TemplateProcessing "[CLS]:0 $A:0 [SEP]:0" / "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"
//     added tokens    control pieces ([PAD] [CLS] [SEP]), then [UNK] and [MASK] as DebertaV2TokenizerFast
//                     registers them; [MASK] is not a piece of the model, so it gets id = number of
//                     pieces (128000 in deberta-v3-base) and stays outside the Unigram vocab.
import fs from 'node:fs';
import protobuf from 'protobufjs';

const schema = protobuf.Root.fromJSON({
  nested: {
    SentencePiece: { fields: { piece: { type: 'string', id: 1 }, score: { type: 'float', id: 2 }, type: { type: 'int32', id: 3 } } },
    TrainerSpec: { fields: { model_type: { type: 'int32', id: 3 }, byte_fallback: { type: 'bool', id: 35 }, unk_id: { type: 'int32', id: 40 } } },
    NormalizerSpec: { fields: { name: { type: 'string', id: 1 }, precompiled_charsmap: { type: 'bytes', id: 2 } } },
    ModelProto: {
      fields: {
        pieces: { rule: 'repeated', type: 'SentencePiece', id: 1 },
        trainer_spec: { type: 'TrainerSpec', id: 2 },
        normalizer_spec: { type: 'NormalizerSpec', id: 3 },
      },
    },
  },
});

const kControl = 3, kUserDefined = 4;

export function readSpm(modelFile) {
  const proto = schema.lookupType('ModelProto').decode(fs.readFileSync(modelFile));
  if ((proto.trainer_spec?.model_type ?? 1) !== 1) throw new Error(`${modelFile}: not a Unigram model`);
  return proto;
}

// Python's str.isdigit on one character (enough for the ASCII and other decimal digits here).
const isDigit = (c) => /\p{Nd}/u.test(c);
const checkNumberComma = (piece) => {
  const cps = [...piece];
  return cps.length < 2 || cps[cps.length - 1] !== ',' || !isDigit(cps[cps.length - 2]);
};

const token = (content, id, special, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special });
const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };

function bertTemplate(cls, clsId, sep, sepId) {
  const special = (id, type_id) => ({ SpecialToken: { id, type_id } });
  const sequence = (id, type_id) => ({ Sequence: { id, type_id } });
  return {
    type: 'TemplateProcessing',
    single: [special(cls, 0), sequence('A', 0), special(sep, 0)],
    pair: [special(cls, 0), sequence('A', 0), special(sep, 0), sequence('B', 1), special(sep, 1)],
    special_tokens: { [cls]: { id: cls, ids: [clsId], tokens: [cls] }, [sep]: { id: sep, ids: [sepId], tokens: [sep] } },
  };
}

// SpmConverter.tokenizer's added tokens: control (special) and user-defined (not special) pieces.
function spmAddedTokens(proto) {
  const added = new Map();
  proto.pieces.forEach((p, i) => {
    if (p.type === kControl || p.type === kUserDefined) added.set(p.piece, token(p.piece, i, p.type === kControl));
  });
  return added;
}

function charsmapOf(proto) {
  const charsmap = proto.normalizer_spec?.precompiled_charsmap;
  return charsmap && charsmap.length > 0 ? { type: 'Precompiled', precompiled_charsmap: Buffer.from(charsmap).toString('base64') } : null;
}

export function albertTokenizerJson(modelFile, { doLowerCase = true, keepAccents = false } = {}) {
  const proto = readSpm(modelFile);
  const vocab = proto.pieces.map((p) => [p.piece, checkNumberComma(p.piece) ? p.score : p.score - 100]);
  const idOf = new Map(vocab.map(([p], i) => [p, i]));
  const normalizers = [
    { type: 'Replace', pattern: { String: '``' }, content: '"' },
    { type: 'Replace', pattern: { String: "''" }, content: '"' },
  ];
  if (!keepAccents) normalizers.push({ type: 'NFKD' }, { type: 'StripAccents' });
  if (doLowerCase) normalizers.push({ type: 'Lowercase' });
  const precompiled = charsmapOf(proto);
  if (precompiled) normalizers.push(precompiled);
  normalizers.push({ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
  const added = spmAddedTokens(proto);
  for (const t of ['<unk>', '<pad>', '[CLS]', '[SEP]']) if (idOf.has(t)) added.set(t, token(t, idOf.get(t), true));
  added.set('[MASK]', token('[MASK]', idOf.get('[MASK]'), true, true));
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [...added.values()].sort((a, b) => a.id - b.id),
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: metaspace,
    post_processor: bertTemplate('[CLS]', idOf.get('[CLS]'), '[SEP]', idOf.get('[SEP]')),
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: proto.trainer_spec.unk_id, vocab, byte_fallback: false },
  };
}

export function debertaV2TokenizerJson(modelFile, { doLowerCase = false, splitByPunct = false } = {}) {
  const proto = readSpm(modelFile);
  const vocab = proto.pieces.map((p) => [p.piece, p.score]);
  const idOf = new Map(vocab.map(([p], i) => [p, i]));
  const normalizers = [];
  if (doLowerCase) normalizers.push({ type: 'Lowercase' });
  normalizers.push({ type: 'Strip', strip_left: true, strip_right: true });
  const precompiled = charsmapOf(proto);
  if (precompiled) normalizers.push(precompiled);
  normalizers.push({ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
  const pretokenizers = [];
  if (splitByPunct) pretokenizers.push({ type: 'Punctuation', behavior: 'Isolated' });
  pretokenizers.push(metaspace);
  const added = spmAddedTokens(proto);
  for (const t of ['[PAD]', '[CLS]', '[SEP]', '[UNK]']) added.set(t, token(t, idOf.get(t), true));
  added.set('[MASK]', token('[MASK]', idOf.get('[MASK]') ?? vocab.length, true));
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [...added.values()].sort((a, b) => a.id - b.id),
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: { type: 'Sequence', pretokenizers },
    post_processor: bertTemplate('[CLS]', idOf.get('[CLS]'), '[SEP]', idOf.get('[SEP]')),
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: proto.trainer_spec.unk_id, vocab, byte_fallback: false },
  };
}
