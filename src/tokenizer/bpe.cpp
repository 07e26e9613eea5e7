#include <algorithm>

#include <fmt/format.h>

#include "io/error.hpp"
#include "tokenizer/models.hpp"

namespace bertscope::tokenizer {

namespace {

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

}  // namespace

Bpe::Bpe(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
         std::string_view where)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    // A merge of prefixed pieces yields the left piece with the right one's prefix removed.
    std::string_view right_rest = right;
    if (options_.continuing_subword_prefix && right_rest.starts_with(*options_.continuing_subword_prefix)) {
      right_rest.remove_prefix(options_.continuing_subword_prefix->size());
    }
    const std::string joined = left + std::string(right_rest);
    auto a = vocab_.find(left), b = vocab_.find(right), c = vocab_.find(joined);
    for (const auto& [ok, piece] : {std::pair{a.has_value(), &left}, std::pair{b.has_value(), &right}}) {
      if (!ok) fail(ErrorKind::format, "{}: merge {} (\"{} {}\") names \"{}\", which is not in the vocabulary", where, rank + 1, left, right, *piece);
    }
    if (!c) fail(ErrorKind::format, "{}: merge {} (\"{} {}\") makes \"{}\", which is not in the vocabulary", where, rank + 1, left, right, joined);
    merges_.emplace(pair_key(*a, *b), Merge{static_cast<std::uint32_t>(rank), *c});
  }
  if (options_.unk_token && !vocab_.find(*options_.unk_token)) {
    fail(ErrorKind::format, "{}: the unknown token \"{}\" is not in the vocabulary", where, *options_.unk_token);
  }
}

void Bpe::tokenize(std::string_view piece, std::vector<ModelToken>& out) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_.find(piece)) {
      out.push_back({*id, std::string(piece), 0, piece.size()});
      return;
    }
  }
  struct Symbol {
    std::int32_t id;
    std::size_t begin, end;  // bytes of the piece
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  std::optional<Symbol> unk;  // an unknown run waiting to be closed (fuse_unk joins runs)
  const std::int32_t unk_id = options_.unk_token ? *vocab_.find(*options_.unk_token) : -1;
  std::string key;
  for (std::size_t i = 0; i < piece.size();) {
    std::size_t end = i + 1;
    while (end < piece.size() && (static_cast<unsigned char>(piece[end]) & 0xC0) == 0x80) ++end;
    key.clear();
    if (i > 0 && options_.continuing_subword_prefix) key += *options_.continuing_subword_prefix;
    key.append(piece.substr(i, end - i));
    if (end == piece.size() && options_.end_of_word_suffix) key += *options_.end_of_word_suffix;
    if (auto id = vocab_.find(key)) {
      if (unk) symbols.push_back(*unk), unk.reset();
      symbols.push_back({*id, i, end});
    } else {
      bool done = false;
      if (options_.byte_fallback) {
        // Every byte of the character (prefix and suffix included, as tokenizers does) as <0xXX>.
        std::vector<std::int32_t> bytes;
        for (unsigned char b : key) {
          auto id = vocab_.find(fmt::format("<0x{:02X}>", b));
          if (!id) break;
          bytes.push_back(*id);
        }
        if (bytes.size() == key.size()) {
          // One byte each; a prefix or suffix byte has no place in the piece, so spans stop at the character's end.
          for (std::size_t k = 0; k < bytes.size(); ++k) {
            symbols.push_back({bytes[k], std::min(i + k, end - 1), std::min(i + k + 1, end)});
          }
          done = true;
        }
      }
      if (!done && unk_id >= 0) {
        if (unk && options_.fuse_unk) {
          unk->end = end;
        } else {
          if (unk) symbols.push_back(*unk);
          unk = Symbol{unk_id, i, end};
        }
      }
    }
    i = end;
  }
  if (unk) symbols.push_back(*unk);

  // Merge the adjacent pair of lowest rank, leftmost first, until no pair can merge.
  while (symbols.size() > 1) {
    std::size_t best = symbols.size();
    Merge best_merge{UINT32_MAX, -1};
    for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
      auto it = merges_.find(pair_key(symbols[k].id, symbols[k + 1].id));
      if (it != merges_.end() && it->second.rank < best_merge.rank) {
        best = k;
        best_merge = it->second;
      }
    }
    if (best == symbols.size()) break;
    symbols[best] = {best_merge.result, symbols[best].begin, symbols[best + 1].end};
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  for (const auto& s : symbols) out.push_back({s.id, *vocab_.token(s.id), s.begin, s.end});
}

}  // namespace bertscope::tokenizer
