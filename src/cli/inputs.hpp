// Turning command-line text and input files into encodings, with errors that name the line.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/text_inputs.hpp"
#include "model/model.hpp"

namespace bertscope::cli {

// The tokenizer of a model folder plus its length limit, without loading weights.
struct TokenizerModel {
  model::Tokenizer tokenizer;
  std::size_t max_length;
};
TokenizerModel load_tokenizer_only(const std::filesystem::path& dir, std::optional<model::TokenizerFlavor> flavor);
TokenizerModel tokenizer_of(const model::Model& m);

struct EncodedFile {
  std::vector<io::TextInput> inputs;
  std::vector<model::Encoding> encodings;
};

// Tokenizes every line first, so a bad line stops the job before any output is written.
// Truncation warnings go to stderr, one per input.
EncodedFile encode_file(const TokenizerModel& tm, const std::filesystem::path& path, bool truncate);

// Corpus-sized input files in bounded memory: validate() reads the whole file once (UTF-8,
// tab count, token length; truncation warnings) keeping only the count, so a bad line stops
// the job before any output; then for_each_window() reads it again and hands over up to
// `window` consecutive inputs at a time.
struct EncodedInput {
  std::size_t index = 0;  // 0-based input number
  io::TextInput input;
  model::Encoding encoding;
};
std::size_t validate_text_file(const TokenizerModel& tm, const std::filesystem::path& path, bool truncate);
void for_each_window(const TokenizerModel& tm, const std::filesystem::path& path, bool truncate, std::size_t window,
                     const std::function<void(std::vector<EncodedInput>&)>& fn);
model::Encoding encode_checked(const TokenizerModel& tm, const std::string& text,
                               const std::optional<std::string>& pair, bool truncate, const std::string& where);

}  // namespace bertscope::cli
