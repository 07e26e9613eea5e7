// vocab.txt: model::Tokenizer::from_vocab (the BERT pipeline over the file's tokens), then a fixed
// text is encoded and its ids mapped back to tokens.
#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = bertscope::fuzz::write_input(data, size, "vocab.txt");
  bertscope::fuzz::expect_error_or_success([&] {
    const auto tok = bertscope::model::Tokenizer::from_vocab(path, {});
    bertscope::fuzz::expect_error_or_success([&] {
      const auto enc = tok.encode("Hello, wörld! The cat's 12 naïve 你好 [MASK] unaffable", std::string_view("a pair"));
      for (auto id : enc.ids) (void)tok.token(id);
    });
  });
  return 0;
}
