// Token-level attention to word-level attention (Clark et al. 2019, section 4; methods.md 1.2).
//
// Attention *to* a word is the sum of the attention to its word pieces (columns are added), so
// rows still sum to 1. Attention *from* a word is the mean of its pieces' rows (the paper's
// definition) or the row of its first piece (`first`, the default of the public extraction
// script). [CLS] and [SEP] are words of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/attention_source.hpp"
#include "core/tensor.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::analysis {

enum class FromWord { mean, first };
std::string_view from_word_name(FromWord mode);    // "mean" / "first"
FromWord parse_from_word(std::string_view name);  // throws Error(input) for anything else

// The tokens [begin, end) of one word-level unit.
struct TokenSpan {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};

// How the tokens of one single-segment input of pre-split words line up with those words:
// units = [CLS], the covered words in order, [SEP].
struct SentenceAlignment {
  std::vector<TokenSpan> units;           // [CLS], words 0 .. words-1, [SEP]; a word without tokens has an empty span
  std::size_t words = 0;                  // data words covered: all of them, or a prefix after truncation
  std::size_t words_without_tokens = 0;   // covered words that produced no token at all (e.g. only control characters)
};

// Checks that `encoding` is "[CLS] w0 pieces, w1 pieces, ... [SEP]" for `n_words` data words:
// special tokens (word id -1) exactly first and last, word ids non-decreasing by steps of 0 or 1
// from 0 (a step of 2 or more is a word without tokens), and all n_words words covered unless
// `allow_prefix` (truncated input, documents cut to a token budget). `source` names the trace
// file; empty means the model's own tokenizer made the encoding, so last words missing from an
// untruncated encoding are words without tokens rather than a mismatch. On a mismatch throws
// Error(format) "<source>: word_ids do not match the data at <data_where> ...", so the message
// names both the trace file and the data line.
SentenceAlignment align_sentence(const model::Encoding& encoding, std::size_t n_words, bool allow_prefix,
                                 const std::string& source, const std::string& data_where);

// The word-level units of any encoding: every special token (word id -1) alone, and each run of
// tokens with the same (sequence id, word id) together. For pairs: [CLS], A's words, [SEP], B's
// words, [SEP].
std::vector<TokenSpan> word_units(const model::Encoding& encoding);

// Word-level maps of every head. attentions: [layers, heads, T, T] (rows = queries); units must
// tile 0..T in order (empty spans allowed: their row and column are 0). Returns
// [layers, heads, U, U] with U = units.size().
core::Tensor word_level_attention(const core::Tensor& attentions, const std::vector<TokenSpan>& units, FromWord mode);

// The same for one [T, T] map; writes U*U values to `out`.
void word_level_map(const float* attention, std::int64_t tokens, const std::vector<TokenSpan>& units, FromWord mode,
                    float* out);

// Below about this many inner-loop steps a parallel region costs more than it saves; the
// analyses run smaller per-input work on the calling thread.
inline constexpr std::int64_t kParallelWork = std::int64_t{1} << 18;

// The `source` argument of align_sentence for an example: its trace file, or "" for a model run.
std::string example_source(const AttentionSource& source, std::size_t index);

}  // namespace bertscope::analysis
