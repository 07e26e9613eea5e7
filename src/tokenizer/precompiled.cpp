#include <cstring>

#include <utf8proc.h>

#include "io/error.hpp"
#include "tokenizer/normalizers.hpp"

namespace bertscope::tokenizer {

namespace {

// darts-clone's unit layout: which bits hold the label, the leaf flag, the value and the offset.
bool unit_has_leaf(std::uint32_t unit) { return ((unit >> 8) & 1) == 1; }
std::uint32_t unit_value(std::uint32_t unit) { return unit & ((1u << 31) - 1); }
std::uint32_t unit_label(std::uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
std::uint32_t unit_offset(std::uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

}  // namespace

// The blob: a little-endian u32 with the trie's size in bytes, the trie's units, then the
// NUL-separated replacement strings the trie's values point into.
Precompiled::Precompiled(std::string charsmap, std::string_view where) {
  if (charsmap.size() < 4) fail(ErrorKind::format, "{}: the precompiled charsmap is {} bytes, too short", where, charsmap.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(charsmap.data());
  const std::uint32_t trie_bytes = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (static_cast<std::uint32_t>(bytes[3]) << 24);
  if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > charsmap.size() - 4) {
    fail(ErrorKind::format, "{}: the precompiled charsmap announces a trie of {} bytes in a blob of {}", where,
         trie_bytes, charsmap.size());
  }
  trie_.resize(trie_bytes / 4);
  for (std::size_t i = 0; i < trie_.size(); ++i) {
    const auto* u = bytes + 4 + 4 * i;
    trie_[i] = u[0] | (u[1] << 8) | (u[2] << 16) | (static_cast<std::uint32_t>(u[3]) << 24);
  }
  normalized_ = charsmap.substr(4 + trie_bytes);
}

std::optional<std::string_view> Precompiled::transform(std::string_view key) const {
  std::size_t node = 0;
  std::uint32_t unit = trie_[node];
  node ^= unit_offset(unit);
  for (unsigned char c : key) {
    if (c == 0) break;
    node ^= c;
    if (node >= trie_.size()) return std::nullopt;
    unit = trie_[node];
    if (unit_label(unit) != c) return std::nullopt;
    node ^= unit_offset(unit);
    if (node >= trie_.size()) return std::nullopt;
    if (unit_has_leaf(unit)) {
      // tokenizers takes the first (shortest) match.
      const std::size_t at = unit_value(trie_[node]);
      if (at >= normalized_.size()) return std::nullopt;
      const std::size_t end = normalized_.find('\0', at);
      return std::string_view(normalized_).substr(at, (end == std::string::npos ? normalized_.size() : end) - at);
    }
  }
  return std::nullopt;
}

namespace {

// tokenizers' precompiled.rs replace(): the new characters replace the old ones one by one; extra
// new ones are inserted; when there are fewer, the last change so far removes the rest.
void replace_part(std::vector<Change>& changes, std::size_t old_count, std::string_view new_part) {
  const std::u32string fresh = to_u32(new_part);
  for (char32_t c : fresh) changes.push_back({c, 0});
  const auto diff = static_cast<std::ptrdiff_t>(fresh.size()) - static_cast<std::ptrdiff_t>(old_count);
  if (diff > 0) {
    for (std::ptrdiff_t k = 0; k < diff; ++k) changes[changes.size() - 1 - static_cast<std::size_t>(k)].change = 1;
  } else if (diff < 0 && !changes.empty()) {
    changes.back().change += static_cast<int>(diff);
  }
}

}  // namespace

void Precompiled::normalize(NormText& text) const {
  std::vector<Change> changes;
  changes.reserve(text.size());
  bool modified = false;
  std::int32_t state = 0;
  std::size_t begin = 0;
  std::string grapheme, part;
  while (begin < text.size()) {
    // Extended grapheme clusters, as unicode-segmentation's graphemes(true).
    std::size_t end = begin + 1;
    state = 0;
    while (end < text.size() &&
           !utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(text[end - 1].cp),
                                             static_cast<utf8proc_int32_t>(text[end].cp), &state)) {
      ++end;
    }
    grapheme = to_utf8(text.data() + begin, end - begin);
    std::optional<std::string_view> whole;
    if (grapheme.size() < 6) whole = transform(grapheme);
    if (whole) {
      modified = true;
      replace_part(changes, end - begin, *whole);
    } else {
      for (std::size_t i = begin; i < end; ++i) {
        part.clear();
        append_utf8(part, text[i].cp);
        if (auto norm = transform(part)) {
          modified = true;
          replace_part(changes, 1, *norm);
        } else {
          changes.push_back({text[i].cp, 0});
        }
      }
    }
    begin = end;
  }
  if (modified) text = tokenizer::transform(text, changes);
}

}  // namespace bertscope::tokenizer
