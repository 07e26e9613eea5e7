// The position-wise feed-forward network act(x W1^T + b1) W2^T + b2: the forward (activation
// fused into the first product, unless taped: the tape keeps the pre-activation), its reverse
// (VJP) and forward-mode (JVP) derivatives. Records layer.{l}.ffn.act and ffn.out.
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernels.hpp"
#include "core/tensor.hpp"
#include "model/layers/batch.hpp"
#include "model/layers/linear.hpp"
#include "model/layers/param_grads.hpp"

namespace bertscope::model::layers {

struct FeedForwardTape {
  // [rows, intermediate] before and after the activation (gated: pre [rows, 2 intermediate]); act
  // is kept only when a hook at ffn.act could have changed it (empty: act(pre), computed again).
  core::FloatBuffer pre, act;
};

// Gated (GeGLU, ModernBERT): the first product gives [a, g], 2 x intermediate wide, and the
// second reads act(a) * g, which is what ffn.act records.
struct FeedForwardShape {
  std::int64_t hidden, intermediate;
  core::Activation act;
  bool gated = false;
  std::int64_t in_width() const { return gated ? 2 * intermediate : intermediate; }
};

// x [rows, hidden] -> y [rows, hidden]; `mid` [rows, in_width()] holds the activations
// (kept by the tape only where a hook at ffn.act may change them). x16/mid16 are the bf16
// staging buffers of x and mid (`x_converted`: x16 holds x already). On the bf16 path without a
// tape, activations nothing records or hooks are written in bf16 only, into mid16.
void feed_forward_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, std::int64_t rows,
                          const FeedForwardShape& s, const float* x, float* mid, float* y, SiteRecorder& rec,
                          std::vector<core::bf16>* x16, std::vector<core::bf16>* mid16, FeedForwardTape* tape,
                          bool x_converted = false);

// Reverse: d(x) (+)= from dy; `d_mid` [rows, in_width()] scratch; x is the forward's input.
void feed_forward_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, std::int64_t rows, const FeedForwardShape& s,
                      const FeedForwardTape& tape, const float* x, float* dy, float* d_mid, float* dx,
                      bool accumulate, SiteRecorder& rec, ParamGrads& grads);

// Forward mode: ty from tx; t_mid [rows, in_width()] scratch; records the tangents.
void feed_forward_jvp(const LayerParams& lp, std::int64_t layer, std::int64_t rows, const FeedForwardShape& s,
                      const FeedForwardTape& tape, const float* tx, float* t_mid, float* ty, SiteRecorder& rec);

}  // namespace bertscope::model::layers
