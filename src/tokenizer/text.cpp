#include "tokenizer/text.hpp"

#include <utf8proc.h>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::tokenizer {

Decoded decode(std::string_view text, std::string_view what) {
  if (auto bad = io::find_invalid_utf8(text); bad != std::string_view::npos) {
    fail(ErrorKind::input, "{} is not valid UTF-8: invalid byte sequence at byte {}", what, bad);
  }
  Decoded out;
  out.cps.reserve(text.size());
  out.byte_at.reserve(text.size() + 1);
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) fail(ErrorKind::input, "{} is not valid UTF-8: invalid byte sequence at byte {}", what, i);
    out.cps.push_back(static_cast<char32_t>(cp));
    out.byte_at.push_back(i);
    i += static_cast<std::size_t>(n);
  }
  out.byte_at.push_back(text.size());
  return out;
}

NormText aligned_text(const std::u32string& cps) {
  NormText out;
  out.reserve(cps.size());
  for (std::uint32_t i = 0; i < cps.size(); ++i) out.push_back({cps[i], i, i + 1});
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

std::string to_utf8(const NormChar* chars, std::size_t n) {
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) append_utf8(out, chars[i].cp);
  return out;
}

std::string to_utf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) append_utf8(out, c);
  return out;
}

std::u32string to_u32(std::string_view utf8) {
  std::u32string out;
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  for (std::size_t i = 0; i < utf8.size();) {
    utf8proc_int32_t cp = 0;
    auto n = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(utf8.size() - i), &cp);
    if (n <= 0) fail(ErrorKind::internal, "invalid UTF-8 inside the tokenizer at byte {}", i);
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(n);
  }
  return out;
}

std::u32string code_points(const NormText& text) {
  std::u32string out(text.size(), U'\0');
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = text[i].cp;
  return out;
}

NormText transform(const NormText& text, const std::vector<Change>& changes, std::size_t skip) {
  NormText out;
  out.reserve(changes.size());
  std::size_t at = skip;
  // An insertion before any character aligns with the empty span where the text starts.
  const std::uint32_t origin = text.empty() ? 0 : text.front().begin;
  for (const auto& [cp, change] : changes) {
    if (change > 0) {
      if (at == 0) {
        out.push_back({cp, origin, origin});
      } else {
        out.push_back({cp, text[at - 1].begin, text[at - 1].end});
      }
      continue;
    }
    if (at >= text.size()) fail(ErrorKind::internal, "tokenizer transform runs past its text");
    out.push_back({cp, text[at].begin, text[at].end});
    at += 1 + static_cast<std::size_t>(-change);
  }
  return out;
}

}  // namespace bertscope::tokenizer
