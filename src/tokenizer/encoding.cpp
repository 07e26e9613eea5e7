#include "tokenizer/encoding.hpp"

#include "io/error.hpp"

namespace bertscope::tokenizer {

namespace {

template <typename T>
void move_append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

const char* role_name(TokenRole role) {
  switch (role) {
    case TokenRole::ordinary: return "ordinary";
    case TokenRole::cls_or_bos: return "cls_or_bos";
    case TokenRole::sep_or_eos: return "sep_or_eos";
    case TokenRole::pad: return "pad";
    case TokenRole::mask: return "mask";
    case TokenRole::unk: return "unk";
  }
  return "ordinary";
}

TokenRole parse_role(std::string_view name) {
  for (auto r : {TokenRole::ordinary, TokenRole::cls_or_bos, TokenRole::sep_or_eos, TokenRole::pad, TokenRole::mask,
                 TokenRole::unk})
    if (name == role_name(r)) return r;
  fail(ErrorKind::input, "token role \"{}\": expected ordinary, cls_or_bos, sep_or_eos, pad, mask or unk", name);
}

void Encoding::append(Encoding&& other) {
  move_append(ids, other.ids);
  move_append(type_ids, other.type_ids);
  move_append(tokens, other.tokens);
  move_append(word_ids, other.word_ids);
  move_append(sequence_ids, other.sequence_ids);
  move_append(roles, other.roles);
  move_append(char_offsets, other.char_offsets);
  move_append(byte_offsets, other.byte_offsets);
  num_truncated += other.num_truncated;
}

void Encoding::truncate(std::size_t n) {
  if (n >= ids.size()) return;
  num_truncated += ids.size() - n;
  ids.resize(n);
  type_ids.resize(n);
  tokens.resize(n);
  word_ids.resize(n);
  sequence_ids.resize(n);
  roles.resize(n);
  char_offsets.resize(n);
  byte_offsets.resize(n);
}

}  // namespace bertscope::tokenizer
