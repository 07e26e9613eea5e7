#include "io/gutenberg.hpp"

#include <fstream>
#include <string>

#include "io/error.hpp"

namespace bertscope::io {

namespace {

constexpr std::string_view kStartMark = "*** START OF";
constexpr std::string_view kEndMark = "*** END OF";
constexpr auto npos = std::string_view::npos;

// `start`: first START mark, `newline`: the first '\n' after it, `end`: first END mark (npos: none).
ByteRange body_from_marks(std::size_t size, std::size_t start, std::size_t newline, std::size_t end) {
  if (start == npos) return {0, size};
  if (newline == npos) return {size, size};
  if (end == npos || end < newline) end = size;
  return {newline + 1, end};
}

}  // namespace

ByteRange gutenberg_body(std::string_view text) {
  const auto start = text.find(kStartMark);
  const auto newline = start == npos ? npos : text.find('\n', start);
  return body_from_marks(text.size(), start, newline, text.find(kEndMark));
}

ByteRange gutenberg_file_body(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::io, "{}: cannot open for reading", file.string());
  std::size_t start = npos, newline = npos, end = npos, offset = 0;
  std::string line;
  // The marks hold no newline, so each lies within one line.
  while ((start == npos || end == npos) && std::getline(in, line)) {
    const bool has_newline = !in.eof();
    if (start == npos) {
      if (const auto at = line.find(kStartMark); at != npos) {
        start = offset + at;
        newline = has_newline ? offset + line.size() : npos;
      }
    }
    if (end == npos)
      if (const auto at = line.find(kEndMark); at != npos) end = offset + at;
    offset += line.size() + (has_newline ? 1 : 0);
  }
  if (in.bad()) fail(ErrorKind::io, "{}: read error", file.string());
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot read: {}", file.string(), ec.message());
  return body_from_marks(static_cast<std::size_t>(size), start, newline, end);
}

}  // namespace bertscope::io
