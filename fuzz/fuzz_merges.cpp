// vocab.json + merges.txt (RoBERTa / GPT-2 byte-level BPE, RobertaConverter):
// model::Tokenizer::from_folder on a folder with both files (-> tokenizer::roberta_pipeline), one
// of them the input and the other the fixed one of fuzz/companions/ (300 tokens of the test
// tokenizer and the merges among them); then a fixed text and a pair are encoded.
// First byte: even = the input is merges.txt, odd = the input is vocab.json.
#include "tokenizer_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool merges = data[0] % 2 == 0;
  bertscope::fuzz::put_companion(merges ? "vocab.json" : "merges.txt", merges ? "vocab.json" : "merges.txt");
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, merges ? "merges.txt" : "vocab.json");
  bertscope::fuzz::load_and_encode(path.parent_path(), "Hello, wörld! The cat's 12 naïve ĀĀ 你好 <mask>", " a pair");
  return 0;
}
