#include "io/line_reader.hpp"

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::io {

LineReader::LineReader(const std::filesystem::path& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) fail(ErrorKind::io, "{}: cannot open for reading", path.string());
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    if (in_.bad()) fail(ErrorKind::io, "{}: read error after line {}", path_.string(), line_);
    return false;
  }
  ++line_;
  if (line_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto bad = find_invalid_utf8(line);
  if (bad != std::string::npos)
    fail(ErrorKind::input, "{}:{}: invalid UTF-8 at byte {}", path_.string(), line_, bad + 1);
  return true;
}

}  // namespace bertscope::io
