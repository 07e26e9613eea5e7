// Public hooks (bertscope/hooks.hpp): written against include/bertscope only, each checked
// against an intervention or gradient the API computes another way.
#include <cmath>
#include <functional>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bertscope/bertscope.hpp"
#include "test_util.hpp"

namespace bertscope {
namespace {

class FnHook final : public Hook {
 public:
  FnHook(std::string site, std::int64_t layer, Pass pass, std::function<void(const SiteView&)> fn, bool replaces = false)
      : site_(std::move(site)), layer_(layer), pass_(pass), fn_(std::move(fn)), replaces_(replaces) {}
  bool wants(std::string_view site, std::int64_t layer, Pass pass) const override {
    return site == site_ && layer == layer_ && pass == pass_;
  }
  void at(const SiteView& v) override { fn_(v); }
  bool replaces() const override { return replaces_; }

 private:
  std::string site_;
  std::int64_t layer_;
  Pass pass_;
  std::function<void(const SiteView&)> fn_;
  bool replaces_;
};

const std::string& classifier_model() {
  static test::TempDir dir{"api-hooks"};
  static const std::string path = test::make_model(
      dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 24 --heads 3 --intermediate 40 --labels 3 --seed 21 "
                              "--init-std 0.2 --bias-std 0.1", test::uncased_vocab()));
  return path;
}

double max_diff(const Array& a, const Array& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double d = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a.data()[i]) - b.data()[i]));
  return d;
}

TEST(ApiHooks, ForwardHookSeesTheLayoutItDocuments) {
  const auto m = Model::load(classifier_model());
  const auto e = m.encode("the cat sat on the mat");
  std::vector<std::vector<std::int64_t>> shapes;
  std::vector<std::string> sites;
  class Shapes final : public Hook {
   public:
    Shapes(std::vector<std::vector<std::int64_t>>& s, std::vector<std::string>& n) : s_(s), n_(n) {}
    bool wants(std::string_view, std::int64_t layer, Pass pass) const override { return layer == 1 && pass == Pass::forward; }
    void at(const SiteView& v) override {
      s_.push_back(v.shape(0));
      n_.emplace_back(v.site());
    }
    std::vector<std::vector<std::int64_t>>& s_;
    std::vector<std::string>& n_;
  } shapes_hook(shapes, sites);
  const auto out = m.run(e, {.record = "layer.1.attn.probs", .hooks = {&shapes_hook}});
  const auto t = static_cast<std::int64_t>(e.size());
  std::map<std::string, std::vector<std::int64_t>> by_site;
  for (std::size_t i = 0; i < sites.size(); ++i) by_site[sites[i]] = shapes[i];
  EXPECT_EQ(by_site.at("attn.probs"), (std::vector<std::int64_t>{3, t, t}));
  EXPECT_EQ(by_site.at("attn.context"), (std::vector<std::int64_t>{t, 3, 8}));
  EXPECT_EQ(by_site.at("ffn.act"), (std::vector<std::int64_t>{t, 40}));
  EXPECT_EQ(by_site.at("out"), (std::vector<std::int64_t>{t, 24}));
  EXPECT_EQ(out.site("layer.1.attn.probs").shape(), (std::vector<std::int64_t>{3, t, t}));
}

TEST(ApiHooks, ZeroingAHeadsContextIsMaskingTheHead) {
  const auto m = Model::load(classifier_model());
  const auto e = m.encode("a dog ran home");
  FnHook zero("attn.context", 0, Pass::forward, [](const SiteView& v) {
    const auto shape = v.shape(0);  // [tok, head, head_dim]
    for (std::int64_t i = 0; i < shape[0]; ++i) std::fill_n(v.data(0) + (i * shape[1] + 2) * shape[2], shape[2], 0.0f);
  }, true);
  std::vector<float> mask(6, 1.0f);
  mask[2] = 0.0f;
  const auto hooked = m.run(e, {.classifier_logits = true, .hooks = {&zero}});
  const auto masked = m.run(e, {.classifier_logits = true, .head_mask = Array::from_values({2, 3}, mask)});
  const auto plain = m.run(e, {.classifier_logits = true});
  EXPECT_LE(max_diff(hooked.last_hidden, masked.last_hidden), 1e-6);
  EXPECT_GT(max_diff(hooked.last_hidden, plain.last_hidden), 1e-3);
  // A replacing hook's forward serves no gradient.
  EXPECT_THROW(m.gradient({e, {}}, Target::class_logit(0), {}, {.hooks = {&zero}}), Error);
}

TEST(ApiHooks, AttentionTimesGradientInABackwardHookIsTheHeadMaskGradient) {
  const auto m = Model::load(classifier_model());
  const auto e = m.encode("the keys to the cabinet are here");
  std::vector<double> per_head(3, 0.0);
  FnHook attribution("attn.probs", 1, Pass::backward, [&](const SiteView& v) {
    const auto shape = v.shape(0);
    const float* p = v.forward(0);
    ASSERT_NE(p, nullptr);
    const auto block = shape[1] * shape[2];
    for (std::int64_t h = 0; h < shape[0]; ++h)
      for (std::int64_t i = 0; i < block; ++i) per_head[static_cast<std::size_t>(h)] += double(v.data(0)[h * block + i]) * p[h * block + i];
  });
  const auto g = m.gradient({e, {}}, Target::class_logit(1), {.head_mask = true, .hooks = {&attribution}});
  for (std::size_t h = 0; h < 3; ++h) {
    const double want = g.head_mask.data()[3 + h];
    EXPECT_NEAR(per_head[h], want, 1e-5 * std::max(1.0, std::abs(want)));
  }
}

TEST(ApiHooks, ConstantHeadGetsNoScoreGradientAndBypassSkipsALayer) {
  const auto m = Model::load(classifier_model());
  const auto e = m.encode("birds sing");
  // Marking head 0 of layer 0 constant without changing it stops its scores' gradient.
  FnHook mark("attn.probs", 0, Pass::forward, [](const SiteView& v) { v.mark_constant(0, 0); });
  const auto marked = m.gradient({e, {}}, Target::class_logit(0), {.sites = "layer.0.attn.scores"}, {.hooks = {&mark}});
  const auto free = m.gradient({e, {}}, Target::class_logit(0), {.sites = "layer.0.attn.scores"});
  const auto& gm = marked.sites.at("layer.0.attn.scores");
  const auto& gf = free.sites.at("layer.0.attn.scores");
  const auto t = static_cast<std::int64_t>(e.size());
  double head0 = 0, head1 = 0;
  for (std::int64_t i = 0; i < t * t; ++i) {
    head0 = std::max(head0, double(std::abs(gm.data()[i])));
    head1 = std::max(head1, std::abs(double(gm.data()[t * t + i]) - gf.data()[t * t + i]));
  }
  EXPECT_EQ(head0, 0.0);
  EXPECT_EQ(head1, 0.0);
  EXPECT_GT(max_diff(gm, gf), 1e-6);

  class Bypass final : public Hook {
   public:
    bool wants(std::string_view, std::int64_t, Pass) const override { return false; }
    void at(const SiteView&) override {}
    bool bypasses(std::int64_t layer) const override { return layer == 0; }
  } bypass;
  const auto a = m.run(e, {.hooks = {&bypass}});
  const auto b = m.run(e, {.skip_layers = {0}});
  EXPECT_EQ(max_diff(a.last_hidden, b.last_hidden), 0.0);
}

}  // namespace
}  // namespace bertscope
