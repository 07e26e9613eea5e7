#include "model/layers/heads.hpp"

#include <algorithm>

#include "core/kernels.hpp"
#include "core/matmul.hpp"
#include "model/layers/linear.hpp"

namespace bertscope::model::layers {

void mlm_head_forward(const LinearContext& lc, const EncoderParams& p, const MlmHeadShape& s, const float* in,
                      std::span<const std::int64_t> offsets, float* t, std::vector<core::Tensor*> logits, MlmTape* tape) {
  const auto m = offsets.back(), hidden = s.hidden, width = s.inner();
  std::vector<core::bf16> staging(lc.bf16 ? static_cast<std::size_t>(m * std::max(hidden, width)) : 0);
  auto* x16 = lc.bf16 ? &staging : nullptr;
  if (tape) {
    tape->pre = core::FloatBuffer(static_cast<std::size_t>(m * width));
    linear_forward(lc, in, m, hidden, p.mlm_dense_w, p.mlm_dense_b, width, tape->pre.data(), nullptr, x16);
    core::FloatBuffer a = tape->pre;
    core::activate(s.act, a.data(), m * width);
    norm_forward(a.data(), nullptr, m, width, p.mlm_norm_g.data, p.mlm_norm_b.data, s.eps, t, &tape->norm);
  } else {
    linear_forward(lc, in, m, hidden, p.mlm_dense_w, p.mlm_dense_b, width, t, &s.act, x16);
    core::layer_norm(t, m, width, p.mlm_norm_g.data, p.mlm_norm_b.data, s.eps, t);
  }
  // One product over every input's rows: the decoder's [vocab, hidden] weight is read once, not
  // once per input; then each input's rows are copied out.
  core::FloatBuffer all(static_cast<std::size_t>(m * s.vocab));
  linear_forward(lc, t, m, width, p.mlm_decoder_w, p.mlm_decoder_b, s.vocab, all.data(), nullptr, x16);
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b) {
    const auto k = offsets[b + 1] - offsets[b];
    *logits[b] = core::Tensor::uninitialized({k, s.vocab});
    std::copy_n(all.data() + offsets[b] * s.vocab, k * s.vocab, logits[b]->ptr());
  }
}

void mlm_head_vjp(const LinearContext& lc, const EncoderParams& p, const MlmHeadShape& s, const MlmTape& tape,
                  const float* dlogits, float* din, ParamGrads& grads) {
  const auto m = static_cast<std::int64_t>(tape.rows.size()), hidden = s.hidden, width = s.inner();
  core::FloatBuffer dt(static_cast<std::size_t>(m * width)), da(static_cast<std::size_t>(m * width));
  linear_vjp(lc, dlogits, m, s.vocab, p.mlm_decoder_w, width, tape.t.data(), dt.data(), false, grads(p.mlm_decoder_w),
             grads(p.mlm_decoder_b));
  norm_vjp(dt.data(), tape.norm, p.mlm_norm_g.data, m, width, da.data(), grads(p.mlm_norm_g), grads(p.mlm_norm_b));
  core::activation_grad(s.act, tape.pre.data(), da.data(), da.data(), m * width);
  linear_vjp(lc, da.data(), m, width, p.mlm_dense_w, hidden, tape.in.data(), din, false, grads(p.mlm_dense_w),
             grads(p.mlm_dense_b));
}

void mlm_head_jvp(const EncoderParams& p, const MlmHeadShape& s, const MlmTape& tape, const float* tin,
                  std::vector<core::Tensor>& logits) {
  const auto m = static_cast<std::int64_t>(tape.rows.size()), hidden = s.hidden, width = s.inner();
  core::FloatBuffer ta(static_cast<std::size_t>(m * width)), tt(static_cast<std::size_t>(m * width));
  linear_jvp(tin, m, hidden, p.mlm_dense_w, width, ta.data());
  core::activation_grad(s.act, tape.pre.data(), ta.data(), ta.data(), m * width);
  norm_jvp(ta.data(), tape.norm, p.mlm_norm_g.data, m, width, tt.data());
  for (std::size_t b = 0; b + 1 < tape.offsets.size(); ++b) {
    const auto k = tape.offsets[b + 1] - tape.offsets[b];
    core::Tensor lg = core::Tensor::uninitialized({k, s.vocab});
    linear_jvp(tt.data() + tape.offsets[b] * width, k, width, p.mlm_decoder_w, s.vocab, lg.ptr());
    logits.push_back(std::move(lg));
  }
}

namespace {

// d(act)/d(pre) from the activation's output y.
inline float pooler_act_slope(PoolerActivation act, float y) {
  return act == PoolerActivation::tanh ? 1.0f - y * y : (y > 0.0f ? 1.0f : 0.0f);
}

}  // namespace

void pooler_forward(const EncoderParams& p, std::int64_t hidden, PoolerActivation act, const Batch& batch, const float* x,
                    float* pooled) {
  for (std::int64_t b = 0; b < batch.size(); ++b)
    core::linear(x + batch.row(b) * hidden, 1, hidden, p.pooler_w.data, p.pooler_b.data, hidden, pooled + b * hidden);
  if (act == PoolerActivation::tanh) {
    core::tanh_inplace(pooled, batch.size() * hidden);
  } else if (act == PoolerActivation::gelu) {
    core::activate(core::Activation::gelu_erf, pooled, batch.size() * hidden);
  } else {
    for (std::int64_t i = 0; i < batch.size() * hidden; ++i) pooled[i] = std::max(pooled[i], 0.0f);
  }
}

// GELU's slope needs the pre-activation, recomputed from the first rows (tanh's and ReLU's read
// the output).
void pooler_slope(const EncoderParams& p, std::int64_t hidden, PoolerActivation act, const float* first,
                  std::int64_t count, const float* pooled, float* d) {
  if (act != PoolerActivation::gelu) {
    for (std::int64_t i = 0; i < count * hidden; ++i) d[i] *= pooler_act_slope(act, pooled[i]);
    return;
  }
  core::FloatBuffer pre(static_cast<std::size_t>(count * hidden)), out(static_cast<std::size_t>(count * hidden));
  core::linear(first, count, hidden, p.pooler_w.data, p.pooler_b.data, hidden, pre.data());
  core::activation_grad(core::Activation::gelu_erf, pre.data(), d, out.data(), count * hidden);
  std::copy(out.begin(), out.end(), d);
}

void pooler_vjp(const EncoderParams& p, std::int64_t hidden, PoolerActivation act, const Batch& batch, const float* x,
                const float* pooled, float* dpooled, float* dx, ParamGrads& grads) {
  const auto count = batch.size();
  core::FloatBuffer first(static_cast<std::size_t>(count * hidden)), dfirst(static_cast<std::size_t>(count * hidden));
  for (std::int64_t b = 0; b < count; ++b)
    std::copy_n(x + batch.row(b) * hidden, hidden, first.data() + b * hidden);
  pooler_slope(p, hidden, act, first.data(), count, pooled, dpooled);
  linear_vjp(dpooled, count, hidden, p.pooler_w, hidden, first.data(), dfirst.data(), false, grads(p.pooler_w),
             grads(p.pooler_b));
  for (std::int64_t b = 0; b < count; ++b)
    for (std::int64_t j = 0; j < hidden; ++j) dx[batch.row(b) * hidden + j] += dfirst[static_cast<std::size_t>(b * hidden + j)];
}

void pooler_jvp(const EncoderParams& p, std::int64_t hidden, PoolerActivation act, const float* x_first,
                const float* tx_first, const float* pooled, float* tpooled) {
  linear_jvp(tx_first, 1, hidden, p.pooler_w, hidden, tpooled);
  pooler_slope(p, hidden, act, x_first, 1, pooled, tpooled);
}

void rtd_dense_forward(const EncoderParams& p, std::int64_t hidden, core::Activation act, const float* x, std::int64_t m,
                       float* pre, float* out) {
  core::linear(x, m, hidden, p.rtd_dense_w.data, p.rtd_dense_b.data, hidden, pre);
  std::copy_n(pre, m * hidden, out);
  core::activate(act, out, m * hidden);
}

void rtd_dense_vjp(const EncoderParams& p, std::int64_t hidden, core::Activation act, const float* x, const float* pre,
                   std::int64_t m, float* dout, float* dx, ParamGrads& grads) {
  core::activation_grad(act, pre, dout, dout, m * hidden);
  linear_vjp(dout, m, hidden, p.rtd_dense_w, hidden, x, dx, true, grads(p.rtd_dense_w), grads(p.rtd_dense_b));
}

void rtd_dense_jvp(const EncoderParams& p, std::int64_t hidden, core::Activation act, const float* pre, std::int64_t m,
                   const float* tx, float* tout) {
  linear_jvp(tx, m, hidden, p.rtd_dense_w, hidden, tout);
  core::activation_grad(act, pre, tout, tout, m * hidden);
}

void classifier_forward(const EncoderParams& p, std::int64_t hidden, std::int64_t labels, const float* in, std::int64_t m,
                        float* logits) {
  core::linear(in, m, hidden, p.classifier_w.data, p.classifier_b.data, labels, logits);
}

void classifier_vjp(const EncoderParams& p, std::int64_t hidden, std::int64_t labels, const float* in, std::int64_t m,
                    const float* dlogits, float* din, ParamGrads& grads) {
  linear_vjp(dlogits, m, labels, p.classifier_w, hidden, in, din, false, grads(p.classifier_w), grads(p.classifier_b));
}

void classifier_jvp(const EncoderParams& p, std::int64_t hidden, std::int64_t labels, const float* tin, std::int64_t m,
                    float* tlogits) {
  linear_jvp(tin, m, hidden, p.classifier_w, labels, tlogits);
}

}  // namespace bertscope::model::layers
