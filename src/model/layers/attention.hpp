// Multi-head self-attention up to the per-head context (before W_O): Q, K, V projections,
// scaled dot-product scores, softmax with transformers' additive padding mask, dropout, the
// hooks at attn.probs, the head mask, and the probabilities times V. The forward runs one batched product per run of equal-length inputs;
// the reverse (VJP) and forward-mode (JVP) passes run per (input, head) from the tape.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "model/layers/batch.hpp"
#include "model/layers/linear.hpp"
#include "model/layers/param_grads.hpp"
#include "model/model.hpp"

namespace bertscope::model::layers {

struct AttentionShape {
  std::int64_t hidden, heads, head_dim;
  float scale;  // 1/sqrt(head_dim)
};

// What the reverse and forward-mode passes need.
struct AttentionTape {
  core::FloatBuffer x_in, q, k, v;     // [rows, hidden]
  core::FloatBuffer soft;              // softmax output, per input [heads, t, t] back to back
  core::FloatBuffer pre_mask;          // probabilities after edits and dropout, before the head mask
  core::FloatBuffer dropout;           // multipliers of the probabilities (empty: none)
  std::vector<std::uint8_t> replaced;  // per (input, head): attention replaced, no gradient to the scores
  core::FloatBuffer ctx;               // [rows, hidden]
};

// What one layer's probabilities receive, in this order: padding mask, softmax, dropout, the
// hooks at attn.probs (uniform heads and replaced attention are such hooks), head mask.
struct AttentionEdits {
  std::span<const ModelInput> inputs;  // attention masks
  const float* head_mask = nullptr;              // this layer's [heads], null = ones
  const core::FloatBuffer* dropout = nullptr;    // multipliers over all blocks, null = none
};

// Where the forward writes (the tape's buffers when taped, a workspace otherwise).
struct AttentionBuffers {
  float *q, *k, *v, *probs, *ctx;
};

// x [rows, hidden] -> ctx [rows, hidden] (heads side by side); records attn.query/key/value/
// scores/probs. With a tape, fills everything but x_in and ctx's copy, which the caller owns.
void attention_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                       const AttentionShape& s, const float* x, const AttentionBuffers& buf,
                       const AttentionEdits& edits, SiteRecorder& rec, std::vector<core::bf16>* x16,
                       AttentionTape* tape);

// Reverse: from d(ctx) adds d(x) into dx and the projections' parameter gradients into grads;
// records attn.probs/scores/query/key/value gradients; mask_grad[b * heads + h] receives
// dL/d(head-mask coefficient). dq, dk, dv are [rows, hidden] scratch.
void attention_vjp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                   const AttentionTape& tape, const float* head_mask, const float* d_ctx, SiteRecorder& rec,
                   float* dq, float* dk, float* dv, float* dx, ParamGrads& grads, std::vector<double>& mask_grad);

// Forward mode: t(ctx) from t(x); tq, tk, tv are [rows, hidden] scratch.
void attention_jvp(const LayerParams& lp, const Batch& batch, const AttentionShape& s, const AttentionTape& tape,
                   const float* head_mask, const float* tx, float* tq, float* tk, float* tv, float* t_ctx);

}  // namespace bertscope::model::layers
