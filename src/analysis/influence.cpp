#include "analysis/influence.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <tuple>

#include "analysis/influence_nodes.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::influence {

namespace {

using model::Site;
using nodes::argmax_signed;
using nodes::dot;
using nodes::hidden_site;
using nodes::site;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string_view baseline_name(Baseline baseline) {
  switch (baseline) {
    case Baseline::mask: return "mask";
    case Baseline::zero: return "zero";
    case Baseline::pad: return "pad";
  }
  return "?";
}

Baseline parse_baseline(std::string_view name) {
  if (name == "mask") return Baseline::mask;
  if (name == "zero") return Baseline::zero;
  if (name == "pad") return Baseline::pad;
  fail(ErrorKind::input, "unknown baseline \"{}\" (mask, zero, pad)", name);
}

core::Tensor baseline_word_embeddings(const model::Model& model, std::span<const std::int32_t> ids, Baseline baseline) {
  const auto hidden = model.config().embedding_dim();
  const auto tokens = static_cast<std::int64_t>(ids.size());
  core::Tensor base({tokens, hidden});
  if (baseline == Baseline::zero) return base;
  const auto fill = baseline == Baseline::mask ? model.tokenizer().mask_id() : model.tokenizer().pad_id();
  const float* row = model.params().word_emb.data + static_cast<std::int64_t>(fill) * hidden;
  for (std::int64_t t = 0; t < tokens; ++t) std::copy_n(row, hidden, base.ptr() + t * hidden);
  return base;
}

// ---------------------------------------------------------------------------------------------
// Patterns.

Pattern Pattern::from_source(std::int32_t source, std::int64_t layers, std::int64_t tokens, std::int64_t heads) {
  if (source < 0 || source >= tokens) fail(ErrorKind::input, "source token {} outside the input's {} tokens", source, tokens);
  Pattern p;
  p.layers = layers;
  p.tokens = tokens;
  p.heads = heads;
  const auto t = static_cast<std::size_t>(tokens);
  p.hidden.assign(static_cast<std::size_t>(layers + 1), std::vector<std::uint8_t>(t, 1));
  p.hidden[0].assign(t, 0);
  p.hidden[0][static_cast<std::size_t>(source)] = 1;
  p.context.assign(static_cast<std::size_t>(layers), std::vector<std::uint8_t>(t * static_cast<std::size_t>(heads), 1));
  p.skip.assign(static_cast<std::size_t>(layers), std::vector<std::uint8_t>(t, 1));
  return p;
}

std::int32_t Pattern::source() const {
  std::int32_t found = -1;
  for (std::int64_t p = 0; p < tokens; ++p)
    if (hidden.at(0)[static_cast<std::size_t>(p)]) {
      if (found >= 0) fail(ErrorKind::internal, "pattern allows more than one source token");
      found = static_cast<std::int32_t>(p);
    }
  if (found < 0) fail(ErrorKind::internal, "pattern allows no source token");
  return found;
}

void Pattern::keep_position(std::int64_t layer, std::int32_t position) {
  if (layer < 0 || layer > layers || position < 0 || position >= tokens)
    fail(ErrorKind::input, "node h_{}[{}] is outside the model's {} layers and the input's {} tokens", layer, position,
         layers, tokens);
  auto& h = hidden[static_cast<std::size_t>(layer)];
  std::fill(h.begin(), h.end(), 0);
  h[static_cast<std::size_t>(position)] = 1;
}

void Pattern::keep_edge(std::int64_t block, std::int32_t query, std::int32_t head) {
  if (block < 0 || block >= layers || query < 0 || query >= tokens || head < -1 || head >= heads)
    fail(ErrorKind::input, "edge (block {}, query {}, head {}) outside the model ({} blocks, {} heads) or the input ({} tokens)",
         block, query, head, layers, heads, tokens);
  auto& c = context[static_cast<std::size_t>(block)];
  auto& s = skip[static_cast<std::size_t>(block)];
  std::fill(c.begin(), c.end(), 0);
  std::fill(s.begin(), s.end(), 0);
  if (head >= 0)
    c[static_cast<std::size_t>(query * heads + head)] = 1;
  else
    s[static_cast<std::size_t>(query)] = 1;
}

std::vector<model::FlowMask> Pattern::flow_masks() const {
  std::vector<model::FlowMask> out;
  auto add = [&](model::FlowSite site, std::int64_t layer, const std::vector<std::uint8_t>& m, core::Shape shape) {
    if (std::all_of(m.begin(), m.end(), [](std::uint8_t v) { return v != 0; })) return;
    model::FlowMask f{site, layer, core::Tensor(std::move(shape))};
    for (std::size_t i = 0; i < m.size(); ++i) f.mask.data[i] = m[i] ? 1.0f : 0.0f;
    out.push_back(std::move(f));
  };
  for (std::int64_t l = 0; l <= layers; ++l) add(model::FlowSite::hidden, l, hidden[static_cast<std::size_t>(l)], {tokens});
  for (std::int64_t b = 0; b < layers; ++b) {
    add(model::FlowSite::context, b, context[static_cast<std::size_t>(b)], {tokens, heads});
    add(model::FlowSite::skip, b, skip[static_cast<std::size_t>(b)], {tokens});
  }
  return out;
}

double Decomposition::hidden_total(std::int64_t layer) const {
  double s = 0;
  for (double v : hidden.at(static_cast<std::size_t>(layer))) s += v;
  return s;
}

double Decomposition::block_total(std::int64_t block) const {
  double s = 0;
  for (double v : heads.at(static_cast<std::size_t>(block))) s += v;
  for (double v : skip.at(static_cast<std::size_t>(block))) s += v;
  return s;
}

// ---------------------------------------------------------------------------------------------
// The integrated-gradients path.

struct PathIntegral::Chunk {
  model::ForwardTape tape;
  std::size_t begin = 0, count = 0;  // alpha points [begin, begin + count)
};

namespace {

model::TapeOptions tape_options(const Qoi& q, std::size_t n) {
  model::TapeOptions o;
  if (q.readout == Readout::mlm) {
    o.mlm_logits = true;
    o.mlm_positions.assign(n, std::vector<std::int32_t>{q.target});
  } else {
    o.classifier_logits = true;
  }
  return o;
}

double qoi_of(const Qoi& q, const model::ForwardResult& r) {
  const auto& logits = q.readout == Readout::mlm ? r.mlm_logits : r.classifier_logits;
  return static_cast<double>(logits.data.at(static_cast<std::size_t>(q.good))) - logits.data.at(static_cast<std::size_t>(q.bad));
}

void check_instance(const model::Model& model, const Instance& in) {
  const auto t = static_cast<std::int64_t>(in.ids.size());
  const auto& q = in.qoi;
  if (t == 0) fail(ErrorKind::input, "influence: empty input");
  if (q.readout == Readout::mlm) {
    if (!model.params().has_mlm_head())
      fail(ErrorKind::input, "{}: the model has no MLM head; the agreement QoI reads MLM logits at [MASK]",
           model.dir().string());
    const auto v = model.config().vocab_size;
    if (q.target < 0 || q.target >= t) fail(ErrorKind::input, "influence: target position {} outside the input's {} tokens", q.target, t);
    if (q.good < 0 || q.good >= v || q.bad < 0 || q.bad >= v)
      fail(ErrorKind::input, "influence: candidate ids {} and {} must be below the vocabulary size {}", q.good, q.bad, v);
  } else {
    if (!model.params().has_classifier() || model.config().head_kind() != model::HeadKind::sequence_classification)
      fail(ErrorKind::input, "{}: the model has no sequence-classification head for a class-logit QoI", model.dir().string());
    const auto k = model.config().num_labels;
    if (q.target != 0) fail(ErrorKind::input, "influence: a classifier reads [CLS], so the target position must be 0, not {}", q.target);
    if (q.good < 0 || q.good >= k || q.bad < 0 || q.bad >= k)
      fail(ErrorKind::input, "influence: classes {} and {} must be below the model's {} labels", q.good, q.bad, k);
  }
  if (q.good == q.bad) fail(ErrorKind::input, "influence: the two candidates of the QoI are the same ({})", q.good);
}

}  // namespace

std::vector<Instance> classifier_instances(const model::Model& model, std::span<const model::Encoding> encodings,
                                           std::span<const std::int64_t> gold, std::size_t batch_size) {
  if (encodings.size() != gold.size()) fail(ErrorKind::internal, "{} encodings for {} labels", encodings.size(), gold.size());
  const auto k = model.config().num_labels;
  if (!model.params().has_classifier() || model.config().head_kind() != model::HeadKind::sequence_classification || k < 2)
    fail(ErrorKind::input, "{}: a class-logit QoI needs a sequence classifier with at least 2 labels", model.dir().string());
  std::vector<Instance> out;
  batch_size = std::max<std::size_t>(batch_size, 1);
  for (std::size_t b = 0; b < encodings.size(); b += batch_size) {
    const auto n = std::min(batch_size, encodings.size() - b);
    std::vector<model::ModelInput> inputs;
    for (std::size_t i = 0; i < n; ++i) inputs.push_back(model::ModelInput::from_encoding(encodings[b + i]));
    model::RunOptions run;
    run.classifier_logits = true;
    const auto results = model.forward(inputs, run);
    for (std::size_t i = 0; i < n; ++i) {
      const auto g = gold[b + i];
      if (g < 0 || g >= k) fail(ErrorKind::input, "class {} outside the model's {} labels", g, k);
      Instance in;
      in.ids = inputs[i].ids;
      in.type_ids = inputs[i].type_ids;
      in.qoi.readout = Readout::classifier;
      in.qoi.good = static_cast<std::int32_t>(g);
      std::int32_t other = -1;
      const auto& logits = results[i].classifier_logits.data;
      for (std::int32_t c = 0; c < k; ++c)
        if (c != g && (other < 0 || logits[static_cast<std::size_t>(c)] > logits[static_cast<std::size_t>(other)])) other = c;
      in.qoi.bad = other;
      out.push_back(std::move(in));
    }
  }
  return out;
}

std::vector<double> evaluate_qoi(const model::Model& model, std::span<const Instance> instances, std::size_t batch_size) {
  std::vector<double> out;
  out.reserve(instances.size());
  batch_size = std::max<std::size_t>(batch_size, 1);
  for (std::size_t b = 0; b < instances.size(); b += batch_size) {
    const auto n = std::min(batch_size, instances.size() - b);
    std::vector<model::ModelInput> inputs(n);
    model::TapeOptions topt;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& in = instances[b + i];
      check_instance(model, in);
      inputs[i].ids = in.ids;
      inputs[i].type_ids = in.type_ids;
      if (in.qoi.readout == Readout::mlm) {
        topt.mlm_logits = true;
        topt.mlm_positions.push_back({in.qoi.target});
      } else {
        topt.classifier_logits = true;
        topt.mlm_positions.push_back({});
      }
    }
    if (!topt.mlm_logits) topt.mlm_positions.clear();
    model::ForwardTape tape;
    const auto results = model::forward_with_tape(model, inputs, {}, topt, tape);
    for (std::size_t i = 0; i < n; ++i) out.push_back(qoi_of(instances[b + i].qoi, results[i]));
  }
  return out;
}

PathIntegral::~PathIntegral() = default;
PathIntegral::PathIntegral(PathIntegral&&) noexcept = default;

std::vector<model::OutputGrad> PathIntegral::seeds(std::size_t n) const {
  std::vector<model::OutputGrad> out(n);
  const auto& q = instance_.qoi;
  for (auto& s : out) {
    auto& g = q.readout == Readout::mlm ? s.mlm_logits : s.classifier_logits;
    g = q.readout == Readout::mlm ? core::Tensor({1, model_.config().vocab_size}) : core::Tensor({model_.config().num_labels});
    g.data[static_cast<std::size_t>(q.good)] = 1.0f;
    g.data[static_cast<std::size_t>(q.bad)] = -1.0f;
  }
  return out;
}

PathIntegral::PathIntegral(const model::Model& model, const Instance& instance, const IntegralOptions& options)
    : model_(model), instance_(instance), options_(options) {
  check_instance(model, instance);
  if (options.steps < 1) fail(ErrorKind::input, "influence: at least 1 integration step is needed, got {}", options.steps);
  const auto& c = model.config();
  const auto& p = model.params();
  layers_ = c.num_hidden_layers;
  heads_ = c.num_attention_heads;
  hidden_ = c.hidden_size;
  embed_width_ = c.embedding_dim();  // the word embeddings integrated along (ALBERT: embedding_size)
  tokens_ = static_cast<std::int64_t>(instance.ids.size());
  for (auto id : instance.ids)
    if (id < 0 || id >= c.vocab_size) fail(ErrorKind::input, "influence: token id {} outside the vocabulary of {}", id, c.vocab_size);

  // x and the baseline b, [T, hidden].
  core::Tensor x({tokens_, embed_width_});
  const float* table = p.word_emb.data;
  for (std::int64_t t = 0; t < tokens_; ++t)
    std::copy_n(table + static_cast<std::int64_t>(instance.ids[static_cast<std::size_t>(t)]) * embed_width_, embed_width_, x.ptr() + t * embed_width_);
  const auto base = baseline_word_embeddings(model, instance.ids, options.baseline);
  delta_ = core::Tensor({tokens_, embed_width_});
  for (std::size_t i = 0; i < delta_.data.size(); ++i) delta_.data[i] = x.data[i] - base.data[i];

  const auto m = options.steps;
  for (std::int64_t k = 0; k <= m; ++k) alphas_.push_back(static_cast<double>(k) / static_cast<double>(m));
  const auto per_chunk = static_cast<std::size_t>(std::max<std::int64_t>(1, options.max_rows / tokens_));
  values_.assign(alphas_.size(), 0.0);
  attributions_.assign(static_cast<std::size_t>(tokens_), 0.0);
  unrestricted_.reverse = true;
  model::GradRequest req;
  req.word_embeddings = true;
  req.sites = model::SiteSet(layers_);
  req.sites.add(Site::embed_out);
  req.sites.add(Site::layer_out);
  // h_l at both ends of the path (alpha = 0: the baseline, alpha = 1: the input), for the layer
  // attributions; recorded in the passes the path makes anyway.
  model::RunOptions record;
  record.record = model::SiteSet(layers_);
  record.record.add(Site::embed_out);
  record.record.add(Site::layer_out);
  model::Trace at_baseline, at_input;
  for (std::size_t begin = 0; begin < alphas_.size(); begin += per_chunk) {
    auto chunk = std::make_unique<Chunk>();
    chunk->begin = begin;
    chunk->count = std::min(per_chunk, alphas_.size() - begin);
    std::vector<model::ModelInput> inputs(chunk->count);
    for (std::size_t i = 0; i < chunk->count; ++i) {
      const float a = static_cast<float>(alphas_[begin + i]);
      auto& in = inputs[i];
      in.ids = instance.ids;
      in.type_ids = instance.type_ids;
      in.word_embeddings = core::Tensor::uninitialized({tokens_, embed_width_});
      for (std::size_t j = 0; j < in.word_embeddings.data.size(); ++j)
        in.word_embeddings.data[j] = base.data[j] + a * delta_.data[j];
    }
    const bool ends = begin == 0 || begin + chunk->count == alphas_.size();
    auto results = model::forward_with_tape(model, inputs, ends ? record : model::RunOptions{},
                                            tape_options(instance.qoi, chunk->count), chunk->tape);
    for (std::size_t i = 0; i < chunk->count; ++i) values_[begin + i] = qoi_of(instance.qoi, results[i]);
    if (begin == 0) at_baseline = std::move(results.front().trace);
    if (begin + chunk->count == alphas_.size()) at_input = std::move(results.back().trace);
    auto grads = model::backward(model, chunk->tape, seeds(chunk->count), req);
    for (std::size_t i = 0; i < chunk->count; ++i) {
      const auto& g = grads.word_embedding_grads[i];
      for (std::int64_t t = 0; t < tokens_; ++t)
        attributions_[static_cast<std::size_t>(t)] += dot(g.ptr() + t * embed_width_, delta_.ptr() + t * embed_width_, embed_width_);
      unrestricted_.traces.push_back(std::move(grads.site_grads[i]));
    }
    chunks_.push_back(std::move(chunk));
  }
  for (auto& a : attributions_) a /= static_cast<double>(alphas_.size());

  // Layer integrated gradients: the mean gradient at h_l times h_l(x) - h_l(b), per position.
  layer_attributions_.assign(static_cast<std::size_t>(layers_ + 1), std::vector<double>(static_cast<std::size_t>(tokens_), 0.0));
  for (std::int64_t l = 0; l <= layers_; ++l) {
    const auto& hx = hidden_site(at_input, l);
    const auto& hb = hidden_site(at_baseline, l);
    const auto width = hx.dim(1);
    std::vector<float> diff(hx.data.size());
    for (std::size_t j = 0; j < diff.size(); ++j) diff[j] = hx.data[j] - hb.data[j];
    auto& row = layer_attributions_[static_cast<std::size_t>(l)];
    for (const auto& trace : unrestricted_.traces) {
      const auto& g = hidden_site(trace, l);
      for (std::int64_t p = 0; p < tokens_; ++p) row[static_cast<std::size_t>(p)] += dot(g.ptr() + p * width, diff.data() + p * width, width);
    }
    for (auto& v : row) v /= static_cast<double>(alphas_.size());
  }
}

double PathIntegral::influence(const Pattern& pattern) const {
  const auto source = pattern.source();
  const auto masks = pattern.flow_masks();
  double sum = 0;
  for (const auto& chunk : chunks_) {
    model::GradRequest req;
    req.word_embeddings = true;
    req.flow_masks.assign(chunk->count, masks);
    const auto grads = model::backward(model_, chunk->tape, seeds(chunk->count), req);
    for (const auto& g : grads.word_embedding_grads)
      sum += dot(g.ptr() + source * embed_width_, delta_.ptr() + source * embed_width_, embed_width_);
  }
  return sum / static_cast<double>(alphas_.size());
}

Factors PathIntegral::reverse_factors(const Pattern& pattern, bool with_blocks) const {
  Factors f;
  f.reverse = true;
  f.with_blocks = with_blocks;
  model::GradRequest req;
  req.sites = model::SiteSet(layers_);
  req.sites.add(Site::embed_out);
  req.sites.add(Site::layer_out);
  if (with_blocks) {
    req.sites.add(Site::attn_context);
    req.sites.add(Site::attn_out);  // dF/d(LN1 input): the skip node's reverse factor
  }
  const auto masks = pattern.flow_masks();
  for (const auto& chunk : chunks_) {
    req.flow_masks.assign(chunk->count, masks);
    auto grads = model::backward(model_, chunk->tape, seeds(chunk->count), req);
    for (auto& t : grads.site_grads) f.traces.push_back(std::move(t));
  }
  return f;
}

Factors PathIntegral::forward_factors(const Pattern& pattern, bool with_blocks) const {
  Factors f;
  f.with_blocks = with_blocks;
  const auto source = pattern.source();
  model::SiteSet sites(layers_);
  sites.add(Site::embed_out);
  sites.add(Site::layer_out);
  if (with_blocks) sites.add(Site::attn_context);
  const auto masks = pattern.flow_masks();
  for (const auto& chunk : chunks_) {
    std::vector<core::Tensor> tangents;
    for (std::size_t i = 0; i < chunk->count; ++i) {
      core::Tensor t({tokens_, embed_width_});
      std::copy_n(delta_.ptr() + source * embed_width_, embed_width_, t.ptr() + source * embed_width_);
      tangents.push_back(std::move(t));
    }
    auto res = model::jvp(model_, chunk->tape, tangents, sites, std::vector<std::vector<model::FlowMask>>(chunk->count, masks));
    for (auto& t : res.site_tangents) f.traces.push_back(std::move(t));
  }
  return f;
}

void PathIntegral::tangent_sweep(const Pattern& pattern, model::SiteHook& hook) const {
  if (chunks_.size() != 1)
    fail(ErrorKind::internal, "influence: a tangent sweep needs every alpha point in one tape ({} tapes)", chunks_.size());
  const auto source = pattern.source();
  const auto& chunk = *chunks_.front();
  std::vector<core::Tensor> tangents;
  for (std::size_t i = 0; i < chunk.count; ++i) {
    core::Tensor t({tokens_, embed_width_});
    std::copy_n(delta_.ptr() + source * embed_width_, embed_width_, t.ptr() + source * embed_width_);
    tangents.push_back(std::move(t));
  }
  model::jvp(model_, chunk.tape, tangents, model::SiteSet(layers_),
             std::vector<std::vector<model::FlowMask>>(chunk.count, pattern.flow_masks()), {&hook});
}

Decomposition PathIntegral::combine(const Factors& reverse, const Factors& forward, const Pattern& forward_pattern) const {
  if (!reverse.reverse || forward.reverse || reverse.traces.size() != alphas_.size() || forward.traces.size() != alphas_.size())
    fail(ErrorKind::internal, "influence: combine needs reverse and forward factors at every alpha point");
  const bool blocks = reverse.with_blocks && forward.with_blocks;
  const auto T = static_cast<std::size_t>(tokens_), H = static_cast<std::size_t>(heads_);
  const std::int64_t d = hidden_ / heads_;
  Decomposition out;
  out.hidden.assign(static_cast<std::size_t>(layers_ + 1), std::vector<double>(T, 0.0));
  if (blocks) {
    out.heads.assign(static_cast<std::size_t>(layers_), std::vector<double>(T * H, 0.0));
    out.skip.assign(static_cast<std::size_t>(layers_), std::vector<double>(T, 0.0));
  }
  for (std::size_t k = 0; k < alphas_.size(); ++k) {
    const auto& r = reverse.traces[k];
    const auto& f = forward.traces[k];
    for (std::int64_t l = 0; l <= layers_; ++l) {
      const auto& R = hidden_site(r, l);
      const auto& F = hidden_site(f, l);
      for (std::int64_t p = 0; p < tokens_; ++p)
        out.hidden[static_cast<std::size_t>(l)][static_cast<std::size_t>(p)] += dot(R.ptr() + p * hidden_, F.ptr() + p * hidden_, hidden_);
    }
    if (!blocks) continue;
    for (std::int64_t b = 0; b < layers_; ++b) {
      const auto& R = site(r, Site::attn_context, b);  // [head, q, head_dim]
      const auto& F = site(f, Site::attn_context, b);
      auto& heads = out.heads[static_cast<std::size_t>(b)];
      for (std::int64_t h = 0; h < heads_; ++h)
        for (std::int64_t q = 0; q < tokens_; ++q) {
          const auto off = (h * tokens_ + q) * d;
          heads[static_cast<std::size_t>(q * heads_ + h)] += dot(R.ptr() + off, F.ptr() + off, d);
        }
      // The skip node: dF/d(LN1 input) times the tangent of the block's input h_b under the skip mask.
      const auto& RS = site(r, Site::attn_out, b);
      const auto& FS = hidden_site(f, b);
      const auto& mask = forward_pattern.skip[static_cast<std::size_t>(b)];
      for (std::int64_t p = 0; p < tokens_; ++p)
        if (mask[static_cast<std::size_t>(p)])
          out.skip[static_cast<std::size_t>(b)][static_cast<std::size_t>(p)] += dot(RS.ptr() + p * hidden_, FS.ptr() + p * hidden_, hidden_);
    }
  }
  const double n = static_cast<double>(alphas_.size());
  for (auto* group : {&out.hidden, &out.heads, &out.skip})
    for (auto& row : *group)
      for (auto& v : row) v /= n;
  return out;
}

Decomposition PathIntegral::decompose(const Pattern& pattern) const {
  return combine(reverse_factors(pattern, true), forward_factors(pattern, true), pattern);
}

// ---------------------------------------------------------------------------------------------
// Guided Pattern Refinement.

Pattern partial_pattern(const PathIntegral& integral, std::span<const std::int32_t> positions,
                        std::span<const std::int32_t> choices) {
  const auto L = integral.layers();
  if (static_cast<std::int64_t>(positions.size()) != L + 1)
    fail(ErrorKind::input, "a pattern needs {} positions (layers 0..{}), got {}", L + 1, L, positions.size());
  if (static_cast<std::int64_t>(choices.size()) > L) fail(ErrorKind::input, "{} choices for {} blocks", choices.size(), L);
  auto p = Pattern::from_source(positions[0], L, integral.tokens(), integral.heads());
  for (std::int64_t l = 1; l <= L; ++l) p.keep_position(l, positions[static_cast<std::size_t>(l)]);
  for (std::int64_t b = 0; b < L; ++b) {
    const auto q = positions[static_cast<std::size_t>(b + 1)];
    if (b < static_cast<std::int64_t>(choices.size())) {
      p.keep_edge(b, q, choices[static_cast<std::size_t>(b)]);
    } else {
      // Every head at query q and the skip at q: nodes elsewhere in the block feed only h_{b+1}
      // positions that are not allowed, so this is the stage-1 pattern in other words.
      auto& c = p.context[static_cast<std::size_t>(b)];
      auto& s = p.skip[static_cast<std::size_t>(b)];
      std::fill(c.begin(), c.end(), 0);
      std::fill(s.begin(), s.end(), 0);
      for (std::int64_t h = 0; h < p.heads; ++h) c[static_cast<std::size_t>(q * p.heads + h)] = 1;
      s[static_cast<std::size_t>(q)] = 1;
    }
  }
  return p;
}

Pattern pattern_of(const PathIntegral& integral, const TokenPattern& pattern, bool with_choices) {
  return partial_pattern(integral, pattern.positions,
                         with_choices ? std::span<const std::int32_t>(pattern.choices) : std::span<const std::int32_t>());
}

TokenPattern unrefined(const PathIntegral& integral, std::int32_t source) {
  const auto L = integral.layers();
  TokenPattern out;
  out.source = source;
  out.attribution = integral.attributions().at(static_cast<std::size_t>(source));
  out.positions.assign(static_cast<std::size_t>(L + 1), 0);
  out.positions[0] = source;
  out.positions[static_cast<std::size_t>(L)] = integral.instance().qoi.target;
  out.stage1.assign(static_cast<std::size_t>(L + 1), 0.0);
  return out;
}

TokenPattern refine(const PathIntegral& integral, std::int32_t source) {
  const auto L = integral.layers(), T = integral.tokens(), H = integral.heads();
  const auto target = integral.instance().qoi.target;
  auto out = unrefined(integral, source);

  // Stage 1. Above the layer being chosen nothing is restricted yet, so the unrestricted reverse
  // factors serve every step; each step needs one forward-mode pass.
  auto S = Pattern::from_source(source, L, T, H);
  auto D = integral.combine(integral.unrestricted_reverse(), integral.forward_factors(S, false), S);
  out.total = D.hidden_total(1);
  out.sign = out.total < 0 ? -1 : 1;
  out.stage1[0] = out.total;
  for (std::int64_t l = 1; l < L; ++l) {
    if (l > 1) D = integral.combine(integral.unrestricted_reverse(), integral.forward_factors(S, false), S);
    const auto& row = D.hidden[static_cast<std::size_t>(l)];
    const auto p = argmax_signed(row.data(), T, out.sign);
    out.positions[static_cast<std::size_t>(l)] = p;
    out.stage1[static_cast<std::size_t>(l)] = row[static_cast<std::size_t>(p)];
    S.keep_position(l, p);
  }

  // Stage 2. Restricting block b changes only the forward factors of the blocks above it, so one
  // reverse pass under the stage-1 positions serves every block.
  auto S2 = partial_pattern(integral, out.positions, {});
  const auto reverse = integral.reverse_factors(S2, true);
  for (std::int64_t b = 0; b < L; ++b) {
    const auto D = integral.combine(reverse, integral.forward_factors(S2, true), S2);
    if (b == 0) {
      out.stage1_influence = D.hidden[static_cast<std::size_t>(L)][static_cast<std::size_t>(target)];
      out.stage1[static_cast<std::size_t>(L)] = out.stage1_influence;
    }
    const auto q = out.positions[static_cast<std::size_t>(b + 1)];
    const double* head_values = D.heads[static_cast<std::size_t>(b)].data() + q * H;
    const auto best = argmax_signed(head_values, H, out.sign);
    const double skip_value = D.skip[static_cast<std::size_t>(b)][static_cast<std::size_t>(q)];
    const bool skip_possible = out.positions[static_cast<std::size_t>(b)] == q;
    const bool take_head = !skip_possible || out.sign * head_values[best] > out.sign * skip_value;
    const std::int32_t choice = take_head ? best : -1;
    out.choices.push_back(choice);
    out.stage2.push_back(take_head ? head_values[best] : skip_value);
    S2.keep_edge(b, q, choice);
  }
  out.pattern_influence = out.stage2.back();
  return out;
}

// ---------------------------------------------------------------------------------------------
// The random-pattern optimality test.

namespace {

// splitmix64: a small generator whose sequence is the same with every standard library.
class SplitMix {
 public:
  explicit SplitMix(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n): the top 53 bits as a fraction of n (bias far below anything measurable here).
  std::int32_t below(std::int64_t n) {
    const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    return static_cast<std::int32_t>(std::min<std::int64_t>(static_cast<std::int64_t>(u * static_cast<double>(n)), n - 1));
  }

 private:
  std::uint64_t state_;
};

}  // namespace

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t value) {
  return SplitMix(seed ^ (value * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL)).next();
}

std::vector<Path> random_paths(std::int32_t source, std::int32_t target, std::int64_t layers, std::int64_t tokens,
                               std::int64_t heads, std::size_t count, std::uint64_t seed) {
  if (layers < 1 || heads < 1 || source < 0 || source >= tokens || target < 0 || target >= tokens)
    fail(ErrorKind::input, "random paths from {} to {} need positions below {} tokens, at least one layer and one head",
         source, target, tokens);
  SplitMix rng(seed);
  std::vector<Path> out(count);
  for (auto& path : out) {
    path.positions.assign(static_cast<std::size_t>(layers + 1), 0);
    path.positions.front() = source;
    for (std::int64_t l = 1; l < layers; ++l) path.positions[static_cast<std::size_t>(l)] = rng.below(tokens);
    path.positions.back() = target;
    for (std::int64_t b = 0; b < layers; ++b) {
      const bool stays = path.positions[static_cast<std::size_t>(b)] == path.positions[static_cast<std::size_t>(b + 1)];
      // Where the position stays, the value `heads` stands for the skip connection.
      const auto e = rng.below(stays ? heads + 1 : heads);
      path.edges.push_back(e == heads ? -1 : e);
    }
  }
  return out;
}

void summarise_optimality(Optimality& o, int sign) {
  o.samples = o.random.size();
  o.random_mean = o.random_best = o.random_max_abs = 0;
  std::size_t signed_below = 0, abs_below = 0;
  for (std::size_t r = 0; r < o.random.size(); ++r) {
    const double v = o.random[r];
    o.random_mean += v;
    if (r == 0 || sign * v > sign * o.random_best) o.random_best = v;
    o.random_max_abs = std::max(o.random_max_abs, std::abs(v));
    signed_below += sign * v <= sign * o.influence;
    abs_below += std::abs(v) <= std::abs(o.influence);
  }
  const double n = static_cast<double>(std::max<std::size_t>(o.random.size(), 1));
  o.random_mean /= n;
  o.percentile = static_cast<double>(signed_below) / n;
  o.percentile_abs = static_cast<double>(abs_below) / n;
  o.beats_all = signed_below == o.random.size();
  o.beats_all_abs = abs_below == o.random.size();
}

Optimality optimality_test(const PathIntegral& integral, const TokenPattern& pattern, std::size_t samples, std::uint64_t seed) {
  Optimality o;
  // The refined pattern measured as the random ones are (reverse mode alone), so that equal
  // patterns tie exactly.
  o.influence = integral.influence(pattern_of(integral, pattern));
  for (const auto& path : random_paths(pattern.source, integral.instance().qoi.target, integral.layers(), integral.tokens(),
                                       integral.heads(), samples, seed))
    o.random.push_back(integral.influence(partial_pattern(integral, path.positions, path.edges)));
  summarise_optimality(o, pattern.sign);
  return o;
}

std::string_view algorithm_name(Algorithm algorithm) {
  return algorithm == Algorithm::sweep ? "sweep" : "per-layer";
}

Algorithm parse_algorithm(std::string_view name) {
  if (name == "sweep") return Algorithm::sweep;
  if (name == "per-layer") return Algorithm::per_layer;
  fail(ErrorKind::input, "influence algorithm \"{}\": expected sweep or per-layer", name);
}

ExampleResult analyse(const model::Model& model, const Instance& instance, const Options& options) {
  ExampleResult r;
  auto start = std::chrono::steady_clock::now();
  PathIntegral integral(model, instance, options.integral);
  r.qoi = integral.qoi();
  r.qoi_baseline = integral.qoi_baseline();
  r.attributions = integral.attributions();
  r.layer_attributions = integral.layer_attributions();
  r.seconds_integral = seconds_since(start);
  if (!options.patterns) return r;
  start = std::chrono::steady_clock::now();
  std::vector<std::int32_t> sources = options.sources;
  if (sources.empty())
    for (std::int32_t t = 0; t < integral.tokens(); ++t)
      if (t != instance.qoi.target) sources.push_back(t);
  for (auto s : sources)
    if (s < 0 || s >= integral.tokens())
      fail(ErrorKind::input, "source token {} outside the input's {} tokens", s, integral.tokens());
  r.patterns.resize(sources.size());
  if (options.verify) r.verified.resize(sources.size());
  r.algorithm = options.algorithm == Algorithm::sweep && integral.tapes() == 1 ? Algorithm::sweep : Algorithm::per_layer;
  // Source tokens are independent searches over the same (read-only) path: one per thread, with
  // the passes inside each running single-threaded. Small models gain most: their passes are too
  // short to share among threads.
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic) if (sources.size() > 1)
  for (std::size_t k = 0; k < sources.size(); ++k) {
    try {
      r.patterns[k] = r.algorithm == Algorithm::sweep ? refine_sweep(integral, sources[k]) : refine(integral, sources[k]);
      if (options.verify) r.verified[k] = integral.influence(pattern_of(integral, r.patterns[k]));
    } catch (...) {
#pragma omp critical(influence_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  r.seconds_patterns = seconds_since(start);
  if (options.optimality_samples == 0) return r;
  start = std::chrono::steady_clock::now();
  r.optimality.resize(sources.size());
#pragma omp parallel for schedule(dynamic) if (sources.size() > 1)
  for (std::size_t k = 0; k < sources.size(); ++k) {
    try {
      r.optimality[k] = optimality_test(integral, r.patterns[k], options.optimality_samples,
                                        mix_seed(options.optimality_seed, static_cast<std::uint64_t>(sources[k])));
    } catch (...) {
#pragma omp critical(influence_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  r.seconds_optimality = seconds_since(start);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Aggregates.

std::vector<std::vector<EdgeCount>> edge_counts(std::span<const TokenPattern* const> patterns, std::int64_t layers) {
  std::vector<std::vector<EdgeCount>> out(static_cast<std::size_t>(layers));
  for (std::int64_t b = 0; b < layers; ++b) {
    // (from, to, skip) -> (count, signed count, head counts)
    std::map<std::tuple<std::int32_t, std::int32_t, bool>, std::tuple<std::size_t, double, std::map<std::int32_t, std::size_t>>> edges;
    for (const auto* p : patterns) {
      if (static_cast<std::int64_t>(p->choices.size()) != layers)
        fail(ErrorKind::internal, "a pattern with {} choices among patterns of {} blocks", p->choices.size(), layers);
      const auto c = p->choices[static_cast<std::size_t>(b)];
      auto& [count, sum, heads] = edges[{p->positions[static_cast<std::size_t>(b)], p->positions[static_cast<std::size_t>(b + 1)], c < 0}];
      ++count;
      sum += p->sign;
      if (c >= 0) ++heads[c];
    }
    auto& block = out[static_cast<std::size_t>(b)];
    for (const auto& [key, value] : edges) {
      const auto& [count, sum, heads] = value;
      EdgeCount e{std::get<0>(key), std::get<1>(key), std::get<2>(key), count, sum, -1, 0.0};
      for (const auto& [h, n] : heads)
        if (e.modal_head < 0 || n > heads.at(e.modal_head)) e.modal_head = h;
      if (e.modal_head >= 0) e.modal_head_share = static_cast<double>(heads.at(e.modal_head)) / static_cast<double>(count);
      block.push_back(e);
    }
    std::stable_sort(block.begin(), block.end(), [](const EdgeCount& x, const EdgeCount& y) { return x.count > y.count; });
  }
  return out;
}

Correlation pearson(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) fail(ErrorKind::internal, "pearson: {} and {} values", x.size(), y.size());
  Correlation c;
  c.n = x.size();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (c.n < 2) return {c.n, nan, nan, nan};
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < c.n; ++i) {
    mx += x[i] / static_cast<double>(c.n);
    my += y[i] / static_cast<double>(c.n);
  }
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < c.n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  c.r = sxx > 0 && syy > 0 ? std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0) : nan;
  if (c.n < 4 || std::isnan(c.r)) {
    c.low = c.high = nan;
    return c;
  }
  const double z = std::atanh(std::clamp(c.r, -0.999999999, 0.999999999)), se = 1.0 / std::sqrt(static_cast<double>(c.n) - 3.0);
  c.low = std::tanh(z - 1.96 * se);
  c.high = std::tanh(z + 1.96 * se);
  return c;
}

SkipShare skip_share(std::span<const TokenPattern* const> patterns, std::int64_t layers) {
  SkipShare s;
  s.patterns = patterns.size();
  s.per_layer.assign(static_cast<std::size_t>(layers), 0.0);
  if (patterns.empty()) return s;
  std::size_t skips = 0;
  for (const auto* p : patterns) {
    if (static_cast<std::int64_t>(p->choices.size()) != layers)
      fail(ErrorKind::internal, "a pattern with {} choices among patterns of {} blocks", p->choices.size(), layers);
    for (std::int64_t b = 0; b < layers; ++b)
      if (p->choices[static_cast<std::size_t>(b)] < 0) {
        s.per_layer[static_cast<std::size_t>(b)] += 1;
        ++skips;
      }
  }
  for (auto& v : s.per_layer) v /= static_cast<double>(patterns.size());
  s.overall = static_cast<double>(skips) / static_cast<double>(patterns.size() * static_cast<std::size_t>(layers));
  return s;
}

Consistency consistency(std::span<const TokenPattern* const> patterns) {
  Consistency c;
  c.instances = patterns.size();
  if (patterns.empty()) return c;
  std::map<std::vector<std::int32_t>, std::pair<std::size_t, std::size_t>> counts;  // key -> (count, first index)
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    auto key = patterns[i]->positions;
    key.insert(key.end(), patterns[i]->choices.begin(), patterns[i]->choices.end());
    auto [it, fresh] = counts.emplace(std::move(key), std::make_pair(std::size_t{0}, i));
    ++it->second.first;
  }
  c.distinct = counts.size();
  const std::pair<std::size_t, std::size_t>* best = nullptr;
  for (const auto& [key, v] : counts)
    if (!best || v.first > best->first || (v.first == best->first && v.second < best->second)) best = &v;
  const auto* modal = patterns[best->second];
  c.positions = modal->positions;
  c.choices = modal->choices;
  c.modal_share = static_cast<double>(best->first) / static_cast<double>(patterns.size());
  return c;
}

std::map<std::string, Accuracy> accuracy_by_form(std::span<const double> qoi, std::span<const std::string> forms) {
  if (qoi.size() != forms.size()) fail(ErrorKind::internal, "{} QoI values for {} forms", qoi.size(), forms.size());
  std::map<std::string, Accuracy> out;
  auto add = [](Accuracy& a, double q) {
    ++a.n;
    a.correct += q > 0;
    a.mean_qoi += q;
  };
  for (std::size_t i = 0; i < qoi.size(); ++i) {
    add(out[""], qoi[i]);
    if (!forms[i].empty()) add(out[forms[i]], qoi[i]);
  }
  for (auto& [key, a] : out) {
    a.accuracy = static_cast<double>(a.correct) / static_cast<double>(a.n);
    a.mean_qoi /= static_cast<double>(a.n);
  }
  return out;
}

}  // namespace bertscope::analysis::influence
