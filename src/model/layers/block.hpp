// One encoder block, post-norm (BERT, RoBERTa, ...):
//   mid = LN1(x + dropout(W_O attention(x)));  out = LN2(mid + dropout(FFN(mid)))
// or pre-norm (ModernBERT; LN1 is the identity where the layer has none):
//   mid = x + dropout(W_O attention(LN1(x)));  out = mid + dropout(FFN(LN2(mid)))
// composed from the attention, linear, norm and feed-forward components; the forward, reverse
// (VJP) and forward-mode (JVP) passes side by side, each visiting the block's trace sites
// (records and hooks) in its own order.
#pragma once

#include <cstdint>
#include <vector>

#include "model/layers/attention.hpp"
#include "model/layers/dropout.hpp"
#include "model/layers/feed_forward.hpp"
#include "model/layers/norm.hpp"

namespace bertscope::model::layers {

struct BlockShape {
  AttentionShape attention;
  FeedForwardShape ffn;
  float eps;
  bool pre_norm = false;
};

struct BlockTape {
  bool skipped = false;
  AttentionTape attention;
  core::FloatBuffer attn_drop;  // dropout of the attention branch (empty: none)
  NormTape norm1;
  core::FloatBuffer mid;        // resid_mid [rows, hidden]
  core::FloatBuffer ffn_in;     // pre-norm: LN2(mid), the feed-forward's input
  FeedForwardTape ffn;
  core::FloatBuffer ffn_drop;
  NormTape norm2;
};

// Activation buffers of one pass, reused from block to block (and between forward calls).
struct BlockBuffers {
  core::FloatBuffer q, k, v, ctx, attn, mid, out, probs, inter, extra;
  std::vector<core::bf16> x16, inter16;
  // bf16 path, post-norm blocks: the encoder lets LN2 write the block output's bf16 copy into
  // x16 (`out16`: nothing may change the output before the next block's Q, K, V read it), and
  // the next block then finds its input converted (`x16_is_input`).
  bool out16 = false, x16_is_input = false;
  void reserve(std::int64_t rows, std::int64_t hidden, std::int64_t intermediate, std::int64_t probs_size, bool bf16);
};

// x [rows, hidden] in, the block's output out (x is overwritten). With a tape, everything the
// reverse and forward-mode passes need is kept and dropout applied.
void block_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                   const BlockShape& s, float* x, BlockBuffers& buf, const AttentionEdits& edits,
                   const Dropout& dropout, SiteRecorder& rec, BlockTape* tape);

// dx holds dL/d(block output) in and dL/d(block input) out.
void block_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch, const BlockShape& s,
               const BlockTape& tape, float* dx, BlockBuffers& buf, SiteRecorder& rec, ParamGrads& grads);

// tx holds the tangent of the block input in and of its output out.
void block_jvp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const BlockShape& s,
               const BlockTape& tape, float* tx, BlockBuffers& buf, SiteRecorder& rec);

}  // namespace bertscope::model::layers
