#include "model/pretraining.hpp"

#include <algorithm>
#include <cmath>

#include "core/random.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/gutenberg.hpp"

namespace bertscope::model {

namespace {

bool ends_sentence(const std::string& token) { return token == "." || token == "!" || token == "?"; }

}  // namespace

std::string strip_gutenberg(const std::string& text) {
  const auto body = io::gutenberg_body(text);
  return text.substr(body.begin, body.end - body.begin);
}

MlmCorpus MlmCorpus::from_files(const std::vector<std::filesystem::path>& files, const Tokenizer& tokenizer) {
  MlmCorpus c;
  c.doc_starts_.push_back(0);
  for (const auto& file : files) {
    const auto raw = io::read_file(file);
    // Checked before the Gutenberg header is cut, so the line and byte are the file's own.
    if (const auto bad = io::find_invalid_utf8(raw); bad != std::string::npos)
      fail(ErrorKind::input, "{}:{}: invalid UTF-8 at byte {}", file.string(),
           1 + std::count(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(bad), '\n'), bad);
    const auto text = strip_gutenberg(raw);
    // Paragraphs: lines joined until a blank line.
    std::string paragraph;
    auto flush = [&] {
      if (paragraph.empty()) return;
      bool sentence_start = true;
      for (const auto& piece : tokenizer.tokenize(paragraph)) {
        if (sentence_start) c.sentence_starts_.push_back(static_cast<std::int64_t>(c.ids_.size()));
        c.ids_.push_back(tokenizer.find(piece).value_or(tokenizer.unk_id()));
        sentence_start = ends_sentence(piece);
      }
      paragraph.clear();
    };
    std::size_t pos = 0;
    while (pos <= text.size()) {
      auto nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) {
        flush();
      } else {
        if (!paragraph.empty()) paragraph += ' ';
        paragraph += line;
      }
      pos = nl + 1;
    }
    flush();
    if (static_cast<std::int64_t>(c.ids_.size()) > c.doc_starts_.back()) c.doc_starts_.push_back(static_cast<std::int64_t>(c.ids_.size()));
  }
  if (c.ids_.empty()) fail(ErrorKind::input, "the corpus ({} files) has no text", files.size());
  return c;
}

std::vector<std::int64_t> MlmCorpus::counts(std::int64_t vocab_size) const {
  std::vector<std::int64_t> n(static_cast<std::size_t>(vocab_size), 0);
  for (auto id : ids_)
    if (id >= 0 && id < vocab_size) ++n[static_cast<std::size_t>(id)];
  return n;
}

MlmCorpus::Span MlmCorpus::chunk(double u, std::int64_t length) const {
  const auto idx = std::min<std::size_t>(sentence_starts_.size() - 1,
                                         static_cast<std::size_t>(u * static_cast<double>(sentence_starts_.size())));
  const auto begin = sentence_starts_[idx];
  const auto doc_end = *std::upper_bound(doc_starts_.begin(), doc_starts_.end(), begin);
  Span s{begin, std::min(doc_end, begin + length), {}};
  for (auto it = std::upper_bound(sentence_starts_.begin(), sentence_starts_.end(), begin);
       it != sentence_starts_.end() && *it < s.end; ++it)
    s.boundaries.push_back(*it);
  return s;
}

MlmInstance make_mlm_instance(const MlmCorpus& corpus, const Tokenizer& tok, const MlmInstanceOptions& o,
                              std::int64_t step, std::int64_t index) {
  core::CounterRng rng{core::mix64(o.seed ^ core::mix64(static_cast<std::uint64_t>(step) * 1000003ull + static_cast<std::uint64_t>(index)))};
  MlmInstance in;
  const bool single = rng.uniform() < o.single_segment_prob || !o.segment_pairs;
  const auto span = corpus.chunk(rng.uniform(), o.seq_len - (single ? 2 : 3));
  const auto& ids = corpus.ids();
  in.ids.push_back(tok.cls_id());
  in.type_ids.push_back(0);
  std::int64_t split = span.end;
  if (!single && span.end - span.begin >= 2) {
    // A ends at a sentence boundary when the chunk has one, else at a random token.
    split = span.boundaries.empty() ? span.begin + 1 + rng.below(span.end - span.begin - 1)
                                    : span.boundaries[static_cast<std::size_t>(rng.below(static_cast<std::int64_t>(span.boundaries.size())))];
  }
  for (auto i = span.begin; i < split; ++i) {
    in.ids.push_back(ids[static_cast<std::size_t>(i)]);
    in.type_ids.push_back(0);
  }
  in.ids.push_back(tok.sep_id());
  in.type_ids.push_back(0);
  if (split < span.end) {
    for (auto i = split; i < span.end; ++i) {
      in.ids.push_back(ids[static_cast<std::size_t>(i)]);
      in.type_ids.push_back(1);
    }
    in.ids.push_back(tok.sep_id());
    in.type_ids.push_back(1);
  }
  // Mask 15% of the non-special tokens: 80% [MASK], 10% a random token, 10% unchanged.
  std::vector<std::int32_t> candidates;
  for (std::size_t i = 0; i < in.ids.size(); ++i)
    if (in.ids[i] != tok.cls_id() && in.ids[i] != tok.sep_id()) candidates.push_back(static_cast<std::int32_t>(i));
  if (candidates.empty()) return in;
  const auto count = std::max<std::int64_t>(1, std::llround(o.mask_prob * static_cast<double>(candidates.size())));
  for (std::int64_t i = 0; i < count; ++i) {  // partial Fisher-Yates
    const auto j = i + rng.below(static_cast<std::int64_t>(candidates.size()) - i);
    std::swap(candidates[static_cast<std::size_t>(i)], candidates[static_cast<std::size_t>(j)]);
  }
  candidates.resize(static_cast<std::size_t>(count));
  std::sort(candidates.begin(), candidates.end());
  const auto vocab = static_cast<std::int64_t>(tok.vocab_size());
  for (auto pos : candidates) {
    in.positions.push_back(pos);
    in.labels.push_back(in.ids[static_cast<std::size_t>(pos)]);
    if (o.scheme == MaskScheme::all_mask) {
      in.ids[static_cast<std::size_t>(pos)] = tok.mask_id();
      continue;
    }
    const double r = rng.uniform();
    if (r < 0.8) in.ids[static_cast<std::size_t>(pos)] = tok.mask_id();
    else if (r < 0.9) in.ids[static_cast<std::size_t>(pos)] = static_cast<std::int32_t>(rng.below(vocab));
  }
  return in;
}

}  // namespace bertscope::model
