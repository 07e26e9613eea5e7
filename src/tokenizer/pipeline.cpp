#include "tokenizer/pipeline.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "io/error.hpp"

namespace bertscope::tokenizer {

namespace {

// As tokenizers' AddedVocabulary::find_matches: leftmost-longest non-overlapping matches;
// single_word drops a match touching word characters; lstrip/rstrip widen a match over
// neighbouring whitespace.
struct Match {
  std::size_t start, stop;
  std::size_t token;
};

std::vector<Match> find_added(const std::u32string& s, const std::vector<AddedToken>& tokens,
                              const std::vector<std::u32string>& patterns, bool normalized_pass) {
  std::vector<Match> out;
  const std::size_t n = s.size();
  std::size_t start_offset = 0;
  std::size_t i = 0;
  while (i < n) {
    std::size_t best = SIZE_MAX, best_len = 0;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      if (tokens[t].normalized != normalized_pass) continue;
      const auto& p = patterns[t];
      if (p.empty() || p.size() <= best_len || p.size() > n - i || p[0] != s[i]) continue;
      if (std::equal(p.begin(), p.end(), s.begin() + static_cast<std::ptrdiff_t>(i))) {
        best = t;
        best_len = p.size();
      }
    }
    if (best == SIZE_MAX) {
      ++i;
      continue;
    }
    std::size_t start = i, stop = i + best_len;
    i = stop;
    const auto& tok = tokens[best];
    if (tok.single_word) {
      bool left_ok = start == 0 || !is_word_char(s[start - 1]);
      bool right_ok = stop == n || !is_word_char(s[stop]);
      if (!left_ok || !right_ok) continue;
    }
    if (tok.lstrip) {
      std::size_t b = start;
      while (b > 0 && is_white_space(s[b - 1])) --b;
      start = std::max(b, start_offset);
    }
    if (tok.rstrip) {
      while (stop < n && is_white_space(s[stop])) ++stop;
      i = stop;
    }
    out.push_back({start, stop, best});
    start_offset = stop;
  }
  return out;
}

NormText slice(const NormText& t, std::size_t begin, std::size_t end) {
  return NormText(t.begin() + static_cast<std::ptrdiff_t>(begin), t.begin() + static_cast<std::ptrdiff_t>(end));
}

}  // namespace

Pipeline::Pipeline(std::unique_ptr<Normalizer> normalizer, std::unique_ptr<PreTokenizer> pre_tokenizer,
                   std::unique_ptr<Model> model, std::unique_ptr<PostProcessor> post_processor,
                   std::vector<AddedToken> added_tokens)
    : normalizer_(std::move(normalizer)), pre_tokenizer_(std::move(pre_tokenizer)), model_(std::move(model)),
      post_processor_(std::move(post_processor)), added_tokens_(std::move(added_tokens)) {
  for (const auto& t : added_tokens_) {
    added_by_id_.emplace(t.id, t.content);
    added_by_content_.emplace(t.content, t.id);
    // Normalised added tokens are matched in normalised text, so their pattern is normalised too.
    NormText text = aligned_text(to_u32(t.content));
    if (t.normalized && normalizer_) normalizer_->normalize(text);
    added_patterns_.push_back(code_points(text));
  }
}

std::optional<std::int32_t> Pipeline::find(std::string_view token) const {
  if (auto it = added_by_content_.find(std::string(token)); it != added_by_content_.end()) return it->second;
  return model_->vocabulary().find(token);
}

const std::string* Pipeline::token(std::int32_t id) const {
  if (const auto* t = model_->vocabulary().token(id)) return t;
  if (auto it = added_by_id_.find(id); it != added_by_id_.end()) return &it->second;
  return nullptr;
}

std::size_t Pipeline::vocab_size() const {
  std::size_t n = model_->vocabulary().size();
  for (const auto& t : added_tokens_) n = std::max(n, static_cast<std::size_t>(t.id) + 1);
  return n;
}

void Pipeline::cut_added(NormText text, bool normalized_pass, std::vector<Split>& out) const {
  const auto cps = code_points(text);
  std::size_t last = 0;
  for (const auto& m : find_added(cps, added_tokens_, added_patterns_, normalized_pass)) {
    if (m.start > last) out.push_back({slice(text, last, m.start), -1});
    out.push_back({slice(text, m.start, m.stop), static_cast<std::int32_t>(m.token)});
    last = m.stop;
  }
  if (last == 0) {
    out.push_back({std::move(text), -1});
  } else if (last < text.size()) {
    out.push_back({slice(text, last, text.size()), -1});
  }
}

Encoding Pipeline::encode_segment(std::string_view text, std::string_view what, std::int32_t forced_word) const {
  const Decoded input = decode(text, what);
  // Raw-text added tokens first; the text between them is normalised, then searched for the
  // added tokens that are matched normalised.
  std::vector<Split> raw, splits;
  cut_added(aligned_text(input.cps), false, raw);
  for (auto& r : raw) {
    if (r.added >= 0) {
      splits.push_back(std::move(r));
      continue;
    }
    if (normalizer_) normalizer_->normalize(r.text);
    cut_added(std::move(r.text), true, splits);
  }
  std::vector<Split> words;
  std::vector<NormText> pieces;
  for (auto& s : splits) {
    if (s.added >= 0 || !pre_tokenizer_) {
      if (!s.text.empty()) words.push_back(std::move(s));
      continue;
    }
    pieces.clear();
    pre_tokenizer_->split(std::move(s.text), pieces);
    for (auto& p : pieces) {
      if (!p.empty()) words.push_back({std::move(p), -1});
    }
  }

  Encoding enc;
  std::vector<ModelToken> tokens;
  std::vector<std::size_t> char_at_byte;
  auto push = [&](std::int32_t id, std::string value, std::int32_t word, std::uint32_t begin, std::uint32_t end) {
    enc.ids.push_back(id);
    enc.type_ids.push_back(0);
    enc.tokens.push_back(std::move(value));
    enc.word_ids.push_back(forced_word >= 0 ? forced_word : word);
    enc.sequence_ids.push_back(0);
    auto role = roles_.find(id);
    enc.roles.push_back(role == roles_.end() ? TokenRole::ordinary : role->second);
    enc.char_offsets.emplace_back(begin, end);
    enc.byte_offsets.emplace_back(input.byte_at[begin], input.byte_at[end]);
  };
  for (std::size_t w = 0; w < words.size(); ++w) {
    const auto& word = words[w];
    const auto index = static_cast<std::int32_t>(w);
    if (word.added >= 0) {
      // As in tokenizers, the token's text is what it matched, stripped whitespace included.
      const auto& t = added_tokens_[static_cast<std::size_t>(word.added)];
      push(t.id, to_utf8(word.text), index, word.text.front().begin, word.text.back().end);
      continue;
    }
    const std::string utf8 = to_utf8(word.text);
    char_at_byte.assign(utf8.size(), 0);
    for (std::size_t c = 0, b = 0; c < word.text.size(); ++c) {
      const std::size_t n = utf8_length(word.text[c].cp);
      for (std::size_t k = 0; k < n; ++k) char_at_byte[b + k] = c;
      b += n;
    }
    tokens.clear();
    model_->tokenize(utf8, tokens);
    for (auto& t : tokens) {
      const auto& first = word.text[char_at_byte[t.begin]];
      const auto& last = word.text[char_at_byte[t.end - 1]];
      push(t.id, std::move(t.value), index, first.begin, last.end);
    }
  }
  return enc;
}

Encoding Pipeline::finish(std::vector<Encoding> segments, const EncodeOptions& options) const {
  const bool pair = segments.size() > 1;
  const std::size_t specials = num_special_tokens(pair);
  std::size_t total = specials;
  for (const auto& s : segments) total += s.size();
  if (options.max_length > 0 && total > options.max_length) {
    if (!options.truncate) {
      fail(ErrorKind::input,
           "the input is {} tokens long (special tokens included), over the limit of {}; use --truncate to cut it "
           "to {} tokens",
           total, options.max_length, options.max_length);
    }
    if (options.max_length < specials) {
      fail(ErrorKind::input, "max_length {} cannot hold the {} special tokens of the encoding", options.max_length,
           specials);
    }
    // Hugging Face's longest_first: the shorter sequence keeps its length while that leaves room,
    // else both get half, the longer one the odd token.
    const std::size_t limit = options.max_length - specials;
    if (pair) {
      std::size_t n1 = segments[0].size(), n2 = segments[1].size();
      const bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      n2 = n1 > limit ? n1 : std::max(n1, limit - n1);
      if (n1 + n2 > limit) {
        n1 = limit / 2;
        n2 = n1 + limit % 2;
      }
      if (swap) std::swap(n1, n2);
      segments[0].truncate(n1);
      segments[1].truncate(n2);
    } else {
      segments[0].truncate(limit);
    }
  }
  // The second text is sequence 1 with type id 1 unless the post-processor says otherwise.
  if (pair) {
    for (auto& id : segments[1].sequence_ids) id = 1;
    for (auto& id : segments[1].type_ids) id = 1;
  }
  std::size_t truncated = 0;
  for (const auto& s : segments) truncated += s.num_truncated;
  if (post_processor_) post_processor_->process(segments);
  Encoding out = std::move(segments[0]);
  for (std::size_t i = 1; i < segments.size(); ++i) out.append(std::move(segments[i]));
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto role = roles_.find(out.ids[i]);
    out.roles[i] = role == roles_.end() ? TokenRole::ordinary : role->second;
  }
  out.num_truncated = truncated;
  return out;
}

Encoding Pipeline::encode(std::string_view text, std::optional<std::string_view> pair, const EncodeOptions& options) const {
  std::vector<Encoding> segments;
  segments.push_back(encode_segment(text, "the input text"));
  if (pair) segments.push_back(encode_segment(*pair, "the second text of the pair"));
  return finish(std::move(segments), options);
}

Encoding Pipeline::encode_words(const std::vector<std::string>& words, const EncodeOptions& options) const {
  // The words read as one sentence: each word after the first is encoded as if a space preceded
  // it, so tokenizers that mark word starts in their pieces (byte-level BPE's "Ġ", Metaspace's
  // "▁") give the pieces of the running text, as the model saw in training; WordPiece drops the
  // space. Offsets stay within each word, as Hugging Face's is_split_into_words.
  Encoding all;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto what = fmt::format("word {} of the input", i);
    all.append(encode_segment(i == 0 ? words[i] : " " + words[i], what, static_cast<std::int32_t>(i)));
  }
  std::vector<Encoding> segments;
  segments.push_back(std::move(all));
  Encoding out = finish(std::move(segments), options);
  // The added space is not part of the word: offsets after the post-processor (which may trim
  // them) move back by it.
  for (std::size_t t = 0; t < out.size(); ++t) {
    if (out.word_ids[t] <= 0) continue;
    for (auto* offsets : {&out.char_offsets, &out.byte_offsets}) {
      auto& [begin, end] = (*offsets)[t];
      begin = std::max<std::int64_t>(begin - 1, 0);
      end = std::max<std::int64_t>(end - 1, 0);
    }
  }
  return out;
}

Encoding Pipeline::combine(Encoding a, std::optional<Encoding> b, const EncodeOptions& options) const {
  std::vector<Encoding> segments;
  segments.push_back(std::move(a));
  if (b) segments.push_back(std::move(*b));
  return finish(std::move(segments), options);
}

}  // namespace bertscope::tokenizer
