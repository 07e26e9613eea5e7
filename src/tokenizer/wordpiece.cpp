#include "io/error.hpp"
#include "tokenizer/models.hpp"
#include "tokenizer/text.hpp"

namespace bertscope::tokenizer {

WordPiece::WordPiece(Vocabulary vocab, std::string unk_token, std::string continuing_subword_prefix,
                     std::size_t max_input_chars_per_word)
    : vocab_(std::move(vocab)), unk_token_(std::move(unk_token)), unk_id_(-1), prefix_(std::move(continuing_subword_prefix)),
      max_chars_(max_input_chars_per_word) {
  if (auto id = vocab_.find(unk_token_)) unk_id_ = *id;
}

namespace {

std::size_t utf8_char_count(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Where the last character of s[0, end) starts.
std::size_t last_char_start(std::string_view s, std::size_t end) {
  std::size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

}  // namespace

// Greedy longest match from the left; a piece with any unmatched rest becomes one unknown token.
void WordPiece::tokenize(std::string_view piece, std::vector<ModelToken>& out) const {
  auto unknown = [&] {
    if (unk_id_ < 0) fail(ErrorKind::model, "WordPiece: the unknown token \"{}\" is not in the vocabulary", unk_token_);
    out.push_back({unk_id_, unk_token_, 0, piece.size()});
  };
  if (utf8_char_count(piece) > max_chars_) {
    unknown();
    return;
  }
  const std::size_t first = out.size();
  std::string key;
  std::size_t start = 0;
  while (start < piece.size()) {
    std::size_t end = piece.size();
    std::optional<std::int32_t> found;
    while (start < end) {
      std::string_view sub = piece.substr(start, end - start);
      if (start == 0) {
        found = vocab_.find(sub);
      } else {
        key.assign(prefix_);
        key.append(sub);
        found = vocab_.find(key);
      }
      if (found) break;
      end = last_char_start(piece, end);
    }
    if (!found) {
      out.resize(first);
      unknown();
      return;
    }
    out.push_back({*found, *vocab_.token(*found), start, end});
    start = end;
  }
}

}  // namespace bertscope::tokenizer
