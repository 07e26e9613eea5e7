#include "io/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <system_error>

#include "io/atomic_output.hpp"
#include "io/error.hpp"

namespace bertscope::io {
namespace {

struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// nlohmann's messages read "[json.exception.parse_error.101] parse error at line 3, column 7:
// syntax error ..."; the position goes into our FILE:LINE:COLUMN prefix, the rest is kept.
std::string json_error_detail(const std::string& what) {
  std::string_view detail = what;
  if (auto bracket = detail.find("] "); bracket != std::string_view::npos) detail.remove_prefix(bracket + 2);
  if (auto column = detail.find(", column "); column != std::string_view::npos) {
    if (auto colon = detail.find(": ", column); colon != std::string_view::npos) detail.remove_prefix(colon + 2);
  }
  return std::string(detail);
}

// The 1-based line and column of the character nlohmann stopped at. Its own "line, column"
// counts a newline it has just read as the start of the next line, so an error at the end of
// a line would point one line too far; e.byte (characters read) does not have that problem.
std::pair<std::size_t, std::size_t> json_error_position(std::string_view content, std::size_t byte) {
  const std::size_t offset = std::min(byte == 0 ? 0 : byte - 1, content.size());
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(content.begin(), content.begin() + offset, '\n'));
  const std::size_t line_start = offset == 0 ? 0 : content.rfind('\n', offset - 1);
  const std::size_t column = line_start == std::string_view::npos || offset == 0 ? offset + 1 : offset - line_start;
  return {line, column};
}

// Escapes control characters and bytes that start no valid UTF-8 sequence (and, for quoted
// names, quotes and backslashes), so untrusted text cannot break a one-line message.
void append_escaped(std::string& out, std::string_view text, bool escape_quotes);

std::string one_line(std::string_view text) {
  std::string out;
  append_escaped(out, text, false);
  return out;
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) fail(ErrorKind::io, "cannot read {}: {}", path.string(), errno_text(errno));
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) fail(ErrorKind::io, "cannot read {}: {}", path.string(), errno_text(errno));
  if (S_ISDIR(info.st_mode)) fail(ErrorKind::io, "cannot read {}: it is a directory", path.string());
  std::string content;
  if (S_ISREG(info.st_mode)) content.reserve(static_cast<std::size_t>(info.st_size));
  // Pipes and /proc files report no size, so read until end of file rather than st_size bytes.
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(file.fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::io, "cannot read {}: {}", path.string(), errno_text(errno));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  return content;
}

std::uint64_t file_fingerprint(const std::filesystem::path& path) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) fail(ErrorKind::io, "cannot read {}: {}", path.string(), errno_text(errno));
  // Four independent multiply-rotate lanes over the file's 8-byte words keep it near memory
  // speed. The words are numbered across reads, so the result does not depend on how the reads
  // fall; the length is mixed in last, so trailing zero bytes change it.
  constexpr std::uint64_t prime = 0x9E3779B185EBCA87ULL;
  std::uint64_t lanes[4] = {0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL, 0xA4093822299F31D0ULL, 0x082EFA98EC4E6C89ULL};
  auto mix = [&](std::uint64_t& lane, std::uint64_t word) {
    lane ^= word * prime;
    lane = ((lane << 31) | (lane >> 33)) * 0xC2B2AE3D27D4EB4FULL;
  };
  std::vector<char> buffer(1 << 20);
  std::size_t held = 0;  // bytes at the front of buffer not yet mixed (fewer than 8)
  std::uint64_t total = 0, words = 0;
  while (true) {
    ssize_t n = ::read(file.fd, buffer.data() + held, buffer.size() - held);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::io, "cannot read {}: {}", path.string(), errno_text(errno));
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
    const std::size_t available = held + static_cast<std::size_t>(n);
    const std::size_t whole = available / 8 * 8;
    for (std::size_t i = 0; i < whole; i += 8, ++words) {
      std::uint64_t word;
      std::memcpy(&word, buffer.data() + i, 8);
      mix(lanes[words & 3], word);
    }
    held = available - whole;
    std::memmove(buffer.data(), buffer.data() + whole, held);
  }
  if (held > 0) {
    std::uint64_t word = 0;
    std::memcpy(&word, buffer.data(), held);
    mix(lanes[words & 3], word);
  }
  std::uint64_t h = total * prime;
  for (auto lane : lanes) {
    h ^= lane;
    h = ((h << 27) | (h >> 37)) * prime + 0x165667B19E3779F9ULL;
  }
  return h ^ (h >> 29);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  AtomicOutput out(path);
  out.write(content);
  out.commit();
}

nlohmann::json read_json(const std::filesystem::path& path) {
  const std::string content = read_file(path);
  // nlohmann treats a NUL byte as the end of the input and would ignore whatever follows it.
  if (std::size_t nul = content.find('\0'); nul != std::string::npos) {
    auto [line, column] = json_error_position(content, nul + 1);
    fail(ErrorKind::format, "{}:{}:{}: invalid JSON: NUL byte", path.string(), line, column);
  }
  try {
    return nlohmann::json::parse(content);
  } catch (const nlohmann::json::parse_error& e) {
    auto [line, column] = json_error_position(content, e.byte);
    fail(ErrorKind::format, "{}:{}:{}: invalid JSON: {}", path.string(), line, column,
         one_line(json_error_detail(e.what())));
  } catch (const nlohmann::json::out_of_range& e) {
    // A number too large for a double ("1e999") is reported by the parser as out_of_range.406.
    fail(ErrorKind::format, "{}: invalid JSON: {}", path.string(), one_line(json_error_detail(e.what())));
  }
}

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  auto continuation = [&](std::size_t at, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return at < n && s[at] >= lo && s[at] <= hi;
  };
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
    } else if (c < 0xC2) {
      return i;  // a stray continuation byte, or C0/C1 which only start overlong forms
    } else if (c < 0xE0) {
      if (!continuation(i + 1)) return i;
      i += 2;
    } else if (c < 0xF0) {
      // E0 needs A0.. to avoid overlong forms; ED stops at 9F to exclude surrogates.
      unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      if (!continuation(i + 1, lo, hi) || !continuation(i + 2)) return i;
      i += 3;
    } else if (c < 0xF5) {
      // F0 needs 90.. to avoid overlong forms; F4 stops at 8F to stay within U+10FFFF.
      unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      if (!continuation(i + 1, lo, hi) || !continuation(i + 2) || !continuation(i + 3)) return i;
      i += 4;
    } else {
      return i;
    }
  }
  return std::string_view::npos;
}

std::vector<std::string> split_text_lines(std::string_view text, std::string_view source_name) {
  std::size_t base = 0;
  if (text.starts_with("\xEF\xBB\xBF")) {
    text.remove_prefix(3);
    base = 3;
  }
  if (std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + bad, '\n'));
    fail(ErrorKind::input, "{}:{}: invalid UTF-8 at byte {}", source_name, line, base + bad);
  }
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.emplace_back(line);
    start = next;
  }
  return lines;
}

std::vector<std::string> read_text_lines(const std::filesystem::path& path) {
  return split_text_lines(read_file(path), path.string());
}

namespace {

void append_escaped(std::string& out, std::string_view text, bool escape_quotes) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto u = static_cast<unsigned char>(text[i]);
    if (u >= 0x80) {
      std::size_t length = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : 2;
      std::string_view sequence = text.substr(i, length);
      if (sequence.size() == length && find_invalid_utf8(sequence) == std::string_view::npos) {
        out += sequence;
        i += length;
      } else {
        out += fmt::format("\\x{:02x}", u);
        ++i;
      }
      continue;
    }
    if (escape_quotes && (text[i] == '"' || text[i] == '\\')) {
      out += '\\';
      out += text[i];
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += text[i];
    }
    ++i;
  }
}

}  // namespace

std::string quote(std::string_view text) {
  // A message that quotes a hostile 100 MB name should still be readable.
  constexpr std::size_t kShown = 300;
  std::string_view shown = text;
  if (text.size() > kShown) {
    std::size_t cut = kShown;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep whole characters
    shown = text.substr(0, cut);
  }
  std::string out = "\"";
  append_escaped(out, shown, true);
  out += '"';
  if (shown.size() < text.size()) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

}  // namespace bertscope::io
