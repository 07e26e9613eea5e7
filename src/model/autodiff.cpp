#include "model/autodiff.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/matmul.hpp"
#include "core/random.hpp"
#include "io/error.hpp"

namespace bertscope::model {

using core::FloatBuffer;
using core::Tensor;

namespace {

FloatBuffer zeros(std::int64_t n) { return FloatBuffer(static_cast<std::size_t>(n), 0.0f); }
FloatBuffer buffer(std::int64_t n) { return FloatBuffer(static_cast<std::size_t>(n)); }

FloatBuffer dropout_mask(std::int64_t n, double p, std::uint64_t seed, std::uint64_t stream) {
  auto m = buffer(n);
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
  const std::uint64_t base = core::mix64(seed ^ core::mix64(stream));
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    const double u = core::unit_interval(core::mix64(base + static_cast<std::uint64_t>(i)));
    m[static_cast<std::size_t>(i)] = u < p ? 0.0f : keep_scale;
  }
  return m;
}

void multiply(float* x, const FloatBuffer& m, std::int64_t n) {
  if (m.empty()) return;
  for (std::int64_t i = 0; i < n; ++i) x[i] *= m[static_cast<std::size_t>(i)];
}

// LayerNorm keeping x-hat and 1/std per row for the backward pass.
void ln_forward(const float* in, std::int64_t rows, std::int64_t cols, const float* g, const float* b, float eps,
                float* y, float* xhat, float* rstd) {
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * cols;
    double sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += x[j];
    const double mean = sum / static_cast<double>(cols);
    double sq = 0;
    for (std::int64_t j = 0; j < cols; ++j) sq += (x[j] - mean) * (x[j] - mean);
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
    rstd[r] = static_cast<float>(inv);
    for (std::int64_t j = 0; j < cols; ++j) {
      const float h = static_cast<float>((x[j] - mean) * inv);
      xhat[r * cols + j] = h;
      y[r * cols + j] = h * g[j] + b[j];
    }
  }
}

// d(in) = rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat)), dxh = dy * g; accumulates dg, db.
// The same map applied to a tangent gives LayerNorm's forward-mode derivative (with dg, db null).
void ln_backward(const float* dy, const float* xhat, const float* rstd, const float* g, std::int64_t rows,
                 std::int64_t cols, float* din, float* dg, float* db) {
  if (dg) {
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < cols; ++j) {
        dg[j] += dy[r * cols + j] * xhat[r * cols + j];
        db[j] += dy[r * cols + j];
      }
  }
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    double s1 = 0, s2 = 0;
    for (std::int64_t j = 0; j < cols; ++j) {
      const double dxh = static_cast<double>(dy[r * cols + j]) * g[j];
      s1 += dxh;
      s2 += dxh * xhat[r * cols + j];
    }
    s1 /= static_cast<double>(cols);
    s2 /= static_cast<double>(cols);
    for (std::int64_t j = 0; j < cols; ++j) {
      const double dxh = static_cast<double>(dy[r * cols + j]) * g[j];
      din[r * cols + j] = static_cast<float>(rstd[r] * (dxh - s1 - xhat[r * cols + j] * s2));
    }
  }
}

// Forward-mode LayerNorm: tangent of y = g * xhat + b along tangent `t` of the input.
void ln_jvp(const float* t, const float* xhat, const float* rstd, const float* g, std::int64_t rows, std::int64_t cols,
            float* out) {
  ln_backward(t, xhat, rstd, std::vector<float>(static_cast<std::size_t>(cols), 1.0f).data(), rows, cols, out, nullptr,
              nullptr);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) out[r * cols + j] *= g[j];
}

// dX (+)= dY W for y = x W^T: dY [m, out], W [out, in], dX [m, in].
void grad_input(const float* dy, std::int64_t m, std::int64_t out, const float* w, std::int64_t in, float* dx,
                bool accumulate) {
  core::gemm(false, false, m, in, out, 1.0f, dy, out, w, in, accumulate ? 1.0f : 0.0f, dx, in);
}

// dW += dY^T X and db += column sums of dY.
void grad_weight(const float* dy, std::int64_t m, std::int64_t out, const float* x, std::int64_t in, float* dw,
                 float* db) {
  core::gemm(true, false, out, in, m, 1.0f, dy, out, x, in, 1.0f, dw, in);
  if (db)
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t j = 0; j < out; ++j) db[j] += dy[r * out + j];
}

// Tangent of y = x W^T (no bias): t_y = t_x W^T.
void linear_tangent(const float* tx, std::int64_t m, std::int64_t in, const float* w, std::int64_t out, float* ty) {
  core::gemm(false, true, m, out, in, 1.0f, tx, in, w, in, 0.0f, ty, out);
}

}  // namespace

struct LayerTape {
  bool skipped = false;
  FloatBuffer x_in, q, k, v;
  FloatBuffer soft;      // softmax output per input [heads, t, t], inputs back to back
  FloatBuffer pre_mask;  // attention after interventions and dropout, before the head mask
  FloatBuffer att_drop;  // dropout multipliers of the attention probabilities (empty: none)
  std::vector<std::uint8_t> replaced;  // per (input, head): attention replaced, no gradient to scores
  FloatBuffer ctx, attn_drop, ln1_xhat, ln1_rstd, mid, pre, act, ffn_drop, ln2_xhat, ln2_rstd;
};

struct ForwardTape::Impl {
  std::vector<std::int64_t> offsets;       // packed row of each input
  std::vector<std::int64_t> prob_offsets;  // start of each input's [heads, t, t] block
  std::vector<std::vector<std::int32_t>> ids, types;
  std::vector<bool> own_word_embeddings;   // input gave word embeddings (no table gradient)
  std::vector<float> head_mask;            // [layers * heads], ones when none was given
  FloatBuffer emb_xhat, emb_rstd, emb_drop;
  std::vector<LayerTape> layers;
  FloatBuffer out;  // h_L [n, hidden]
  bool mlm = false, classifier = false, train = false;
  std::vector<std::int64_t> mlm_rows;        // packed rows the MLM head ran on
  std::vector<std::int64_t> mlm_offsets;     // first MLM row of each input
  FloatBuffer mlm_in, mlm_pre, mlm_xhat, mlm_rstd, mlm_t;
  FloatBuffer pooled, pooled_drop;  // [batch, hidden] tanh output; classifier-input dropout
  FloatBuffer token_drop;           // token classifier input dropout [n, hidden]
  bool replaced_nodes = false;      // recorded with node replacements: no gradient pass
};

ForwardTape::ForwardTape() : impl_(std::make_unique<Impl>()) {}
ForwardTape::~ForwardTape() = default;
ForwardTape::ForwardTape(ForwardTape&&) noexcept = default;
ForwardTape& ForwardTape::operator=(ForwardTape&&) noexcept = default;

namespace {

void copy_rows(Trace& trace, Site site, std::int64_t layer, const float* packed, std::int64_t off, std::int64_t t,
               std::int64_t width) {
  auto& dst = trace.emplace(site, layer, {t, width}, false);
  std::memcpy(dst.ptr(), packed + off * width, static_cast<std::size_t>(t * width) * sizeof(float));
}

void copy_per_head(Trace& trace, Site site, std::int64_t layer, const float* packed, std::int64_t off, std::int64_t t,
                   std::int64_t heads, std::int64_t d) {
  auto& dst = trace.emplace(site, layer, {heads, t, d}, false);
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < t; ++i)
      std::memcpy(dst.ptr() + (h * t + i) * d, packed + (off + i) * heads * d + h * d,
                  static_cast<std::size_t>(d) * sizeof(float));
}

// The flow mask or node replacement of one input at (site, layer), if any.
template <class Node>
const Node* find_node(const std::vector<std::vector<Node>>& nodes, std::size_t input, FlowSite site, std::int64_t layer) {
  if (input >= nodes.size()) return nullptr;
  for (const auto& n : nodes[input])
    if (n.site == site && n.layer == layer) return &n;
  return nullptr;
}

// Multiplies packed rows of each input by its per-position mask for (site, layer).
void apply_row_mask(float* packed, std::int64_t width, const std::vector<std::int64_t>& offsets,
                    const std::vector<std::vector<FlowMask>>& masks, FlowSite site, std::int64_t layer) {
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b) {
    const auto* m = find_node(masks, b, site, layer);
    if (!m) continue;
    for (std::int64_t i = 0; i < offsets[b + 1] - offsets[b]; ++i) {
      const float f = m->mask.data[static_cast<std::size_t>(i)];
      float* row = packed + (offsets[b] + i) * width;
      for (std::int64_t j = 0; j < width; ++j) row[j] *= f;
    }
  }
}

void apply_context_mask(float* packed, std::int64_t heads, std::int64_t d, const std::vector<std::int64_t>& offsets,
                        const std::vector<std::vector<FlowMask>>& masks, std::int64_t layer) {
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b) {
    const auto* m = find_node(masks, b, FlowSite::context, layer);
    if (!m) continue;
    for (std::int64_t i = 0; i < offsets[b + 1] - offsets[b]; ++i)
      for (std::int64_t h = 0; h < heads; ++h) {
        const float f = m->mask.data[static_cast<std::size_t>(i * heads + h)];
        float* v = packed + (offsets[b] + i) * heads * d + h * d;
        for (std::int64_t e = 0; e < d; ++e) v[e] *= f;
      }
  }
}

void check_masks(const std::vector<std::vector<FlowMask>>& masks, const std::vector<std::int64_t>& offsets,
                 const BertConfig& c) {
  if (masks.size() > offsets.size() - 1)
    fail(ErrorKind::input, "flow masks for {} inputs, the batch has {}", masks.size(), offsets.size() - 1);
  for (std::size_t b = 0; b < masks.size(); ++b) {
    const auto t = offsets[b + 1] - offsets[b];
    for (const auto& m : masks[b]) {
      const bool hidden = m.site == FlowSite::hidden;
      const auto max_layer = hidden ? c.num_hidden_layers : c.num_hidden_layers - 1;
      if (m.layer < 0 || m.layer > max_layer)
        fail(ErrorKind::input, "input {}: flow mask at layer {} outside 0..{}", b, m.layer, max_layer);
      const core::Shape expected = m.site == FlowSite::context ? core::Shape{t, c.num_attention_heads} : core::Shape{t};
      if (m.mask.shape != expected)
        fail(ErrorKind::input, "input {}: flow mask has shape {}, expected {}", b, core::shape_string(m.mask.shape),
             core::shape_string(expected));
    }
  }
}

void check_replacements(const std::vector<std::vector<NodeReplacement>>& reps, const std::vector<std::int64_t>& offsets,
                        const BertConfig& c) {
  if (reps.size() > offsets.size() - 1)
    fail(ErrorKind::input, "node replacements for {} inputs, the batch has {}", reps.size(), offsets.size() - 1);
  for (std::size_t b = 0; b < reps.size(); ++b) {
    const auto t = offsets[b + 1] - offsets[b];
    for (const auto& r : reps[b]) {
      const bool context = r.site == FlowSite::context;
      const auto max_layer = r.site == FlowSite::hidden ? c.num_hidden_layers : c.num_hidden_layers - 1;
      if (r.layer < 0 || r.layer > max_layer)
        fail(ErrorKind::input, "input {}: node replacement at layer {} outside 0..{}", b, r.layer, max_layer);
      const core::Shape keep = context ? core::Shape{t, c.num_attention_heads} : core::Shape{t};
      const core::Shape value = context ? core::Shape{c.num_attention_heads, t, c.head_dim()} : core::Shape{t, c.hidden_size};
      if (r.keep.shape != keep)
        fail(ErrorKind::input, "input {}: node replacement keep mask has shape {}, expected {}", b,
             core::shape_string(r.keep.shape), core::shape_string(keep));
      if (!r.value.data.empty() && r.value.shape != value)
        fail(ErrorKind::input, "input {}: node replacement values have shape {}, expected {}", b,
             core::shape_string(r.value.shape), core::shape_string(value));
    }
  }
}

// Replaces the packed rows (hidden or skip nodes) whose keep value is 0.
void replace_rows(float* packed, std::int64_t width, const std::vector<std::int64_t>& offsets,
                  const std::vector<std::vector<NodeReplacement>>& reps, FlowSite site, std::int64_t layer) {
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b) {
    const auto* r = find_node(reps, b, site, layer);
    if (!r) continue;
    for (std::int64_t i = 0; i < offsets[b + 1] - offsets[b]; ++i) {
      if (r->keep.data[static_cast<std::size_t>(i)] != 0.0f) continue;
      float* row = packed + (offsets[b] + i) * width;
      if (r->value.data.empty())
        std::fill(row, row + width, 0.0f);
      else
        std::memcpy(row, r->value.ptr() + i * width, static_cast<std::size_t>(width) * sizeof(float));
    }
  }
}

// Replaces per-head context vectors (packed [n, heads * d]) whose keep value is 0.
void replace_context(float* packed, std::int64_t heads, std::int64_t d, const std::vector<std::int64_t>& offsets,
                     const std::vector<std::vector<NodeReplacement>>& reps, std::int64_t layer) {
  for (std::size_t b = 0; b + 1 < offsets.size(); ++b) {
    const auto* r = find_node(reps, b, FlowSite::context, layer);
    if (!r) continue;
    const auto t = offsets[b + 1] - offsets[b];
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t h = 0; h < heads; ++h) {
        if (r->keep.data[static_cast<std::size_t>(i * heads + h)] != 0.0f) continue;
        float* v = packed + (offsets[b] + i) * heads * d + h * d;
        if (r->value.data.empty())
          std::fill(v, v + d, 0.0f);
        else
          std::memcpy(v, r->value.ptr() + (h * t + i) * d, static_cast<std::size_t>(d) * sizeof(float));
      }
  }
}

}  // namespace

std::vector<ForwardResult> forward_with_tape(const Model& model, std::span<const ModelInput> inputs,
                                             const RunOptions& run, const TapeOptions& options, ForwardTape& tape_out) {
  const auto& c = model.config();
  const auto& p = model.params();
  const std::int64_t batch = static_cast<std::int64_t>(inputs.size());
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, d = c.head_dim();
  const std::int64_t inter = c.intermediate_size, layers = c.num_hidden_layers;
  const float eps = static_cast<float>(c.layer_norm_eps);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const auto act = c.activation();
  if (run.start_layer != 0) fail(ErrorKind::input, "a tape-recording forward starts at layer 0");
  if (run.precision != Precision::f32) fail(ErrorKind::input, "gradients are computed in float32");
  if (options.mlm_logits && !p.has_mlm_head())
    fail(ErrorKind::model, "{}: the checkpoint has no MLM head (cls.predictions.*)", model.dir().string());
  if (options.classifier_logits && !p.has_classifier())
    fail(ErrorKind::model, "{}: the checkpoint has no classifier head (classifier.*)", model.dir().string());
  const bool token_cls = c.head_kind() == HeadKind::token_classification;
  if (options.classifier_logits && !token_cls && !p.has_pooler())
    fail(ErrorKind::model, "{}: the checkpoint has no pooler (bert.pooler.dense.*)", model.dir().string());
  const double hidden_p = options.train ? c.raw.value("hidden_dropout_prob", 0.1) : 0.0;
  const double attn_p = options.train ? c.raw.value("attention_probs_dropout_prob", 0.1) : 0.0;

  auto& tp = tape_out.impl();
  tp = ForwardTape::Impl{};
  tp.train = options.train;
  tp.offsets = {0};
  tp.prob_offsets = {0};
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& in = inputs[static_cast<std::size_t>(b)];
    const auto t = static_cast<std::int64_t>(in.ids.size());
    if (t == 0 || t > c.max_position_embeddings)
      fail(ErrorKind::input, "input {} has {} tokens (1..{} allowed)", b, t, c.max_position_embeddings);
    if (!in.attention_mask.empty() || !in.start_hidden.data.empty())
      fail(ErrorKind::input, "input {}: gradients need unpadded inputs run from the embeddings", b);
    if (!in.word_embeddings.data.empty() && in.word_embeddings.shape != core::Shape{t, hidden})
      fail(ErrorKind::input, "input {}: word embeddings have shape {}, expected [{}, {}]", b,
           core::shape_string(in.word_embeddings.shape), t, hidden);
    for (auto id : in.ids)
      if (id < 0 || id >= c.vocab_size) fail(ErrorKind::input, "input {}: token id {} outside the vocabulary", b, id);
    for (auto id : in.type_ids)
      if (id < 0 || id >= c.type_vocab_size) fail(ErrorKind::input, "input {}: token type id {} out of range", b, id);
    tp.offsets.push_back(tp.offsets.back() + t);
    tp.prob_offsets.push_back(tp.prob_offsets.back() + heads * t * t);
    tp.ids.push_back(in.ids);
    tp.types.push_back(in.type_ids.empty() ? std::vector<std::int32_t>(static_cast<std::size_t>(t), 0) : in.type_ids);
    tp.own_word_embeddings.push_back(!in.word_embeddings.data.empty());
  }
  const std::int64_t n = tp.offsets.back();
  const auto& off = tp.offsets;
  const auto& reps = options.replacements;
  check_replacements(reps, off, c);
  tp.replaced_nodes = std::any_of(reps.begin(), reps.end(), [](const auto& r) { return !r.empty(); });
  tp.head_mask.assign(static_cast<std::size_t>(layers * heads), 1.0f);
  if (!run.head_mask.data.empty()) {
    if (run.head_mask.shape != core::Shape{layers, heads})
      fail(ErrorKind::input, "head mask has shape {}, expected [{}, {}]", core::shape_string(run.head_mask.shape), layers,
           heads);
    std::copy(run.head_mask.data.begin(), run.head_mask.data.end(), tp.head_mask.begin());
  }

  std::vector<ForwardResult> results(static_cast<std::size_t>(batch));
  for (auto& r : results) r.trace = Trace(layers);
  const auto& rec = run.record;
  auto record_rows = [&](Site s, std::int64_t l, const float* packed, std::int64_t width) {
    if (!rec.contains(s, l)) return;
    for (std::int64_t b = 0; b < batch; ++b) copy_rows(results[b].trace, s, l, packed, off[b], off[b + 1] - off[b], width);
  };

  // Embeddings: (word + type) + position, LayerNorm, dropout.
  FloatBuffer x = buffer(n * hidden);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& in = inputs[static_cast<std::size_t>(b)];
    for (std::int64_t i = 0; i < off[b + 1] - off[b]; ++i) {
      const float* we = in.word_embeddings.data.empty()
                            ? p.word_emb.data + static_cast<std::int64_t>(in.ids[static_cast<std::size_t>(i)]) * hidden
                            : in.word_embeddings.ptr() + i * hidden;
      const float* te = p.type_emb.data + static_cast<std::int64_t>(tp.types[b][static_cast<std::size_t>(i)]) * hidden;
      const float* pe = p.pos_emb.data + i * hidden;
      float* row = x.data() + (off[b] + i) * hidden;
      for (std::int64_t j = 0; j < hidden; ++j) row[j] = (we[j] + te[j]) + pe[j];
    }
  }
  tp.emb_xhat = buffer(n * hidden);
  tp.emb_rstd = buffer(n);
  ln_forward(x.data(), n, hidden, p.emb_norm_g.data, p.emb_norm_b.data, eps, x.data(), tp.emb_xhat.data(),
             tp.emb_rstd.data());
  if (hidden_p > 0) {
    tp.emb_drop = dropout_mask(n * hidden, hidden_p, options.dropout_seed, 1);
    multiply(x.data(), tp.emb_drop, n * hidden);
  }
  replace_rows(x.data(), hidden, off, reps, FlowSite::hidden, 0);
  record_rows(Site::embed_out, 0, x.data(), hidden);

  tp.layers.resize(static_cast<std::size_t>(layers));
  for (std::int64_t l = 0; l < layers; ++l) {
    auto& lt = tp.layers[static_cast<std::size_t>(l)];
    if (run.skip_layers.count(l)) {
      lt.skipped = true;
      if (rec.contains(Site::attn_probs, l))
        for (std::int64_t b = 0; b < batch; ++b) {
          const auto t = off[b + 1] - off[b];
          results[b].trace.emplace(Site::attn_probs, l, {heads, t, t});
        }
      replace_rows(x.data(), hidden, off, reps, FlowSite::hidden, l + 1);
      record_rows(Site::layer_out, l, x.data(), hidden);
      continue;
    }
    const auto& lp = p.layers[static_cast<std::size_t>(l)];
    const std::uint64_t stream = 100 + 10 * static_cast<std::uint64_t>(l);
    lt.x_in = x;
    lt.q = buffer(n * hidden);
    lt.k = buffer(n * hidden);
    lt.v = buffer(n * hidden);
    core::linear(x.data(), n, hidden, lp.query_w.data, lp.query_b.data, hidden, lt.q.data());
    core::linear(x.data(), n, hidden, lp.key_w.data, lp.key_b.data, hidden, lt.k.data());
    core::linear(x.data(), n, hidden, lp.value_w.data, lp.value_b.data, hidden, lt.v.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      auto& tr = results[b].trace;
      if (rec.contains(Site::attn_query, l)) copy_per_head(tr, Site::attn_query, l, lt.q.data(), off[b], t, heads, d);
      if (rec.contains(Site::attn_key, l)) copy_per_head(tr, Site::attn_key, l, lt.k.data(), off[b], t, heads, d);
      if (rec.contains(Site::attn_value, l)) copy_per_head(tr, Site::attn_value, l, lt.v.data(), off[b], t, heads, d);
    }
    lt.soft = buffer(tp.prob_offsets.back());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      float* s = lt.soft.data() + tp.prob_offsets[b];
      core::attention_scores(lt.q.data() + off[b] * hidden, lt.k.data() + off[b] * hidden, 1, heads, t, d, hidden,
                             scale, s);
      if (rec.contains(Site::attn_scores, l)) {
        auto& dst = results[b].trace.emplace(Site::attn_scores, l, {heads, t, t}, false);
        std::memcpy(dst.ptr(), s, static_cast<std::size_t>(heads * t * t) * sizeof(float));
      }
      core::softmax_rows(s, heads * t, t);
    }
    lt.pre_mask = lt.soft;
    lt.replaced.assign(static_cast<std::size_t>(batch * heads), 0);
    if (attn_p > 0) {
      lt.att_drop = dropout_mask(tp.prob_offsets.back(), attn_p, options.dropout_seed, stream + 1);
      multiply(lt.pre_mask.data(), lt.att_drop, tp.prob_offsets.back());
    }
    FloatBuffer used = lt.pre_mask;
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      float* pm = lt.pre_mask.data() + tp.prob_offsets[b];
      for (std::int64_t h = 0; h < heads; ++h) {
        bool replaced = false;
        if (run.uniform_heads.count({l, h})) {
          std::fill(pm + h * t * t, pm + (h + 1) * t * t, 1.0f / static_cast<float>(t));
          replaced = true;
        }
        for (const auto& o : inputs[static_cast<std::size_t>(b)].attention_overrides)
          if (o.layer == l && o.head == h) {
            if (o.probs.shape != core::Shape{t, t}) fail(ErrorKind::input, "input {}: attention override shape", b);
            std::memcpy(pm + h * t * t, o.probs.ptr(), static_cast<std::size_t>(t * t) * sizeof(float));
            replaced = true;
          }
        lt.replaced[static_cast<std::size_t>(b * heads + h)] = replaced;
        const float m = tp.head_mask[static_cast<std::size_t>(l * heads + h)];
        float* u = used.data() + tp.prob_offsets[b] + h * t * t;
        for (std::int64_t i = 0; i < t * t; ++i) u[i] = pm[h * t * t + i] * m;
      }
      if (rec.contains(Site::attn_probs, l)) {
        auto& dst = results[b].trace.emplace(Site::attn_probs, l, {heads, t, t}, false);
        std::memcpy(dst.ptr(), used.data() + tp.prob_offsets[b], static_cast<std::size_t>(heads * t * t) * sizeof(float));
      }
    }
    lt.ctx = buffer(n * hidden);
    for (std::int64_t b = 0; b < batch; ++b)
      core::attention_context(used.data() + tp.prob_offsets[b], lt.v.data() + off[b] * hidden, 1, heads,
                              off[b + 1] - off[b], d, hidden, lt.ctx.data() + off[b] * hidden);
    replace_context(lt.ctx.data(), heads, d, off, reps, l);
    FloatBuffer attn = buffer(n * hidden);
    core::linear(lt.ctx.data(), n, hidden, lp.attn_out_w.data, lp.attn_out_b.data, hidden, attn.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      if (rec.contains(Site::attn_context, l))
        copy_per_head(results[b].trace, Site::attn_context, l, lt.ctx.data(), off[b], t, heads, d);
    }
    record_rows(Site::attn_out, l, attn.data(), hidden);
    if (hidden_p > 0) {
      lt.attn_drop = dropout_mask(n * hidden, hidden_p, options.dropout_seed, stream + 2);
      multiply(attn.data(), lt.attn_drop, n * hidden);
    }
    if (std::any_of(reps.begin(), reps.end(), [&](const auto& r) {
          return std::any_of(r.begin(), r.end(), [&](const auto& e) { return e.site == FlowSite::skip && e.layer == l; });
        })) {
      FloatBuffer skip = x;
      replace_rows(skip.data(), hidden, off, reps, FlowSite::skip, l);
      for (std::int64_t i = 0; i < n * hidden; ++i) attn[static_cast<std::size_t>(i)] += skip[static_cast<std::size_t>(i)];
    } else {
      for (std::int64_t i = 0; i < n * hidden; ++i) attn[static_cast<std::size_t>(i)] += x[static_cast<std::size_t>(i)];
    }
    lt.mid = buffer(n * hidden);
    lt.ln1_xhat = buffer(n * hidden);
    lt.ln1_rstd = buffer(n);
    ln_forward(attn.data(), n, hidden, lp.attn_norm_g.data, lp.attn_norm_b.data, eps, lt.mid.data(), lt.ln1_xhat.data(),
               lt.ln1_rstd.data());
    record_rows(Site::resid_mid, l, lt.mid.data(), hidden);
    lt.pre = buffer(n * inter);
    core::linear(lt.mid.data(), n, hidden, lp.ffn_in_w.data, lp.ffn_in_b.data, inter, lt.pre.data());
    lt.act = lt.pre;
    core::activate(act, lt.act.data(), n * inter);
    record_rows(Site::ffn_act, l, lt.act.data(), inter);
    FloatBuffer ffn = buffer(n * hidden);
    core::linear(lt.act.data(), n, inter, lp.ffn_out_w.data, lp.ffn_out_b.data, hidden, ffn.data());
    record_rows(Site::ffn_out, l, ffn.data(), hidden);
    if (hidden_p > 0) {
      lt.ffn_drop = dropout_mask(n * hidden, hidden_p, options.dropout_seed, stream + 3);
      multiply(ffn.data(), lt.ffn_drop, n * hidden);
    }
    for (std::int64_t i = 0; i < n * hidden; ++i) ffn[static_cast<std::size_t>(i)] += lt.mid[static_cast<std::size_t>(i)];
    lt.ln2_xhat = buffer(n * hidden);
    lt.ln2_rstd = buffer(n);
    ln_forward(ffn.data(), n, hidden, lp.out_norm_g.data, lp.out_norm_b.data, eps, x.data(), lt.ln2_xhat.data(),
               lt.ln2_rstd.data());
    replace_rows(x.data(), hidden, off, reps, FlowSite::hidden, l + 1);
    record_rows(Site::layer_out, l, x.data(), hidden);
  }
  tp.out = x;
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto t = off[b + 1] - off[b];
    results[b].last_hidden = Tensor::uninitialized({t, hidden});
    std::memcpy(results[b].last_hidden.ptr(), x.data() + off[b] * hidden, static_cast<std::size_t>(t * hidden) * sizeof(float));
  }

  if (options.mlm_logits) {
    tp.mlm = true;
    if (!options.mlm_positions.empty() && static_cast<std::int64_t>(options.mlm_positions.size()) != batch)
      fail(ErrorKind::input, "MLM positions for {} inputs, the batch has {}", options.mlm_positions.size(), batch);
    tp.mlm_offsets = {0};
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      if (options.mlm_positions.empty()) {
        for (std::int64_t i = 0; i < t; ++i) tp.mlm_rows.push_back(off[b] + i);
      } else {
        for (auto pos : options.mlm_positions[static_cast<std::size_t>(b)]) {
          if (pos < 0 || pos >= t) fail(ErrorKind::input, "input {}: MLM position {} outside 0..{}", b, pos, t - 1);
          tp.mlm_rows.push_back(off[b] + pos);
        }
      }
      tp.mlm_offsets.push_back(static_cast<std::int64_t>(tp.mlm_rows.size()));
    }
    const auto rows = static_cast<std::int64_t>(tp.mlm_rows.size());
    tp.mlm_in = buffer(rows * hidden);
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(tp.mlm_in.data() + r * hidden, x.data() + tp.mlm_rows[static_cast<std::size_t>(r)] * hidden,
                  static_cast<std::size_t>(hidden) * sizeof(float));
    tp.mlm_pre = buffer(rows * hidden);
    core::linear(tp.mlm_in.data(), rows, hidden, p.mlm_dense_w.data, p.mlm_dense_b.data, hidden, tp.mlm_pre.data());
    FloatBuffer a = tp.mlm_pre;
    core::activate(act, a.data(), rows * hidden);
    tp.mlm_t = buffer(rows * hidden);
    tp.mlm_xhat = buffer(rows * hidden);
    tp.mlm_rstd = buffer(rows);
    ln_forward(a.data(), rows, hidden, p.mlm_norm_g.data, p.mlm_norm_b.data, eps, tp.mlm_t.data(), tp.mlm_xhat.data(),
               tp.mlm_rstd.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto k = tp.mlm_offsets[b + 1] - tp.mlm_offsets[b];
      results[b].mlm_logits = Tensor::uninitialized({k, c.vocab_size});
      core::linear(tp.mlm_t.data() + tp.mlm_offsets[b] * hidden, k, hidden, p.mlm_decoder_w.data, p.mlm_decoder_b.data,
                   c.vocab_size, results[b].mlm_logits.ptr());
    }
  }
  if (options.classifier_logits) {
    tp.classifier = true;
    const auto labels = c.num_labels;
    if (token_cls) {
      FloatBuffer in = x;
      if (hidden_p > 0) {
        tp.token_drop = dropout_mask(n * hidden, hidden_p, options.dropout_seed, 7);
        multiply(in.data(), tp.token_drop, n * hidden);
      }
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto t = off[b + 1] - off[b];
        results[b].classifier_logits = Tensor::uninitialized({t, labels});
        core::linear(in.data() + off[b] * hidden, t, hidden, p.classifier_w.data, p.classifier_b.data, labels,
                     results[b].classifier_logits.ptr());
      }
    } else {
      tp.pooled = buffer(batch * hidden);
      for (std::int64_t b = 0; b < batch; ++b)
        core::linear(x.data() + off[b] * hidden, 1, hidden, p.pooler_w.data, p.pooler_b.data, hidden,
                     tp.pooled.data() + b * hidden);
      core::tanh_inplace(tp.pooled.data(), batch * hidden);
      FloatBuffer in = tp.pooled;
      if (hidden_p > 0) {
        tp.pooled_drop = dropout_mask(batch * hidden, hidden_p, options.dropout_seed, 8);
        multiply(in.data(), tp.pooled_drop, batch * hidden);
      }
      for (std::int64_t b = 0; b < batch; ++b) {
        results[b].classifier_logits = Tensor::uninitialized({labels});
        core::linear(in.data() + b * hidden, 1, hidden, p.classifier_w.data, p.classifier_b.data, labels,
                     results[b].classifier_logits.ptr());
        results[b].pooled = Tensor::uninitialized({hidden});
        std::memcpy(results[b].pooled.ptr(), tp.pooled.data() + b * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
        if (rec.contains(Site::pooler_out)) results[b].trace.emplace(Site::pooler_out, 0, {hidden}).data = results[b].pooled.data;
      }
    }
  }
  return results;
}

BackwardResult backward(const Model& model, const ForwardTape& tape, std::span<const OutputGrad> seeds,
                        const GradRequest& req) {
  const auto& c = model.config();
  const auto& p = model.params();
  const auto& tp = tape.impl();
  const auto& off = tp.offsets;
  const std::int64_t batch = static_cast<std::int64_t>(off.size()) - 1;
  const std::int64_t n = off.back();
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, d = c.head_dim();
  const std::int64_t inter = c.intermediate_size, layers = c.num_hidden_layers;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const auto act = c.activation();
  if (static_cast<std::int64_t>(seeds.size()) != batch)
    fail(ErrorKind::input, "{} output gradients for a batch of {}", seeds.size(), batch);
  if (tp.replaced_nodes) fail(ErrorKind::input, "a tape recorded with node replacements serves no backward pass");
  check_masks(req.flow_masks, off, c);

  BackwardResult out;
  out.site_grads.assign(static_cast<std::size_t>(batch), Trace(layers));
  // Parameter gradients keyed by the parameter's storage, so a tied decoder adds into the
  // word embeddings; named at the end.
  std::map<const float*, FloatBuffer> pg;
  auto grad_of = [&](const Param& w) -> float* {
    if (!req.params) return nullptr;
    auto& g = pg[w.data];
    if (g.empty()) g = zeros(w.size());
    return g.data();
  };
  const auto& sites = req.sites;
  auto record = [&](Site s, std::int64_t l, const float* packed, std::int64_t width) {
    if (!sites.contains(s, l)) return;
    for (std::int64_t b = 0; b < batch; ++b) copy_rows(out.site_grads[b], s, l, packed, off[b], off[b + 1] - off[b], width);
  };
  if (req.head_mask) out.head_mask_grad = Tensor({layers, heads});
  if (req.head_mask_per_input) out.head_mask_grads.assign(static_cast<std::size_t>(batch), Tensor({layers, heads}));

  // Seeds at the outputs and the heads' backward into h_L.
  FloatBuffer dx = zeros(n * hidden);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& s = seeds[static_cast<std::size_t>(b)];
    const auto t = off[b + 1] - off[b];
    if (!s.last_hidden.data.empty()) {
      if (s.last_hidden.shape != core::Shape{t, hidden}) fail(ErrorKind::input, "seed {}: last_hidden shape", b);
      for (std::int64_t i = 0; i < t * hidden; ++i) dx[static_cast<std::size_t>(off[b] * hidden + i)] += s.last_hidden.data[static_cast<std::size_t>(i)];
    }
  }
  bool any_mlm = false, any_cls = false;
  for (const auto& s : seeds) {
    any_mlm = any_mlm || !s.mlm_logits.data.empty();
    any_cls = any_cls || !s.classifier_logits.data.empty();
  }
  if (any_mlm) {
    if (!tp.mlm) fail(ErrorKind::input, "MLM logit gradients given but the forward pass did not run the MLM head");
    const auto rows = static_cast<std::int64_t>(tp.mlm_rows.size());
    FloatBuffer dlogits = zeros(rows * c.vocab_size);
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto& g = seeds[static_cast<std::size_t>(b)].mlm_logits;
      if (g.data.empty()) continue;
      if (g.shape != core::Shape{tp.mlm_offsets[b + 1] - tp.mlm_offsets[b], c.vocab_size})
        fail(ErrorKind::input, "seed {}: mlm_logits has shape {}", b, core::shape_string(g.shape));
      std::memcpy(dlogits.data() + tp.mlm_offsets[b] * c.vocab_size, g.ptr(), g.data.size() * sizeof(float));
    }
    FloatBuffer dt = buffer(rows * hidden);
    grad_input(dlogits.data(), rows, c.vocab_size, p.mlm_decoder_w.data, hidden, dt.data(), false);
    if (req.params) grad_weight(dlogits.data(), rows, c.vocab_size, tp.mlm_t.data(), hidden, grad_of(p.mlm_decoder_w), grad_of(p.mlm_decoder_b));
    FloatBuffer da = buffer(rows * hidden);
    ln_backward(dt.data(), tp.mlm_xhat.data(), tp.mlm_rstd.data(), p.mlm_norm_g.data, rows, hidden, da.data(),
                grad_of(p.mlm_norm_g), grad_of(p.mlm_norm_b));
    core::activation_grad(act, tp.mlm_pre.data(), da.data(), da.data(), rows * hidden);
    if (req.params) grad_weight(da.data(), rows, hidden, tp.mlm_in.data(), hidden, grad_of(p.mlm_dense_w), grad_of(p.mlm_dense_b));
    FloatBuffer din = buffer(rows * hidden);
    grad_input(da.data(), rows, hidden, p.mlm_dense_w.data, hidden, din.data(), false);
    for (std::int64_t r = 0; r < rows; ++r) {
      float* dst = dx.data() + tp.mlm_rows[static_cast<std::size_t>(r)] * hidden;
      for (std::int64_t j = 0; j < hidden; ++j) dst[j] += din[static_cast<std::size_t>(r * hidden + j)];
    }
  }
  if (any_cls) {
    if (!tp.classifier) fail(ErrorKind::input, "classifier gradients given but the forward pass did not run the classifier");
    const auto labels = c.num_labels;
    if (c.head_kind() == HeadKind::token_classification) {
      FloatBuffer dl = zeros(n * labels);
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto& g = seeds[static_cast<std::size_t>(b)].classifier_logits;
        if (g.data.empty()) continue;
        std::memcpy(dl.data() + off[b] * labels, g.ptr(), g.data.size() * sizeof(float));
      }
      FloatBuffer in = tp.out;
      multiply(in.data(), tp.token_drop, n * hidden);
      if (req.params) grad_weight(dl.data(), n, labels, in.data(), hidden, grad_of(p.classifier_w), grad_of(p.classifier_b));
      FloatBuffer din = buffer(n * hidden);
      grad_input(dl.data(), n, labels, p.classifier_w.data, hidden, din.data(), false);
      multiply(din.data(), tp.token_drop, n * hidden);
      for (std::int64_t i = 0; i < n * hidden; ++i) dx[static_cast<std::size_t>(i)] += din[static_cast<std::size_t>(i)];
    } else {
      FloatBuffer dl = zeros(batch * labels);
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto& g = seeds[static_cast<std::size_t>(b)].classifier_logits;
        if (g.data.empty()) continue;
        if (g.shape != core::Shape{labels}) fail(ErrorKind::input, "seed {}: classifier_logits shape", b);
        std::memcpy(dl.data() + b * labels, g.ptr(), g.data.size() * sizeof(float));
      }
      FloatBuffer in = tp.pooled;
      multiply(in.data(), tp.pooled_drop, batch * hidden);
      if (req.params) grad_weight(dl.data(), batch, labels, in.data(), hidden, grad_of(p.classifier_w), grad_of(p.classifier_b));
      FloatBuffer dpool = buffer(batch * hidden);
      grad_input(dl.data(), batch, labels, p.classifier_w.data, hidden, dpool.data(), false);
      multiply(dpool.data(), tp.pooled_drop, batch * hidden);
      for (std::int64_t i = 0; i < batch * hidden; ++i) {
        const float y = tp.pooled[static_cast<std::size_t>(i)];
        dpool[static_cast<std::size_t>(i)] *= 1.0f - y * y;
      }
      FloatBuffer cls_rows = buffer(batch * hidden);
      for (std::int64_t b = 0; b < batch; ++b)
        std::memcpy(cls_rows.data() + b * hidden, tp.out.data() + off[b] * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
      if (req.params) grad_weight(dpool.data(), batch, hidden, cls_rows.data(), hidden, grad_of(p.pooler_w), grad_of(p.pooler_b));
      FloatBuffer dcls = buffer(batch * hidden);
      grad_input(dpool.data(), batch, hidden, p.pooler_w.data, hidden, dcls.data(), false);
      for (std::int64_t b = 0; b < batch; ++b)
        for (std::int64_t j = 0; j < hidden; ++j) dx[static_cast<std::size_t>(off[b] * hidden + j)] += dcls[static_cast<std::size_t>(b * hidden + j)];
    }
  }

  FloatBuffer d_in2 = buffer(n * hidden), d_mid = buffer(n * hidden), d_ffn = buffer(n * hidden),
              d_act = buffer(n * inter), d_in1 = buffer(n * hidden), d_attn = buffer(n * hidden),
              d_ctx = buffer(n * hidden), dq = buffer(n * hidden), dk = buffer(n * hidden), dv = buffer(n * hidden);
  for (std::int64_t l = layers - 1; l >= 0; --l) {
    // dx holds dL/d h_{l+1} = layer.{l}.out.
    record(Site::layer_out, l, dx.data(), hidden);
    apply_row_mask(dx.data(), hidden, off, req.flow_masks, FlowSite::hidden, l + 1);
    const auto& lt = tp.layers[static_cast<std::size_t>(l)];
    if (lt.skipped) continue;
    const auto& lp = p.layers[static_cast<std::size_t>(l)];

    ln_backward(dx.data(), lt.ln2_xhat.data(), lt.ln2_rstd.data(), lp.out_norm_g.data, n, hidden, d_in2.data(),
                grad_of(lp.out_norm_g), grad_of(lp.out_norm_b));
    d_ffn = d_in2;
    multiply(d_ffn.data(), lt.ffn_drop, n * hidden);
    record(Site::ffn_out, l, d_ffn.data(), hidden);
    d_mid = d_in2;
    grad_input(d_ffn.data(), n, hidden, lp.ffn_out_w.data, inter, d_act.data(), false);
    if (req.params) grad_weight(d_ffn.data(), n, hidden, lt.act.data(), inter, grad_of(lp.ffn_out_w), grad_of(lp.ffn_out_b));
    record(Site::ffn_act, l, d_act.data(), inter);
    core::activation_grad(act, lt.pre.data(), d_act.data(), d_act.data(), n * inter);
    grad_input(d_act.data(), n, inter, lp.ffn_in_w.data, hidden, d_mid.data(), true);
    if (req.params) grad_weight(d_act.data(), n, inter, lt.mid.data(), hidden, grad_of(lp.ffn_in_w), grad_of(lp.ffn_in_b));
    record(Site::resid_mid, l, d_mid.data(), hidden);

    ln_backward(d_mid.data(), lt.ln1_xhat.data(), lt.ln1_rstd.data(), lp.attn_norm_g.data, n, hidden, d_in1.data(),
                grad_of(lp.attn_norm_g), grad_of(lp.attn_norm_b));
    d_attn = d_in1;
    multiply(d_attn.data(), lt.attn_drop, n * hidden);
    record(Site::attn_out, l, d_attn.data(), hidden);
    grad_input(d_attn.data(), n, hidden, lp.attn_out_w.data, hidden, d_ctx.data(), false);
    if (req.params) grad_weight(d_attn.data(), n, hidden, lt.ctx.data(), hidden, grad_of(lp.attn_out_w), grad_of(lp.attn_out_b));
    if (sites.contains(Site::attn_context, l))
      for (std::int64_t b = 0; b < batch; ++b)
        copy_per_head(out.site_grads[b], Site::attn_context, l, d_ctx.data(), off[b], off[b + 1] - off[b], heads, d);
    apply_context_mask(d_ctx.data(), heads, d, off, req.flow_masks, l);

    // The residual (skip) branch of LN1's input: d_in1 passes to h_l, restricted by the skip mask.
    std::memcpy(dx.data(), d_in1.data(), static_cast<std::size_t>(n * hidden) * sizeof(float));
    apply_row_mask(dx.data(), hidden, off, req.flow_masks, FlowSite::skip, l);

    // Attention, per input and head.
    const bool want_probs = sites.contains(Site::attn_probs, l), want_scores = sites.contains(Site::attn_scores, l);
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      if (want_probs) out.site_grads[b].emplace(Site::attn_probs, l, {heads, t, t}, false);
      if (want_scores) out.site_grads[b].emplace(Site::attn_scores, l, {heads, t, t}, false);
    }
    std::vector<double> mask_grad(static_cast<std::size_t>(batch * heads), 0.0);
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t job = 0; job < batch * heads; ++job) {
      const auto b = job / heads, h = job % heads;
      const auto t = off[b + 1] - off[b];
      const auto row0 = off[b];
      const float m = tp.head_mask[static_cast<std::size_t>(l * heads + h)];
      const float* soft = lt.soft.data() + tp.prob_offsets[b] + h * t * t;
      const float* pre = lt.pre_mask.data() + tp.prob_offsets[b] + h * t * t;
      std::vector<float> dp(static_cast<std::size_t>(t * t)), used(static_cast<std::size_t>(t * t));
      for (std::int64_t i = 0; i < t * t; ++i) used[static_cast<std::size_t>(i)] = pre[i] * m;
      const float* dctx_h = d_ctx.data() + row0 * hidden + h * d;
      const float* v_h = lt.v.data() + row0 * hidden + h * d;
      // ctx = P V: dP = dctx V^T, dV = P^T dctx.
      core::gemm(false, true, t, t, d, 1.0f, dctx_h, hidden, v_h, hidden, 0.0f, dp.data(), t);
      core::gemm(true, false, t, d, t, 1.0f, used.data(), t, dctx_h, hidden, 0.0f, dv.data() + row0 * hidden + h * d, hidden);
      if (want_probs) std::memcpy(out.site_grads[b].find(Site::attn_probs, l)->ptr() + h * t * t, dp.data(), dp.size() * sizeof(float));
      double mg = 0;
      for (std::int64_t i = 0; i < t * t; ++i) mg += static_cast<double>(dp[static_cast<std::size_t>(i)]) * pre[i];
      mask_grad[static_cast<std::size_t>(job)] = mg;
      float* dq_h = dq.data() + row0 * hidden + h * d;
      float* dk_h = dk.data() + row0 * hidden + h * d;
      if (lt.replaced[static_cast<std::size_t>(job)]) {
        for (std::int64_t i = 0; i < t; ++i)
          for (std::int64_t e = 0; e < d; ++e) dq_h[i * hidden + e] = dk_h[i * hidden + e] = 0.0f;
        if (want_scores) std::fill_n(out.site_grads[b].find(Site::attn_scores, l)->ptr() + h * t * t, t * t, 0.0f);
        continue;
      }
      // Through the head mask and dropout to the softmax output, then softmax's Jacobian.
      for (std::int64_t i = 0; i < t * t; ++i) {
        float g = dp[static_cast<std::size_t>(i)] * m;
        if (!lt.att_drop.empty()) g *= lt.att_drop[static_cast<std::size_t>(tp.prob_offsets[b] + h * t * t + i)];
        dp[static_cast<std::size_t>(i)] = g;
      }
      for (std::int64_t i = 0; i < t; ++i) {
        double dot = 0;
        for (std::int64_t j = 0; j < t; ++j) dot += static_cast<double>(dp[static_cast<std::size_t>(i * t + j)]) * soft[i * t + j];
        for (std::int64_t j = 0; j < t; ++j)
          dp[static_cast<std::size_t>(i * t + j)] = soft[i * t + j] * static_cast<float>(dp[static_cast<std::size_t>(i * t + j)] - dot);
      }
      if (want_scores) std::memcpy(out.site_grads[b].find(Site::attn_scores, l)->ptr() + h * t * t, dp.data(), dp.size() * sizeof(float));
      const float* q_h = lt.q.data() + row0 * hidden + h * d;
      const float* k_h = lt.k.data() + row0 * hidden + h * d;
      // scores = scale Q K^T: dQ = scale dZ K, dK = scale dZ^T Q.
      core::gemm(false, false, t, d, t, scale, dp.data(), t, k_h, hidden, 0.0f, dq_h, hidden);
      core::gemm(true, false, t, d, t, scale, dp.data(), t, q_h, hidden, 0.0f, dk_h, hidden);
    }
    if (req.head_mask)
      for (std::int64_t job = 0; job < batch * heads; ++job)
        out.head_mask_grad.data[static_cast<std::size_t>(l * heads + job % heads)] += static_cast<float>(mask_grad[static_cast<std::size_t>(job)]);
    if (req.head_mask_per_input)
      for (std::int64_t job = 0; job < batch * heads; ++job)
        out.head_mask_grads[static_cast<std::size_t>(job / heads)].data[static_cast<std::size_t>(l * heads + job % heads)] =
            static_cast<float>(mask_grad[static_cast<std::size_t>(job)]);
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      if (sites.contains(Site::attn_query, l)) copy_per_head(out.site_grads[b], Site::attn_query, l, dq.data(), off[b], t, heads, d);
      if (sites.contains(Site::attn_key, l)) copy_per_head(out.site_grads[b], Site::attn_key, l, dk.data(), off[b], t, heads, d);
      if (sites.contains(Site::attn_value, l)) copy_per_head(out.site_grads[b], Site::attn_value, l, dv.data(), off[b], t, heads, d);
    }
    grad_input(dq.data(), n, hidden, lp.query_w.data, hidden, dx.data(), true);
    grad_input(dk.data(), n, hidden, lp.key_w.data, hidden, dx.data(), true);
    grad_input(dv.data(), n, hidden, lp.value_w.data, hidden, dx.data(), true);
    if (req.params) {
      grad_weight(dq.data(), n, hidden, lt.x_in.data(), hidden, grad_of(lp.query_w), grad_of(lp.query_b));
      grad_weight(dk.data(), n, hidden, lt.x_in.data(), hidden, grad_of(lp.key_w), grad_of(lp.key_b));
      grad_weight(dv.data(), n, hidden, lt.x_in.data(), hidden, grad_of(lp.value_w), grad_of(lp.value_b));
    }
  }
  // dx = dL/d h_0 = embed.out.
  record(Site::embed_out, 0, dx.data(), hidden);
  apply_row_mask(dx.data(), hidden, off, req.flow_masks, FlowSite::hidden, 0);
  multiply(dx.data(), tp.emb_drop, n * hidden);
  FloatBuffer dsum = buffer(n * hidden);
  ln_backward(dx.data(), tp.emb_xhat.data(), tp.emb_rstd.data(), p.emb_norm_g.data, n, hidden, dsum.data(),
              grad_of(p.emb_norm_g), grad_of(p.emb_norm_b));
  if (req.params) {
    float* gw = grad_of(p.word_emb);
    float* gp = grad_of(p.pos_emb);
    float* gt = grad_of(p.type_emb);
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < off[b + 1] - off[b]; ++i) {
        const float* row = dsum.data() + (off[b] + i) * hidden;
        float* w = tp.own_word_embeddings[static_cast<std::size_t>(b)] ? nullptr
                                                                        : gw + static_cast<std::int64_t>(tp.ids[b][static_cast<std::size_t>(i)]) * hidden;
        float* pp = gp + i * hidden;
        float* tt = gt + static_cast<std::int64_t>(tp.types[b][static_cast<std::size_t>(i)]) * hidden;
        for (std::int64_t j = 0; j < hidden; ++j) {
          if (w) w[j] += row[j];
          pp[j] += row[j];
          tt[j] += row[j];
        }
      }
  }
  if (req.word_embeddings)
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = off[b + 1] - off[b];
      Tensor g = Tensor::uninitialized({t, hidden});
      std::memcpy(g.ptr(), dsum.data() + off[b] * hidden, static_cast<std::size_t>(t * hidden) * sizeof(float));
      out.word_embedding_grads.push_back(std::move(g));
    }
  if (req.params) {
    BertParams named = p;  // to find each storage's canonical name
    for (const auto& spec : param_table(c)) {
      const Param& w = spec.slot(named);
      if (!w.present()) continue;
      auto it = pg.find(w.data);
      if (it == pg.end()) continue;
      if (spec.optional_in_group && w.data == p.word_emb.data) continue;  // tied decoder: already in the embeddings
      Tensor g = Tensor::uninitialized(spec.shape);
      std::copy(it->second.begin(), it->second.end(), g.data.begin());
      out.param_grads.emplace(spec.name, std::move(g));
      pg.erase(it);  // freed as it is copied, so the gradients are never held twice
    }
  }
  return out;
}

TangentResult jvp(const Model& model, const ForwardTape& tape, std::span<const Tensor> tangents, const SiteSet& sites,
                  const std::vector<std::vector<FlowMask>>& masks) {
  const auto& c = model.config();
  const auto& p = model.params();
  const auto& tp = tape.impl();
  const auto& off = tp.offsets;
  const std::int64_t batch = static_cast<std::int64_t>(off.size()) - 1;
  const std::int64_t n = off.back();
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, d = c.head_dim();
  const std::int64_t inter = c.intermediate_size, layers = c.num_hidden_layers;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const auto act = c.activation();
  if (static_cast<std::int64_t>(tangents.size()) != batch)
    fail(ErrorKind::input, "{} tangents for a batch of {}", tangents.size(), batch);
  if (tp.replaced_nodes) fail(ErrorKind::input, "a tape recorded with node replacements serves no JVP pass");
  check_masks(masks, off, c);

  TangentResult out;
  out.site_tangents.assign(static_cast<std::size_t>(batch), Trace(layers));
  auto record = [&](Site s, std::int64_t l, const float* packed, std::int64_t width) {
    if (!sites.contains(s, l)) return;
    for (std::int64_t b = 0; b < batch; ++b) copy_rows(out.site_tangents[b], s, l, packed, off[b], off[b + 1] - off[b], width);
  };

  FloatBuffer tx = buffer(n * hidden);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& t = tangents[static_cast<std::size_t>(b)];
    if (t.shape != core::Shape{off[b + 1] - off[b], hidden}) fail(ErrorKind::input, "tangent {} has shape {}", b, core::shape_string(t.shape));
    std::memcpy(tx.data() + off[b] * hidden, t.ptr(), t.data.size() * sizeof(float));
  }
  ln_jvp(tx.data(), tp.emb_xhat.data(), tp.emb_rstd.data(), p.emb_norm_g.data, n, hidden, tx.data());
  multiply(tx.data(), tp.emb_drop, n * hidden);
  apply_row_mask(tx.data(), hidden, off, masks, FlowSite::hidden, 0);
  record(Site::embed_out, 0, tx.data(), hidden);

  FloatBuffer tq = buffer(n * hidden), tk = buffer(n * hidden), tv = buffer(n * hidden), tctx = buffer(n * hidden),
              tattn = buffer(n * hidden), tmid = buffer(n * hidden), tpre = buffer(n * inter), tffn = buffer(n * hidden);
  for (std::int64_t l = 0; l < layers; ++l) {
    const auto& lt = tp.layers[static_cast<std::size_t>(l)];
    if (!lt.skipped) {
      const auto& lp = p.layers[static_cast<std::size_t>(l)];
      linear_tangent(tx.data(), n, hidden, lp.query_w.data, hidden, tq.data());
      linear_tangent(tx.data(), n, hidden, lp.key_w.data, hidden, tk.data());
      linear_tangent(tx.data(), n, hidden, lp.value_w.data, hidden, tv.data());
#pragma omp parallel for schedule(dynamic)
      for (std::int64_t job = 0; job < batch * heads; ++job) {
        const auto b = job / heads, h = job % heads;
        const auto t = off[b + 1] - off[b];
        const auto row0 = off[b];
        const float m = tp.head_mask[static_cast<std::size_t>(l * heads + h)];
        const float* soft = lt.soft.data() + tp.prob_offsets[b] + h * t * t;
        const float* pre = lt.pre_mask.data() + tp.prob_offsets[b] + h * t * t;
        std::vector<float> tz(static_cast<std::size_t>(t * t), 0.0f), used(static_cast<std::size_t>(t * t));
        for (std::int64_t i = 0; i < t * t; ++i) used[static_cast<std::size_t>(i)] = pre[i] * m;
        const float* q_h = lt.q.data() + row0 * hidden + h * d;
        const float* k_h = lt.k.data() + row0 * hidden + h * d;
        const float* v_h = lt.v.data() + row0 * hidden + h * d;
        float* tctx_h = tctx.data() + row0 * hidden + h * d;
        // ctx = P V: t_ctx = t_P V + P t_V.
        core::gemm(false, false, t, d, t, 1.0f, used.data(), t, tv.data() + row0 * hidden + h * d, hidden, 0.0f, tctx_h, hidden);
        if (lt.replaced[static_cast<std::size_t>(job)]) continue;
        // Z = scale Q K^T: t_Z = scale (t_Q K^T + Q t_K^T); then softmax's Jacobian, dropout, head mask.
        core::gemm(false, true, t, t, d, scale, tq.data() + row0 * hidden + h * d, hidden, k_h, hidden, 0.0f, tz.data(), t);
        core::gemm(false, true, t, t, d, scale, q_h, hidden, tk.data() + row0 * hidden + h * d, hidden, 1.0f, tz.data(), t);
        for (std::int64_t i = 0; i < t; ++i) {
          double dot = 0;
          for (std::int64_t j = 0; j < t; ++j) dot += static_cast<double>(tz[static_cast<std::size_t>(i * t + j)]) * soft[i * t + j];
          for (std::int64_t j = 0; j < t; ++j) {
            float g = soft[i * t + j] * static_cast<float>(tz[static_cast<std::size_t>(i * t + j)] - dot) * m;
            if (!lt.att_drop.empty()) g *= lt.att_drop[static_cast<std::size_t>(tp.prob_offsets[b] + h * t * t + i * t + j)];
            tz[static_cast<std::size_t>(i * t + j)] = g;
          }
        }
        core::gemm(false, false, t, d, t, 1.0f, tz.data(), t, v_h, hidden, 1.0f, tctx_h, hidden);
      }
      apply_context_mask(tctx.data(), heads, d, off, masks, l);
      if (sites.contains(Site::attn_context, l))
        for (std::int64_t b = 0; b < batch; ++b)
          copy_per_head(out.site_tangents[b], Site::attn_context, l, tctx.data(), off[b], off[b + 1] - off[b], heads, d);
      linear_tangent(tctx.data(), n, hidden, lp.attn_out_w.data, hidden, tattn.data());
      multiply(tattn.data(), lt.attn_drop, n * hidden);
      record(Site::attn_out, l, tattn.data(), hidden);
      // LN1's input: the attention branch plus the skip branch, restricted by the skip mask.
      apply_row_mask(tx.data(), hidden, off, masks, FlowSite::skip, l);
      for (std::int64_t i = 0; i < n * hidden; ++i) tattn[static_cast<std::size_t>(i)] += tx[static_cast<std::size_t>(i)];
      ln_jvp(tattn.data(), lt.ln1_xhat.data(), lt.ln1_rstd.data(), lp.attn_norm_g.data, n, hidden, tmid.data());
      record(Site::resid_mid, l, tmid.data(), hidden);
      linear_tangent(tmid.data(), n, hidden, lp.ffn_in_w.data, inter, tpre.data());
      core::activation_grad(act, lt.pre.data(), tpre.data(), tpre.data(), n * inter);
      record(Site::ffn_act, l, tpre.data(), inter);
      linear_tangent(tpre.data(), n, inter, lp.ffn_out_w.data, hidden, tffn.data());
      record(Site::ffn_out, l, tffn.data(), hidden);
      multiply(tffn.data(), lt.ffn_drop, n * hidden);
      for (std::int64_t i = 0; i < n * hidden; ++i) tffn[static_cast<std::size_t>(i)] += tmid[static_cast<std::size_t>(i)];
      ln_jvp(tffn.data(), lt.ln2_xhat.data(), lt.ln2_rstd.data(), lp.out_norm_g.data, n, hidden, tx.data());
    }
    apply_row_mask(tx.data(), hidden, off, masks, FlowSite::hidden, l + 1);
    record(Site::layer_out, l, tx.data(), hidden);
  }
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto t = off[b + 1] - off[b];
    Tensor h = Tensor::uninitialized({t, hidden});
    std::memcpy(h.ptr(), tx.data() + off[b] * hidden, static_cast<std::size_t>(t * hidden) * sizeof(float));
    out.last_hidden.push_back(std::move(h));
  }
  if (tp.mlm) {
    const auto rows = static_cast<std::int64_t>(tp.mlm_rows.size());
    FloatBuffer tin = buffer(rows * hidden), ta = buffer(rows * hidden), tt = buffer(rows * hidden);
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(tin.data() + r * hidden, tx.data() + tp.mlm_rows[static_cast<std::size_t>(r)] * hidden,
                  static_cast<std::size_t>(hidden) * sizeof(float));
    linear_tangent(tin.data(), rows, hidden, p.mlm_dense_w.data, hidden, ta.data());
    core::activation_grad(act, tp.mlm_pre.data(), ta.data(), ta.data(), rows * hidden);
    ln_jvp(ta.data(), tp.mlm_xhat.data(), tp.mlm_rstd.data(), p.mlm_norm_g.data, rows, hidden, tt.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto k = tp.mlm_offsets[b + 1] - tp.mlm_offsets[b];
      Tensor lg = Tensor::uninitialized({k, c.vocab_size});
      linear_tangent(tt.data() + tp.mlm_offsets[b] * hidden, k, hidden, p.mlm_decoder_w.data, c.vocab_size, lg.ptr());
      out.mlm_logits.push_back(std::move(lg));
    }
  }
  if (tp.classifier) {
    const auto labels = c.num_labels;
    if (c.head_kind() == HeadKind::token_classification) {
      multiply(tx.data(), tp.token_drop, n * hidden);
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto t = off[b + 1] - off[b];
        Tensor lg = Tensor::uninitialized({t, labels});
        linear_tangent(tx.data() + off[b] * hidden, t, hidden, p.classifier_w.data, labels, lg.ptr());
        out.classifier_logits.push_back(std::move(lg));
      }
    } else {
      for (std::int64_t b = 0; b < batch; ++b) {
        std::vector<float> tpool(static_cast<std::size_t>(hidden));
        linear_tangent(tx.data() + off[b] * hidden, 1, hidden, p.pooler_w.data, hidden, tpool.data());
        for (std::int64_t j = 0; j < hidden; ++j) {
          const float y = tp.pooled[static_cast<std::size_t>(b * hidden + j)];
          tpool[static_cast<std::size_t>(j)] *= 1.0f - y * y;
          if (!tp.pooled_drop.empty()) tpool[static_cast<std::size_t>(j)] *= tp.pooled_drop[static_cast<std::size_t>(b * hidden + j)];
        }
        Tensor lg = Tensor::uninitialized({labels});
        linear_tangent(tpool.data(), 1, hidden, p.classifier_w.data, labels, lg.ptr());
        out.classifier_logits.push_back(std::move(lg));
      }
    }
  }
  return out;
}

LossGrad mlm_cross_entropy(const Tensor& logits, std::span<const std::int32_t> labels, double scale) {
  const auto t = logits.dim(0), v = logits.dim(1);
  if (static_cast<std::int64_t>(labels.size()) != t) fail(ErrorKind::input, "{} MLM labels for {} positions", labels.size(), t);
  LossGrad r;
  r.grad = Tensor({t, v});
  std::int64_t counted = 0;
  for (auto label : labels) counted += label >= 0;
  if (counted == 0) return r;
  const double w = scale / static_cast<double>(counted);
  for (std::int64_t i = 0; i < t; ++i) {
    const auto label = labels[static_cast<std::size_t>(i)];
    if (label < 0) continue;
    if (label >= v) fail(ErrorKind::input, "MLM label {} outside the vocabulary", label);
    const float* row = logits.ptr() + i * v;
    const float max = *std::max_element(row, row + v);
    double sum = 0;
    for (std::int64_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
    const double log_z = max + std::log(sum);
    r.loss += (log_z - row[label]) / static_cast<double>(counted);
    float* g = r.grad.ptr() + i * v;
    for (std::int64_t j = 0; j < v; ++j) g[j] = static_cast<float>(std::exp(row[j] - log_z) * w);
    g[label] -= static_cast<float>(w);
  }
  return r;
}

LossGrad class_cross_entropy(const Tensor& logits, std::int32_t label, double scale) {
  const auto k = logits.size();
  if (label < 0 || label >= k) fail(ErrorKind::input, "label {} outside the model's {} classes", label, k);
  LossGrad r;
  r.grad = Tensor({k});
  const float max = *std::max_element(logits.data.begin(), logits.data.end());
  double sum = 0;
  for (auto x : logits.data) sum += std::exp(static_cast<double>(x) - max);
  const double log_z = max + std::log(sum);
  r.loss = log_z - logits.data[static_cast<std::size_t>(label)];
  for (std::int64_t j = 0; j < k; ++j) r.grad.data[static_cast<std::size_t>(j)] = static_cast<float>(std::exp(logits.data[static_cast<std::size_t>(j)] - log_z) * scale);
  r.grad.data[static_cast<std::size_t>(label)] -= static_cast<float>(scale);
  return r;
}

LossGrad regression_mse(const Tensor& logits, float target, double scale) {
  if (logits.size() != 1) fail(ErrorKind::input, "regression needs one output, the model has {}", logits.size());
  LossGrad r;
  const double diff = static_cast<double>(logits.data[0]) - target;
  r.loss = diff * diff;
  r.grad = Tensor({1});
  r.grad.data[0] = static_cast<float>(2.0 * diff * scale);
  return r;
}

}  // namespace bertscope::model
