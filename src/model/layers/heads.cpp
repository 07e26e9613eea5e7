#include "model/layers/heads.hpp"

#include <algorithm>
#include <cmath>

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

// What the pooler reads of each input: [batch, hidden].
core::FloatBuffer pooler_input(const PoolerShape& s, const Batch& batch, const float* x) {
  const auto hidden = s.hidden;
  core::FloatBuffer in(static_cast<std::size_t>(batch.size() * hidden), 0.0f);
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    float* dst = in.data() + b * hidden;
    if (s.pooling == Pooling::first) {
      std::copy_n(x + batch.row(b) * hidden, hidden, dst);
      continue;
    }
    // transformers' masked mean: the sum over the input's tokens divided by their count.
    const auto t = batch.length(b);
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = 0; j < hidden; ++j) dst[j] += x[(batch.row(b) + i) * hidden + j];
    for (std::int64_t j = 0; j < hidden; ++j) dst[j] /= static_cast<float>(t);
  }
  return in;
}

// The transpose of pooler_input: d(read) [batch, hidden] added into dx at the rows read.
void pooler_input_vjp(const PoolerShape& s, const Batch& batch, const float* d_in, float* dx) {
  const auto hidden = s.hidden;
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    const float* g = d_in + b * hidden;
    if (s.pooling == Pooling::first) {
      for (std::int64_t j = 0; j < hidden; ++j) dx[batch.row(b) * hidden + j] += g[j];
      continue;
    }
    const auto t = batch.length(b);
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = 0; j < hidden; ++j) dx[(batch.row(b) + i) * hidden + j] += g[j] / static_cast<float>(t);
  }
}

void activate(PoolerActivation act, float* x, std::int64_t n) {
  if (act == PoolerActivation::tanh)
    core::tanh_inplace(x, n);
  else if (act == PoolerActivation::gelu)
    core::activate(core::Activation::gelu_erf, x, n);
  else
    for (std::int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f);
}

// d <- d * act'(pre).
void activation_slope(PoolerActivation act, const float* pre, float* d, std::int64_t n) {
  if (act == PoolerActivation::gelu) {
    core::activation_grad(core::Activation::gelu_erf, pre, d, d, n);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    if (act == PoolerActivation::tanh) {
      const float y = std::tanh(pre[i]);
      d[i] *= 1.0f - y * y;
    } else {
      d[i] *= pre[i] > 0.0f ? 1.0f : 0.0f;
    }
  }
}

// The dense layer's output (before the activation) for the pooler's input `in`.
core::FloatBuffer pooler_pre(const EncoderParams& p, const PoolerShape& s, const float* in, std::int64_t count) {
  core::FloatBuffer pre(static_cast<std::size_t>(count * s.hidden));
  core::linear(in, count, s.hidden, p.pooler_w.data, p.pooler_b.data, s.hidden, pre.data());
  return pre;
}

// The tape of the pooler's norm, recomputed from the dense layer's output `pre`.
NormTape pooler_norm_tape(const EncoderParams& p, const PoolerShape& s, const core::FloatBuffer& pre, std::int64_t count) {
  core::FloatBuffer a = pre, out(pre.size());
  activate(s.act, a.data(), count * s.hidden);
  NormTape tape;
  norm_forward(a.data(), nullptr, count, s.hidden, p.pooler_norm_g.data, p.pooler_norm_b.data, s.eps, out.data(), &tape);
  return tape;
}

}  // namespace

void pooler_forward(const EncoderParams& p, const PoolerShape& s, const Batch& batch, const float* x, float* pooled) {
  const auto count = batch.size(), hidden = s.hidden;
  const auto in = pooler_input(s, batch, x);
  core::linear(in.data(), count, hidden, p.pooler_w.data, p.pooler_b.data, hidden, pooled);
  activate(s.act, pooled, count * hidden);
  if (s.norm) core::layer_norm(pooled, count, hidden, p.pooler_norm_g.data, p.pooler_norm_b.data, s.eps, pooled);
}

void pooler_vjp(const EncoderParams& p, const PoolerShape& s, const Batch& batch, const float* x, float* dpooled,
                float* dx, ParamGrads& grads) {
  const auto count = batch.size(), hidden = s.hidden;
  const auto in = pooler_input(s, batch, x);
  const auto pre = pooler_pre(p, s, in.data(), count);
  core::FloatBuffer d(dpooled, dpooled + count * hidden);
  if (s.norm)
    norm_vjp(dpooled, pooler_norm_tape(p, s, pre, count), p.pooler_norm_g.data, count, hidden, d.data(),
             grads(p.pooler_norm_g), grads(p.pooler_norm_b));
  activation_slope(s.act, pre.data(), d.data(), count * hidden);
  core::FloatBuffer d_in(static_cast<std::size_t>(count * hidden));
  linear_vjp(d.data(), count, hidden, p.pooler_w, hidden, in.data(), d_in.data(), false, grads(p.pooler_w),
             grads(p.pooler_b));
  pooler_input_vjp(s, batch, d_in.data(), dx);
}

void pooler_jvp(const EncoderParams& p, const PoolerShape& s, const Batch& batch, const float* x, const float* tx,
                float* tpooled) {
  const auto count = batch.size(), hidden = s.hidden;
  const auto in = pooler_input(s, batch, x);
  const auto t_in = pooler_input(s, batch, tx);  // reading rows is linear
  const auto pre = pooler_pre(p, s, in.data(), count);
  linear_jvp(t_in.data(), count, hidden, p.pooler_w, hidden, tpooled);
  activation_slope(s.act, pre.data(), tpooled, count * hidden);
  if (s.norm) {
    core::FloatBuffer t(tpooled, tpooled + count * hidden);
    norm_jvp(t.data(), pooler_norm_tape(p, s, pre, count), p.pooler_norm_g.data, count, hidden, tpooled);
  }
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
