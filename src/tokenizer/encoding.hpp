// One tokenized input (a text or a pair), special tokens included.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bertscope::tokenizer {

// What a token is for, so that analyses never compare token strings.
enum class TokenRole : std::uint8_t {
  ordinary,    // a piece of the text
  cls_or_bos,  // [CLS] / <s>: opens the input
  sep_or_eos,  // [SEP] / </s>: closes a segment
  pad,
  mask,
  unk,  // text the vocabulary cannot spell
};

// "ordinary", "cls_or_bos", "sep_or_eos", "pad", "mask", "unk".
const char* role_name(TokenRole role);
// The role of a role_name(); Error(input) listing the names for any other string.
TokenRole parse_role(std::string_view name);

struct Encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;      // segment embedding index (BERT: 0 for A, 1 for B)
  std::vector<std::string> tokens;         // vocabulary strings ("##ing", "Ġthe", "▁the")
  std::vector<std::int32_t> word_ids;      // word index within its own segment; -1 for added specials
  std::vector<std::int32_t> sequence_ids;  // 0 = text, 1 = text pair, -1 = special token
  std::vector<TokenRole> roles;
  // Span of each token in its own segment's input text, in Unicode code points (as Hugging
  // Face offset_mapping) and in UTF-8 bytes; [begin, end), both 0 for special tokens.
  std::vector<std::pair<std::int64_t, std::int64_t>> char_offsets;
  std::vector<std::pair<std::int64_t, std::int64_t>> byte_offsets;
  std::size_t num_truncated = 0;  // tokens removed by truncation (0 when none)

  std::size_t size() const { return ids.size(); }
  void append(Encoding&& other);
  void truncate(std::size_t n);
};

}  // namespace bertscope::tokenizer
