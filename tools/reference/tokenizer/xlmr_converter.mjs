// transformers' XLMRobertaConverter (convert_slow_tokenizer.py: SpmConverter.normalizer,
// pre_tokenizer and tokenizer, XLMRobertaConverter.vocab, unk_id and post_processor) in
// JavaScript: a SentencePiece Unigram model file in, the tokenizer.json transformers would save out.
// The model is parsed with protobufjs against the fields of sentencepiece_model.proto it needs.
import fs from 'node:fs';
import protobuf from 'protobufjs';

const schema = protobuf.Root.fromJSON({
  nested: {
    SentencePiece: { fields: { piece: { type: 'string', id: 1 }, score: { type: 'float', id: 2 }, type: { type: 'int32', id: 3 } } },
    TrainerSpec: { fields: { model_type: { type: 'int32', id: 3 }, byte_fallback: { type: 'bool', id: 35 } } },
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

export function xlmRobertaTokenizerJson(modelFile) {
  const proto = schema.lookupType('ModelProto').decode(fs.readFileSync(modelFile));
  if ((proto.trainer_spec?.model_type ?? 1) !== 1) throw new Error(`${modelFile}: not a Unigram model`);
  const vocab = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0]];
  for (const p of proto.pieces.slice(3)) vocab.push([p.piece, p.score]);
  vocab.push(['<mask>', 0]);
  const idOf = new Map(vocab.map(([p], i) => [p, i]));

  const charsmap = proto.normalizer_spec?.precompiled_charsmap;
  const normalizers = [
    { type: 'Strip', strip_left: false, strip_right: true },
    { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '▁' },
  ];
  if (charsmap && charsmap.length > 0) {
    normalizers.unshift({ type: 'Precompiled', precompiled_charsmap: Buffer.from(charsmap).toString('base64') });
  }
  const token = (content, id, special, lstrip = false) => ({ id, content, single_word: false, lstrip, rstrip: false, normalized: false, special });
  // The model's control and user-defined pieces (tokenizer.add_tokens), then the special tokens
  // XLMRobertaTokenizerFast registers (<mask> strips the space before it).
  const added = new Map();
  proto.pieces.forEach((p, i) => {
    if (p.type === kControl || p.type === kUserDefined) added.set(p.piece, token(p.piece, idOf.get(p.piece) ?? i + 1, p.type === kControl));
  });
  for (const t of ['<s>', '<pad>', '</s>', '<unk>']) added.set(t, token(t, idOf.get(t), true));
  added.set('<mask>', token('<mask>', idOf.get('<mask>'), true, true));
  const special = (id) => ({ SpecialToken: { id, type_id: 0 } });
  const sequence = (id) => ({ Sequence: { id, type_id: 0 } });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [...added.values()].sort((a, b) => a.id - b.id),
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('<s>'), sequence('A'), special('</s>')],
      pair: [special('<s>'), sequence('A'), special('</s>'), special('</s>'), sequence('B'), special('</s>')],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 3, vocab, byte_fallback: false },
  };
}
