// tokenizer.json: a model folder holding only the input as tokenizer.json, loaded with
// model::Tokenizer::from_folder (io::read_json, then tokenizer::pipeline_from_json), then a fixed
// text and a pair are encoded and decoded back to tokens through the loaded pipeline.
#include "tokenizer_harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = bertscope::fuzz::write_input(data, size, "tokenizer.json");
  bertscope::fuzz::load_and_encode(path.parent_path(), "Hello, wörld! The cat's 12 naïve ĀĀ 你好 <mask> [MASK]", "a pair");
  return 0;
}
