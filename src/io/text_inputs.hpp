// Plain-text model inputs: one input per line, a tab separating a sentence pair.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bertscope::io {

struct TextInput {
  std::string text;
  std::optional<std::string> pair;
  std::size_t line = 0;  // 1-based line in the source file
};

// Reads one input per line (UTF-8 checked; errors name FILE:LINE). A line with one tab is a
// pair; a line with more than one tab is an error.
std::vector<TextInput> read_text_inputs(const std::filesystem::path& path);

}  // namespace bertscope::io
