// Building a pipeline from Hugging Face files: tokenizer.json, and the converters transformers
// applies to folders without one (vocab.txt; vocab.json + merges.txt; a SentencePiece model).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/pipeline.hpp"

namespace bertscope::tokenizer {

// The rules that BertNormalizer and BertPreTokenizer components follow (python: the old
// BertTokenizer's edge cases).
struct LoadOptions {
  BertRules bert_rules = BertRules::rust;
};

// A parsed tokenizer.json. Errors name `file` and the component at fault.
Pipeline pipeline_from_json(const nlohmann::json& doc, const std::filesystem::path& file, const LoadOptions& options = {});

struct SpecialTokenNames {
  std::string unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", mask = "[MASK]";
};

// BertConverter: BertNormalizer, BertPreTokenizer, WordPiece, "[CLS] $A [SEP]" / "... $B:1 [SEP]:1".
// `added` empty: the five special tokens, as transformers adds them.
Pipeline bert_pipeline(std::vector<std::string> vocab, const BertNormalizerOptions& normalizer,
                       const SpecialTokenNames& specials, std::string continuing_subword_prefix,
                       std::size_t max_input_chars_per_word, std::vector<AddedToken> added,
                       const std::filesystem::path& source);

// RobertaConverter on vocab.json + merges.txt: ByteLevel pre-tokenizer, byte-level BPE,
// RobertaProcessing with trimmed offsets; <mask> strips the space on its left.
Pipeline roberta_pipeline(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                          bool add_prefix_space);

// XLMRobertaConverter on a SentencePiece Unigram model: <s> <pad> </s> <unk> take ids 0..3, the
// model's own pieces follow, <mask> comes last; Precompiled charsmap normaliser plus a Replace of
// runs of spaces; Metaspace; "<s> A </s>" / "<s> A </s> </s> B </s>".
Pipeline xlm_roberta_pipeline(const std::filesystem::path& sentencepiece_model);

// AlbertConverter on ALBERT's spiece.model: the pieces keep their ids (<pad> <unk> [CLS] [SEP]
// [MASK] first), a digit-then-comma piece loses 100 from its score; Replace ``/'' by ", NFKD +
// StripAccents unless keep_accents, Lowercase when do_lower_case, the Precompiled charsmap, runs
// of spaces to one; Metaspace; "[CLS] A [SEP]" / "[CLS] A [SEP] B [SEP]" with B's type id 1;
// [MASK] strips the space on its left.
Pipeline albert_pipeline(const std::filesystem::path& sentencepiece_model, bool do_lower_case, bool keep_accents);


}  // namespace bertscope::tokenizer
