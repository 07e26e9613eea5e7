#include "analysis/word_attention.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "io/error.hpp"

namespace bertscope::analysis {

std::string_view from_word_name(FromWord mode) { return mode == FromWord::mean ? "mean" : "first"; }

FromWord parse_from_word(std::string_view name) {
  if (name == "mean") return FromWord::mean;
  if (name == "first") return FromWord::first;
  fail(ErrorKind::input, "word-level \"from\" mode \"{}\": expected mean or first", name);
}

SentenceAlignment align_sentence(const model::Encoding& e, std::size_t n_words, bool allow_prefix,
                                 const std::string& source, const std::string& data_where) {
  const auto t = static_cast<std::int64_t>(e.size());
  auto mismatch = [&](const std::string& what) {
    fail(ErrorKind::format, "{}: word_ids do not match the data at {} ({} words): {}",
         source.empty() ? std::string("the model's encoding") : source, data_where, n_words, what);
  };
  if (e.word_ids.size() != e.size()) mismatch("the encoding has no word ids");
  if (t < 2 || e.word_ids.front() != -1 || e.word_ids.back() != -1)
    mismatch("expected [CLS] first and [SEP] last (word id -1)");
  SentenceAlignment a;
  a.units.push_back({0, 1});
  std::int64_t previous = -1;
  for (std::int64_t i = 1; i + 1 < t; ++i) {
    const std::int64_t w = e.word_ids[static_cast<std::size_t>(i)];
    if (w < 0) mismatch(fmt::format("token {} is a special token inside the sentence; expected one segment", i));
    if (w >= static_cast<std::int64_t>(n_words))
      mismatch(fmt::format("token {} has word id {}, beyond the sentence's last word", i, w));
    if (w < previous) mismatch(fmt::format("word ids go back from {} to {} at token {}", previous, w, i));
    if (w == previous) {
      a.units.back().end = i + 1;
      continue;
    }
    // Words between the previous one and this one produced no token.
    for (std::int64_t skipped = previous + 1; skipped < w; ++skipped) {
      a.units.push_back({i, i});
      ++a.words_without_tokens;
    }
    a.units.push_back({i, i + 1});
    previous = w;
  }
  a.words = static_cast<std::size_t>(previous + 1);
  if (a.words < n_words && source.empty() && e.num_truncated == 0) {
    // The model's own tokenizer made this encoding, so missing last words produced no token.
    for (; a.words < n_words; ++a.words, ++a.words_without_tokens) a.units.push_back({t - 1, t - 1});
  }
  if (a.words < n_words && !allow_prefix)
    mismatch(fmt::format("the tokens cover only the first {} words", a.words));
  a.units.push_back({t - 1, t});
  return a;
}

std::vector<TokenSpan> word_units(const model::Encoding& e) {
  std::vector<TokenSpan> units;
  const auto t = static_cast<std::int64_t>(e.size());
  auto seq = [&](std::int64_t i) { return e.sequence_ids.empty() ? 0 : e.sequence_ids[static_cast<std::size_t>(i)]; };
  for (std::int64_t i = 0; i < t; ++i) {
    const auto w = e.word_ids.empty() ? -1 : e.word_ids[static_cast<std::size_t>(i)];
    if (w >= 0 && i > 0 && e.word_ids[static_cast<std::size_t>(i - 1)] == w && seq(i - 1) == seq(i)) {
      units.back().end = i + 1;
      continue;
    }
    units.push_back({i, i + 1});
  }
  return units;
}

void word_level_map(const float* a, std::int64_t t, const std::vector<TokenSpan>& units, FromWord mode, float* out) {
  const auto u = static_cast<std::int64_t>(units.size());
  // Column sums first (attention to a word), then rows combined (attention from a word), as
  // bpe_utils.get_word_word_attention does; both orders give the same result for mean and first.
  std::vector<double> cols(static_cast<std::size_t>(u));
  std::fill(out, out + u * u, 0.0f);
  for (std::int64_t w = 0; w < u; ++w) {
    const auto& rows = units[static_cast<std::size_t>(w)];
    if (rows.size() == 0) continue;
    const std::int64_t row_end = mode == FromWord::first ? rows.begin + 1 : rows.end;
    std::fill(cols.begin(), cols.end(), 0.0);
    for (std::int64_t r = rows.begin; r < row_end; ++r) {
      const float* row = a + r * t;
      for (std::int64_t v = 0; v < u; ++v) {
        const auto& span = units[static_cast<std::size_t>(v)];
        double s = 0;
        for (std::int64_t j = span.begin; j < span.end; ++j) s += row[j];
        cols[static_cast<std::size_t>(v)] += s;
      }
    }
    const double scale = 1.0 / static_cast<double>(row_end - rows.begin);
    for (std::int64_t v = 0; v < u; ++v) out[w * u + v] = static_cast<float>(cols[static_cast<std::size_t>(v)] * scale);
  }
}

core::Tensor word_level_attention(const core::Tensor& att, const std::vector<TokenSpan>& units, FromWord mode) {
  if (att.shape.size() != 4 || att.dim(2) != att.dim(3))
    fail(ErrorKind::internal, "word_level_attention: attentions must be [layers, heads, T, T], got {}",
         core::shape_string(att.shape));
  const auto t = att.dim(2);
  if (units.empty() || units.front().begin != 0 || units.back().end != t)
    fail(ErrorKind::internal, "word_level_attention: units do not cover the {} tokens", t);
  for (std::size_t i = 1; i < units.size(); ++i)
    if (units[i].begin != units[i - 1].end || units[i].end < units[i].begin)
      fail(ErrorKind::internal, "word_level_attention: units are not contiguous at unit {}", i);
  const auto u = static_cast<std::int64_t>(units.size());
  const auto maps = att.dim(0) * att.dim(1);
  core::Tensor out({att.dim(0), att.dim(1), u, u});
  // Threads only pay off for large inputs; tiny parallel regions cost more than they save,
  // most of all when other processes hold the cores and idle threads spin.
#pragma omp parallel for schedule(static) if (maps * t * t > kParallelWork)
  for (std::int64_t k = 0; k < maps; ++k) word_level_map(att.ptr() + k * t * t, t, units, mode, out.ptr() + k * u * u);
  return out;
}

std::string example_source(const AttentionSource& source, std::size_t index) {
  return source.example_name(index);
}

}  // namespace bertscope::analysis
