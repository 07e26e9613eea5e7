// Where analyses get attention from: a model run on the data (tokenized, batched, streamed) or
// trace files saved earlier by `bertscope run` or any framework. Examples arrive one at a time
// in input order, so memory stays bounded whatever the corpus size.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "model/model.hpp"
#include "model/tokenizer.hpp"
#include "model/trace.hpp"

namespace bertscope::analysis {

// One input of an analysis: raw text (and an optional pair), or words already split (CoNLL-U
// sentences, coreference documents), whose indices then become the tokens' word ids.
struct AnalysisInput {
  std::string text;
  std::optional<std::string> pair;
  std::vector<std::string> words;  // non-empty: tokenize these words, ignore text/pair
  // Set: run exactly these tokens (built by the caller, e.g. Clark et al.'s segments, which are
  // cut at word-piece level and cannot be re-tokenized from text); text, pair and words are
  // ignored. Model runs only; an over-long encoding is skipped or an error, never truncated.
  std::optional<model::Encoding> encoding = std::nullopt;
};

struct AttentionExample {
  std::size_t index = 0;        // position in the input list
  model::Encoding encoding;     // tokens, ids, type ids, word ids
  core::Tensor attentions;      // [layers, heads, T, T], rows = queries
  model::Trace trace;           // other recorded sites (model runs only)
  core::Tensor mlm_logits;      // when asked and available (model runs only)
  core::Tensor classifier_logits;
  std::vector<std::string> text = {};  // the trace file's stored text (and pair), when it has one (traces only)
};

struct SourceOptions {
  std::size_t batch_size = 16;
  bool truncate = false;        // over-long inputs: truncate (true) or error (false)
  bool skip_too_long = false;   // drop over-long inputs instead (Clark et al. drop them)
  model::SiteSet extra_sites;   // beyond attn.probs (model runs only)
  bool mlm_logits = false;
  bool classifier_logits = false;
  model::RunOptions interventions;  // head mask / uniform heads / skipped layers (model runs only)
  // Every token_type_id 0, segment B included, as Clark et al.'s extraction script did (model
  // runs only; the examples' encodings keep their real type ids).
  bool zero_type_ids = false;
  std::function<void(std::size_t done, std::size_t total)> progress;  // called after each batch
};

// Attention computed elsewhere and held in memory (the public API's analyze_attention): one
// input's encoding, its [layers, heads, T, T] maps and its text.
struct AttentionInMemory {
  model::Encoding encoding;
  core::Tensor attentions;
  std::vector<std::string> text = {};
};

class AttentionSource {
 public:
  static AttentionSource from_model(const model::Model& model);
  static AttentionSource from_traces(const std::filesystem::path& dir);
  // Example i is maps[i] (not owned: it must outlive the source). Error(input) when the maps
  // disagree with each other on layers and heads or with their encodings on the tokens.
  static AttentionSource from_memory(const std::vector<AttentionInMemory>& maps);

  // Calls `fn` once per input, in order; inputs skipped as too long are not passed (count them
  // with skipped()). With traces, file i must exist for input i and its token count must match
  // the tokenizer's when a model is also given.
  void run(const std::vector<AnalysisInput>& inputs, const SourceOptions& options,
           const std::function<void(AttentionExample&)>& fn);
  // The same for inputs [first, last) only (examples keep their index in `inputs`): one block of
  // a run spread over processes (analysis/blocks.hpp). skipped() counts this range's.
  void run_range(const std::vector<AnalysisInput>& inputs, std::size_t first, std::size_t last,
                 const SourceOptions& options, const std::function<void(AttentionExample&)>& fn);

  std::size_t skipped() const { return skipped_; }
  std::int64_t layers() const { return layers_; }
  std::int64_t heads() const { return heads_; }
  std::string description() const;  // model folder or traces folder, for result documents
  // Where example `index` came from, for messages: its trace file, "attention input N" for maps
  // held in memory, "" for a model run.
  std::string example_name(std::size_t index) const;
  const model::Model* model() const { return model_; }

 private:
  const model::Model* model_ = nullptr;
  std::filesystem::path traces_;
  const std::vector<AttentionInMemory>* memory_ = nullptr;
  std::int64_t layers_ = 0, heads_ = 0;
  std::size_t skipped_ = 0;
};

// The trace file of input i in a traces folder: DIR/000000.npz, DIR/000001.npz, ...
std::filesystem::path trace_path(const std::filesystem::path& dir, std::size_t index);

}  // namespace bertscope::analysis
