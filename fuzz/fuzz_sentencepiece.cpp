// SentencePiece models: model::Tokenizer::from_folder on a folder holding only the input as
// spiece.model (ALBERT: tokenizer::albert_pipeline) or sentencepiece.bpe.model (XLM-R:
// tokenizer::xlm_roberta_pipeline), both through tokenizer::read_sentencepiece_model
// (libsentencepiece's loader, then bertscope's own protobuf field reader for the piece types,
// model type and precompiled charsmap); then a fixed text and a pair are encoded.
// First byte: even = spiece.model, odd = sentencepiece.bpe.model.
#include "tokenizer_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool albert = data[0] % 2 == 0;
  bertscope::fuzz::remove_input(albert ? "sentencepiece.bpe.model" : "spiece.model");
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, albert ? "spiece.model" : "sentencepiece.bpe.model");
  bertscope::fuzz::load_and_encode(path.parent_path(), "Hello, wörld! The cat's 12 naïve ĀĀ 你好 <mask> [MASK]", " a pair");
  return 0;
}
