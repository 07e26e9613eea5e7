#include "model/layers/attention.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/gemm.hpp"
#include "core/kernels.hpp"

namespace bertscope::model::layers {

namespace {

// g <- s * (g - <g, s>) per row of a [t, t] block: softmax's Jacobian, which is symmetric, so
// the same map serves the reverse and the forward-mode pass.
void softmax_jacobian(const float* soft, std::int64_t t, float* g) {
  for (std::int64_t i = 0; i < t; ++i) {
    double dot = 0;
    for (std::int64_t j = 0; j < t; ++j) dot += static_cast<double>(g[i * t + j]) * soft[i * t + j];
    for (std::int64_t j = 0; j < t; ++j) g[i * t + j] = soft[i * t + j] * static_cast<float>(g[i * t + j] - dot);
  }
}

// The probabilities a head applied: its pre-mask block times the head-mask coefficient.
std::vector<float> applied_probs(const float* pre_mask, std::int64_t t, float m) {
  std::vector<float> used(static_cast<std::size_t>(t * t));
  for (std::int64_t i = 0; i < t * t; ++i) used[static_cast<std::size_t>(i)] = pre_mask[i] * m;
  return used;
}

// Softmax over the scores of every input; padding keys (attention_mask 0) get transformers'
// additive mask, the lowest float, and after the softmax exactly 0, as in a padded batch.
void masked_softmax(const Batch& batch, std::span<const ModelInput> inputs, float* probs) {
  auto for_masked_keys = [&](auto&& fn) {
    for (std::int64_t b = 0; b < batch.size(); ++b) {
      const auto t = batch.length(b);
      const auto& mask = inputs[static_cast<std::size_t>(b)].attention_mask;
      if (mask.empty()) continue;
      float* block = probs + batch.probs(b);
      for (std::int64_t r = 0; r < batch.heads * t; ++r)
        for (std::int64_t j = 0; j < t; ++j)
          if (!mask[static_cast<std::size_t>(j)]) fn(block[r * t + j]);
    }
  };
  for_masked_keys([](float& s) { s = std::numeric_limits<float>::lowest(); });
  for (const auto& g : batch.groups) core::softmax_rows(probs + g.probs_offset, g.count * batch.heads * g.t, g.t);
  for_masked_keys([](float& s) { s = 0.0f; });
}

}  // namespace

void attention_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                       const AttentionShape& s, const float* x, const AttentionBuffers& buf,
                       const AttentionEdits& edits, SiteRecorder& rec, std::vector<core::bf16>* x16,
                       AttentionTape* tape) {
  const auto n = batch.rows(), hidden = s.hidden, heads = s.heads, d = s.head_dim;
  linear_forward(lc, x, n, hidden, lp.query_w, lp.query_b, hidden, buf.q, nullptr, x16, false);
  linear_forward(lc, x, n, hidden, lp.key_w, lp.key_b, hidden, buf.k, nullptr, x16, true);
  linear_forward(lc, x, n, hidden, lp.value_w, lp.value_b, hidden, buf.v, nullptr, x16, true);
  rec.per_head(Site::attn_query, layer, buf.q, d);
  rec.per_head(Site::attn_key, layer, buf.k, d);
  rec.per_head(Site::attn_value, layer, buf.v, d);
  {
    core::ScopedOp op(lc.profile, core::OpClass::attention);
    for (const auto& g : batch.groups) {
      const auto row0 = batch.row(g.first);
      core::attention_scores(buf.q + row0 * hidden, buf.k + row0 * hidden, g.count, heads, g.t, d, hidden, s.scale,
                             buf.probs + g.probs_offset);
    }
  }
  // Scores are recorded before the softmax overwrites them.
  rec.blocks(Site::attn_scores, layer, buf.probs);
  {
    core::ScopedOp op(lc.profile, core::OpClass::attention);
    const auto size = batch.probs_size();
    masked_softmax(batch, edits.inputs, buf.probs);
    if (tape) tape->soft.assign(buf.probs, buf.probs + size);
    if (edits.dropout)
      for (std::int64_t i = 0; i < size; ++i) buf.probs[i] *= (*edits.dropout)[static_cast<std::size_t>(i)];
    if (tape) tape->replaced.assign(static_cast<std::size_t>(batch.size() * heads), 0);
    // Hooks at attn.probs (uniform heads and replaced attention among them) see the
    // probabilities before the head mask; on a taped pass a head they change is a constant to
    // the gradient passes: its scores get no gradient.
    if (rec.hooked(Site::attn_probs, layer)) {
      std::vector<float> before;
      if (tape) before.assign(buf.probs, buf.probs + size);
      rec.run_hooks(Site::attn_probs, layer, buf.probs, 0);
      for (std::int64_t b = 0; tape && b < batch.size(); ++b) {
        const auto t = batch.length(b);
        for (std::int64_t h = 0; h < heads; ++h) {
          const auto at = batch.probs(b) + h * t * t;
          tape->replaced[static_cast<std::size_t>(b * heads + h)] =
              !std::equal(buf.probs + at, buf.probs + at + t * t, before.begin() + at);
        }
      }
    }
    if (tape) tape->pre_mask.assign(buf.probs, buf.probs + size);
    if (edits.head_mask)
      for (std::int64_t b = 0; b < batch.size(); ++b) {
        const auto t = batch.length(b);
        for (std::int64_t h = 0; h < heads; ++h) {
          const float m = edits.head_mask[h];
          float* block = buf.probs + batch.probs(b) + h * t * t;
          if (m != 1.0f)
            for (std::int64_t i = 0; i < t * t; ++i) block[i] *= m;
        }
      }
  }
  rec.blocks(Site::attn_probs, layer, buf.probs, false);
  core::ScopedOp op(lc.profile, core::OpClass::attention);
  for (const auto& g : batch.groups) {
    const auto row0 = batch.row(g.first);
    core::attention_context(buf.probs + g.probs_offset, buf.v + row0 * hidden, g.count, heads, g.t, d, hidden,
                            buf.ctx + row0 * hidden);
  }
}

void attention_vjp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                   const AttentionTape& tape, const float* head_mask, const float* d_ctx, SiteRecorder& rec,
                   float* dq, float* dk, float* dv, float* dx, ParamGrads& grads, std::vector<double>& mask_grad) {
  const auto n = batch.rows(), hidden = s.hidden, heads = s.heads, d = s.head_dim;
  const bool want_probs = rec.wants(Site::attn_probs, layer), want_scores = rec.wants(Site::attn_scores, layer);
  std::vector<float*> probs_grad(static_cast<std::size_t>(batch.size()), nullptr);
  std::vector<float*> scores_grad(static_cast<std::size_t>(batch.size()), nullptr);
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    if (want_probs) probs_grad[static_cast<std::size_t>(b)] = rec.block(Site::attn_probs, layer, b);
    if (want_scores) scores_grad[static_cast<std::size_t>(b)] = rec.block(Site::attn_scores, layer, b);
  }
  mask_grad.assign(static_cast<std::size_t>(batch.size() * heads), 0.0);
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t job = 0; job < batch.size() * heads; ++job) {
    const auto b = job / heads, h = job % heads;
    const auto t = batch.length(b), row0 = batch.row(b), block = batch.probs(b) + h * t * t;
    const float m = head_mask[h];
    const float* soft = tape.soft.data() + block;
    const float* pre = tape.pre_mask.data() + block;
    const auto used = applied_probs(pre, t, m);
    std::vector<float> dp(static_cast<std::size_t>(t * t));
    const float* dctx_h = d_ctx + row0 * hidden + h * d;
    const float* v_h = tape.v.data() + row0 * hidden + h * d;
    // ctx = P V: dP = dctx V^T, dV = P^T dctx.
    core::gemm(false, true, t, t, d, 1.0f, dctx_h, hidden, v_h, hidden, 0.0f, dp.data(), t);
    core::gemm(true, false, t, d, t, 1.0f, used.data(), t, dctx_h, hidden, 0.0f, dv + row0 * hidden + h * d, hidden);
    if (want_probs) std::memcpy(probs_grad[static_cast<std::size_t>(b)] + h * t * t, dp.data(), dp.size() * sizeof(float));
    double mg = 0;
    for (std::int64_t i = 0; i < t * t; ++i) mg += static_cast<double>(dp[static_cast<std::size_t>(i)]) * pre[i];
    mask_grad[static_cast<std::size_t>(job)] = mg;
    float* dq_h = dq + row0 * hidden + h * d;
    float* dk_h = dk + row0 * hidden + h * d;
    if (tape.replaced[static_cast<std::size_t>(job)]) {
      for (std::int64_t i = 0; i < t; ++i)
        for (std::int64_t e = 0; e < d; ++e) dq_h[i * hidden + e] = dk_h[i * hidden + e] = 0.0f;
      continue;  // a replaced head's scores get no gradient (their recorded block stays zero)
    }
    // Through the head mask and dropout to the softmax output, then softmax's Jacobian.
    for (std::int64_t i = 0; i < t * t; ++i) {
      float g = dp[static_cast<std::size_t>(i)] * m;
      if (!tape.dropout.empty()) g *= tape.dropout[static_cast<std::size_t>(block + i)];
      dp[static_cast<std::size_t>(i)] = g;
    }
    softmax_jacobian(soft, t, dp.data());
    if (want_scores)
      std::memcpy(scores_grad[static_cast<std::size_t>(b)] + h * t * t, dp.data(), dp.size() * sizeof(float));
    const float* q_h = tape.q.data() + row0 * hidden + h * d;
    const float* k_h = tape.k.data() + row0 * hidden + h * d;
    // scores = scale Q K^T: dQ = scale dZ K, dK = scale dZ^T Q.
    core::gemm(false, false, t, d, t, s.scale, dp.data(), t, k_h, hidden, 0.0f, dq_h, hidden);
    core::gemm(true, false, t, d, t, s.scale, dp.data(), t, q_h, hidden, 0.0f, dk_h, hidden);
  }
  rec.per_head(Site::attn_query, layer, dq, d);
  rec.per_head(Site::attn_key, layer, dk, d);
  rec.per_head(Site::attn_value, layer, dv, d);
  linear_vjp(dq, n, hidden, lp.query_w, hidden, tape.x_in.data(), dx, true, grads(lp.query_w), grads(lp.query_b));
  linear_vjp(dk, n, hidden, lp.key_w, hidden, tape.x_in.data(), dx, true, grads(lp.key_w), grads(lp.key_b));
  linear_vjp(dv, n, hidden, lp.value_w, hidden, tape.x_in.data(), dx, true, grads(lp.value_w), grads(lp.value_b));
}

void attention_jvp(const LayerParams& lp, const Batch& batch, const AttentionShape& s, const AttentionTape& tape,
                   const float* head_mask, const float* tx, float* tq, float* tk, float* tv, float* t_ctx) {
  const auto n = batch.rows(), hidden = s.hidden, heads = s.heads, d = s.head_dim;
  linear_jvp(tx, n, hidden, lp.query_w, hidden, tq);
  linear_jvp(tx, n, hidden, lp.key_w, hidden, tk);
  linear_jvp(tx, n, hidden, lp.value_w, hidden, tv);
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t job = 0; job < batch.size() * heads; ++job) {
    const auto b = job / heads, h = job % heads;
    const auto t = batch.length(b), row0 = batch.row(b), block = batch.probs(b) + h * t * t;
    const float m = head_mask[h];
    const auto used = applied_probs(tape.pre_mask.data() + block, t, m);
    float* tctx_h = t_ctx + row0 * hidden + h * d;
    // ctx = P V: t_ctx = t_P V + P t_V.
    core::gemm(false, false, t, d, t, 1.0f, used.data(), t, tv + row0 * hidden + h * d, hidden, 0.0f, tctx_h, hidden);
    if (tape.replaced[static_cast<std::size_t>(job)]) continue;
    // Z = scale Q K^T: t_Z = scale (t_Q K^T + Q t_K^T); then softmax's Jacobian, head mask, dropout.
    std::vector<float> tz(static_cast<std::size_t>(t * t), 0.0f);
    const float* q_h = tape.q.data() + row0 * hidden + h * d;
    const float* k_h = tape.k.data() + row0 * hidden + h * d;
    core::gemm(false, true, t, t, d, s.scale, tq + row0 * hidden + h * d, hidden, k_h, hidden, 0.0f, tz.data(), t);
    core::gemm(false, true, t, t, d, s.scale, q_h, hidden, tk + row0 * hidden + h * d, hidden, 1.0f, tz.data(), t);
    softmax_jacobian(tape.soft.data() + block, t, tz.data());
    for (std::int64_t i = 0; i < t * t; ++i) {
      float g = tz[static_cast<std::size_t>(i)] * m;
      if (!tape.dropout.empty()) g *= tape.dropout[static_cast<std::size_t>(block + i)];
      tz[static_cast<std::size_t>(i)] = g;
    }
    core::gemm(false, false, t, d, t, 1.0f, tz.data(), t, tape.v.data() + row0 * hidden + h * d, hidden, 1.0f, tctx_h,
               hidden);
  }
}

}  // namespace bertscope::model::layers
