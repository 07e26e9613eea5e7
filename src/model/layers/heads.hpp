// Task heads on the encoder output: the MLM head (dense -> activation -> LayerNorm -> decoder),
// the pooler (tanh, ReLU or GELU of W h[first token] + b), ELECTRA's per-token discriminator dense
// layer and the classifier (a linear layer on the pooled vector or on every token); forward,
// reverse (VJP) and forward-mode (JVP) side by side.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/kernels.hpp"
#include "core/tensor.hpp"
#include "model/config.hpp"
#include "model/layers/batch.hpp"
#include "model/layers/linear.hpp"
#include "model/layers/norm.hpp"
#include "model/layers/param_grads.hpp"
#include "model/weights.hpp"

namespace bertscope::model::layers {

struct MlmHeadShape {
  std::int64_t hidden, vocab;
  core::Activation act;
  float eps;
  std::int64_t width = 0;  // of the dense layer's output, LayerNorm and decoder input (ALBERT, ELECTRA's generator: embedding_size); 0: hidden
  std::int64_t inner() const { return width > 0 ? width : hidden; }
};

struct MlmTape {
  std::vector<std::int64_t> rows;     // packed rows the head ran on
  std::vector<std::int64_t> offsets;  // first of those rows for each input, then the total
  core::FloatBuffer in, pre, t;       // [rows, hidden]: input, dense output, transformed
  NormTape norm;
};

// in [m, hidden] -> logits[b] [offsets[b+1] - offsets[b], vocab]; `t` [m, hidden] scratch
// (the tape's when taped).
void mlm_head_forward(const LinearContext& lc, const EncoderParams& p, const MlmHeadShape& s, const float* in, std::span<const std::int64_t> offsets,
                      float* t, std::vector<core::Tensor*> logits, MlmTape* tape);
// dlogits [m, vocab] -> din [m, hidden].
void mlm_head_vjp(const LinearContext& lc, const EncoderParams& p, const MlmHeadShape& s, const MlmTape& tape, const float* dlogits, float* din,
                  ParamGrads& grads);
// tin [m, hidden] -> logit tangents per input.
void mlm_head_jvp(const EncoderParams& p, const MlmHeadShape& s, const MlmTape& tape, const float* tin,
                  std::vector<core::Tensor>& logits);

// The pooler: what it reads of each input (its first row, or the mean of its rows), the
// activation after its dense layer, and (ModernBERT's head) a LayerNorm after that.
struct PoolerShape {
  std::int64_t hidden;
  PoolerActivation act;
  Pooling pooling = Pooling::first;
  bool norm = false;
  float eps = 0;
};

// pooled [batch, hidden] = [LN](act(W read(x) + b)).
void pooler_forward(const EncoderParams& p, const PoolerShape& s, const Batch& batch, const float* x, float* pooled);
// dpooled [batch, hidden] (overwritten) -> dx (added) at the rows each input's pooler read; the
// forward's intermediates are recomputed from x.
void pooler_vjp(const EncoderParams& p, const PoolerShape& s, const Batch& batch, const float* x, float* dpooled,
                float* dx, ParamGrads& grads);
// Tangents of every input's pooled vector [batch, hidden] from the encoder output x and its tangent tx.
void pooler_jvp(const EncoderParams& p, const PoolerShape& s, const Batch& batch, const float* x, const float* tx,
                float* tpooled);

// ELECTRA's discriminator dense layer on every row: pre = x W^T + b, out = act(pre), [m, hidden].
void rtd_dense_forward(const EncoderParams& p, std::int64_t hidden, core::Activation act, const float* x, std::int64_t m,
                       float* pre, float* out);
// dout (overwritten) -> dx (added).
void rtd_dense_vjp(const EncoderParams& p, std::int64_t hidden, core::Activation act, const float* x, const float* pre,
                   std::int64_t m, float* dout, float* dx, ParamGrads& grads);
void rtd_dense_jvp(const EncoderParams& p, std::int64_t hidden, core::Activation act, const float* pre, std::int64_t m,
                   const float* tx, float* tout);

// logits [m, labels] = in [m, hidden] W^T + b.
void classifier_forward(const EncoderParams& p, std::int64_t hidden, std::int64_t labels, const float* in, std::int64_t m,
                        float* logits);
void classifier_vjp(const EncoderParams& p, std::int64_t hidden, std::int64_t labels, const float* in, std::int64_t m,
                    const float* dlogits, float* din, ParamGrads& grads);
void classifier_jvp(const EncoderParams& p, std::int64_t hidden, std::int64_t labels, const float* tin, std::int64_t m,
                    float* tlogits);

}  // namespace bertscope::model::layers
