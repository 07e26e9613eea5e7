// tokenizer.json: a model folder holding only the input as tokenizer.json, loaded with
// model::Tokenizer::from_folder (io::read_json, then tokenizer::pipeline_from_json), then a fixed
// text and a pair are encoded and decoded back to tokens through the loaded pipeline.
#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = bertscope::fuzz::write_input(data, size, "tokenizer.json");
  bertscope::fuzz::expect_error_or_success([&] {
    const auto tok = bertscope::model::Tokenizer::from_folder(path.parent_path());
    bertscope::fuzz::expect_error_or_success([&] {
      const auto enc = tok.encode("Hello, wörld! The cat's 12 naïve ĀĀ 你好 <mask> [MASK]", std::string_view("a pair"));
      for (auto id : enc.ids) (void)tok.token(id);
      (void)tok.tokenize("  unaffable\tTEXT  ");
    });
  });
  return 0;
}
