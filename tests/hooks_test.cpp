// Site hooks (model/hooks.hpp): observing costs no recording, a forward hook replaces what
// flows on, a backward hook stops a gradient like a flow mask, and a tangent hook can decide
// between layers from what it sees.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

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
