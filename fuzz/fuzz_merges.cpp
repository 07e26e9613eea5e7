// vocab.json + merges.txt (RoBERTa / GPT-2 byte-level BPE, RobertaConverter):
// model::Tokenizer::from_folder on a folder with both files (-> tokenizer::roberta_pipeline), one
// of them the input and the other the fixed one of fuzz/companions/ (300 tokens of the test
// tokenizer and the merges among them); then a fixed text and a pair are encoded.
// First byte: even = the input is merges.txt, odd = the input is vocab.json.
#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool merges = data[0] % 2 == 0;
  bertscope::fuzz::put_companion(merges ? "vocab.json" : "merges.txt", merges ? "vocab.json" : "merges.txt");
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, merges ? "merges.txt" : "vocab.json");
  bertscope::fuzz::expect_error_or_success([&] {
    const auto tok = bertscope::model::Tokenizer::from_folder(path.parent_path());
    bertscope::fuzz::expect_error_or_success([&] {
      const auto enc = tok.encode("Hello, wörld! The cat's 12 naïve ĀĀ 你好 <mask>", std::string_view(" a pair"));
      for (auto id : enc.ids) (void)tok.token(id);
      (void)tok.tokenize("  unaffable\tTEXT  ");
    });
  });
  return 0;
}
