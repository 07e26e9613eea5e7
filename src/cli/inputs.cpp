#include "cli/inputs.hpp"

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/line_reader.hpp"
#include "model/config.hpp"

namespace bertscope::cli {

TokenizerModel load_tokenizer_only(const std::filesystem::path& dir, std::optional<model::TokenizerFlavor> flavor) {
  if (!std::filesystem::is_directory(dir)) fail(ErrorKind::io, "{}: no such model folder", dir.string());
  auto tokenizer = model::Tokenizer::from_folder(dir, flavor);
  std::size_t limit = tokenizer.settings().model_max_length;
  if (std::filesystem::exists(dir / "config.json")) {
    const auto config = model::load_config(dir / "config.json");
    const auto positions = static_cast<std::size_t>(config.max_tokens());
    limit = limit == 0 ? positions : std::min(limit, positions);
  }
  return {std::move(tokenizer), limit};
}

TokenizerModel tokenizer_of(const model::Model& m) { return {m.tokenizer(), m.max_length()}; }

namespace {

model::Encoding encode_at(const TokenizerModel& tm, const io::TextInput& in, bool truncate, const std::string& where) {
  try {
    return tm.tokenizer.encode(in.text, in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt,
                               model::EncodeOptions{tm.max_length, truncate});
  } catch (const Error& err) {
    throw Error(err.kind(), fmt::format("{}: {}", where, err.what()));
  }
}

}  // namespace

std::size_t validate_text_file(const TokenizerModel& tm, const std::filesystem::path& path, bool truncate) {
  io::LineReader reader(path);
  std::string line;
  std::size_t count = 0;
  while (reader.next(line)) {
    const auto in = io::parse_text_input(line, reader.line_number(), path);
    const auto where = fmt::format("{}:{}", path.string(), reader.line_number());
    const auto e = encode_at(tm, in, truncate, where);
    if (e.num_truncated > 0)
      fmt::print(stderr, "bertscope: warning: {}: truncated to {} tokens ({} removed, longest segment first)\n", where,
                 e.size(), e.num_truncated);
    ++count;
  }
  return count;
}

void for_each_window(const TokenizerModel& tm, const std::filesystem::path& path, bool truncate, std::size_t window,
                     const std::function<void(std::vector<EncodedInput>&)>& fn) {
  io::LineReader reader(path);
  std::string line;
  std::vector<EncodedInput> items;
  std::size_t index = 0;
  while (reader.next(line)) {
    EncodedInput item;
    item.index = index++;
    item.input = io::parse_text_input(line, reader.line_number(), path);
    item.encoding = encode_at(tm, item.input, truncate, fmt::format("{}:{}", path.string(), reader.line_number()));
    items.push_back(std::move(item));
    if (items.size() >= window) {
      fn(items);
      items.clear();
    }
  }
  if (!items.empty()) fn(items);
}

model::Encoding encode_checked(const TokenizerModel& tm, const std::string& text,
                               const std::optional<std::string>& pair, bool truncate, const std::string& where) {
  model::Encoding e;
  try {
    e = tm.tokenizer.encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt,
                            model::EncodeOptions{tm.max_length, truncate});
  } catch (const Error& err) {
    throw Error(err.kind(), fmt::format("{}: {}", where, err.what()));
  }
  if (e.num_truncated > 0)
    fmt::print(stderr, "bertscope: warning: {}: truncated to {} tokens ({} removed, longest segment first)\n", where,
               e.size(), e.num_truncated);
  return e;
}

EncodedFile encode_file(const TokenizerModel& tm, const std::filesystem::path& path, bool truncate) {
  EncodedFile f;
  f.inputs = io::read_text_inputs(path);
  f.encodings.reserve(f.inputs.size());
  for (const auto& in : f.inputs)
    f.encodings.push_back(encode_checked(tm, in.text, in.pair, truncate, fmt::format("{}:{}", path.string(), in.line)));
  return f;
}

}  // namespace bertscope::cli
