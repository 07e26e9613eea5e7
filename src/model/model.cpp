#include "model/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "core/kernels.hpp"
#include "core/matmul.hpp"
#include "io/error.hpp"

namespace bertscope::model {

using core::FloatBuffer;
using core::OpClass;
using core::ScopedOp;
using core::Tensor;

// Activation buffers of one forward pass. Kept between calls (no allocation on the hot path
// once sizes settle); each concurrent forward takes its own.
struct Model::Workspace {
  FloatBuffer x, q, k, v, ctx, attn, mid, ffn, out, probs;
  std::vector<core::bf16> x16, ffn16;
  void reserve(std::int64_t n, std::int64_t hidden, std::int64_t inter, std::int64_t probs_size, bool bf16) {
    auto grow = [](FloatBuffer& b, std::int64_t size) {
      if (static_cast<std::int64_t>(b.size()) < size) b.resize(static_cast<std::size_t>(size));
    };
    for (auto* b : {&x, &q, &k, &v, &ctx, &attn, &mid, &out}) grow(*b, n * hidden);
    grow(ffn, n * inter);
    grow(probs, probs_size);
    if (bf16) {
      if (static_cast<std::int64_t>(x16.size()) < n * hidden) x16.resize(static_cast<std::size_t>(n * hidden));
      if (static_cast<std::int64_t>(ffn16.size()) < n * inter) ffn16.resize(static_cast<std::size_t>(n * inter));
    }
  }
};

struct Model::Caches {
  std::mutex mutex;
  std::vector<std::unique_ptr<Workspace>> free;
  std::once_flag bf16_once;
  std::map<const float*, std::vector<core::bf16>> bf16_weights;

  std::unique_ptr<Workspace> take() {
    std::lock_guard<std::mutex> lock(mutex);
    if (free.empty()) return std::make_unique<Workspace>();
    auto ws = std::move(free.back());
    free.pop_back();
    return ws;
  }
  void give_back(std::unique_ptr<Workspace> ws) {
    std::lock_guard<std::mutex> lock(mutex);
    free.push_back(std::move(ws));
  }
};

ModelInput ModelInput::from_encoding(const Encoding& encoding) {
  ModelInput in;
  in.ids = encoding.ids;
  in.type_ids = encoding.type_ids;
  return in;
}

Model::Model(BertConfig config, Weights weights, std::optional<Tokenizer> tokenizer, std::filesystem::path dir)
    : config_(std::move(config)), weights_(std::move(weights)), tokenizer_(std::move(tokenizer)), dir_(std::move(dir)),
      caches_(std::make_shared<Caches>()) {}

Model Model::load(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor) {
  if (!std::filesystem::is_directory(dir)) fail(ErrorKind::io, "{}: no such model folder", dir.string());
  auto config = load_config(dir / "config.json");
  auto weights = Weights::load(dir, config);
  std::optional<Tokenizer> tokenizer;
  if (Tokenizer::folder_has_tokenizer(dir)) {
    tokenizer = Tokenizer::from_folder(dir, flavor);
    tokenizer->check_vocab_size(config.vocab_size, dir);
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
std::vector<std::int64_t> check_inputs(std::span<const ModelInput> inputs, const BertConfig& c, const RunOptions& opt) {
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
      if (id < 0 || id >= c.vocab_size)
        fail(ErrorKind::input, "input {}: token id {} is outside the vocabulary (0..{})", b, id, c.vocab_size - 1);
    for (auto id : in.type_ids)
      if (id < 0 || id >= c.type_vocab_size)
        fail(ErrorKind::input, "input {}: token type id {} is outside 0..{}", b, id, c.type_vocab_size - 1);
    if (!in.attention_mask.empty()) {
      if (in.attention_mask.size() != in.ids.size())
        fail(ErrorKind::input, "input {}: attention mask of {} entries for {} tokens", b, in.attention_mask.size(), t);
      if (std::all_of(in.attention_mask.begin(), in.attention_mask.end(), [](std::uint8_t m) { return m == 0; }))
        fail(ErrorKind::input, "input {}: the attention mask has no real token", b);
    }
    if (!in.word_embeddings.data.empty() && in.word_embeddings.shape != core::Shape{t, c.hidden_size})
      fail(ErrorKind::input, "input {}: word embeddings have shape {}, expected [{}, {}]", b,
           core::shape_string(in.word_embeddings.shape), t, c.hidden_size);
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
  if (opt.start_layer < 0 || opt.start_layer > c.num_hidden_layers)
    fail(ErrorKind::input, "start layer {} is outside 0..{}", opt.start_layer, c.num_hidden_layers);
  if (opt.precision == Precision::bf16 && !core::bf16_supported())
    fail(ErrorKind::input, "bf16 precision needs the oneDNN backend; this build uses CBLAS");
  return offsets;
}

// Copies rows [off, off+t) of a packed [N, width] matrix into a trace tensor [t, width].
void record_rows(Trace& trace, Site site, std::int64_t layer, const float* packed, std::int64_t off, std::int64_t t,
                 std::int64_t width) {
  auto& dst = trace.emplace(site, layer, {t, width}, false);
  std::memcpy(dst.ptr(), packed + off * width, static_cast<std::size_t>(t * width) * sizeof(float));
}

// Copies rows [off, off+t) of a packed [N, heads*d] matrix into a trace tensor [heads, t, d].
void record_per_head(Trace& trace, Site site, std::int64_t layer, const float* packed, std::int64_t off,
                     std::int64_t t, std::int64_t heads, std::int64_t d) {
  auto& dst = trace.emplace(site, layer, {heads, t, d}, false);
  const auto width = heads * d;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < t; ++i)
      std::memcpy(dst.ptr() + (h * t + i) * d, packed + (off + i) * width + h * d,
                  static_cast<std::size_t>(d) * sizeof(float));
}

// Runs of consecutive inputs with equal length share one batched attention product.
struct Group {
  std::int64_t first, count, t, probs_offset;
};

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
  auto* prof = opt.profile;
  const bool bf16 = opt.precision == Precision::bf16;
  auto wants = [&](Site s, std::int64_t l = 0) { return rec.contains(s, l); };

  std::vector<Group> groups;
  std::int64_t probs_size = 0;
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto t = offsets[b + 1] - offsets[b];
    if (!groups.empty() && groups.back().t == t) {
      ++groups.back().count;
    } else {
      groups.push_back({b, 1, t, probs_size});
    }
    probs_size += heads * t * t;
  }

  if (bf16) {
    std::call_once(caches_->bf16_once, [&] {
      auto convert = [&](const Param& w) {
        auto& out = caches_->bf16_weights[w.data];
        out.resize(static_cast<std::size_t>(w.size()));
        core::to_bf16(w.data, w.size(), out.data());
      };
      for (const auto& lp : p.layers)
        for (const Param* w : {&lp.query_w, &lp.key_w, &lp.value_w, &lp.attn_out_w, &lp.ffn_in_w, &lp.ffn_out_w})
          convert(*w);
    });
  }
  auto ws_owner = caches_->take();
  auto& ws = *ws_owner;
  ws.reserve(n, hidden, inter, probs_size, bf16);

  // y = x W^T + b, in float32 or with bfloat16 inputs; `x16` holds x converted when bf16.
  auto linear = [&](const float* x, std::vector<core::bf16>& x16, std::int64_t k, const Param& w, const Param& b,
                    std::int64_t out_dim, float* y, const core::Activation* post, bool x_converted) {
    ScopedOp op(prof, OpClass::linear);
    if (!bf16) {
      core::linear(x, n, k, w.data, b.data, out_dim, y, post);
      return;
    }
    if (!x_converted) core::to_bf16(x, n * k, x16.data());
    core::linear_bf16(x16.data(), n, k, caches_->bf16_weights.at(w.data).data(), b.data, out_dim, y, post);
  };

  std::vector<ForwardResult> results(static_cast<std::size_t>(batch));
  for (auto& r : results) r.trace = Trace(layers);
  auto record_all_rows = [&](Site s, std::int64_t l, const float* packed, std::int64_t width) {
    if (!wants(s, l)) return;
    ScopedOp op(prof, OpClass::record);
    for (std::int64_t b = 0; b < batch; ++b)
      record_rows(results[b].trace, s, l, packed, offsets[b], offsets[b + 1] - offsets[b], width);
  };

  float* x = ws.x.data();
  {
    // Embeddings: (word + token type) + position, in transformers' order, then LayerNorm.
    ScopedOp op(prof, OpClass::embed);
    bool all_embedded = true;
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto& in = inputs[static_cast<std::size_t>(b)];
      if (!in.start_hidden.data.empty()) {
        // Given hidden states replace the embeddings (partial forward).
        std::memcpy(x + offsets[b] * hidden, in.start_hidden.ptr(), in.start_hidden.data.size() * sizeof(float));
        all_embedded = false;
        continue;
      }
      for (std::int64_t i = 0; i < offsets[b + 1] - offsets[b]; ++i) {
        const float* we = in.word_embeddings.data.empty()
                              ? p.word_emb.data + static_cast<std::int64_t>(in.ids[static_cast<std::size_t>(i)]) * hidden
                              : in.word_embeddings.ptr() + i * hidden;
        const std::int64_t tt = in.type_ids.empty() ? 0 : in.type_ids[static_cast<std::size_t>(i)];
        const float* te = p.type_emb.data + tt * hidden;
        const float* pe = p.pos_emb.data + i * hidden;
        float* row = x + (offsets[b] + i) * hidden;
        for (std::int64_t j = 0; j < hidden; ++j) row[j] = (we[j] + te[j]) + pe[j];
      }
    }
    if (all_embedded) {
      core::layer_norm(x, n, hidden, p.emb_norm_g.data, p.emb_norm_b.data, eps, x);
    } else {
      for (std::int64_t b = 0; b < batch; ++b)
        if (inputs[static_cast<std::size_t>(b)].start_hidden.data.empty())
          core::layer_norm(x + offsets[b] * hidden, offsets[b + 1] - offsets[b], hidden, p.emb_norm_g.data,
                           p.emb_norm_b.data, eps, x + offsets[b] * hidden);
    }
  }
  if (opt.start_layer == 0) record_all_rows(Site::embed_out, 0, x, hidden);

  for (std::int64_t l = opt.start_layer; l < layers; ++l) {
    if (opt.skip_layers.count(l)) {
      // A skipped layer applies no attention: its recorded probabilities are all zero.
      for (std::int64_t b = 0; b < batch && wants(Site::attn_probs, l); ++b) {
        const auto t = offsets[b + 1] - offsets[b];
        results[b].trace.emplace(Site::attn_probs, l, {heads, t, t});
      }
      record_all_rows(Site::layer_out, l, x, hidden);
      continue;
    }
    const auto& lp = p.layers[static_cast<std::size_t>(l)];
    linear(x, ws.x16, hidden, lp.query_w, lp.query_b, hidden, ws.q.data(), nullptr, false);
    linear(x, ws.x16, hidden, lp.key_w, lp.key_b, hidden, ws.k.data(), nullptr, true);
    linear(x, ws.x16, hidden, lp.value_w, lp.value_b, hidden, ws.v.data(), nullptr, true);
    if (wants(Site::attn_query, l) || wants(Site::attn_key, l) || wants(Site::attn_value, l)) {
      ScopedOp op(prof, OpClass::record);
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto off = offsets[b], t = offsets[b + 1] - offsets[b];
        auto& tr = results[b].trace;
        if (wants(Site::attn_query, l)) record_per_head(tr, Site::attn_query, l, ws.q.data(), off, t, heads, d);
        if (wants(Site::attn_key, l)) record_per_head(tr, Site::attn_key, l, ws.k.data(), off, t, heads, d);
        if (wants(Site::attn_value, l)) record_per_head(tr, Site::attn_value, l, ws.v.data(), off, t, heads, d);
      }
    }

    {
      ScopedOp op(prof, OpClass::attention);
      for (const auto& g : groups) {
        const auto row0 = offsets[g.first];
        core::attention_scores(ws.q.data() + row0 * hidden, ws.k.data() + row0 * hidden, g.count, heads, g.t, d, hidden,
                               scale, ws.probs.data() + g.probs_offset);
      }
    }
    // Scores are recorded per input before the softmax overwrites them.
    if (wants(Site::attn_scores, l)) {
      ScopedOp op(prof, OpClass::record);
      std::int64_t pos = 0;
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto t = offsets[b + 1] - offsets[b];
        auto& dst = results[b].trace.emplace(Site::attn_scores, l, {heads, t, t}, false);
        std::memcpy(dst.ptr(), ws.probs.data() + pos, static_cast<std::size_t>(heads * t * t) * sizeof(float));
        pos += heads * t * t;
      }
    }
    {
      ScopedOp op(prof, OpClass::attention);
      // Padding keys (attention_mask 0) get transformers' additive mask, the lowest float, and
      // after the softmax exactly 0, as in a padded transformers batch.
      auto for_masked_keys = [&](auto&& fn) {
        std::int64_t at = 0;
        for (std::int64_t b = 0; b < batch; ++b) {
          const auto t = offsets[b + 1] - offsets[b];
          const auto& mask = inputs[static_cast<std::size_t>(b)].attention_mask;
          if (!mask.empty())
            for (std::int64_t r = 0; r < heads * t; ++r)
              for (std::int64_t j = 0; j < t; ++j)
                if (!mask[static_cast<std::size_t>(j)]) fn(ws.probs[static_cast<std::size_t>(at + r * t + j)]);
          at += heads * t * t;
        }
      };
      for_masked_keys([](float& s) { s = std::numeric_limits<float>::lowest(); });
      std::int64_t pos = 0;
      for (const auto& g : groups) {
        core::softmax_rows(ws.probs.data() + pos, g.count * heads * g.t, g.t);
        pos += g.count * heads * g.t * g.t;
      }
      for_masked_keys([](float& s) { s = 0.0f; });
      // Interventions touch only the heads they name.
      pos = 0;
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto t = offsets[b + 1] - offsets[b];
        float* probs_b = ws.probs.data() + pos;
        const auto& mask = inputs[static_cast<std::size_t>(b)].attention_mask;
        for (const auto& [ul, uh] : opt.uniform_heads) {
          if (ul != l) continue;
          if (mask.empty()) {
            std::fill(probs_b + uh * t * t, probs_b + (uh + 1) * t * t, 1.0f / static_cast<float>(t));
            continue;
          }
          const auto real = std::count_if(mask.begin(), mask.end(), [](std::uint8_t m) { return m != 0; });
          for (std::int64_t i = 0; i < t; ++i)
            for (std::int64_t j = 0; j < t; ++j)
              probs_b[(uh * t + i) * t + j] = mask[static_cast<std::size_t>(j)] ? 1.0f / static_cast<float>(real) : 0.0f;
        }
        for (const auto& o : inputs[static_cast<std::size_t>(b)].attention_overrides)
          if (o.layer == l)
            std::memcpy(probs_b + o.head * t * t, o.probs.ptr(), static_cast<std::size_t>(t * t) * sizeof(float));
        if (!opt.head_mask.data.empty())
          for (std::int64_t h = 0; h < heads; ++h) {
            const float m = opt.head_mask.data[static_cast<std::size_t>(l * heads + h)];
            if (m != 1.0f)
              for (std::int64_t i = 0; i < t * t; ++i) probs_b[h * t * t + i] *= m;
          }
        pos += heads * t * t;
      }
      for (const auto& g : groups) {
        const auto row0 = offsets[g.first];
        core::attention_context(ws.probs.data() + g.probs_offset, ws.v.data() + row0 * hidden, g.count, heads, g.t, d,
                                hidden, ws.ctx.data() + row0 * hidden);
      }
    }
    if (wants(Site::attn_probs, l)) {
      ScopedOp op(prof, OpClass::record);
      std::int64_t pos = 0;
      for (std::int64_t b = 0; b < batch; ++b) {
        const auto t = offsets[b + 1] - offsets[b];
        auto& dst = results[b].trace.emplace(Site::attn_probs, l, {heads, t, t}, false);
        std::memcpy(dst.ptr(), ws.probs.data() + pos, static_cast<std::size_t>(heads * t * t) * sizeof(float));
        pos += heads * t * t;
      }
    }

    linear(ws.ctx.data(), ws.x16, hidden, lp.attn_out_w, lp.attn_out_b, hidden, ws.attn.data(), nullptr, false);
    {
      ScopedOp op(prof, OpClass::norm);
      core::add_layer_norm(ws.attn.data(), x, n, hidden, lp.attn_norm_g.data, lp.attn_norm_b.data, eps, ws.mid.data());
    }
    linear(ws.mid.data(), ws.x16, hidden, lp.ffn_in_w, lp.ffn_in_b, inter, ws.ffn.data(), &act, false);
    linear(ws.ffn.data(), ws.ffn16, inter, lp.ffn_out_w, lp.ffn_out_b, hidden, ws.out.data(), nullptr, false);
    if (wants(Site::attn_context, l)) {
      ScopedOp op(prof, OpClass::record);
      for (std::int64_t b = 0; b < batch; ++b)
        record_per_head(results[b].trace, Site::attn_context, l, ws.ctx.data(), offsets[b], offsets[b + 1] - offsets[b],
                        heads, d);
    }
    record_all_rows(Site::attn_out, l, ws.attn.data(), hidden);
    record_all_rows(Site::resid_mid, l, ws.mid.data(), hidden);
    record_all_rows(Site::ffn_act, l, ws.ffn.data(), inter);
    record_all_rows(Site::ffn_out, l, ws.out.data(), hidden);
    {
      ScopedOp op(prof, OpClass::norm);
      core::add_layer_norm(ws.out.data(), ws.mid.data(), n, hidden, lp.out_norm_g.data, lp.out_norm_b.data, eps, x);
    }
    record_all_rows(Site::layer_out, l, x, hidden);
  }

  ScopedOp head_op(prof, OpClass::head);
  for (std::int64_t b = 0; b < batch; ++b) {
    auto& r = results[b];
    const auto t = offsets[b + 1] - offsets[b];
    r.last_hidden = Tensor::uninitialized({t, hidden});
    std::memcpy(r.last_hidden.ptr(), x + offsets[b] * hidden, static_cast<std::size_t>(t * hidden) * sizeof(float));
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
    float* tr = ws.mid.data();
    core::linear(x, n, hidden, p.mlm_dense_w.data, p.mlm_dense_b.data, hidden, tr, &act);
    core::layer_norm(tr, n, hidden, p.mlm_norm_g.data, p.mlm_norm_b.data, eps, tr);
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto t = offsets[b + 1] - offsets[b];
      auto& logits = results[b].mlm_logits;
      logits = Tensor::uninitialized({t, c.vocab_size});
      core::linear(tr + offsets[b] * hidden, t, hidden, p.mlm_decoder_w.data, p.mlm_decoder_b.data, c.vocab_size,
                   logits.ptr());
    }
  }
  if (!opt.pooled)
    for (auto& r : results) r.pooled = Tensor();
  caches_->give_back(std::move(ws_owner));
  return results;
}

}  // namespace bertscope::model
