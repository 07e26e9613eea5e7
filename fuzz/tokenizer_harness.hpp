// What the tokenizer-folder harnesses do with a folder once their input is in it: load it as
// bertscope loads a model's tokenizer, then encode `text` with `pair` and map the ids back to
// tokens, and tokenize a fixed text; an Error (with a message) is the only allowed failure.
#pragma once

#include <filesystem>
#include <string_view>

#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::fuzz {

inline void load_and_encode(const std::filesystem::path& folder, std::string_view text, std::string_view pair) {
  expect_error_or_success([&] {
    const auto tok = model::Tokenizer::from_folder(folder);
    expect_error_or_success([&] {
      const auto enc = tok.encode(text, pair);
      for (auto id : enc.ids) (void)tok.token(id);
      (void)tok.tokenize("  unaffable\tTEXT  ");
    });
  });
}

}  // namespace bertscope::fuzz
