#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "io/error.hpp"
#include "tokenizer/models.hpp"

namespace bertscope::tokenizer {

namespace {

// tokenizers scores unknown characters below every piece by this much.
constexpr double k_unk_penalty = 10.0;

std::vector<std::string> piece_strings(const std::vector<std::pair<std::string, double>>& pieces) {
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (const auto& p : pieces) out.push_back(p.first);
  return out;
}

}  // namespace

Unigram::Unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<std::int32_t> unk_id,
                 bool byte_fallback, std::string_view where)
    : vocab_(piece_strings(pieces)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
  if (pieces.empty()) fail(ErrorKind::format, "{}: the Unigram vocabulary is empty", where);
  if (unk_id_ && (*unk_id_ < 0 || static_cast<std::size_t>(*unk_id_) >= pieces.size())) {
    fail(ErrorKind::format, "{}: Unigram unk_id {} is outside the vocabulary of {} pieces", where, *unk_id_, pieces.size());
  }
  scores_.reserve(pieces.size());
  min_score_ = INFINITY;
  for (const auto& [piece, score] : pieces) {
    scores_.push_back(score);
    min_score_ = std::min(min_score_, score);
    max_piece_bytes_ = std::max(max_piece_bytes_, piece.size());
  }
}

std::optional<std::string> Unigram::unk_token() const {
  if (!unk_id_) return std::nullopt;
  return *vocab_.token(*unk_id_);
}

// Viterbi over every vocabulary piece that starts at each character (tokenizers'
// encode_optimized): ties keep the shorter piece; a character no piece starts with is unknown,
// and runs of unknown characters fuse into one token whose text is theirs.
void Unigram::tokenize(std::string_view piece, std::vector<ModelToken>& out) const {
  if (piece.empty()) return;
  struct Node {
    std::int32_t id = -1;
    double score = 0;
    std::optional<std::size_t> starts_at;
  };
  const std::size_t size = piece.size();
  const double unk_score = min_score_ - k_unk_penalty;
  std::vector<Node> best(size + 1);
  auto char_length = [&](std::size_t at) {
    std::size_t end = at + 1;
    while (end < size && (static_cast<unsigned char>(piece[end]) & 0xC0) == 0x80) ++end;
    return end - at;
  };
  for (std::size_t start = 0; start < size;) {
    const double here = best[start].score;
    const std::size_t char_bytes = char_length(start);
    bool has_single_char = false;
    const std::size_t longest = std::min(max_piece_bytes_, size - start);
    for (std::size_t len = 1; len <= longest; ++len) {
      auto id = vocab_.find(piece.substr(start, len));
      if (!id) continue;
      Node& target = best[start + len];
      const double candidate = scores_[static_cast<std::size_t>(*id)] + here;
      if (!target.starts_at || candidate > target.score) target = {*id, candidate, start};
      if (len == char_bytes) has_single_char = true;
    }
    if (!has_single_char) {
      if (!unk_id_) fail(ErrorKind::input, "Unigram: \"{}\" needs the unknown token, and the model has none", piece);
      Node& target = best[start + char_bytes];
      const double candidate = unk_score + here;
      if (!target.starts_at || candidate > target.score) target = {*unk_id_, candidate, start};
    }
    start += char_bytes;
  }
  struct Span {
    std::size_t begin, end;
  };
  std::vector<Span> spans;
  std::optional<Span> unknown_run;
  for (std::size_t end = size; end > 0;) {
    const Node& node = best[end];
    const std::size_t start = *node.starts_at;
    if (unk_id_ && node.id == *unk_id_) {
      unknown_run = Span{start, unknown_run ? unknown_run->end : end};
    } else {
      if (unknown_run) spans.push_back(*unknown_run), unknown_run.reset();
      spans.push_back({start, end});
    }
    end = start;
  }
  if (unknown_run) spans.push_back(*unknown_run);
  std::reverse(spans.begin(), spans.end());

  for (const auto& [begin, end] : spans) {
    std::string text(piece.substr(begin, end - begin));
    if (auto id = vocab_.find(text)) {
      out.push_back({*id, std::move(text), begin, end});
      continue;
    }
    if (byte_fallback_) {
      std::vector<std::pair<std::int32_t, std::string>> bytes;
      for (unsigned char b : text) {
        std::string name = fmt::format("<0x{:02X}>", b);
        auto id = vocab_.find(name);
        if (!id) break;
        bytes.emplace_back(*id, std::move(name));
      }
      if (bytes.size() == text.size()) {
        for (auto& [id, name] : bytes) out.push_back({id, std::move(name), begin, end});
        continue;
      }
    }
    out.push_back({*unk_id_, std::move(text), begin, end});
  }
}

}  // namespace bertscope::tokenizer
