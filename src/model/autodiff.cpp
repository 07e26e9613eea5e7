#include "model/autodiff.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/kernels.hpp"
#include "io/error.hpp"
#include "model/encoder.hpp"
#include "model/interventions.hpp"

namespace bertscope::model {

using core::FloatBuffer;
using core::Tensor;

ForwardTape::ForwardTape() : impl_(std::make_unique<Impl>()) {}
ForwardTape::~ForwardTape() = default;
ForwardTape::ForwardTape(ForwardTape&&) noexcept = default;
ForwardTape& ForwardTape::operator=(ForwardTape&&) noexcept = default;

namespace {

FloatBuffer zeros(std::int64_t n) { return FloatBuffer(static_cast<std::size_t>(n), 0.0f); }

void check_masks(const std::vector<std::vector<FlowMask>>& masks, const layers::Batch& batch, const ModelConfig& c) {
  if (static_cast<std::int64_t>(masks.size()) > batch.size())
    fail(ErrorKind::input, "flow masks for {} inputs, the batch has {}", masks.size(), batch.size());
  for (std::size_t b = 0; b < masks.size(); ++b) {
    const auto t = batch.length(static_cast<std::int64_t>(b));
    for (const auto& m : masks[b]) {
      const auto max_layer = m.site == FlowSite::hidden ? c.num_hidden_layers : c.num_hidden_layers - 1;
      if (m.layer < 0 || m.layer > max_layer)
        fail(ErrorKind::input, "input {}: flow mask at layer {} outside 0..{}", b, m.layer, max_layer);
      const core::Shape expected = m.site == FlowSite::context ? core::Shape{t, c.num_attention_heads} : core::Shape{t};
      if (m.mask.shape != expected)
        fail(ErrorKind::input, "input {}: flow mask has shape {}, expected {}", b, core::shape_string(m.mask.shape),
             core::shape_string(expected));
    }
  }
}

// Block buffers for a reverse or forward-mode pass over the tape's batch.
layers::BlockBuffers pass_buffers(const ModelConfig& c, const layers::Batch& batch) {
  layers::BlockBuffers buf;
  buf.reserve(batch.rows(), c.hidden_size, Encoder::block_shape(c, 0).ffn.in_width(), batch.probs_size(), false);
  return buf;
}

}  // namespace

const ForwardTape::Impl& checked_tape(const Model& model, const ForwardTape& tape, std::size_t given,
                                      const std::vector<std::vector<FlowMask>>& masks, const char* pass) {
  const auto& tp = tape.impl();
  if (static_cast<std::int64_t>(given) != tp.batch.size())
    fail(ErrorKind::input, "{} {} for a batch of {}", given,
         std::string_view(pass) == "backward" ? "output gradients" : "tangents", tp.batch.size());
  if (tp.replaced_nodes) fail(ErrorKind::input, "a tape recorded with node replacements serves no {} pass", pass);
  check_masks(masks, tp.batch, model.config());
  return tp;
}

std::vector<Trace*> trace_pointers(std::vector<Trace>& traces) {
  std::vector<Trace*> out;
  for (auto& t : traces) out.push_back(&t);
  return out;
}

std::vector<ForwardResult> forward_with_tape(const Model& model, std::span<const ModelInput> inputs,
                                             const RunOptions& run, const TapeOptions& options, ForwardTape& tape) {
  return Encoder::run(model, inputs, run, &options, &tape.impl());
}

namespace {

// `consumed`: the tape's own Impl, whose layers are freed as the reverse pass leaves them.
BackwardResult backward_pass(const Model& model, const ForwardTape& tape, std::span<const OutputGrad> seeds,
                             const GradRequest& req, ForwardTape::Impl* consumed) {
  const auto& c = model.config();
  const auto& p = model.params();
  const auto& tp = checked_tape(model, tape, seeds.size(), req.flow_masks, "backward");
  const auto& batch = tp.batch;
  const std::int64_t count = batch.size(), n = batch.rows();
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, layers = c.num_hidden_layers;
  BackwardResult out;
  out.site_grads.assign(static_cast<std::size_t>(count), Trace(layers));
  // The request's hooks see each gradient as it arrives; then the taped forward's
  // differentiable hooks, last first, carry it back through themselves.
  FlowMasks flow(req.flow_masks, Pass::backward, heads, c.head_dim());
  const bool mask_grads = req.head_mask || req.head_mask_per_input;
  HeadMask head_mask(tp.head_mask, heads, Pass::backward);
  if (mask_grads) head_mask.compute_gradients(tp.head_mask_kept, count);
  SiteHooks hooks = req.hooks;
  if (!req.flow_masks.empty()) hooks.push_back(&flow);
  hooks.push_back(&head_mask);
  hooks.insert(hooks.end(), tp.differentiable.rbegin(), tp.differentiable.rend());
  layers::SiteRecorder rec(req.sites, trace_pointers(out.site_grads), batch, Pass::backward, hooks);
  layers::ParamGrads grads(req.params);
  if (req.head_mask) out.head_mask_grad = Tensor({layers, heads});
  if (req.head_mask_per_input) out.head_mask_grads.assign(static_cast<std::size_t>(count), Tensor({layers, heads}));

  // Seeds at the outputs and the heads' reverse passes into h_L.
  FloatBuffer dx = zeros(n * hidden);
  bool any_mlm = false, any_cls = false;
  for (std::int64_t b = 0; b < count; ++b) {
    const auto& s = seeds[static_cast<std::size_t>(b)];
    any_mlm = any_mlm || !s.mlm_logits.data.empty();
    any_cls = any_cls || !s.classifier_logits.data.empty();
    if (s.last_hidden.data.empty()) continue;
    if (s.last_hidden.shape != core::Shape{batch.length(b), hidden}) fail(ErrorKind::input, "seed {}: last_hidden shape", b);
    for (std::int64_t i = 0; i < batch.length(b) * hidden; ++i)
      dx[static_cast<std::size_t>(batch.row(b) * hidden + i)] += s.last_hidden.data[static_cast<std::size_t>(i)];
  }
  if (any_mlm) {
    if (!tp.mlm) fail(ErrorKind::input, "MLM logit gradients given but the forward pass did not run the MLM head");
    const auto& mt = tp.mlm_tape;
    const auto rows = static_cast<std::int64_t>(mt.rows.size());
    FloatBuffer dlogits = zeros(rows * c.vocab_size);
    for (std::int64_t b = 0; b < count; ++b) {
      const auto& g = seeds[static_cast<std::size_t>(b)].mlm_logits;
      if (g.data.empty()) continue;
      if (g.shape != core::Shape{mt.offsets[b + 1] - mt.offsets[b], c.vocab_size})
        fail(ErrorKind::input, "seed {}: mlm_logits has shape {}", b, core::shape_string(g.shape));
      std::memcpy(dlogits.data() + mt.offsets[b] * c.vocab_size, g.ptr(), g.data.size() * sizeof(float));
    }
    FloatBuffer din(static_cast<std::size_t>(rows * hidden));
    layers::mlm_head_vjp(Encoder::linear_context(model, tp.bf16), p, Encoder::mlm_shape(c), mt, dlogits.data(),
                         din.data(), grads);
    for (std::int64_t r = 0; r < rows; ++r) {
      float* dst = dx.data() + mt.rows[static_cast<std::size_t>(r)] * hidden;
      for (std::int64_t j = 0; j < hidden; ++j) dst[j] += din[static_cast<std::size_t>(r * hidden + j)];
    }
  }
  if (any_cls) {
    if (!tp.classifier) fail(ErrorKind::input, "classifier gradients given but the forward pass did not run the classifier");
    const auto labels = c.classifier_outputs();
    const bool token_cls = c.per_token_head();
    const bool rtd = c.head_kind() == HeadKind::replaced_token_detection;
    const auto m = token_cls ? n : count;
    FloatBuffer dl = zeros(m * labels);
    for (std::int64_t b = 0; b < count; ++b) {
      const auto& g = seeds[static_cast<std::size_t>(b)].classifier_logits;
      if (g.data.empty()) continue;
      const core::Shape expected = rtd ? core::Shape{batch.length(b)}
                                   : token_cls ? core::Shape{batch.length(b), labels} : core::Shape{labels};
      if (g.shape != expected)
        fail(ErrorKind::input, "seed {}: classifier_logits has shape {}, expected {}", b, core::shape_string(g.shape),
             core::shape_string(expected));
      std::memcpy(dl.data() + (token_cls ? batch.row(b) : b) * labels, g.ptr(), g.data.size() * sizeof(float));
    }
    // The classifier's input as the forward saw it (after dropout).
    const auto& drop = token_cls ? tp.token_drop : tp.pooled_drop;
    FloatBuffer in = token_cls ? tp.out : tp.pooled;
    if (rtd) {  // the discriminator's classifier reads hidden_act(dense(h_L))
      in = tp.rtd_pre;
      core::activate(c.activation(), in.data(), n * hidden);
    }
    layers::apply_dropout(in.data(), drop);
    FloatBuffer din(static_cast<std::size_t>(m * hidden));
    layers::classifier_vjp(p, hidden, labels, in.data(), m, dl.data(), din.data(), grads);
    layers::apply_dropout(din.data(), drop);
    if (rtd)
      layers::rtd_dense_vjp(p, hidden, c.activation(), tp.out.data(), tp.rtd_pre.data(), n, din.data(), dx.data(), grads);
    else if (token_cls)
      for (std::int64_t i = 0; i < n * hidden; ++i) dx[static_cast<std::size_t>(i)] += din[static_cast<std::size_t>(i)];
    else
      layers::pooler_vjp(p, Encoder::pooler_shape(c), batch, tp.out.data(), din.data(), dx.data(), grads);
  }

  auto buf = pass_buffers(c, batch);
  const auto lc = Encoder::linear_context(model, tp.bf16);
  for (std::int64_t l = layers - 1; l >= 0; --l) {
    // dx holds dL/d h_{l+1} = layer.{l}.out.
    rec.rows(Site::layer_out, l, dx.data(), hidden);
    if (l == layers - 1 && p.final_norm_g.present()) {  // back through the final norm
      FloatBuffer before(static_cast<std::size_t>(n * hidden));
      layers::norm_vjp(dx.data(), tp.final_norm, p.final_norm_g.data, n, hidden, before.data(), grads(p.final_norm_g),
                       grads(p.final_norm_b));
      dx = std::move(before);
      rec.rows(Site::final_norm_in, 0, dx.data(), hidden);
    }
    const auto& lt = tp.layers[static_cast<std::size_t>(l)];
    if (lt.skipped) continue;
    layers::block_vjp(lc, p.layers[static_cast<std::size_t>(l)], l, batch, Encoder::block_shape(c, l), lt, dx.data(),
                      buf, rec, grads);
    if (consumed) {  // nothing below reads this layer's tape but the shared relative positions
      auto& own = consumed->layers[static_cast<std::size_t>(l)];
      auto relative = std::move(own.attention.relative);
      own = layers::BlockTape{};
      own.attention.relative = std::move(relative);
    }
  }
  // DeBERTa: every layer's positional projections added into the gradient of the shared,
  // normalised relative embeddings; through their LayerNorm to the table.
  for (const auto& lt : tp.layers) {
    const auto& rp = lt.attention.relative;
    if (!rp || !grads.enabled()) continue;
    auto& buffers = grads.buffers();
    if (auto it = buffers.find(rp->embeddings.data()); it != buffers.end()) {
      const auto d_embeddings = std::move(it->second);
      buffers.erase(it);
      layers::relative_embeddings_vjp(p, *rp, hidden, d_embeddings.data(), grads(p.rel_emb),
                                      p.rel_norm_g.present() ? grads(p.rel_norm_g) : nullptr,
                                      p.rel_norm_b.present() ? grads(p.rel_norm_b) : nullptr);
    }
    break;  // one table for all layers
  }
  for (std::int64_t b = 0; b < count && mask_grads; ++b) {
    const auto& g = head_mask.gradients()[static_cast<std::size_t>(b)];
    for (std::size_t at = 0; at < g.size(); ++at) {
      if (req.head_mask) out.head_mask_grad.data[at] += static_cast<float>(g[at]);
      if (req.head_mask_per_input) out.head_mask_grads[static_cast<std::size_t>(b)].data[at] = static_cast<float>(g[at]);
    }
  }
  // dx = dL/d h_0 = embed.out.
  rec.rows(Site::embed_out, 0, dx.data(), hidden);
  const auto width = c.embedding_dim();
  if (p.has_embedding_mapping()) {  // ALBERT: back through the mapping to embedding_dim
    FloatBuffer dnarrow(static_cast<std::size_t>(n * width));
    layers::linear_vjp(lc, dx.data(), n, hidden, p.mapping_w, width, tp.mapping_in.data(), dnarrow.data(), false,
                       grads(p.mapping_w), grads(p.mapping_b));
    dx = std::move(dnarrow);
  }
  rec.rows(Site::embed_norm, 0, dx.data(), width);  // dL/d(embeddings before the mapping)
  layers::apply_dropout(dx.data(), tp.embed_drop);
  FloatBuffer dsum(static_cast<std::size_t>(n * width));
  layers::embeddings_vjp(p, tp.embedding_inputs(), batch, width, dx.data(), tp.embed, dsum.data(), grads(p.word_emb),
                         p.pos_emb.present() ? grads(p.pos_emb) : nullptr, p.type_emb.present() ? grads(p.type_emb) : nullptr,
                         grads(p.emb_norm_g), grads(p.emb_norm_b));
  if (req.word_embeddings)
    for (std::int64_t b = 0; b < count; ++b) out.word_embedding_grads.push_back(batch.rows_of(b, dsum.data(), width));
  if (req.params) {
    auto& pg = grads.buffers();
    // A fused Wqkv was read through three views, each with a gradient of its own (the query's
    // keyed at the fused tensor's start): gathered back into one [3 hidden, ...] gradient.
    for (const auto& lp : p.layers) {
      for (auto [fused, parts] : {std::pair{&lp.qkv_w, std::array{&lp.query_w, &lp.key_w, &lp.value_w}},
                                  {&lp.qkv_b, std::array{&lp.query_b, &lp.key_b, &lp.value_b}}}) {
        if (!fused->present()) continue;
        FloatBuffer whole(static_cast<std::size_t>(fused->size()), 0.0f);
        bool any = false;
        for (std::size_t k = 0; k < 3; ++k) {
          auto it = pg.find(parts[k]->data);
          if (it == pg.end()) continue;
          std::copy(it->second.begin(), it->second.end(), whole.begin() + static_cast<std::ptrdiff_t>(k * it->second.size()));
          pg.erase(it);
          any = true;
        }
        if (any) pg[fused->data] = std::move(whole);
      }
    }
    EncoderParams named = p;  // to find each storage's canonical name
    for (const auto& spec : param_table(c)) {
      const Param& w = spec.slot(named);
      if (!w.present()) continue;
      auto it = pg.find(w.data);
      if (it == pg.end()) continue;
      if (spec.optional_in_group && w.data == p.word_emb.data) continue;  // tied decoder: already in the embeddings
      // Handed over, not copied: a copy would write every gradient's bytes into fresh pages
      // (bert-base: 440 MB a step, a tenth of a backward pass in page faults on a VM).
      if (static_cast<std::int64_t>(it->second.size()) != core::numel(spec.shape))
        fail(ErrorKind::internal, "gradient of {} has {} values, the parameter {}", spec.name, it->second.size(),
             core::shape_string(spec.shape));
      Tensor g;
      g.shape = spec.shape;
      g.data = std::move(it->second);
      out.param_grads.emplace(spec.name, std::move(g));
      pg.erase(it);
    }
  }
  return out;
}

}  // namespace

BackwardResult backward(const Model& model, const ForwardTape& tape, std::span<const OutputGrad> seeds,
                        const GradRequest& req) {
  return backward_pass(model, tape, seeds, req, nullptr);
}

BackwardResult backward(const Model& model, ForwardTape&& tape, std::span<const OutputGrad> seeds,
                        const GradRequest& req) {
  ForwardTape consumed = std::move(tape);
  return backward_pass(model, consumed, seeds, req, &consumed.impl());
}

TangentResult jvp(const Model& model, const ForwardTape& tape, std::span<const Tensor> tangents, const SiteSet& sites,
                  const std::vector<std::vector<FlowMask>>& masks, const SiteHooks& extra_hooks) {
  const auto& c = model.config();
  const auto& p = model.params();
  const auto& tp = checked_tape(model, tape, tangents.size(), masks, "JVP");
  if (tp.bf16) fail(ErrorKind::input, "forward-mode derivatives need a tape recorded in float32");
  const auto& batch = tp.batch;
  const std::int64_t count = batch.size(), n = batch.rows();
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, layers = c.num_hidden_layers;
  TangentResult out;
  out.site_tangents.assign(static_cast<std::size_t>(count), Trace(layers));
  // The taped forward's differentiable hooks carry each tangent through themselves first.
  FlowMasks flow(masks, Pass::tangent, heads, c.head_dim());
  HeadMask head_mask(tp.head_mask, heads, Pass::tangent, nullptr);
  SiteHooks hooks = tp.differentiable;
  hooks.push_back(&head_mask);
  hooks.insert(hooks.end(), extra_hooks.begin(), extra_hooks.end());
  if (!masks.empty()) hooks.push_back(&flow);
  layers::SiteRecorder rec(sites, trace_pointers(out.site_tangents), batch, Pass::tangent, hooks);

  // Tangents of the word embeddings, as wide as the embedding tables (ALBERT: embedding_dim).
  const auto width = c.embedding_dim();
  FloatBuffer tx(static_cast<std::size_t>(n * width));
  for (std::int64_t b = 0; b < count; ++b) {
    const auto& t = tangents[static_cast<std::size_t>(b)];
    if (t.shape != core::Shape{batch.length(b), width})
      fail(ErrorKind::input, "tangent {} has shape {}, expected [{}, {}]", b, core::shape_string(t.shape), batch.length(b),
           width);
    std::memcpy(tx.data() + batch.row(b) * width, t.ptr(), t.data.size() * sizeof(float));
  }
  layers::embeddings_jvp(p, n, width, tp.embed, tx.data());
  layers::apply_dropout(tx.data(), tp.embed_drop);
  rec.rows(Site::embed_norm, 0, tx.data(), width);
  if (p.has_embedding_mapping()) {
    FloatBuffer wide(static_cast<std::size_t>(n * hidden));
    layers::linear_jvp(tx.data(), n, width, p.mapping_w, hidden, wide.data());
    tx = std::move(wide);
  }
  rec.rows(Site::embed_out, 0, tx.data(), hidden);

  auto buf = pass_buffers(c, batch);
  for (std::int64_t l = 0; l < layers; ++l) {
    const auto& lt = tp.layers[static_cast<std::size_t>(l)];
    if (!lt.skipped)
      layers::block_jvp(p.layers[static_cast<std::size_t>(l)], l, batch, Encoder::block_shape(c, l), lt, tx.data(), buf,
                        rec);
    if (l == layers - 1 && p.final_norm_g.present()) {
      rec.rows(Site::final_norm_in, 0, tx.data(), hidden);
      FloatBuffer after(static_cast<std::size_t>(n * hidden));
      layers::norm_jvp(tx.data(), tp.final_norm, p.final_norm_g.data, n, hidden, after.data());
      tx = std::move(after);
    }
    rec.rows(Site::layer_out, l, tx.data(), hidden);
  }
  for (std::int64_t b = 0; b < count; ++b) out.last_hidden.push_back(batch.rows_of(b, tx.data(), hidden));
  if (tp.mlm) {
    const auto& mt = tp.mlm_tape;
    const auto rows = static_cast<std::int64_t>(mt.rows.size());
    FloatBuffer tin(static_cast<std::size_t>(rows * hidden));
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(tin.data() + r * hidden, tx.data() + mt.rows[static_cast<std::size_t>(r)] * hidden,
                  static_cast<std::size_t>(hidden) * sizeof(float));
    layers::mlm_head_jvp(p, Encoder::mlm_shape(c), mt, tin.data(), out.mlm_logits);
  }
  if (tp.classifier) {
    const auto labels = c.classifier_outputs();
    const bool token_cls = c.per_token_head();
    const bool rtd = c.head_kind() == HeadKind::replaced_token_detection;
    if (rtd) {
      FloatBuffer tdense(static_cast<std::size_t>(n * hidden));
      layers::rtd_dense_jvp(p, hidden, c.activation(), tp.rtd_pre.data(), n, tx.data(), tdense.data());
      tx = std::move(tdense);
    }
    if (token_cls) layers::apply_dropout(tx.data(), tp.token_drop);
    FloatBuffer tpooled;
    if (!token_cls) {
      tpooled = FloatBuffer(static_cast<std::size_t>(count * hidden));
      layers::pooler_jvp(p, Encoder::pooler_shape(c), batch, tp.out.data(), tx.data(), tpooled.data());
      layers::apply_dropout(tpooled.data(), tp.pooled_drop);
    }
    for (std::int64_t b = 0; b < count; ++b) {
      const auto rows = token_cls ? batch.length(b) : 1;
      Tensor lg = rtd ? Tensor::uninitialized({rows})
                      : token_cls ? Tensor::uninitialized({rows, labels}) : Tensor::uninitialized({labels});
      if (token_cls)
        layers::classifier_jvp(p, hidden, labels, tx.data() + batch.row(b) * hidden, rows, lg.ptr());
      else
        layers::classifier_jvp(p, hidden, labels, tpooled.data() + b * hidden, 1, lg.ptr());
      out.classifier_logits.push_back(std::move(lg));
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
  for (auto label : labels) {
    if (label >= v) fail(ErrorKind::input, "MLM label {} outside the vocabulary", label);
    counted += label >= 0;
  }
  if (counted == 0) return r;
  const double w = scale / static_cast<double>(counted);
  // Rows in parallel through the vectorised softmax: the gradient is w * (softmax - onehot). The
  // loss is -log p[label] from the float probability, or from log-sum-exp in double where that
  // probability underflows.
  std::vector<double> losses(static_cast<std::size_t>(t), 0.0);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < t; ++i) {
    const auto label = labels[static_cast<std::size_t>(i)];
    if (label < 0) continue;
    const float* row = logits.ptr() + i * v;
    float* g = r.grad.ptr() + i * v;
    std::copy_n(row, v, g);
    core::softmax_rows(g, 1, v);
    const float p = g[label];
    if (p > 1e-30f) {
      losses[static_cast<std::size_t>(i)] = -std::log(static_cast<double>(p));
    } else {
      const float max = *std::max_element(row, row + v);
      double sum = 0;
      for (std::int64_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
      losses[static_cast<std::size_t>(i)] = max + std::log(sum) - row[label];
    }
    const auto wf = static_cast<float>(w);
    for (std::int64_t j = 0; j < v; ++j) g[j] *= wf;
    g[label] -= wf;
  }
  for (auto l : losses) r.loss += l / static_cast<double>(counted);
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
