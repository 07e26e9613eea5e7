#include "model/layers/attention.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "model/layers/rotary.hpp"

namespace bertscope::model::layers {

namespace {

// One (input, head) of a batch: job = b * heads + h, t the input's length, row0 its first packed
// row, block the first value of the head's [t, t] block.
struct HeadJob {
  std::int64_t job, h, t, row0, block;
};

// Runs fn(HeadJob) for every (input, head) of the batch in parallel.
template <class Fn>
void for_each_head(const Batch& batch, std::int64_t heads, Fn&& fn) {
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t job = 0; job < batch.size() * heads; ++job) {
    const auto b = job / heads, h = job % heads;
    const auto t = batch.length(b);
    fn(HeadJob{job, h, t, batch.row(b), batch.probs(b) + h * t * t});
  }
}

std::int64_t max_length(const Batch& batch) {
  std::int64_t t = 0;
  for (std::int64_t b = 0; b < batch.size(); ++b) t = std::max(t, batch.length(b));
  return t;
}

// g <- s * (g - <g, s>) per row of a [t, t] block: softmax's Jacobian, which is symmetric, so
// the same map serves the reverse and the forward-mode pass.
void softmax_jacobian(const float* soft, std::int64_t t, float* g) {
  for (std::int64_t i = 0; i < t; ++i) {
    double dot = 0;
    for (std::int64_t j = 0; j < t; ++j) dot += static_cast<double>(g[i * t + j]) * soft[i * t + j];
    for (std::int64_t j = 0; j < t; ++j) g[i * t + j] = soft[i * t + j] * static_cast<float>(g[i * t + j] - dot);
  }
}

// The keys a query may not see: padding (attention_mask 0) and, on a sliding layer, keys farther
// than the window (|i - j| > half).
struct KeyMask {
  const std::vector<std::uint8_t>& padding;
  std::int64_t half;  // -1: no window
  bool any(std::int64_t t) const { return !padding.empty() || (half >= 0 && t > half + 1); }
  bool hidden(std::int64_t i, std::int64_t j) const {
    return (!padding.empty() && !padding[static_cast<std::size_t>(j)]) || (half >= 0 && std::abs(i - j) > half);
  }
};

// Softmax over one block of rows (queries i0.. of an input, keys lo..lo + keys - 1): hidden keys
// get transformers' additive mask, the lowest float, and after the softmax exactly 0 — except in
// a row that sees no key at all (a padded query on a sliding layer whose window holds only
// padding), which transformers' softmax makes 1/T over every key. Returns those blind rows.
std::vector<std::int64_t> masked_softmax_rows(const KeyMask& km, std::int64_t i0, std::int64_t rows, std::int64_t lo,
                                              std::int64_t keys, float* block) {
  if (km.padding.empty() && km.half < 0) {  // nothing hidden: a plain softmax
    core::softmax_rows(block, rows, keys);
    return {};
  }
  std::vector<std::int64_t> blind;
  for (std::int64_t r = 0; r < rows; ++r) {
    bool sees = false;
    for (std::int64_t j = 0; j < keys; ++j) {
      if (km.hidden(i0 + r, lo + j))
        block[r * keys + j] = std::numeric_limits<float>::lowest();
      else
        sees = true;
    }
    if (!sees) blind.push_back(r);
  }
  core::softmax_rows(block, rows, keys);
  for (std::int64_t r = 0, next = 0; r < rows; ++r) {
    if (next < static_cast<std::int64_t>(blind.size()) && blind[static_cast<std::size_t>(next)] == r) {
      ++next;
      continue;
    }
    for (std::int64_t j = 0; j < keys; ++j)
      if (km.hidden(i0 + r, lo + j)) block[r * keys + j] = 0.0f;
  }
  return blind;
}

// Softmax over one input's [heads, t, t] scores, masked as above.
void input_softmax(const KeyMask& km, std::int64_t heads, std::int64_t t, float* block) {
  if (!km.any(t)) {
    core::softmax_rows(block, heads * t, t);
    return;
  }
  for (std::int64_t h = 0; h < heads; ++h) (void)masked_softmax_rows(km, 0, t, 0, t, block + h * t * t);
}

// Softmax over the scores of every input, masked as above (unmasked inputs in one pass).
void masked_softmax(const Batch& batch, std::span<const ModelInput> inputs, std::int64_t window_half, float* probs) {
  auto mask_of = [&](std::int64_t b) { return KeyMask{inputs[static_cast<std::size_t>(b)].attention_mask, window_half}; };
  for (const auto& g : batch.groups) {
    bool plain = true;  // a run of inputs without masks: one batched softmax
    for (std::int64_t b = g.first; b < g.first + g.count; ++b) plain = plain && !mask_of(b).any(g.t);
    if (plain) {
      core::softmax_rows(probs + g.probs_offset, g.count * batch.heads * g.t, g.t);
      continue;
    }
    for (std::int64_t b = g.first; b < g.first + g.count; ++b)
      input_softmax(mask_of(b), batch.heads, g.t, probs + batch.probs(b));
  }
}

// DeBERTa's mask M[i, j] = m_i m_j: every score of a padded query row is the lowest float, so
// transformers' softmax gives the row 1/N everywhere (keys masked or not).
void uniform_padded_rows(const Batch& batch, std::span<const ModelInput> inputs, float* probs) {
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    const auto t = batch.length(b);
    const auto& mask = inputs[static_cast<std::size_t>(b)].attention_mask;
    if (mask.empty()) continue;
    float* block = probs + batch.probs(b);
    for (std::int64_t h = 0; h < batch.heads; ++h)
      for (std::int64_t i = 0; i < t; ++i)
        if (!mask[static_cast<std::size_t>(i)]) std::fill_n(block + (h * t + i) * t, t, 1.0f / static_cast<float>(t));
  }
}

// The c2p or p2c term of every (input, head) into `term` (blocks like the scores):
// c2p[i, j] = scale Q_i . PK[idx(i - j)], p2c[i, j] = scale K_j . PQ[idx(i - j)].
void relative_term(const Batch& batch, const AttentionShape& s, const RelativePositions& rp, const float* content,
                   const float* positions, bool content_is_query, float* term) {
  const auto hidden = s.hidden, d = s.head_dim, rows = rp.used;
  for_each_head(batch, s.heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    // by_distance[r, e] = scale content_r . positions_e (the rows some distance uses)
    std::vector<float> by_distance(static_cast<std::size_t>(t * rows));
    core::gemm(false, true, t, rows, d, s.scale, content + row0 * hidden + h * d, hidden, positions + h * d, hidden,
               0.0f, by_distance.data(), rows);
    float* out = term + block;
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = 0; j < t; ++j)
        out[i * t + j] = content_is_query ? by_distance[static_cast<std::size_t>(i * rows + rp.used_at(i, j))]
                                          : by_distance[static_cast<std::size_t>(j * rows + rp.used_at(i, j))];
  });
}

// The layer's projection of the relative embeddings for c2p (PK: key_proj when keys are shared,
// else pos_key_proj) or p2c (PQ: query_proj or pos_query_proj).
std::pair<const Param*, const Param*> positional_projection(const LayerParams& lp, const RelativePositions& rp, bool c2p) {
  if (rp.share_att_key) return c2p ? std::pair{&lp.key_w, &lp.key_b} : std::pair{&lp.query_w, &lp.query_b};
  return c2p ? std::pair{&lp.pos_key_w, &lp.pos_key_b} : std::pair{&lp.pos_query_w, &lp.pos_query_b};
}

void project_positions(const LayerParams& lp, const RelativePositions& rp, std::int64_t hidden, bool c2p, float* out) {
  const auto [w, b] = positional_projection(lp, rp, c2p);
  core::linear(rp.embeddings.data() + rp.first * hidden, rp.used, hidden, w->data, b->data, hidden, out);
}

// dZ summed per (content row, distance bucket): the query's row for c2p, the key's for p2c.
void scores_by_distance(const RelativePositions& rp, const float* d_scores, std::int64_t t, bool c2p,
                        std::vector<float>& out) {
  const auto rows = rp.used;
  out.assign(static_cast<std::size_t>(t * rows), 0.0f);
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = 0; j < t; ++j)
      out[static_cast<std::size_t>((c2p ? i : j) * rows + rp.used_at(i, j))] += d_scores[i * t + j];
}

// Reverse of the positional terms: dZ's share of dQ (c2p) and dK (p2c) and, with parameter
// gradients, of the projections and the normalised relative embeddings.
void relative_vjp(const LayerParams& lp, const Batch& batch, const AttentionShape& s, const AttentionTape& tape,
                  const float* d_scores, float* dq, float* dk, ParamGrads& grads) {
  const auto& rp = *tape.relative;
  const auto hidden = s.hidden, d = s.head_dim, rows = rp.used;
  std::vector<float> projected(static_cast<std::size_t>(rows * hidden)), d_projected;
  for (const bool c2p : {true, false}) {
    if (!(c2p ? rp.c2p : rp.p2c)) continue;
    project_positions(lp, rp, hidden, c2p, projected.data());
    const float* content = (c2p ? tape.q : tape.k).data();
    float* d_content = c2p ? dq : dk;
    for_each_head(batch, s.heads, [&](const HeadJob& head) {
      const auto [job, h, t, row0, block] = head;
      std::vector<float> g;
      scores_by_distance(rp, d_scores + block, t, c2p, g);
      core::gemm(false, false, t, d, rows, s.scale, g.data(), rows, projected.data() + h * d, hidden, 1.0f,
                 d_content + row0 * hidden + h * d, hidden);
    });
    if (!grads.enabled()) continue;
    d_projected.assign(static_cast<std::size_t>(rows * hidden), 0.0f);
    std::vector<float> g;
    for (std::int64_t b = 0; b < batch.size(); ++b)
      for (std::int64_t h = 0; h < s.heads; ++h) {
        const auto t = batch.length(b), row0 = batch.row(b);
        scores_by_distance(rp, d_scores + batch.probs(b) + h * t * t, t, c2p, g);
        core::gemm(true, false, rows, d, t, s.scale, g.data(), rows, content + row0 * hidden + h * d, hidden, 1.0f,
                   d_projected.data() + h * d, hidden);
      }
    const auto [w, bias] = positional_projection(lp, rp, c2p);
    float* d_embeddings = grads(Param{rp.embeddings.data(), core::Shape{2 * rp.span, hidden}});
    linear_vjp(d_projected.data(), rows, hidden, *w, hidden, rp.embeddings.data() + rp.first * hidden,
               d_embeddings ? d_embeddings + rp.first * hidden : nullptr, true, grads(*w), grads(*bias));
  }
}

// Adds DeBERTa's positional terms to the content scores, recording each term on its own.
void add_relative_scores(const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                         const RelativePositions& rp, const float* q, const float* k, float* scores,
                         SiteRecorder& rec) {
  const auto hidden = s.hidden, rows = rp.used, size = batch.probs_size();
  rec.blocks(Site::attn_scores_c2c, layer, scores);
  std::vector<float> term(static_cast<std::size_t>(size)), projected(static_cast<std::size_t>(rows * hidden));
  for (const bool c2p : {true, false}) {
    if (!(c2p ? rp.c2p : rp.p2c)) continue;
    project_positions(lp, rp, hidden, c2p, projected.data());
    relative_term(batch, s, rp, c2p ? q : k, projected.data(), c2p, term.data());
    rec.blocks(c2p ? Site::attn_scores_c2p : Site::attn_scores_p2c, layer, term.data());
    for (std::int64_t i = 0; i < size; ++i) scores[i] += term[static_cast<std::size_t>(i)];
  }
}

// The context of every (input, head) without holding its [t, t] block: query rows in blocks of
// kRows, each against the keys it may see (its window on a sliding layer), masked, softmaxed
// and multiplied by V at once. Memory: one block per thread, kRows x t at most.
void streamed_context(const Batch& batch, const AttentionShape& s, std::span<const ModelInput> inputs, const float* q,
                      const float* k, const float* v, float* ctx) {
  constexpr std::int64_t kRows = 64;
  const auto hidden = s.hidden, heads = s.heads, d = s.head_dim, half = s.window_half;
  struct Job {
    std::int64_t b, h, i0;
  };
  std::vector<Job> jobs;
  for (std::int64_t b = 0; b < batch.size(); ++b)
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i0 = 0; i0 < batch.length(b); i0 += kRows) jobs.push_back({b, h, i0});
#pragma omp parallel
  {
    std::vector<float> block;
#pragma omp for schedule(dynamic)
    for (std::size_t n = 0; n < jobs.size(); ++n) {
      const auto [b, h, i0] = jobs[n];
      const auto t = batch.length(b), row0 = batch.row(b);
      const auto i1 = std::min(t, i0 + kRows), rows = i1 - i0;
      const auto lo = half >= 0 ? std::max<std::int64_t>(0, i0 - half) : 0;
      const auto hi = half >= 0 ? std::min(t, i1 + half) : t;
      const auto keys = hi - lo;
      block.resize(static_cast<std::size_t>(rows * keys));
      core::gemm(false, true, rows, keys, d, s.scale, q + (row0 + i0) * hidden + h * d, hidden,
                 k + (row0 + lo) * hidden + h * d, hidden, 0.0f, block.data(), keys);
      const KeyMask km{inputs[static_cast<std::size_t>(b)].attention_mask, half};
      const auto blind = masked_softmax_rows(km, i0, rows, lo, keys, block.data());
      float* out = ctx + (row0 + i0) * hidden + h * d;
      core::gemm(false, false, rows, d, keys, 1.0f, block.data(), keys, v + (row0 + lo) * hidden + h * d, hidden, 0.0f,
                 out, hidden);
      for (auto r : blind) {  // every score the lowest float: 1/t over all keys
        float* o = out + r * hidden;
        std::fill(o, o + d, 0.0f);
        for (std::int64_t j = 0; j < t; ++j)
          for (std::int64_t e = 0; e < d; ++e) o[e] += v[(row0 + j) * hidden + h * d + e] / static_cast<float>(t);
      }
    }
  }
}

}  // namespace

void attention_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                       const AttentionShape& s, const float* x, const AttentionBuffers& buf,
                       const AttentionEdits& edits, SiteRecorder& rec, std::vector<core::bf16>* x16,
                       AttentionTape* tape, bool x_converted) {
  const auto n = batch.rows(), hidden = s.hidden, heads = s.heads, d = s.head_dim;
  linear_forward(lc, x, n, hidden, lp.query_w, lp.query_b, hidden, buf.q, nullptr, x16, x_converted);
  linear_forward(lc, x, n, hidden, lp.key_w, lp.key_b, hidden, buf.k, nullptr, x16, true);
  linear_forward(lc, x, n, hidden, lp.value_w, lp.value_b, hidden, buf.v, nullptr, x16, true);
  if (s.rope_theta > 0) {
    const auto table = rotary_table(s.rope_theta, d, max_length(batch));
    rotate(table, batch, heads, buf.q);
    rotate(table, batch, heads, buf.k);
  }
  rec.per_head(Site::attn_query, layer, buf.q, d);
  rec.per_head(Site::attn_key, layer, buf.k, d);
  rec.per_head(Site::attn_value, layer, buf.v, d);
  if (edits.streamed && !tape) {
    core::ScopedOp op(lc.profile, core::OpClass::attention);
    streamed_context(batch, s, edits.inputs, buf.q, buf.k, buf.v, buf.ctx);
    return;
  }
  // Recorded probabilities that nothing else reads or changes on the way (no score record or
  // hook, no probability hook, no dropout, tape or positional terms): each (input, head) runs its
  // scores, softmax and context as one job on one thread, in its block of the record, which is
  // then never copied (a pass over all maps saved) and is still in cache when the softmax and
  // the context read it. Against batched products over all heads with a softmax pass between
  // them: 10-25% less time at 2 to 8 inputs of 128 or 512 tokens and at one of 512, the same at
  // one of 128.
  if (!tape && !edits.relative && !edits.dropout && !edits.mask_query_rows && rec.wants(Site::attn_probs, layer) &&
      !rec.active(Site::attn_scores, layer) && !rec.hooked(Site::attn_probs, layer)) {
    std::vector<float*> blocks(static_cast<std::size_t>(batch.size()));
    for (std::int64_t b = 0; b < batch.size(); ++b) blocks[static_cast<std::size_t>(b)] = rec.block(Site::attn_probs, layer, b, false);
    core::ScopedOp op(lc.profile, core::OpClass::attention);
    for_each_head(batch, heads, [&](const HeadJob& head) {
      const auto [job, h, t, row0, at] = head;
      const auto b = job / heads;  // `at`: the head in a batch-wide buffer, which this path has none of
      float* block = blocks[static_cast<std::size_t>(b)] + h * t * t;
      const auto first = row0 * hidden + h * d;
      core::head_scores(buf.q + first, buf.k + first, t, d, hidden, s.scale, block);
      input_softmax(KeyMask{edits.inputs[static_cast<std::size_t>(b)].attention_mask, s.window_half}, 1, t, block);
      core::head_context(block, buf.v + first, t, d, hidden, buf.ctx + first);
    });
    return;
  }
  {
    core::ScopedOp op(lc.profile, core::OpClass::attention);
    for (const auto& g : batch.groups) {
      const auto row0 = batch.row(g.first);
      core::attention_scores(buf.q + row0 * hidden, buf.k + row0 * hidden, g.count, heads, g.t, d, hidden, s.scale,
                             buf.probs + g.probs_offset);
    }
  }
  if (edits.relative) add_relative_scores(lp, layer, batch, s, *edits.relative, buf.q, buf.k, buf.probs, rec);
  if (tape) tape->relative = edits.relative;
  // Scores are recorded before the softmax overwrites them.
  rec.blocks(Site::attn_scores, layer, buf.probs);
  {
    core::ScopedOp op(lc.profile, core::OpClass::attention);
    const auto size = batch.probs_size();
    masked_softmax(batch, edits.inputs, s.window_half, buf.probs);
    if (edits.mask_query_rows) uniform_padded_rows(batch, edits.inputs, buf.probs);
    if (tape) tape->soft.assign(buf.probs, buf.probs + size);
    if (edits.dropout)
      for (std::int64_t i = 0; i < size; ++i) buf.probs[i] *= (*edits.dropout)[static_cast<std::size_t>(i)];
    if (tape) tape->replaced.assign(static_cast<std::size_t>(batch.size() * heads), 0);
    // Hooks at attn.probs (uniform heads and given attention among them); on a taped pass a
    // head that a non-differentiable hook changes is a constant to the gradient passes.
    if (rec.hooked(Site::attn_probs, layer, SiteRecorder::Hooks::plain)) {
      std::vector<float> before;
      if (tape) before.assign(buf.probs, buf.probs + size);
      rec.run_hooks(Site::attn_probs, layer, buf.probs, 0, SiteRecorder::Hooks::plain, nullptr,
                    tape ? tape->replaced.data() : nullptr);
      for (std::int64_t b = 0; tape && b < batch.size(); ++b) {
        const auto t = batch.length(b);
        for (std::int64_t h = 0; h < heads; ++h) {
          const auto at = batch.probs(b) + h * t * t;
          auto& replaced = tape->replaced[static_cast<std::size_t>(b * heads + h)];
          replaced = replaced || !std::equal(buf.probs + at, buf.probs + at + t * t, before.begin() + at);
        }
      }
    }
    // Then the differentiable ones (the head mask), which the gradient passes run again.
    rec.run_hooks(Site::attn_probs, layer, buf.probs, 0, SiteRecorder::Hooks::differentiable);
    if (tape) {
      // Without dropout or a hook that changed them they are the softmax's: keep one copy.
      if (std::equal(buf.probs, buf.probs + size, tape->soft.begin()))
        core::FloatBuffer().swap(tape->applied);
      else
        tape->applied.assign(buf.probs, buf.probs + size);
    }
  }
  rec.record_blocks(Site::attn_probs, layer, buf.probs);
  core::ScopedOp op(lc.profile, core::OpClass::attention);
  for (const auto& g : batch.groups) {
    const auto row0 = batch.row(g.first);
    core::attention_context(buf.probs + g.probs_offset, buf.v + row0 * hidden, g.count, heads, g.t, d, hidden,
                            buf.ctx + row0 * hidden);
  }
}

void attention_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                   const AttentionTape& tape, const float* d_ctx, SiteRecorder& rec, float* dq, float* dk, float* dv,
                   float* d_probs, float* dx, ParamGrads& grads) {
  const auto n = batch.rows(), hidden = s.hidden, heads = s.heads, d = s.head_dim;
  // ctx = P V: dP = dctx V^T, dV = P^T dctx.
  for_each_head(batch, heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    const float* dctx_h = d_ctx + row0 * hidden + h * d;
    core::gemm(false, true, t, t, d, 1.0f, dctx_h, hidden, tape.v.data() + row0 * hidden + h * d, hidden, 0.0f,
               d_probs + block, t);
    core::gemm(true, false, t, d, t, 1.0f, tape.applied_data() + block, t, dctx_h, hidden, 0.0f,
               dv + row0 * hidden + h * d, hidden);
  });
  // Recorded, then the hooks (the head mask's derivative among them) turn it into dL/d(the
  // probabilities before the differentiable hooks).
  rec.blocks(Site::attn_probs, layer, d_probs, tape.applied_data());
  // Through dropout to the softmax output, then softmax's Jacobian; a replaced head's scores
  // get nothing.
  for_each_head(batch, heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    float* dp = d_probs + block;
    if (tape.replaced[static_cast<std::size_t>(job)]) {
      std::fill(dp, dp + t * t, 0.0f);
      return;
    }
    if (!tape.dropout.empty())
      for (std::int64_t i = 0; i < t * t; ++i) dp[i] *= tape.dropout[static_cast<std::size_t>(block + i)];
    softmax_jacobian(tape.soft.data() + block, t, dp);
  });
  rec.blocks(Site::attn_scores, layer, d_probs);
  // scores = scale Q K^T: dQ = scale dZ K, dK = scale dZ^T Q.
  for_each_head(batch, heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    const float* q_h = tape.q.data() + row0 * hidden + h * d;
    const float* k_h = tape.k.data() + row0 * hidden + h * d;
    core::gemm(false, false, t, d, t, s.scale, d_probs + block, t, k_h, hidden, 0.0f, dq + row0 * hidden + h * d, hidden);
    core::gemm(true, false, t, d, t, s.scale, d_probs + block, t, q_h, hidden, 0.0f, dk + row0 * hidden + h * d, hidden);
  });
  if (tape.relative) relative_vjp(lp, batch, s, tape, d_probs, dq, dk, grads);
  rec.per_head(Site::attn_query, layer, dq, d);
  rec.per_head(Site::attn_key, layer, dk, d);
  rec.per_head(Site::attn_value, layer, dv, d);
  if (s.rope_theta > 0) {  // back through the rotation: its transpose
    const auto table = rotary_table(s.rope_theta, d, max_length(batch));
    rotate(table, batch, heads, dq, true);
    rotate(table, batch, heads, dk, true);
  }
  // Q, K and V read the same input: on the bf16 path it is converted once for the three.
  std::vector<core::bf16> x16;
  if (lc.bf16 && grads.enabled()) {
    x16.resize(static_cast<std::size_t>(n * hidden));
    core::to_bf16(tape.x_in.data(), n * hidden, x16.data());
  }
  const core::bf16* x_in16 = x16.empty() ? nullptr : x16.data();
  linear_vjp(lc, dq, n, hidden, lp.query_w, hidden, tape.x_in.data(), dx, true, grads(lp.query_w), grads(lp.query_b), x_in16);
  linear_vjp(lc, dk, n, hidden, lp.key_w, hidden, tape.x_in.data(), dx, true, grads(lp.key_w), grads(lp.key_b), x_in16);
  linear_vjp(lc, dv, n, hidden, lp.value_w, hidden, tape.x_in.data(), dx, true, grads(lp.value_w), grads(lp.value_b), x_in16);
}

void attention_jvp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const AttentionShape& s,
                   const AttentionTape& tape, const float* tx, SiteRecorder& rec, float* tq, float* tk, float* tv,
                   float* t_probs, float* t_ctx) {
  const auto n = batch.rows(), hidden = s.hidden, heads = s.heads, d = s.head_dim;
  linear_jvp(tx, n, hidden, lp.query_w, hidden, tq);
  linear_jvp(tx, n, hidden, lp.key_w, hidden, tk);
  linear_jvp(tx, n, hidden, lp.value_w, hidden, tv);
  if (s.rope_theta > 0) {
    const auto table = rotary_table(s.rope_theta, d, max_length(batch));
    rotate(table, batch, heads, tq);
    rotate(table, batch, heads, tk);
  }
  rec.per_head(Site::attn_query, layer, tq, d);
  rec.per_head(Site::attn_key, layer, tk, d);
  rec.per_head(Site::attn_value, layer, tv, d);
  // Z = scale Q K^T: t_Z = scale (t_Q K^T + Q t_K^T).
  for_each_head(batch, heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    const float* q_h = tape.q.data() + row0 * hidden + h * d;
    const float* k_h = tape.k.data() + row0 * hidden + h * d;
    core::gemm(false, true, t, t, d, s.scale, tq + row0 * hidden + h * d, hidden, k_h, hidden, 0.0f, t_probs + block, t);
    core::gemm(false, true, t, t, d, s.scale, q_h, hidden, tk + row0 * hidden + h * d, hidden, 1.0f, t_probs + block, t);
  });
  // DeBERTa: t_c2p = scale t_Q . PK[idx], t_p2c = scale t_K . PQ[idx] (the positions are parameters).
  if (tape.relative) {
    const auto& rp = *tape.relative;
    std::vector<float> projected(static_cast<std::size_t>(rp.used * hidden));
    std::vector<float> term(static_cast<std::size_t>(batch.probs_size()));
    for (const bool c2p : {true, false}) {
      if (!(c2p ? rp.c2p : rp.p2c)) continue;
      project_positions(lp, rp, hidden, c2p, projected.data());
      relative_term(batch, s, rp, c2p ? tq : tk, projected.data(), c2p, term.data());
      for (std::size_t i = 0; i < term.size(); ++i) t_probs[i] += term[i];
    }
  }
  rec.blocks(Site::attn_scores, layer, t_probs);
  // Softmax's Jacobian, then dropout; a replaced head's probabilities are constants.
  for_each_head(batch, heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    float* tp = t_probs + block;
    if (tape.replaced[static_cast<std::size_t>(job)]) {
      std::fill(tp, tp + t * t, 0.0f);
      return;
    }
    softmax_jacobian(tape.soft.data() + block, t, tp);
    if (!tape.dropout.empty())
      for (std::int64_t i = 0; i < t * t; ++i) tp[i] *= tape.dropout[static_cast<std::size_t>(block + i)];
  });
  // The differentiable hooks (the head mask) and the request's, then the record.
  rec.blocks(Site::attn_probs, layer, t_probs, tape.applied_data());
  // ctx = P V: t_ctx = P t_V + t_P V.
  for_each_head(batch, heads, [&](const HeadJob& head) {
    const auto [job, h, t, row0, block] = head;
    float* tctx_h = t_ctx + row0 * hidden + h * d;
    core::gemm(false, false, t, d, t, 1.0f, tape.applied_data() + block, t, tv + row0 * hidden + h * d, hidden, 0.0f,
               tctx_h, hidden);
    core::gemm(false, false, t, d, t, 1.0f, t_probs + block, t, tape.v.data() + row0 * hidden + h * d, hidden, 1.0f,
               tctx_h, hidden);
  });
}

}  // namespace bertscope::model::layers
