// Gradients of the encoder: a forward pass that keeps what the backward pass needs (a tape),
// reverse-mode gradients (parameters, head-mask coefficients, any trace site, input word
// embeddings), forward-mode tangents (JVP), dropout for training, and restricted flow: masks
// that let derivatives pass only through chosen nodes while forward values stay unchanged
// (Lu et al.'s pattern gradients).
//
// Flow masks are site hooks (hooks.hpp) on these nodes, per input:
//   hidden   layer l in 0..L: h_l, the residual stream entering block l (h_0 = embed.out,
//            h_l = layer.{l-1}.out); mask [tok]
//   context  layer l in 0..L-1: per-head context a_l[q, h] before W_O; mask [tok, heads]
//   skip     layer l in 0..L-1: the residual term x of LN1(x + attention) (layer.{l}.attn.residual); mask [tok]
// A mask value multiplies every derivative passing through the node (0 blocks it, 1 lets it
// through); nodes without a mask let everything through.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "model/hooks.hpp"
#include "model/model.hpp"
#include "model/trace.hpp"

namespace bertscope::model {

enum class FlowSite { hidden, context, skip };

struct FlowMask {
  FlowSite site = FlowSite::hidden;
  std::int64_t layer = 0;
  core::Tensor mask;  // [tok] (hidden, skip) or [tok, heads] (context)
};

// Forward-only replacement of node values (Lu et al.'s ablation check: keep only a pattern's
// nodes): where `keep` is 0 the node's value is replaced, before anything reads it, by `value`
// (zero when empty). Node sites as for flow masks: hidden (layer 0..L) and skip (layer 0..L-1)
// take keep [tok] and value [tok, hidden]; context (layer 0..L-1) takes keep [tok, heads] and
// value [heads, tok, head_dim] (the trace layout of attn.context). Recorded trace sites show the
// replaced values. A tape recorded with replacements serves no backward or JVP pass.
struct NodeReplacement {
  FlowSite site = FlowSite::hidden;
  std::int64_t layer = 0;
  core::Tensor keep;
  core::Tensor value;
};

// Options of a forward pass that records a tape.
struct TapeOptions {
  bool train = false;           // dropout as in BERT pre-training/fine-tuning (config's probabilities)
  std::uint64_t dropout_seed = 0;
  // This batch is a slice of a larger one (data-parallel training): the larger batch's token
  // rows, attention-probability elements (heads x T^2 per input) and inputs before it, so the
  // slice draws the larger batch's dropout masks (layers/dropout.hpp).
  struct {
    std::int64_t rows = 0, probs = 0, inputs = 0;
  } dropout_before;
  bool mlm_logits = false;      // keep the MLM head on the tape (logits returned in the results)
  // When given (one list per input), the MLM head runs only at these positions and each
  // input's logits are [positions, vocab] in this order (training needs only masked tokens).
  std::vector<std::vector<std::int32_t>> mlm_positions;
  bool classifier_logits = false;
  // Forward-only node replacement, one list per input (may be empty): see NodeReplacement.
  std::vector<std::vector<NodeReplacement>> replacements;
};

// What a tape-recording forward pass saved; opaque, consumed by backward() and jvp().
class ForwardTape {
 public:
  ForwardTape();
  ~ForwardTape();
  ForwardTape(ForwardTape&&) noexcept;
  ForwardTape& operator=(ForwardTape&&) noexcept;
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Gradient of the loss with respect to the outputs of one input (empty tensors = zero).
struct OutputGrad {
  core::Tensor last_hidden;        // [tok, hidden]
  core::Tensor mlm_logits;         // [tok, vocab], or [positions, vocab] with TapeOptions::mlm_positions
  core::Tensor classifier_logits;  // [labels] or [tok, labels]
};

struct GradRequest {
  bool params = false;            // dL/d(every parameter), summed over the batch
  bool head_mask = false;         // dL/d(head-mask coefficient) [layers, heads], summed over the batch
  // Also each input's own dL_b/d(head-mask coefficient) [layers, heads] (per-example gradients
  // from one batched pass, e.g. for Michel et al.'s sum of |gradient| over examples).
  bool head_mask_per_input = false;
  bool word_embeddings = false;   // dL/d(word embedding rows as used) per input [tok, hidden]
  SiteSet sites;                  // dL/d(site) per input, site names as in trace.hpp
  std::vector<std::vector<FlowMask>> flow_masks;  // per input (may be empty: unrestricted)
  SiteHooks hooks;  // run in the backward pass after each site's gradient is recorded (hooks.hpp)
};

struct BackwardResult {
  std::map<std::string, core::Tensor> param_grads;  // canonical names; a tied decoder adds into the word embeddings
  core::Tensor head_mask_grad;                      // [layers, heads]
  std::vector<core::Tensor> head_mask_grads;        // per input [layers, heads], with head_mask_per_input
  std::vector<core::Tensor> word_embedding_grads;   // per input
  std::vector<Trace> site_grads;                    // per input
};

// Forward-mode derivative along word-embedding tangents (one [tok, hidden] per input).
struct TangentResult {
  std::vector<Trace> site_tangents;      // at the requested sites (attn.context, layer.{l}.out, embed.out, ...)
  std::vector<core::Tensor> last_hidden;
  std::vector<core::Tensor> mlm_logits;  // when the tape has the MLM head
  std::vector<core::Tensor> classifier_logits;
};

// Runs the forward pass like Model::forward (same values; interventions from `run`: head mask,
// uniform heads, skipped layers, attention overrides, word-embedding overrides) and records a
// tape. `run.record` sites are returned in the results as usual.
std::vector<ForwardResult> forward_with_tape(const Model& model, std::span<const ModelInput> inputs,
                                             const RunOptions& run, const TapeOptions& options, ForwardTape& tape);

BackwardResult backward(const Model& model, const ForwardTape& tape, std::span<const OutputGrad> seeds,
                        const GradRequest& request);
// The same for a tape used once: each layer's part is freed as soon as the reverse pass has gone
// below it, so the tape and the parameter gradients are not held in full at once (bert-base at
// 8 x 128: about 0.4 GB less at the peak). The tape is empty afterwards.
BackwardResult backward(const Model& model, ForwardTape&& tape, std::span<const OutputGrad> seeds,
                        const GradRequest& request);

// `hooks` run in the tangent pass before each site's tangent is recorded (hooks.hpp), e.g. to
// restrict the tangent leaving layer l after seeing it.
TangentResult jvp(const Model& model, const ForwardTape& tape, std::span<const core::Tensor> word_embedding_tangents,
                  const SiteSet& sites, const std::vector<std::vector<FlowMask>>& flow_masks = {},
                  const SiteHooks& hooks = {});

// Losses that produce the seeds: value and gradient with respect to the logits.
struct LossGrad {
  double loss = 0;
  core::Tensor grad;
};
// Mean cross-entropy over the positions whose label is >= 0 (-100 and other negatives are
// ignored, as in transformers), logits [tok, vocab]; `scale` multiplies the gradient (e.g.
// 1/batch for a batch mean).
LossGrad mlm_cross_entropy(const core::Tensor& logits, std::span<const std::int32_t> labels, double scale = 1.0);
// Cross-entropy of one example's class logits [labels].
LossGrad class_cross_entropy(const core::Tensor& logits, std::int32_t label, double scale = 1.0);
// Mean squared error for regression (one logit).
LossGrad regression_mse(const core::Tensor& logits, float target, double scale = 1.0);

}  // namespace bertscope::model
