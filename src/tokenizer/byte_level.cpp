#include "tokenizer/normalizers.hpp"
#include "tokenizer/pre_tokenizers.hpp"

namespace bertscope::tokenizer {

char32_t byte_to_char(unsigned char byte) {
  // Printable Latin-1 bytes stand for themselves; the others are numbered from U+0100 in order.
  auto printable = [](unsigned b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  if (printable(byte)) return byte;
  unsigned n = 0;
  for (unsigned b = 0; b < byte; ++b) {
    if (!printable(b)) ++n;
  }
  return 0x100 + n;
}

NormText to_byte_chars(const NormText& text) {
  static const auto table = [] {
    std::array<char32_t, 256> t{};
    for (unsigned b = 0; b < 256; ++b) t[b] = byte_to_char(static_cast<unsigned char>(b));
    return t;
  }();
  NormText out;
  out.reserve(text.size() * 2);
  std::string bytes;
  for (const auto& ch : text) {
    bytes.clear();
    append_utf8(bytes, ch.cp);
    for (unsigned char b : bytes) out.push_back({table[b], ch.begin, ch.end});
  }
  return out;
}

ByteLevelPreTokenizer::ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
  if (use_regex) regex_ = Pattern::regex(k_gpt2_pattern, "the GPT-2 pattern");
}

void ByteLevelPreTokenizer::split(NormText text, std::vector<NormText>& out) const {
  if (add_prefix_space_ && !text.empty() && text.front().cp != U' ') prepend(text, U" ");
  std::vector<NormText> pieces;
  if (regex_) {
    split_text(text, *regex_, SplitBehavior::isolated, false, pieces);
  } else {
    pieces.push_back(std::move(text));
  }
  for (const auto& p : pieces) out.push_back(to_byte_chars(p));
}

}  // namespace bertscope::tokenizer
