#include "model/encoder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <utility>

#include "io/error.hpp"
#include "model/interventions.hpp"

namespace bertscope::model {

using core::FloatBuffer;
using core::Tensor;

std::unique_ptr<EncoderWorkspace> Model::Caches::take() {
  std::lock_guard<std::mutex> lock(mutex);
  if (free.empty()) return std::make_unique<EncoderWorkspace>();
  auto ws = std::move(free.back());
  free.pop_back();
  return ws;
}

void Model::Caches::give_back(std::unique_ptr<EncoderWorkspace> ws) {
  std::lock_guard<std::mutex> lock(mutex);
  free.push_back(std::move(ws));
}

std::vector<layers::EmbeddingInput> ForwardTape::Impl::embedding_inputs() const {
  std::vector<layers::EmbeddingInput> out(ids.size());
  for (std::size_t b = 0; b < ids.size(); ++b)
    out[b] = {ids[b], types[b], positions[b], nullptr, own_word_embeddings[b]};
  return out;
}

layers::BlockShape Encoder::block_shape(const ModelConfig& c, std::int64_t layer) {
  const auto d = c.head_dim();
  // DeBERTa divides by sqrt(head_dim * (1 + |pos_att_type|)), the root taken in float32.
  const auto factor = c.relative.scale_factor;
  const float scale = factor > 1 ? 1.0f / std::sqrt(static_cast<float>(d) * static_cast<float>(factor))
                                 : static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  return {{c.hidden_size, c.num_attention_heads, d, scale, c.rope_theta(layer), c.window_half(layer)},
          {c.hidden_size, c.intermediate_size, c.activation(), c.gated_ffn},
          static_cast<float>(c.layer_norm_eps),
          c.norm_placement == NormPlacement::pre};
}

layers::PoolerShape Encoder::pooler_shape(const ModelConfig& c) {
  return {c.hidden_size, c.pooler_activation, c.pooling, c.pooler_norm, static_cast<float>(c.layer_norm_eps)};
}

layers::LinearContext Encoder::linear_context(const Model& model, bool bf16, core::OpProfile* profile, bool packed) {
  auto& caches = *model.caches_;
  // Every weight that goes through layers::linear_forward.
  auto for_each_weight = [&](const auto& fn) {
    for (const auto& lp : model.params().layers)
      for (const Param* w : {&lp.query_w, &lp.key_w, &lp.value_w, &lp.attn_out_w, &lp.ffn_in_w, &lp.ffn_out_w}) fn(*w);
    if (model.params().has_embedding_mapping()) fn(model.params().mapping_w);
    if (model.params().has_mlm_head()) {
      fn(model.params().mlm_dense_w);
      fn(model.params().mlm_decoder_w);  // the word embeddings when tied
    }
  };
  const bool pack = packed && model.prepack_ && model.weights_version_ == 0;
  std::lock_guard<std::mutex> lock(caches.derived_mutex);
  if (bf16 && caches.bf16_version != model.weights_version_) {
    caches.packed_bf16.clear();  // they point into the copies made again here
    for_each_weight([&](const Param& w) {
      auto& out = caches.bf16_weights[w.data];
      out.resize(static_cast<std::size_t>(w.size()));
      core::to_bf16(w.data, w.size(), out.data());
    });
    caches.bf16_version = model.weights_version_;
  }
  if (pack && caches.packed.empty())
    for_each_weight([&](const Param& w) {
      if (!caches.packed.count(w.data))
        caches.packed.emplace(w.data, std::make_unique<core::PackedWeight>(w.data, w.shape[0], w.shape[1],
                                                                           model.weights().mapped(w.data)));
    });
  if (pack && bf16 && caches.packed_bf16.empty())
    for_each_weight([&](const Param& w) {
      if (!caches.packed_bf16.count(w.data))
        caches.packed_bf16.emplace(
            w.data, std::make_unique<core::PackedWeight>(caches.bf16_weights.at(w.data).data(), w.shape[0], w.shape[1]));
    });
  layers::LinearContext lc{bf16, &caches.bf16_weights, profile};
  if (pack) {
    lc.packed = &caches.packed;
    if (bf16) lc.packed_bf16 = &caches.packed_bf16;
  }
  return lc;
}

layers::MlmHeadShape Encoder::mlm_shape(const ModelConfig& c) {
  return {c.hidden_size, c.vocab_size, c.mlm_activation(), static_cast<float>(c.layer_norm_eps), c.embedding_dim()};
}

namespace {

// Validates the batch against the config and packs it.
layers::Batch check_inputs(std::span<const ModelInput> inputs, const ModelConfig& c, const RunOptions& opt) {
  layers::Batch batch(c.num_attention_heads);
  for (std::size_t b = 0; b < inputs.size(); ++b) {
    const auto& in = inputs[b];
    const auto t = static_cast<std::int64_t>(in.ids.size());
    if (t == 0) fail(ErrorKind::input, "input {} is empty", b);
    if (t > c.max_tokens())
      fail(ErrorKind::input, "input {} has {} tokens; the model allows at most {} (max_position_embeddings)", b, t,
           c.max_tokens());
    if (!in.type_ids.empty() && in.type_ids.size() != in.ids.size())
      fail(ErrorKind::input, "input {}: {} type ids for {} tokens", b, in.type_ids.size(), in.ids.size());
    for (auto id : in.ids)
      if (id < 0 || id >= c.vocab_size)
        fail(ErrorKind::input, "input {}: token id {} is outside the vocabulary (0..{})", b, id, c.vocab_size - 1);
    for (auto id : in.type_ids)
      if (c.has_token_types() && (id < 0 || id >= c.type_vocab_size))
        fail(ErrorKind::input, "input {}: token type id {} is outside 0..{}", b, id, c.type_vocab_size - 1);
    if (!in.attention_mask.empty()) {
      if (in.attention_mask.size() != in.ids.size())
        fail(ErrorKind::input, "input {}: attention mask of {} entries for {} tokens", b, in.attention_mask.size(), t);
      if (std::all_of(in.attention_mask.begin(), in.attention_mask.end(), [](std::uint8_t m) { return m == 0; }))
        fail(ErrorKind::input, "input {}: the attention mask has no real token", b);
    }
    if (!in.word_embeddings.data.empty() && in.word_embeddings.shape != core::Shape{t, c.embedding_dim()})
      fail(ErrorKind::input, "input {}: word embeddings have shape {}, expected [{}, {}]", b,
           core::shape_string(in.word_embeddings.shape), t, c.embedding_dim());
    if (!in.start_hidden.data.empty() && in.start_hidden.shape != core::Shape{t, c.hidden_size})
      fail(ErrorKind::input, "input {}: start hidden states have shape {}, expected [{}, {}]", b,
           core::shape_string(in.start_hidden.shape), t, c.hidden_size);
    if (opt.start_layer > 0 && in.start_hidden.data.empty())
      fail(ErrorKind::input, "input {}: starting at layer {} needs the hidden states entering it", b, opt.start_layer);
    for (const auto& o : in.attention_overrides) {
      if (o.layer < 0 || o.layer >= c.num_hidden_layers || o.head < 0 || o.head >= c.num_attention_heads)
        fail(ErrorKind::input, "input {}: attention override for head ({}, {}) outside the model", b, o.layer, o.head);
      if (o.probs.shape != core::Shape{t, t})
        fail(ErrorKind::input, "input {}: attention override for head ({}, {}) has shape {}, expected [{}, {}]", b,
             o.layer, o.head, core::shape_string(o.probs.shape), t, t);
    }
    batch.add(t);
  }
  if (!opt.head_mask.data.empty() && opt.head_mask.shape != core::Shape{c.num_hidden_layers, c.num_attention_heads})
    fail(ErrorKind::input, "head mask has shape {}, expected [{}, {}]", core::shape_string(opt.head_mask.shape),
         c.num_hidden_layers, c.num_attention_heads);
  for (const auto& [l, h] : opt.uniform_heads)
    if (l < 0 || l >= c.num_hidden_layers || h < 0 || h >= c.num_attention_heads)
      fail(ErrorKind::input, "uniform-attention head ({}, {}) is outside the model", l, h);
  for (auto l : opt.skip_layers)
    if (l < 0 || l >= c.num_hidden_layers) fail(ErrorKind::input, "skipped layer {} is outside the model", l);
  if (opt.start_layer < 0 || opt.start_layer > c.num_hidden_layers)
    fail(ErrorKind::input, "start layer {} is outside 0..{}", opt.start_layer, c.num_hidden_layers);
  if (opt.precision == Precision::bf16 && !core::bf16_supported())
    fail(ErrorKind::input, "bf16 precision needs the oneDNN backend; this build uses CBLAS");
  return batch;
}

void check_replacements(const std::vector<std::vector<NodeReplacement>>& reps, const layers::Batch& batch,
                        const ModelConfig& c) {
  if (static_cast<std::int64_t>(reps.size()) > batch.size())
    fail(ErrorKind::input, "node replacements for {} inputs, the batch has {}", reps.size(), batch.size());
  for (std::size_t b = 0; b < reps.size(); ++b) {
    const auto t = batch.length(static_cast<std::int64_t>(b));
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

}  // namespace

std::vector<ForwardResult> Encoder::run(const Model& model, std::span<const ModelInput> inputs, const RunOptions& opt,
                                        const TapeOptions* taped, ForwardTape::Impl* tape) {
  const auto& c = model.config();
  const auto& p = model.params();
  const auto& dir = model.dir();
  if (tape) {
    if (opt.start_layer != 0) fail(ErrorKind::input, "a tape-recording forward starts at layer 0");
    for (std::size_t b = 0; b < inputs.size(); ++b)
      if (!inputs[b].attention_mask.empty() || !inputs[b].start_hidden.data.empty())
        fail(ErrorKind::input, "input {}: gradients need unpadded inputs run from the embeddings", b);
  }
  const auto batch = check_inputs(inputs, c, opt);
  const bool token_cls = c.per_token_head();
  const bool rtd = c.head_kind() == HeadKind::replaced_token_detection;
  const bool want_mlm = tape ? taped->mlm_logits : opt.mlm_logits;
  const bool want_cls = tape ? taped->classifier_logits : opt.classifier_logits;
  if (want_mlm && !p.has_mlm_head())
    fail(ErrorKind::model, "{}: the checkpoint has no MLM head ({})", dir.string(), group_name(c, ParamGroup::mlm_head));
  if ((opt.pooled || (want_cls && !token_cls)) && !p.has_pooler())
    fail(ErrorKind::model, "{}: the checkpoint has no pooler ({})", dir.string(), group_name(c, ParamGroup::pooler));
  if (want_cls && !p.has_classifier())
    fail(ErrorKind::model, "{}: the checkpoint has no classifier head ({})", dir.string(),
         group_name(c, ParamGroup::classifier));

  const std::int64_t count = batch.size(), n = batch.rows();
  const std::int64_t hidden = c.hidden_size, heads = c.num_attention_heads, layers = c.num_hidden_layers;
  auto* prof = opt.profile;
  const bool bf16 = opt.precision == Precision::bf16;
  auto& caches = *model.caches_;
  // Taped passes multiply the weights as stored: their reverse passes read them so, and two
  // resident copies would cost more memory than packing saves time there.
  const auto lc = linear_context(model, bf16, prof, tape == nullptr);

  layers::Dropout dropout;
  const std::vector<std::vector<NodeReplacement>> no_replacements;
  const auto& reps = tape ? taped->replacements : no_replacements;
  if (tape) {
    check_replacements(reps, batch, c);
    *tape = ForwardTape::Impl{};
    tape->batch = batch;
    tape->train = taped->train;
    tape->bf16 = bf16;
    tape->replaced_nodes = std::any_of(reps.begin(), reps.end(), [](const auto& r) { return !r.empty(); }) ||
                           std::any_of(opt.hooks.begin(), opt.hooks.end(), [](const SiteHook* h) { return h->replaces(); });
    if (taped->train)
      dropout = {c.raw.value("hidden_dropout_prob", 0.1), c.raw.value("attention_probs_dropout_prob", 0.1),
                 taped->dropout_seed, taped->dropout_before.rows, taped->dropout_before.probs,
                 taped->dropout_before.inputs};
    tape->head_mask.assign(static_cast<std::size_t>(layers * heads), 1.0f);
    if (!opt.head_mask.data.empty()) std::copy(opt.head_mask.data.begin(), opt.head_mask.data.end(), tape->head_mask.begin());
    for (auto* h : opt.hooks)
      if (h->differentiable()) tape->differentiable.push_back(h);
  }
  // The run's interventions are hooks: those that replace values before the caller's, then the
  // caller's, then the head mask (so the caller sees the probabilities before it) and skips.
  Replacements replacements(reps, Pass::forward, heads, c.head_dim());
  UniformHeads uniform(opt.uniform_heads, inputs);
  AttentionOverrides overrides(inputs);
  const std::span<const float> mask_values =
      tape ? std::span<const float>(tape->head_mask) : std::span<const float>(opt.head_mask.data);
  HeadMask head_mask(mask_values, heads, Pass::forward, tape ? &tape->head_mask_kept : nullptr);
  SkipLayers skip(opt.skip_layers);
  SiteHooks hooks;
  if (!opt.uniform_heads.empty()) hooks.push_back(&uniform);
  if (std::any_of(inputs.begin(), inputs.end(), [](const ModelInput& in) { return !in.attention_overrides.empty(); }))
    hooks.push_back(&overrides);
  if (!reps.empty()) hooks.push_back(&replacements);
  hooks.insert(hooks.end(), opt.hooks.begin(), opt.hooks.end());
  if (!mask_values.empty()) hooks.push_back(&head_mask);
  if (!opt.skip_layers.empty()) hooks.push_back(&skip);

  auto ws_owner = caches.take();
  auto& ws = *ws_owner;
  if (static_cast<std::int64_t>(ws.x.size()) < n * hidden) ws.x.resize(static_cast<std::size_t>(n * hidden));

  std::vector<ForwardResult> results(static_cast<std::size_t>(count));
  std::vector<Trace*> traces;
  for (auto& r : results) {
    r.trace = Trace(layers);
    if (opt.stack) r.trace.stack_complete_groups(opt.record);
    traces.push_back(&r.trace);
  }
  layers::SiteRecorder rec(opt.record, traces, batch, Pass::forward, hooks, prof, tape != nullptr);
  // A layer whose scores and probabilities nobody reads streams its attention (AttentionEdits::
  // streamed): the [heads, t, t] blocks are then held only where some layer needs them.
  const bool relative_scores = c.relative.enabled && (c.relative.c2p || c.relative.p2c);
  auto streamed = [&](std::int64_t l) {
    return !tape && !relative_scores && !rec.active(Site::attn_probs, l) && !rec.active(Site::attn_scores, l);
  };
  bool every_layer_streamed = true;
  for (std::int64_t l = opt.start_layer; l < layers; ++l) every_layer_streamed = every_layer_streamed && streamed(l);
  ws.block.reserve(n, hidden, block_shape(c, 0).ffn.in_width(), every_layer_streamed ? 0 : batch.probs_size(), bf16);

  float* x = ws.x.data();
  {
    core::ScopedOp op(prof, core::OpClass::embed);
    std::vector<std::vector<std::int32_t>> positions;
    std::vector<layers::EmbeddingInput> embedding_inputs;
    std::vector<bool> embed;
    for (std::int64_t b = 0; b < count; ++b) positions.push_back(c.position_ids(inputs[static_cast<std::size_t>(b)].ids));
    for (std::int64_t b = 0; b < count; ++b) {
      const auto& in = inputs[static_cast<std::size_t>(b)];
      const bool words = !in.word_embeddings.data.empty();
      embedding_inputs.push_back({in.ids, in.type_ids, positions[static_cast<std::size_t>(b)],
                                  words ? in.word_embeddings.ptr() : nullptr, words});
      // Given hidden states replace the embeddings (partial forward).
      embed.push_back(in.start_hidden.data.empty());
      if (!embed.back())
        std::memcpy(x + batch.row(b) * hidden, in.start_hidden.ptr(), in.start_hidden.data.size() * sizeof(float));
    }
    if (!p.has_embedding_mapping()) {
      layers::embeddings_forward(p, embedding_inputs, batch, hidden, static_cast<float>(c.layer_norm_eps), embed, x, tape ? &tape->embed : nullptr);
      // DeBERTa zeroes the embeddings of padding tokens.
      for (std::int64_t b = 0; b < count && c.mask_embeddings; ++b) {
        const auto& mask = inputs[static_cast<std::size_t>(b)].attention_mask;
        for (std::size_t i = 0; i < mask.size(); ++i)
          if (!mask[i] && embed[static_cast<std::size_t>(b)])
            std::fill_n(x + (batch.row(b) + static_cast<std::int64_t>(i)) * hidden, hidden, 0.0f);
      }
      if (tape) {
        tape->embed_drop = dropout.mask(n * hidden, dropout.hidden_p, 1, dropout.rows_before * hidden);
        layers::apply_dropout(x, tape->embed_drop);
      }
      if (opt.start_layer == 0) rec.rows(Site::embed_norm, 0, x, hidden);  // the same values as embed.out
    } else {
      // ALBERT, ELECTRA: LayerNorm and dropout in embedding_dim, then the mapping to hidden
      // (ELECTRA: embeddings_project after ElectraEmbeddings' dropout); embed.norm before it.
      const auto width = c.embedding_dim();
      FloatBuffer narrow(static_cast<std::size_t>(n * width));
      layers::embeddings_forward(p, embedding_inputs, batch, width, static_cast<float>(c.layer_norm_eps), embed, narrow.data(),
                                 tape ? &tape->embed : nullptr);
      if (tape) {
        tape->embed_drop = dropout.mask(n * width, dropout.hidden_p, 1, dropout.rows_before * width);
        layers::apply_dropout(narrow.data(), tape->embed_drop);
      }
      if (opt.start_layer == 0) rec.rows(Site::embed_norm, 0, narrow.data(), width);
      for (std::int64_t b = 0; b < count; ++b)
        if (embed[static_cast<std::size_t>(b)])
          layers::linear_forward(lc, narrow.data() + batch.row(b) * width, batch.length(b), width, p.mapping_w,
                                 p.mapping_b, hidden, x + batch.row(b) * hidden);
      if (tape) tape->mapping_in = std::move(narrow);
    }
    if (tape) {
      tape->positions = std::move(positions);
      for (const auto& in : inputs) {
        tape->ids.push_back(in.ids);
        tape->types.push_back(in.type_ids.empty() ? std::vector<std::int32_t>(in.ids.size(), 0) : in.type_ids);
        tape->own_word_embeddings.push_back(!in.word_embeddings.data.empty());
      }
      tape->layers.resize(static_cast<std::size_t>(layers));
    }
  }
  if (opt.start_layer == 0) rec.rows(Site::embed_out, 0, x, hidden);

  // DeBERTa's relative embeddings, normalised once and shared by every layer.
  std::shared_ptr<const layers::RelativePositions> relative;
  if (c.relative.enabled && (c.relative.c2p || c.relative.p2c)) {
    std::int64_t max_t = 1;
    for (std::int64_t b = 0; b < count; ++b) max_t = std::max(max_t, batch.length(b));
    relative = std::make_shared<const layers::RelativePositions>(layers::relative_positions(c, p, max_t));
  }
  ws.block.x16_is_input = false;
  for (std::int64_t l = opt.start_layer; l < layers; ++l) {
    auto* block_tape = tape ? &tape->layers[static_cast<std::size_t>(l)] : nullptr;
    // The bf16 copy of this block's output may be made by its last norm when the next block's
    // Q, K, V are the next to read the output (no hook at layer.out, the next block runs).
    ws.block.out16 = bf16 && !tape && l + 1 < layers && !rec.hooked(Site::layer_out, l) && !rec.bypassed(l + 1);
    if (rec.bypassed(l)) {
      // A skipped layer applies no attention: its recorded probabilities are all zero.
      for (std::int64_t b = 0; b < count && rec.wants(Site::attn_probs, l); ++b) rec.block(Site::attn_probs, l, b);
      if (block_tape) block_tape->skipped = true;
    } else {
      layers::AttentionEdits edits{inputs, nullptr, relative, c.mask_query_rows};
      edits.streamed = streamed(l);
      layers::block_forward(lc, p.layers[static_cast<std::size_t>(l)], l, batch, block_shape(c, l), x, ws.block, edits,
                            dropout, rec, block_tape);
    }
    // Pre-norm encoders: the final norm belongs to the last layer's output (transformers 5's
    // hidden_states[-1]); final_norm.in keeps the sum before it.
    if (l == layers - 1 && p.final_norm_g.present()) {
      rec.rows(Site::final_norm_in, 0, x, hidden);
      core::ScopedOp op(prof, core::OpClass::norm);
      layers::norm_forward(x, nullptr, n, hidden, p.final_norm_g.data, p.final_norm_b.data,
                           static_cast<float>(c.layer_norm_eps), x, tape ? &tape->final_norm : nullptr);
    }
    rec.rows(Site::layer_out, l, x, hidden);
  }

  core::ScopedOp head_op(prof, core::OpClass::head);
  for (std::int64_t b = 0; b < count; ++b) results[static_cast<std::size_t>(b)].last_hidden = batch.rows_of(b, x, hidden);
  if (tape) tape->out.assign(x, x + n * hidden);

  // Pooler and classifier.
  const bool need_pooled = opt.pooled || rec.wants(Site::pooler_out) || (want_cls && !token_cls);
  FloatBuffer pooled;
  if (need_pooled && p.has_pooler()) {
    pooled = FloatBuffer(static_cast<std::size_t>(count * hidden));
    layers::pooler_forward(p, pooler_shape(c), batch, x, pooled.data());
    for (std::int64_t b = 0; b < count; ++b) {
      auto& r = results[static_cast<std::size_t>(b)];
      r.pooled = Tensor({hidden});
      std::copy_n(pooled.data() + b * hidden, hidden, r.pooled.data.begin());
      if (rec.wants(Site::pooler_out)) r.trace.emplace(Site::pooler_out, 0, {hidden}).data = r.pooled.data;
    }
  }
  if (want_cls) {
    const auto labels = c.classifier_outputs();
    // Dropout on the classifier's input when training.
    FloatBuffer in = token_cls ? FloatBuffer(x, x + n * hidden) : pooled;
    if (rtd) {  // ElectraDiscriminatorPredictions: dense -> hidden_act on every token, no dropout
      FloatBuffer pre(static_cast<std::size_t>(n * hidden));
      layers::rtd_dense_forward(p, hidden, c.activation(), x, n, pre.data(), in.data());
      if (tape) tape->rtd_pre = std::move(pre);
    }
    if (tape) {
      tape->classifier = true;
      auto& drop = token_cls ? tape->token_drop : tape->pooled_drop;
      if (!rtd)
        drop = dropout.mask(static_cast<std::int64_t>(in.size()), dropout.hidden_p, token_cls ? 7 : 8,
                            (token_cls ? dropout.rows_before : dropout.inputs_before) * hidden);
      layers::apply_dropout(in.data(), drop);
      if (!token_cls) tape->pooled = pooled;
    }
    for (std::int64_t b = 0; b < count; ++b) {
      auto& logits = results[static_cast<std::size_t>(b)].classifier_logits;
      const auto rows = token_cls ? batch.length(b) : 1;
      // Replaced-token logits are [tok], as transformers squeezes them.
      logits = rtd ? Tensor::uninitialized({rows}) : token_cls ? Tensor::uninitialized({rows, labels}) : Tensor::uninitialized({labels});
      layers::classifier_forward(p, hidden, labels, in.data() + (token_cls ? batch.row(b) : b) * hidden, rows,
                                 logits.ptr());
    }
  }
  if (want_mlm) {
    std::vector<Tensor*> logits;
    for (auto& r : results) logits.push_back(&r.mlm_logits);
    if (!tape) {
      const auto shape_mlm = mlm_shape(c);
      FloatBuffer wide;  // the head's working rows when they are wider than the workspace's (ALBERT's E > H)
      float* work = ws.block.mid.data();
      if (shape_mlm.inner() > hidden && static_cast<std::int64_t>(ws.block.mid.size()) < n * shape_mlm.inner()) {
        wide = FloatBuffer(static_cast<std::size_t>(n * shape_mlm.inner()));
        work = wide.data();
      }
      layers::mlm_head_forward(lc, p, shape_mlm, x, batch.offsets, work, logits, nullptr);
    } else {
      auto& mt = tape->mlm_tape;
      tape->mlm = true;
      const auto& positions = taped->mlm_positions;
      if (!positions.empty() && static_cast<std::int64_t>(positions.size()) != count)
        fail(ErrorKind::input, "MLM positions for {} inputs, the batch has {}", positions.size(), count);
      mt.offsets = {0};
      for (std::int64_t b = 0; b < count; ++b) {
        const auto t = batch.length(b);
        if (positions.empty()) {
          for (std::int64_t i = 0; i < t; ++i) mt.rows.push_back(batch.row(b) + i);
        } else {
          for (auto pos : positions[static_cast<std::size_t>(b)]) {
            if (pos < 0 || pos >= t) fail(ErrorKind::input, "input {}: MLM position {} outside 0..{}", b, pos, t - 1);
            mt.rows.push_back(batch.row(b) + pos);
          }
        }
        mt.offsets.push_back(static_cast<std::int64_t>(mt.rows.size()));
      }
      const auto rows = static_cast<std::int64_t>(mt.rows.size());
      mt.in = FloatBuffer(static_cast<std::size_t>(rows * hidden));
      for (std::int64_t r = 0; r < rows; ++r)
        std::memcpy(mt.in.data() + r * hidden, x + mt.rows[static_cast<std::size_t>(r)] * hidden,
                    static_cast<std::size_t>(hidden) * sizeof(float));
      mt.t = FloatBuffer(static_cast<std::size_t>(rows * c.embedding_dim()));
      layers::mlm_head_forward(lc, p, mlm_shape(c), mt.in.data(), mt.offsets, mt.t.data(), logits, &mt);
    }
  }
  if (!opt.pooled && !tape)
    for (auto& r : results) r.pooled = Tensor();
  caches.give_back(std::move(ws_owner));
  return results;
}

}  // namespace bertscope::model
