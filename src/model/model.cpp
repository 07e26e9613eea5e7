#include "model/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <omp.h>

#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "io/error.hpp"

namespace bertscope::model {

using core::FloatBuffer;
using core::Tensor;

ModelInput ModelInput::from_encoding(const Encoding& encoding) {
  ModelInput in;
  in.ids = encoding.ids;
  in.type_ids = encoding.type_ids;
  return in;
}

Model::Model(BertConfig config, Weights weights, std::optional<Tokenizer> tokenizer, std::filesystem::path dir)
    : config_(std::move(config)), weights_(std::move(weights)), tokenizer_(std::move(tokenizer)), dir_(std::move(dir)) {}

Model Model::load(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor) {
  if (!std::filesystem::is_directory(dir)) fail(ErrorKind::io, "{}: no such model folder", dir.string());
  auto config = load_config(dir / "config.json");
  auto weights = Weights::load(dir, config);
  std::optional<Tokenizer> tokenizer;
  if (std::filesystem::exists(dir / "tokenizer.json") || std::filesystem::exists(dir / "vocab.txt")) {
    tokenizer = Tokenizer::from_folder(dir, flavor);
    if (static_cast<std::int64_t>(tokenizer->vocab_size()) > config.vocab_size)
      fail(ErrorKind::model, "{}: the tokenizer has {} tokens but config.json vocab_size is {}", dir.string(),
           tokenizer->vocab_size(), config.vocab_size);
  }
  return Model(std::move(config), std::move(weights), std::move(tokenizer), dir);
}

const Tokenizer& Model::tokenizer() const {
  if (!tokenizer_) fail(ErrorKind::model, "{}: the model folder has no vocab.txt or tokenizer.json", dir_.string());
  return *tokenizer_;
}

std::size_t Model::max_length() const {
  auto limit = static_cast<std::size_t>(config_.max_position_embeddings);
  if (tokenizer_ && tokenizer_->settings().model_max_length > 0)
    limit = std::min(limit, tokenizer_->settings().model_max_length);
  return limit;
}

Encoding Model::encode(std::string_view text, std::optional<std::string_view> pair, bool truncate) const {
  return tokenizer().encode(text, pair, EncodeOptions{max_length(), truncate});
}

namespace {

// Validates the batch against the config and returns each input's first row in the packed matrix.
std::vector<std::int64_t> check_inputs(std::span<const ModelInput> inputs, const BertConfig& c,
                                       const RunOptions& opt) {
  std::vector<std::int64_t> offsets{0};
  for (std::size_t b = 0; b < inputs.size(); ++b) {
    const auto& in = inputs[b];
    const auto t = static_cast<std::int64_t>(in.ids.size());
    if (t == 0) fail(ErrorKind::input, "input {} is empty", b);
    if (t > c.max_position_embeddings)
      fail(ErrorKind::input, "input {} has {} tokens; the model allows at most {} (max_position_embeddings)", b, t,
           c.max_position_embeddings);
    if (!in.type_ids.empty() && in.type_ids.size() != in.ids.size())
      fail(ErrorKind::input, "input {}: {} type ids for {} tokens", b, in.type_ids.size(), in.ids.size());
    for (auto id : in.ids)
      if (id < 0 || id >= c.vocab_size) fail(ErrorKind::input, "input {}: token id {} is outside the vocabulary (0..{})", b, id, c.vocab_size - 1);
    for (auto id : in.type_ids)
      if (id < 0 || id >= c.type_vocab_size)
        fail(ErrorKind::input, "input {}: token type id {} is outside 0..{}", b, id, c.type_vocab_size - 1);
    for (const auto& o : in.attention_overrides) {
      if (o.layer < 0 || o.layer >= c.num_hidden_layers || o.head < 0 || o.head >= c.num_attention_heads)
        fail(ErrorKind::input, "input {}: attention override for head ({}, {}) outside the model", b, o.layer, o.head);
      if (o.probs.shape != core::Shape{t, t})
        fail(ErrorKind::input, "input {}: attention override for head ({}, {}) has shape {}, expected [{}, {}]", b,
             o.layer, o.head, core::shape_string(o.probs.shape), t, t);
    }
    offsets.push_back(offsets.back() + t);
  }
  if (!opt.head_mask.data.empty() && opt.head_mask.shape != core::Shape{c.num_hidden_layers, c.num_attention_heads})
    fail(ErrorKind::input, "head mask has shape {}, expected [{}, {}]", core::shape_string(opt.head_mask.shape),
         c.num_hidden_layers, c.num_attention_heads);
  for (const auto& [l, h] : opt.uniform_heads)
    if (l < 0 || l >= c.num_hidden_layers || h < 0 || h >= c.num_attention_heads)
      fail(ErrorKind::input, "uniform-attention head ({}, {}) is outside the model", l, h);
  for (auto l : opt.skip_layers)
    if (l < 0 || l >= c.num_hidden_layers) fail(ErrorKind::input, "skipped layer {} is outside the model", l);
  return offsets;
}

// Copies rows [off, off+t) of a packed [N, width] matrix into a trace tensor [t, width].
void record_rows(Trace& trace, Site site, std::int64_t layer, const float* packed, std::int64_t off, std::int64_t t,
                 std::int64_t width) {
  auto& dst = trace.emplace(site, layer, {t, width});
  std::memcpy(dst.ptr(), packed + off * width, static_cast<std::size_t>(t * width) * sizeof(float));
}

// Copies rows [off, off+t) of a packed [N, heads*d] matrix into a trace tensor [heads, t, d].
void record_per_head(Trace& trace, Site site, std::int64_t layer, const float* packed, std::int64_t off,
                     std::int64_t t, std::int64_t heads, std::int64_t d) {
  auto& dst = trace.emplace(site, layer, {heads, t, d});
  const auto width = heads * d;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < t; ++i)
      std::memcpy(dst.ptr() + (h * t + i) * d, packed + (off + i) * width + h * d, static_cast<std::size_t>(d) * sizeof(float));
}

}  // namespace

std::vector<ForwardResult> Model::forward(std::span<const ModelInput> inputs, const RunOptions& opt) const {
  const auto& c = config_;
  const auto& p = weights_.params();
  const auto offsets = check_inputs(inputs, c, opt);
  if (opt.mlm_logits && !p.has_mlm_head())
    fail(ErrorKind::model, "{}: the checkpoint has no MLM head (cls.predictions.*)", dir_.string());
  if ((opt.pooled || (opt.classifier_logits && c.head_kind() != HeadKind::token_classification)) && !p.has_pooler())
    fail(ErrorKind::model, "{}: the checkpoint has no pooler (bert.pooler.dense.*)", dir_.string());
  if (opt.classifier_logits && !p.has_classifier())
    fail(ErrorKind::model, "{}: the checkpoint has no classifier head (classifier.*)", dir_.string());

  const std::int64_t batch = static_cast<std::int64_t>(inputs.size());
  const std::int64_t n = offsets.back();
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, d = c.head_dim();
  const std::int64_t inter = c.intermediate_size, layers = c.num_hidden_layers;
  const float eps = static_cast<float>(c.layer_norm_eps);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const auto act = c.activation();
  const auto& rec = opt.record;
  auto wants = [&](Site s, std::int64_t l = 0) { return rec.contains(s, l); };

  std::vector<ForwardResult> results(static_cast<std::size_t>(batch));
  for (auto& r : results) r.trace = Trace(layers);

  // Embeddings: (word + token type) + position, in transformers' order, then LayerNorm.
  FloatBuffer x(static_cast<std::size_t>(n * hidden));
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto& in = inputs[static_cast<std::size_t>(b)];
    for (std::int64_t i = 0; i < offsets[b + 1] - offsets[b]; ++i) {
      const float* we = p.word_emb.data + static_cast<std::int64_t>(in.ids[static_cast<std::size_t>(i)]) * hidden;
      const std::int64_t tt = in.type_ids.empty() ? 0 : in.type_ids[static_cast<std::size_t>(i)];
      const float* te = p.type_emb.data + tt * hidden;
      const float* pe = p.pos_emb.data + i * hidden;
      float* row = x.data() + (offsets[b] + i) * hidden;
      for (std::int64_t j = 0; j < hidden; ++j) row[j] = (we[j] + te[j]) + pe[j];
    }
  }
  core::layer_norm(x.data(), n, hidden, p.emb_norm_g.data, p.emb_norm_b.data, eps, x.data());
  if (wants(Site::embed_out))
    for (std::int64_t b = 0; b < batch; ++b)
      record_rows(results[b].trace, Site::embed_out, 0, x.data(), offsets[b], offsets[b + 1] - offsets[b], hidden);

  FloatBuffer q(static_cast<std::size_t>(n * hidden)), k(q.size()), v(q.size()), ctx(q.size()), attn(q.size()),
      mid(q.size()), ffn(static_cast<std::size_t>(n * inter)), out(q.size());
  std::int64_t max_t = 0;
  for (std::int64_t b = 0; b < batch; ++b) max_t = std::max(max_t, offsets[b + 1] - offsets[b]);
  std::vector<FloatBuffer> scratch(static_cast<std::size_t>(omp_get_max_threads()),
                                   FloatBuffer(static_cast<std::size_t>(max_t * max_t)));

  for (std::int64_t l = 0; l < layers; ++l) {
    if (opt.skip_layers.count(l)) {
      // A skipped layer applies no attention: its recorded probabilities are all zero.
      for (std::int64_t b = 0; b < batch && wants(Site::attn_probs, l); ++b) {
        const auto t = offsets[b + 1] - offsets[b];
        results[b].trace.emplace(Site::attn_probs, l, {heads, t, t});
      }
      if (wants(Site::layer_out, l))
        for (std::int64_t b = 0; b < batch; ++b)
          record_rows(results[b].trace, Site::layer_out, l, x.data(), offsets[b], offsets[b + 1] - offsets[b], hidden);
      continue;
    }
    const auto& lp = p.layers[static_cast<std::size_t>(l)];
    core::linear(x.data(), n, hidden, lp.query_w.data, lp.query_b.data, hidden, q.data());
    core::linear(x.data(), n, hidden, lp.key_w.data, lp.key_b.data, hidden, k.data());
    core::linear(x.data(), n, hidden, lp.value_w.data, lp.value_b.data, hidden, v.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto off = offsets[b], t = offsets[b + 1] - offsets[b];
      auto& tr = results[b].trace;
      if (wants(Site::attn_query, l)) record_per_head(tr, Site::attn_query, l, q.data(), off, t, heads, d);
      if (wants(Site::attn_key, l)) record_per_head(tr, Site::attn_key, l, k.data(), off, t, heads, d);
      if (wants(Site::attn_value, l)) record_per_head(tr, Site::attn_value, l, v.data(), off, t, heads, d);
      // Created here, before the parallel loop fills their slices.
      if (wants(Site::attn_scores, l)) tr.emplace(Site::attn_scores, l, {heads, t, t});
      if (wants(Site::attn_probs, l)) tr.emplace(Site::attn_probs, l, {heads, t, t});
    }

#pragma omp parallel for schedule(dynamic)
    for (std::int64_t job = 0; job < batch * heads; ++job) {
      const auto b = job / heads, h = job % heads;
      const auto off = offsets[b], t = offsets[b + 1] - offsets[b];
      auto& tr = results[static_cast<std::size_t>(b)].trace;
      Tensor* probs_rec = tr.find(Site::attn_probs, l);
      float* s = probs_rec ? probs_rec->ptr() + h * t * t : scratch[static_cast<std::size_t>(omp_get_thread_num())].data();
      core::gemm(false, true, t, t, d, scale, q.data() + off * hidden + h * d, hidden, k.data() + off * hidden + h * d,
                 hidden, 0.0f, s, t);
      if (Tensor* scores = tr.find(Site::attn_scores, l))
        std::memcpy(scores->ptr() + h * t * t, s, static_cast<std::size_t>(t * t) * sizeof(float));
      core::softmax_rows(s, t, t);
      const auto& in = inputs[static_cast<std::size_t>(b)];
      if (opt.uniform_heads.count({l, h})) std::fill(s, s + t * t, 1.0f / static_cast<float>(t));
      for (const auto& o : in.attention_overrides)
        if (o.layer == l && o.head == h) std::memcpy(s, o.probs.ptr(), static_cast<std::size_t>(t * t) * sizeof(float));
      if (!opt.head_mask.data.empty()) {
        const float m = opt.head_mask.data[static_cast<std::size_t>(l * heads + h)];
        if (m != 1.0f)
          for (std::int64_t i = 0; i < t * t; ++i) s[i] *= m;
      }
      core::gemm(false, false, t, d, t, 1.0f, s, t, v.data() + off * hidden + h * d, hidden, 0.0f,
                 ctx.data() + off * hidden + h * d, hidden);
    }

    core::linear(ctx.data(), n, hidden, lp.attn_out_w.data, lp.attn_out_b.data, hidden, attn.data());
    core::add_layer_norm(attn.data(), x.data(), n, hidden, lp.attn_norm_g.data, lp.attn_norm_b.data, eps, mid.data());
    core::linear(mid.data(), n, hidden, lp.ffn_in_w.data, lp.ffn_in_b.data, inter, ffn.data());
    core::activate(act, ffn.data(), n * inter);
    core::linear(ffn.data(), n, inter, lp.ffn_out_w.data, lp.ffn_out_b.data, hidden, out.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto off = offsets[b], t = offsets[b + 1] - offsets[b];
      auto& tr = results[b].trace;
      if (wants(Site::attn_context, l)) record_per_head(tr, Site::attn_context, l, ctx.data(), off, t, heads, d);
      if (wants(Site::attn_out, l)) record_rows(tr, Site::attn_out, l, attn.data(), off, t, hidden);
      if (wants(Site::resid_mid, l)) record_rows(tr, Site::resid_mid, l, mid.data(), off, t, hidden);
      if (wants(Site::ffn_act, l)) record_rows(tr, Site::ffn_act, l, ffn.data(), off, t, inter);
      if (wants(Site::ffn_out, l)) record_rows(tr, Site::ffn_out, l, out.data(), off, t, hidden);
    }
    core::add_layer_norm(out.data(), mid.data(), n, hidden, lp.out_norm_g.data, lp.out_norm_b.data, eps, x.data());
    if (wants(Site::layer_out, l))
      for (std::int64_t b = 0; b < batch; ++b)
        record_rows(results[b].trace, Site::layer_out, l, x.data(), offsets[b], offsets[b + 1] - offsets[b], hidden);
  }

  for (std::int64_t b = 0; b < batch; ++b) {
    auto& r = results[b];
    const auto t = offsets[b + 1] - offsets[b];
    r.last_hidden = Tensor({t, hidden});
    std::memcpy(r.last_hidden.ptr(), x.data() + offsets[b] * hidden, static_cast<std::size_t>(t * hidden) * sizeof(float));
  }

  const bool need_pooled = opt.pooled || wants(Site::pooler_out) ||
                           (opt.classifier_logits && c.head_kind() != HeadKind::token_classification);
  if (need_pooled && p.has_pooler()) {
    for (auto& r : results) {
      Tensor pooled({hidden});
      core::linear(r.last_hidden.ptr(), 1, hidden, p.pooler_w.data, p.pooler_b.data, hidden, pooled.ptr());
      core::tanh_inplace(pooled.ptr(), hidden);
      if (wants(Site::pooler_out)) r.trace.emplace(Site::pooler_out, 0, {hidden}).data = pooled.data;
      r.pooled = std::move(pooled);
    }
  }
  if (opt.classifier_logits) {
    const auto labels = c.num_labels;
    for (auto& r : results) {
      if (c.head_kind() == HeadKind::token_classification) {
        const auto t = r.last_hidden.dim(0);
        r.classifier_logits = Tensor({t, labels});
        core::linear(r.last_hidden.ptr(), t, hidden, p.classifier_w.data, p.classifier_b.data, labels,
                     r.classifier_logits.ptr());
      } else {
        r.classifier_logits = Tensor({labels});
        core::linear(r.pooled.ptr(), 1, hidden, p.classifier_w.data, p.classifier_b.data, labels,
                     r.classifier_logits.ptr());
      }
    }
  }
  if (opt.mlm_logits) {
    FloatBuffer tr(static_cast<std::size_t>(n * hidden));
    core::linear(x.data(), n, hidden, p.mlm_dense_w.data, p.mlm_dense_b.data, hidden, tr.data());
    core::activate(act, tr.data(), n * hidden);
    core::layer_norm(tr.data(), n, hidden, p.mlm_norm_g.data, p.mlm_norm_b.data, eps, tr.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = offsets[b + 1] - offsets[b];
      auto& logits = results[b].mlm_logits;
      logits = Tensor({t, c.vocab_size});
      core::linear(tr.data() + offsets[b] * hidden, t, hidden, p.mlm_decoder_w.data, p.mlm_decoder_b.data,
                   c.vocab_size, logits.ptr());
    }
  }
  if (!opt.pooled)
    for (auto& r : results) r.pooled = Tensor();
  return results;
}

}  // namespace bertscope::model
