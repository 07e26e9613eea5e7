// Site hooks (model/hooks.hpp): observing costs no recording, a forward hook replaces what
// flows on, a backward hook stops a gradient like a flow mask, and a tangent hook can decide
// between layers from what it sees; backward and tangent hooks reach attn.scores and attn.probs;
// a differentiable hook carries its own derivative; a hook can bypass a layer.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "core/matmul.hpp"
#include "model/autodiff.hpp"
#include "model/generator.hpp"
#include "model/hooks.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;

namespace {

// A hook at one (site, layer, pass) that runs a function on the values.
class LambdaHook : public model::SiteHook {
 public:
  LambdaHook(model::Site site, std::int64_t layer, model::Pass pass, std::function<void(const model::SiteValues&)> fn,
             bool replaces = false)
      : site_(site), layer_(layer), pass_(pass), fn_(std::move(fn)), replaces_(replaces) {}
  bool wants(model::Site site, std::int64_t layer, model::Pass pass) const override {
    return site == site_ && layer == layer_ && pass == pass_;
  }
  void at(const model::SiteValues& v) override { fn_(v); }
  bool replaces() const override { return replaces_; }

 private:
  model::Site site_;
  std::int64_t layer_;
  model::Pass pass_;
  std::function<void(const model::SiteValues&)> fn_;
  bool replaces_;
};

struct HookModel {
  TempDir dir{"hooks"};
  model::Model model;
  std::vector<model::ModelInput> inputs;
  HookModel() : model(make()) {
    inputs.resize(2);
    inputs[0].ids = {2, 40, 41, 42, 43, 3};
    inputs[1].ids = {2, 50, 51, 3};
  }
  model::Model make() {
    model::GeneratorOptions o;
    o.vocab = test::data_dir() / "tiny-vocab.txt";
    o.layers = 2;
    o.hidden = 24;
    o.heads = 3;
    o.intermediate = 40;
    o.seed = 9;
    o.init_std = 0.2;
    o.bias_std = 0.1;
    model::make_model(o, dir.path() / "m");
    return model::Model::load(dir.path() / "m");
  }
};

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
  return d;
}

}  // namespace

TEST(SiteHooks, ObserverSeesRecordedValuesWithoutRecording) {
  HookModel h;
  std::vector<std::vector<float>> seen;
  LambdaHook observe(model::Site::resid_mid, 1, model::Pass::forward, [&](const model::SiteValues& v) {
    for (std::int64_t b = 0; b < v.inputs(); ++b) seen.emplace_back(v.of(b).begin(), v.of(b).end());
  });
  model::RunOptions opt;
  opt.hooks = {&observe};
  const auto hooked = h.model.forward(h.inputs, opt);
  EXPECT_TRUE(hooked[0].trace.names().empty());  // a hook asks for nothing to be kept
  model::RunOptions rec;
  rec.record = model::SiteSet::parse("layer.1.resid_mid", h.model.layers());
  const auto recorded = h.model.forward(h.inputs, rec);
  ASSERT_EQ(seen.size(), 2u);
  for (std::size_t b = 0; b < 2; ++b)
    EXPECT_EQ(max_abs_diff(seen[b], recorded[b].trace.find(model::Site::resid_mid, 1)->span()), 0.0);
}

TEST(SiteHooks, ForwardReplacementEqualsNodeReplacement) {
  HookModel h;
  // Zero head 1's context at token 2 of input 0 in layer 0, by hook and by NodeReplacement.
  const auto d = h.model.config().head_dim();
  LambdaHook zero(model::Site::attn_context, 0, model::Pass::forward, [&](const model::SiteValues& v) {
    float* row = v.of(0).data() + 2 * v.width;
    std::fill(row + d, row + 2 * d, 0.0f);
  }, true);
  model::RunOptions opt;
  opt.hooks = {&zero};
  model::ForwardTape hooked_tape, replaced_tape;
  const auto hooked = model::forward_with_tape(h.model, h.inputs, opt, {}, hooked_tape);
  model::TapeOptions topt;
  model::NodeReplacement r;
  r.site = model::FlowSite::context;
  r.layer = 0;
  r.keep = core::Tensor({6, 3});
  std::fill(r.keep.data.begin(), r.keep.data.end(), 1.0f);
  r.keep.data[2 * 3 + 1] = 0.0f;
  topt.replacements = {{r}, {}};
  const auto replaced = model::forward_with_tape(h.model, h.inputs, {}, topt, replaced_tape);
  const auto plain = h.model.forward(h.inputs);
  EXPECT_EQ(max_abs_diff(hooked[0].last_hidden.span(), replaced[0].last_hidden.span()), 0.0);
  EXPECT_GT(max_abs_diff(hooked[0].last_hidden.span(), plain[0].last_hidden.span()), 1e-3);
  // A tape whose values a hook wrote serves no gradient pass.
  std::vector<model::OutputGrad> seeds(2);
  EXPECT_THROW(model::backward(h.model, hooked_tape, seeds, {}), Error);
}

TEST(SiteHooks, BackwardHookStopsGradientLikeFlowMask) {
  HookModel h;
  model::TapeOptions topt;
  model::ForwardTape tape;
  const auto out = model::forward_with_tape(h.model, h.inputs, {}, topt, tape);
  std::vector<model::OutputGrad> seeds;
  for (const auto& r : out) {
    model::OutputGrad g;
    g.last_hidden = core::Tensor(r.last_hidden.shape);  // a fixed direction G: d(sum(h * G))
    for (std::size_t i = 0; i < g.last_hidden.data.size(); ++i) g.last_hidden.data[i] = std::cos(0.3f * static_cast<float>(i));
    seeds.push_back(std::move(g));
  }
  // Let the gradient through h_1 (layer.0.out) only at token 1 of each input.
  LambdaHook stop(model::Site::layer_out, 0, model::Pass::backward, [](const model::SiteValues& v) {
    for (std::int64_t b = 0; b < v.inputs(); ++b)
      for (std::int64_t i = 0; i < v.tokens(b); ++i)
        if (i != 1) std::fill_n(v.of(b).data() + i * v.width, v.width, 0.0f);
  });
  model::GradRequest by_hook;
  by_hook.word_embeddings = true;
  by_hook.hooks = {&stop};
  model::GradRequest by_mask;
  by_mask.word_embeddings = true;
  for (const auto& in : h.inputs) {
    model::FlowMask m;
    m.site = model::FlowSite::hidden;
    m.layer = 1;
    m.mask = core::Tensor({static_cast<std::int64_t>(in.ids.size())});
    m.mask.data[1] = 1.0f;
    by_mask.flow_masks.push_back({m});
  }
  const auto a = model::backward(h.model, tape, seeds, by_hook), b = model::backward(h.model, tape, seeds, by_mask);
  model::GradRequest unrestricted;
  unrestricted.word_embeddings = true;
  const auto free = model::backward(h.model, tape, seeds, unrestricted);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(max_abs_diff(a.word_embedding_grads[i].span(), b.word_embedding_grads[i].span()), 0.0);
    EXPECT_GT(max_abs_diff(a.word_embedding_grads[i].span(), free.word_embedding_grads[i].span()), 1e-4);
  }
}

TEST(SiteHooks, TangentHookDecidesBetweenLayers) {
  HookModel h;
  model::ForwardTape tape;
  (void)model::forward_with_tape(h.model, h.inputs, {}, {}, tape);
  std::vector<core::Tensor> tangents;
  for (const auto& in : h.inputs) {
    core::Tensor t({static_cast<std::int64_t>(in.ids.size()), h.model.config().hidden_size});
    for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = std::sin(0.37f * static_cast<float>(i));
    tangents.push_back(std::move(t));
  }
  // After seeing layer 0's tangent, keep only each input's token where it is largest.
  std::vector<std::int64_t> kept;
  LambdaHook keep_largest(model::Site::layer_out, 0, model::Pass::tangent, [&](const model::SiteValues& v) {
    for (std::int64_t b = 0; b < v.inputs(); ++b) {
      std::int64_t best = 0;
      double best_norm = -1;
      for (std::int64_t i = 0; i < v.tokens(b); ++i) {
        double norm = 0;
        for (std::int64_t j = 0; j < v.width; ++j) norm += std::pow(v.of(b)[static_cast<std::size_t>(i * v.width + j)], 2);
        if (norm > best_norm) best_norm = norm, best = i;
      }
      kept.push_back(best);
      for (std::int64_t i = 0; i < v.tokens(b); ++i)
        if (i != best) std::fill_n(v.of(b).data() + i * v.width, v.width, 0.0f);
    }
  });
  const auto hooked = model::jvp(h.model, tape, tangents, model::SiteSet(h.model.layers()), {}, {&keep_largest});
  ASSERT_EQ(kept.size(), 2u);
  std::vector<std::vector<model::FlowMask>> masks;
  for (std::size_t b = 0; b < 2; ++b) {
    model::FlowMask m;
    m.layer = 1;
    m.mask = core::Tensor({static_cast<std::int64_t>(h.inputs[b].ids.size())});
    m.mask.data[static_cast<std::size_t>(kept[b])] = 1.0f;
    masks.push_back({m});
  }
  const auto masked = model::jvp(h.model, tape, tangents, model::SiteSet(h.model.layers()), masks);
  for (std::size_t b = 0; b < 2; ++b)
    EXPECT_EQ(max_abs_diff(hooked.last_hidden[b].span(), masked.last_hidden[b].span()), 0.0);
}

namespace {

// Seeds d(sum(h_L * G)) for a fixed direction G.
std::vector<model::OutputGrad> fixed_seeds(const std::vector<model::ForwardResult>& out) {
  std::vector<model::OutputGrad> seeds;
  for (const auto& r : out) {
    model::OutputGrad g;
    g.last_hidden = core::Tensor(r.last_hidden.shape);
    for (std::size_t i = 0; i < g.last_hidden.data.size(); ++i) g.last_hidden.data[i] = std::cos(0.3f * static_cast<float>(i));
    seeds.push_back(std::move(g));
  }
  return seeds;
}

std::vector<core::Tensor> fixed_tangents(const HookModel& h) {
  std::vector<core::Tensor> tangents;
  for (const auto& in : h.inputs) {
    core::Tensor t({static_cast<std::int64_t>(in.ids.size()), h.model.config().hidden_size});
    for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = std::sin(0.37f * static_cast<float>(i));
    tangents.push_back(std::move(t));
  }
  return tangents;
}

// Zeroes head `head`'s block of every input.
std::function<void(const model::SiteValues&)> zero_head(std::int64_t head) {
  return [head](const model::SiteValues& v) {
    for (std::int64_t b = 0; b < v.inputs(); ++b) {
      const auto t = v.tokens(b);
      std::fill_n(v.of(b).data() + head * t * t, t * t, 0.0f);
    }
  };
}

double max_rel_diff(std::span<const float> a, std::span<const float> b) {
  double scale = 0;
  for (auto x : b) scale = std::max(scale, std::abs(double(x)));
  return max_abs_diff(a, b) / std::max(scale, 1e-30);
}

// Multiplies one head's values of a per-head site by c in every pass: a differentiable hook
// (the map is linear, so its derivative is the same product).
class ScaleHead final : public model::SiteHook {
 public:
  ScaleHead(model::Site site, std::int64_t layer, std::int64_t head, std::int64_t head_dim, float c)
      : site_(site), layer_(layer), head_(head), d_(head_dim), c_(c) {}
  bool wants(model::Site site, std::int64_t layer, model::Pass) const override { return site == site_ && layer == layer_; }
  void at(const model::SiteValues& v) override {
    for (std::int64_t b = 0; b < v.inputs(); ++b)
      for (std::int64_t i = 0; i < v.tokens(b); ++i)
        for (std::int64_t e = 0; e < d_; ++e) v.of(b)[static_cast<std::size_t>(i * v.width + head_ * d_ + e)] *= c_;
  }
  bool differentiable() const override { return true; }

 private:
  model::Site site_;
  std::int64_t layer_, head_, d_;
  float c_;
};

// Replaces a layer by the identity when the layer below's output has a large value.
class SkipWhenLarge final : public model::SiteHook {
 public:
  bool wants(model::Site site, std::int64_t layer, model::Pass pass) const override {
    return site == model::Site::layer_out && layer == 0 && pass == model::Pass::forward;
  }
  void at(const model::SiteValues& v) override {
    for (std::int64_t i = 0; i < v.row_offsets.back() * v.width; ++i) skip_ = skip_ || std::abs(v.data[i]) > 0.5f;
  }
  bool bypasses(std::int64_t layer) const override { return layer == 1 && skip_; }

 private:
  bool skip_ = false;
};

}  // namespace

TEST(SiteHooks, BackwardHookAtProbsStopsTheScoresLikeGivenAttention) {
  HookModel h;
  // Head 1 of layer 0 made a constant by giving it its own attention...
  model::RunOptions rec;
  rec.record = model::SiteSet::parse("layer.0.attn.probs", h.model.layers());
  model::ForwardTape recording;  // the taped forward's own probabilities (the untaped one fuses differently)
  const auto plain = model::forward_with_tape(h.model, h.inputs, rec, {}, recording);
  auto given = h.inputs;
  for (std::size_t b = 0; b < given.size(); ++b) {
    const auto& p = *plain[b].trace.find(model::Site::attn_probs, 0);
    const auto t = p.dim(1);
    core::Tensor block({t, t});
    std::copy_n(p.ptr() + t * t, t * t, block.data.begin());
    given[b].attention_overrides.push_back({0, 1, block});
  }
  model::ForwardTape constant_tape, tape;
  const auto out = model::forward_with_tape(h.model, given, {}, {}, constant_tape);
  (void)model::forward_with_tape(h.model, h.inputs, {}, {}, tape);
  const auto seeds = fixed_seeds(out);
  model::GradRequest by_constant;
  by_constant.word_embeddings = true;
  by_constant.sites = model::SiteSet::parse("layer.0.attn.scores", h.model.layers());
  const auto a = model::backward(h.model, constant_tape, seeds, by_constant);
  // ... or by stopping its gradient at attn.probs in the backward pass.
  LambdaHook stop(model::Site::attn_probs, 0, model::Pass::backward, zero_head(1));
  model::GradRequest by_hook = by_constant;
  by_hook.hooks = {&stop};
  const auto b = model::backward(h.model, tape, seeds, by_hook);
  model::GradRequest free = by_constant;
  const auto c = model::backward(h.model, tape, seeds, free);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(max_abs_diff(a.word_embedding_grads[i].span(), b.word_embedding_grads[i].span()), 0.0);
    EXPECT_GT(max_abs_diff(a.word_embedding_grads[i].span(), c.word_embedding_grads[i].span()), 1e-5);
    EXPECT_EQ(max_abs_diff(a.site_grads[i].find(model::Site::attn_scores, 0)->span(),
                           b.site_grads[i].find(model::Site::attn_scores, 0)->span()), 0.0);
  }
  // Zeroing the scores' gradient instead stops the same path.
  LambdaHook stop_scores(model::Site::attn_scores, 0, model::Pass::backward, zero_head(1));
  model::GradRequest by_scores = by_constant;
  by_scores.hooks = {&stop_scores};
  const auto d = model::backward(h.model, tape, seeds, by_scores);
  for (std::size_t i = 0; i < 2; ++i)
    EXPECT_EQ(max_abs_diff(a.word_embedding_grads[i].span(), d.word_embedding_grads[i].span()), 0.0);
}

TEST(SiteHooks, TangentHooksAtScoresAndProbsStopLikeGivenAttention) {
  HookModel h;
  model::RunOptions rec;
  rec.record = model::SiteSet::parse("layer.1.attn.probs", h.model.layers());
  model::ForwardTape recording;
  const auto plain = model::forward_with_tape(h.model, h.inputs, rec, {}, recording);
  auto given = h.inputs;
  for (std::size_t b = 0; b < given.size(); ++b) {
    const auto& p = *plain[b].trace.find(model::Site::attn_probs, 1);
    const auto t = p.dim(1);
    core::Tensor block({t, t});
    std::copy_n(p.ptr() + 2 * t * t, t * t, block.data.begin());
    given[b].attention_overrides.push_back({1, 2, block});
  }
  model::ForwardTape constant_tape, tape;
  (void)model::forward_with_tape(h.model, given, {}, {}, constant_tape);
  (void)model::forward_with_tape(h.model, h.inputs, {}, {}, tape);
  const auto tangents = fixed_tangents(h);
  const model::SiteSet none(h.model.layers());
  const auto a = model::jvp(h.model, constant_tape, tangents, none);
  LambdaHook at_probs(model::Site::attn_probs, 1, model::Pass::tangent, zero_head(2));
  LambdaHook at_scores(model::Site::attn_scores, 1, model::Pass::tangent, zero_head(2));
  const auto b = model::jvp(h.model, tape, tangents, none, {}, {&at_probs});
  const auto c = model::jvp(h.model, tape, tangents, none, {}, {&at_scores});
  const auto free = model::jvp(h.model, tape, tangents, none);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(max_abs_diff(a.last_hidden[i].span(), b.last_hidden[i].span()), 0.0);
    EXPECT_EQ(max_abs_diff(a.last_hidden[i].span(), c.last_hidden[i].span()), 0.0);
    EXPECT_GT(max_abs_diff(a.last_hidden[i].span(), free.last_hidden[i].span()), 1e-5);
  }
}

TEST(SiteHooks, BackwardHookSeesAppliedAttentionForAttentionTimesGradient) {
  HookModel h;
  model::ForwardTape tape;
  const auto out = model::forward_with_tape(h.model, h.inputs, {}, {}, tape);
  // Per input and head of layer 1: <dL/dP, P>, which is dL/d(head-mask coefficient) at m = 1.
  std::vector<std::vector<double>> by_hook(2, std::vector<double>(3));
  LambdaHook attribution(model::Site::attn_probs, 1, model::Pass::backward, [&](const model::SiteValues& v) {
    ASSERT_NE(v.forward, nullptr);
    for (std::int64_t b = 0; b < v.inputs(); ++b) {
      const auto t = v.tokens(b);
      const float* p = v.forward + v.block_offsets[static_cast<std::size_t>(b)];
      for (std::int64_t hd = 0; hd < 3; ++hd)
        for (std::int64_t i = 0; i < t * t; ++i)
          by_hook[static_cast<std::size_t>(b)][static_cast<std::size_t>(hd)] += double(v.of(b)[static_cast<std::size_t>(hd * t * t + i)]) * p[hd * t * t + i];
    }
  });
  model::GradRequest req;
  req.head_mask_per_input = true;
  req.hooks = {&attribution};
  const auto g = model::backward(h.model, tape, fixed_seeds(out), req);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t hd = 0; hd < 3; ++hd) {
      const double want = g.head_mask_grads[b].data[3 + hd];
      EXPECT_NEAR(by_hook[b][hd], want, 1e-5 * std::max(1.0, std::abs(want)));
    }
}

TEST(SiteHooks, DifferentiableHookCarriesItsDerivativeLikeTheHeadMask) {
  HookModel h;
  // Scaling head 1's context of layer 0 by c is the head mask with m[0, 1] = c.
  const float c = 0.6f;
  ScaleHead scale(model::Site::attn_context, 0, 1, h.model.config().head_dim(), c);
  model::RunOptions by_hook;
  by_hook.hooks = {&scale};
  model::RunOptions by_mask;
  by_mask.head_mask = core::Tensor({2, 3}, 1.0f);
  by_mask.head_mask.data[1] = c;
  model::ForwardTape hook_tape, mask_tape;
  const auto a = model::forward_with_tape(h.model, h.inputs, by_hook, {}, hook_tape);
  const auto b = model::forward_with_tape(h.model, h.inputs, by_mask, {}, mask_tape);
  const auto plain = h.model.forward(h.inputs);
  model::GradRequest req;
  req.word_embeddings = req.params = true;
  const auto ga = model::backward(h.model, hook_tape, fixed_seeds(a), req);
  const auto gb = model::backward(h.model, mask_tape, fixed_seeds(b), req);
  const auto tangents = fixed_tangents(h);
  const model::SiteSet none(h.model.layers());
  const auto ja = model::jvp(h.model, hook_tape, tangents, none), jb = model::jvp(h.model, mask_tape, tangents, none);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_LE(max_rel_diff(a[i].last_hidden.span(), b[i].last_hidden.span()), 1e-5);
    EXPECT_GT(max_abs_diff(a[i].last_hidden.span(), plain[i].last_hidden.span()), 1e-3);
    EXPECT_LE(max_rel_diff(ga.word_embedding_grads[i].span(), gb.word_embedding_grads[i].span()), 1e-5);
    EXPECT_LE(max_rel_diff(ja.last_hidden[i].span(), jb.last_hidden[i].span()), 1e-5);
  }
  // Absolute, at the scale of the largest gradient: the key biases' gradients are zero up to
  // rounding (softmax ignores a shift of every score in a row).
  double largest = 0;
  for (const auto& [name, grad] : gb.param_grads)
    for (auto x : grad.span()) largest = std::max(largest, std::abs(double(x)));
  for (const auto& [name, grad] : gb.param_grads)
    EXPECT_LE(max_abs_diff(ga.param_grads.at(name).span(), grad.span()), 1e-5 * largest) << name;
}

TEST(SiteHooks, HookBypassesALayerDecidedBelowIt) {
  HookModel h;
  SkipWhenLarge decide;
  model::RunOptions by_hook;
  by_hook.hooks = {&decide};
  by_hook.record = model::SiteSet::parse("layer.1.attn.probs", h.model.layers());
  model::RunOptions by_option;
  by_option.skip_layers = {1};
  by_option.record = by_hook.record;
  model::ForwardTape hook_tape, option_tape;
  const auto a = model::forward_with_tape(h.model, h.inputs, by_hook, {}, hook_tape);
  const auto b = model::forward_with_tape(h.model, h.inputs, by_option, {}, option_tape);
  const auto plain = h.model.forward(h.inputs);
  model::GradRequest req;
  req.word_embeddings = true;
  const auto ga = model::backward(h.model, hook_tape, fixed_seeds(a), req);
  const auto gb = model::backward(h.model, option_tape, fixed_seeds(b), req);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(max_abs_diff(a[i].last_hidden.span(), b[i].last_hidden.span()), 0.0);
    EXPECT_GT(max_abs_diff(a[i].last_hidden.span(), plain[i].last_hidden.span()), 1e-3);
    for (auto p : a[i].trace.find(model::Site::attn_probs, 1)->span()) EXPECT_EQ(p, 0.0f);
    EXPECT_EQ(max_abs_diff(ga.word_embedding_grads[i].span(), gb.word_embedding_grads[i].span()), 0.0);
  }
}

// The bf16 path converts a norm's output and the feed-forward activations to bf16 as they are
// made, unless something reads or changes them in float32 first: observer hooks at every site
// involved turn those fusions off, and the result must not change; a hook that changes a layer's
// output must be seen by the next layer's bf16 products.
TEST(SiteHooks, Bf16FusedConversionsRespectHooks) {
  if (!core::bf16_supported()) GTEST_SKIP() << "bf16 needs the oneDNN backend";
  HookModel h;
  model::RunOptions fast;
  fast.precision = model::Precision::bf16;
  const auto fused = h.model.forward(h.inputs, fast);
  std::vector<std::unique_ptr<LambdaHook>> observers;
  model::RunOptions plain = fast;
  for (std::int64_t l = 0; l < h.model.layers(); ++l)
    for (auto site : {model::Site::resid_mid, model::Site::layer_out, model::Site::ffn_act}) {
      observers.push_back(std::make_unique<LambdaHook>(site, l, model::Pass::forward, [](const model::SiteValues&) {}));
      plain.hooks.push_back(observers.back().get());
    }
  const auto unfused = h.model.forward(h.inputs, plain);
  const auto exact = h.model.forward(h.inputs);
  for (std::size_t b = 0; b < 2; ++b) {
    EXPECT_LE(max_abs_diff(fused[b].last_hidden.span(), unfused[b].last_hidden.span()), 1e-6) << "input " << b;
    EXPECT_LT(max_abs_diff(fused[b].last_hidden.span(), exact[b].last_hidden.span()), 0.1) << "input " << b;
  }
  // Adding 1 to layer 0's output: the bf16 pass follows the float32 pass with the same hook.
  LambdaHook shift(model::Site::layer_out, 0, model::Pass::forward, [](const model::SiteValues& v) {
    for (std::int64_t b = 0; b < v.inputs(); ++b)
      for (auto& x : v.of(b)) x += 1.0f;
  }, true);
  model::RunOptions shifted_fast = fast, shifted_exact;
  shifted_fast.hooks = {&shift};
  shifted_exact.hooks = {&shift};
  const auto a = h.model.forward(h.inputs, shifted_fast);
  const auto e = h.model.forward(h.inputs, shifted_exact);
  for (std::size_t b = 0; b < 2; ++b) {
    const double err = max_abs_diff(a[b].last_hidden.span(), e[b].last_hidden.span());
    const double effect = max_abs_diff(e[b].last_hidden.span(), exact[b].last_hidden.span());
    EXPECT_LT(err, 0.1 * effect) << "input " << b << ": bf16 error " << err << ", the hook's effect " << effect;
  }
}

// Recorded attention probabilities are computed in their recorded blocks unless a hook reads or
// changes the scores or probabilities: an observer at attn.probs turns that off, and the maps
// and outputs must be the same to the bit (padded input included; inputs one by one with all
// threads, or whole inputs per thread).
TEST(SiteHooks, AttentionComputedInItsRecordEqualsTheCopiedRecord) {
  HookModel h;
  h.inputs.push_back(h.inputs[0]);
  h.inputs[2].attention_mask = {1, 1, 1, 1, 0, 0};
  // Inputs of two lengths and a padded one: the (input, head) jobs that compute in the record
  // must give what the hooked path computes and copies.
  for (int i = 0; i < 5; ++i) h.inputs.push_back(h.inputs[static_cast<std::size_t>(i % 3)]);
  model::RunOptions direct;
  direct.record = model::SiteSet::parse("attn.probs,hidden", h.model.layers());
  std::vector<std::unique_ptr<LambdaHook>> observers;
  model::RunOptions copied = direct;
  for (std::int64_t l = 0; l < h.model.layers(); ++l) {
    observers.push_back(std::make_unique<LambdaHook>(model::Site::attn_probs, l, model::Pass::forward,
                                                     [](const model::SiteValues&) {}));
    copied.hooks.push_back(observers.back().get());
  }
  const auto a = h.model.forward(h.inputs, direct);
  const auto b = h.model.forward(h.inputs, copied);
  for (std::size_t i = 0; i < h.inputs.size(); ++i) {
    EXPECT_EQ(max_abs_diff(a[i].last_hidden.span(), b[i].last_hidden.span()), 0.0) << "input " << i;
    for (std::int64_t l = 0; l < h.model.layers(); ++l) {
      const auto* pa = a[i].trace.find(model::Site::attn_probs, l);
      const auto* pb = b[i].trace.find(model::Site::attn_probs, l);
      ASSERT_TRUE(pa && pb);
      EXPECT_EQ(pa->shape, pb->shape);
      EXPECT_EQ(max_abs_diff(pa->span(), pb->span()), 0.0) << "input " << i << " layer " << l;
    }
  }
  // The padded keys of input 2 get exactly zero.
  const auto* p = a[2].trace.find(model::Site::attn_probs, 0);
  for (std::int64_t head = 0; head < 3; ++head)
    for (std::int64_t q = 0; q < 6; ++q)
      for (std::int64_t k = 4; k < 6; ++k) EXPECT_EQ(p->data[static_cast<std::size_t>((head * 6 + q) * 6 + k)], 0.0f);
}
