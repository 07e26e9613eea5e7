// SentencePiece models: model::Tokenizer::from_folder on a folder holding only the input as
// spiece.model (ALBERT: tokenizer::albert_pipeline) or sentencepiece.bpe.model (XLM-R:
// tokenizer::xlm_roberta_pipeline), both through tokenizer::read_sentencepiece_model
// (libsentencepiece's loader, then bertscope's own protobuf field reader for the piece types,
// model type and precompiled charsmap); then a fixed text and a pair are encoded.
// First byte: even = spiece.model, odd = sentencepiece.bpe.model.
#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool albert = data[0] % 2 == 0;
  bertscope::fuzz::remove_input(albert ? "sentencepiece.bpe.model" : "spiece.model");
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, albert ? "spiece.model" : "sentencepiece.bpe.model");
  bertscope::fuzz::expect_error_or_success([&] {
    const auto tok = bertscope::model::Tokenizer::from_folder(path.parent_path());
    bertscope::fuzz::expect_error_or_success([&] {
      const auto enc = tok.encode("Hello, wörld! The cat's 12 naïve ĀĀ 你好 <mask> [MASK]", std::string_view(" a pair"));
      for (auto id : enc.ids) (void)tok.token(id);
      (void)tok.tokenize("  unaffable\tTEXT  ");
    });
  });
  return 0;
}
