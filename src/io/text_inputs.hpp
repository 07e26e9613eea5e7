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

// One input from one line; a line with more than one tab is an Error(input) naming FILE:LINE.
TextInput parse_text_input(const std::string& line, std::size_t line_number, const std::filesystem::path& path);

// Reads every line of a file as inputs (UTF-8 checked; errors name FILE:LINE). For corpora
// that should not be held in memory, read with LineReader and parse_text_input.
std::vector<TextInput> read_text_inputs(const std::filesystem::path& path);

}  // namespace bertscope::io
