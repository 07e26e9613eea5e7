// A loaded encoder model (config, weights, tokenizer) and its forward pass with traces and
// interventions. Inputs in a batch are packed without padding: every matrix product runs on
// the real tokens of all inputs at once and attention runs per input, so a batch of mixed
// lengths costs the same as its inputs run one by one, and traces come out unpadded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/profile.hpp"
#include "core/tensor.hpp"
#include "model/config.hpp"
#include "model/hooks.hpp"
#include "model/tokenizer.hpp"
#include "model/trace.hpp"
#include "model/weights.hpp"

namespace bertscope::model {

// Replaces the attention of one head for one input with a given row-stochastic matrix.
struct AttentionOverride {
  std::int64_t layer = 0;
  std::int64_t head = 0;
  core::Tensor probs;  // [tok, tok]
};

struct ModelInput {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;  // empty: all zero
  std::vector<AttentionOverride> attention_overrides;
  // transformers' attention_mask: empty = every token is real; else 1 for a real token and 0
  // for padding, which no query attends to. Padding rows are still computed, as in a padded
  // transformers batch; uniform heads spread attention over the real tokens only.
  std::vector<std::uint8_t> attention_mask;
  // Hidden states entering layer RunOptions::start_layer [tok, hidden] (embed.out for layer 0,
  // else layer.{start-1}.out of an earlier run). When given, the embeddings are not computed;
  // required when start_layer > 0.
  core::Tensor start_hidden;
  // Word embeddings to use instead of looking up `ids` [tok, hidden] (position and token-type
  // embeddings are still added), e.g. points on an integrated-gradients path; empty = look up.
  core::Tensor word_embeddings;

  static ModelInput from_encoding(const Encoding& encoding);
};

// Arithmetic of the encoder's matrix products. f32 is exact (the default); bf16 rounds GEMM
// inputs to bfloat16 (AVX512-BF16 through oneDNN) for corpus-scale statistics.
enum class Precision { f32, bf16 };

// What a forward pass computes beyond the encoder, and which interventions it applies.
struct RunOptions {
  SiteSet record;                 // sites to keep per input (see trace.hpp)
  // Keep every complete group of `record` ("attentions", "hidden_states") in one tensor per
  // input (Trace::stack_complete_groups), for APIs that hand out stacked views without a copy.
  bool stack = false;
  bool mlm_logits = false;        // MLM head logits [tok, vocab] (needs the MLM head)
  bool pooled = false;            // pooler output [hidden] (needs the pooler)
  bool classifier_logits = false; // [labels], or [tok, labels] for token classification
  // Scales head (l, h)'s attention probabilities after the softmax, as transformers' head_mask
  // did; [layers, heads], empty = all ones. 0 removes the head's contribution.
  core::Tensor head_mask;
  // Heads whose attention is replaced by the uniform distribution over the input's tokens
  // (Kovaleva et al.'s way of disabling a head); (layer, head) pairs.
  std::set<std::pair<std::int64_t, std::int64_t>> uniform_heads;
  // Layers replaced by the identity: their output is their input.
  std::set<std::int64_t> skip_layers;
  // Run only layers start_layer.. from each input's start_hidden, e.g. to re-run the layers
  // above an intervention while reusing those below it; earlier layers are not run or recorded.
  std::int64_t start_layer = 0;
  Precision precision = Precision::f32;
  // Run at sites in the forward pass, before each site's value is recorded (hooks.hpp).
  SiteHooks hooks;
  core::OpProfile* profile = nullptr;  // per-op-class timing, when given
};

struct ForwardResult {
  Trace trace;
  core::Tensor last_hidden;        // [tok, hidden]
  core::Tensor mlm_logits;         // [tok, vocab] when asked
  core::Tensor pooled;             // [hidden] when asked
  core::Tensor classifier_logits;  // [labels] or [tok, labels] when asked
};

class Model {
 public:
  // Loads config.json, the safetensors weights and the tokenizer (when the folder has one).
  static Model load(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor = {});
  Model(ModelConfig config, Weights weights, std::optional<Tokenizer> tokenizer, std::filesystem::path dir = {});

  const ModelConfig& config() const { return config_; }
  const Weights& weights() const { return weights_; }
  // For training, which updates in-memory parameters in place between forward passes.
  Weights& mutable_weights() { return weights_; }
  // Says the parameters changed in place (a training step), so derived copies (the bf16
  // weights of the fast path) are made again before the next pass uses them.
  void weights_changed() { ++weights_version_; }
  // Forward products read the linear weights packed into the GEMM kernels' layout (on by default;
  // packed lazily, while the weights have never changed: core::PackedWeight). Off: as stored
  // (a benchmark's side-by-side reference). Set before the first pass.
  void set_prepack(bool on) { prepack_ = on; }
  std::size_t packed_weight_bytes() const;  // memory the packed copies hold so far
  const EncoderParams& params() const { return weights_.params(); }
  const std::filesystem::path& dir() const { return dir_; }
  bool has_tokenizer() const { return tokenizer_.has_value(); }
  const Tokenizer& tokenizer() const;  // throws Error(model) when the folder has no vocabulary
  std::int64_t layers() const { return config_.num_hidden_layers; }
  std::int64_t heads() const { return config_.num_attention_heads; }

  // Tokenizes for this model: the limit is the position table's (and the tokenizer's
  // model_max_length if smaller).
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = {}, bool truncate = false) const;
  std::size_t max_length() const;

  // Runs the encoder on a batch; results are in input order and unpadded. Throws Error(input)
  // for ids outside the vocabulary, bad type ids, empty or over-long inputs, bad overrides.
  std::vector<ForwardResult> forward(std::span<const ModelInput> inputs, const RunOptions& options = {}) const;

 private:
  friend class Encoder;  // the forward driver (model/encoder.cpp) uses the caches
  struct Caches;  // reusable activation buffers, the bf16 weight copies, packed weights; safe across threads
  ModelConfig config_;
  Weights weights_;
  std::optional<Tokenizer> tokenizer_;
  std::filesystem::path dir_;
  std::shared_ptr<Caches> caches_;
  std::uint64_t weights_version_ = 0;
  bool prepack_ = true;
};

}  // namespace bertscope::model
