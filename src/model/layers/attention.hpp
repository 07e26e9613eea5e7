// Multi-head self-attention up to the per-head context (before W_O): Q, K, V projections,
// scaled dot-product scores, softmax with transformers' additive padding mask, dropout, the
// hooks at attn.probs (uniform heads, given attention, the head mask among them), and the
// probabilities times V. The forward runs one batched product per run of equal-length inputs;
// the reverse (VJP) and forward-mode (JVP) passes run per (input, head) from the tape, in three
// phases so that every site's derivative (attn.probs and attn.scores included) is whole when
// its hooks run.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "model/layers/batch.hpp"
#include "model/layers/linear.hpp"
#include "model/layers/param_grads.hpp"
#include "model/layers/relative_attention.hpp"
#include "model/model.hpp"

namespace bertscope::model::layers {

struct AttentionShape {
  std::int64_t hidden, heads, head_dim;
  float scale;  // 1/sqrt(head_dim) (DeBERTa: 1/sqrt(head_dim * (1 + |pos_att_type|)))
  double rope_theta = 0;         // > 0: rotary positions turn the queries and keys (ModernBERT)
  std::int64_t window_half = -1;  // >= 0: a query sees only keys with |i - j| <= window_half (sliding layers)
};

// What the reverse and forward-mode passes need.
struct AttentionTape {
  core::FloatBuffer x_in, q, k, v;     // [rows, hidden]
  core::FloatBuffer soft;              // softmax output, per input [heads, t, t] back to back
  core::FloatBuffer applied;           // the probabilities the context used, after dropout and every hook; empty when equal to soft
  core::FloatBuffer dropout;           // multipliers of the probabilities (empty: none)
  std::vector<std::uint8_t> replaced;  // per (input, head): a non-differentiable hook changed it: no gradient to the scores
  core::FloatBuffer ctx;               // [rows, hidden]
  std::shared_ptr<const RelativePositions> relative;  // DeBERTa: the forward's, shared by every layer
  // The probabilities the context used (soft itself when nothing changed them: one copy kept).
  const float* applied_data() const { return applied.empty() ? soft.data() : applied.data(); }
};

// What one layer's probabilities receive, in this order: padding mask, softmax, dropout, the
// hooks at attn.probs (hooks.hpp).
struct AttentionEdits {
  std::span<const ModelInput> inputs;  // attention masks
  const core::FloatBuffer* dropout = nullptr;    // multipliers over all blocks, null = none
  std::shared_ptr<const RelativePositions> relative;  // DeBERTa's c2p / p2c terms, null = none
  bool mask_query_rows = false;  // DeBERTa: a padded query row attends uniformly (1/N) instead
  // Nothing reads this layer's scores or probabilities (no record, no hook, no tape, no
  // relative terms): each head's context is computed a block of query rows at a time, only over
  // the keys its window lets it see, and the [heads, t, t] blocks are never held.
  bool streamed = false;
};

// Where the forward writes (the tape's buffers when taped, a workspace otherwise).
struct AttentionBuffers {
  float *q, *k, *v, *probs, *ctx;
};

// x [rows, hidden] -> ctx [rows, hidden] (heads side by side); records attn.query/key/value/
// scores/probs. With a tape, fills everything but x_in and ctx's copy, which the caller owns.
// `x_converted`: on the bf16 path x16 already holds x in bfloat16.
void attention_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                       const AttentionShape& s, const float* x, const AttentionBuffers& buf,
                       const AttentionEdits& edits, SiteRecorder& rec, std::vector<core::bf16>* x16,
                       AttentionTape* tape, bool x_converted = false);

// Reverse: from d(ctx) adds d(x) into dx and the projections' parameter gradients into grads
// (DeBERTa's also into the gradient of the shared relative embeddings, keyed by their storage
// in the tape's RelativePositions); visits attn.probs/scores/query/key/value. dq, dk, dv are [rows, hidden] scratch, d_probs
// scratch of the batch's blocks.
void attention_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                   const AttentionTape& tape, const float* d_ctx, SiteRecorder& rec, float* dq, float* dk, float* dv,
                   float* d_probs, float* dx, ParamGrads& grads);

// Forward mode: t(ctx) from t(x), visiting the same sites; tq, tk, tv are [rows, hidden]
// scratch, t_probs scratch of the batch's blocks.
void attention_jvp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                   const AttentionTape& tape, const float* tx, SiteRecorder& rec, float* tq, float* tk, float* tv,
                   float* t_probs, float* t_ctx);

}  // namespace bertscope::model::layers
