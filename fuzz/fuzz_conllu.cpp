// CoNLL-U (UD treebanks): io::parse_conllu, which read_conllu calls on the file's text.
#include "fuzz_util.hpp"
#include "io/conllu.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bertscope::fuzz::expect_error_or_success([&] {
    for (const auto& s : bertscope::io::parse_conllu(text, "fuzz.conllu"))
      for (const auto& w : s.words) (void)bertscope::io::universal_relation(w.deprel);
  });
  return 0;
}
