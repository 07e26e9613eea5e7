// The public API's model half: loading, encoding, running with recorded sites and interventions,
// and gradients, each checked against the engine it wraps (model::Model, model/autodiff).
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bertscope/bertscope.hpp"
#include "model/autodiff.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

namespace bertscope {
namespace {

using test::TempDir;

struct ApiModels {
  TempDir dir{"api-models"};
  std::string mlm = test::make_model(dir, "mlm", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 --intermediate 40 "
                                                             "--seed 11 --init-std 0.2 --bias-std 0.1",
                                                             test::uncased_vocab()));
  std::string classifier = test::make_model(dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 "
                                                                    "--intermediate 40 --labels 3 --seed 12 --init-std 0.2 "
                                                                    "--bias-std 0.1",
                                                                    test::uncased_vocab()));
  std::string roberta = test::make_model(dir, "roberta", "--family roberta --vocab-size 120 --layers 2 --hidden 24 --heads 3 "
                                                         "--intermediate 30 --seed 13");
};

const ApiModels& api_models() {
  static const ApiModels m;
  return m;
}

std::vector<float> api_values(const Array& a) { return {a.data(), a.data() + a.size()}; }
std::vector<float> api_values(const core::Tensor& t) { return {t.data.begin(), t.data.end()}; }

TEST(ApiModel, LoadsAndDescribesEveryFamily) {
  const auto m = Model::load(api_models().mlm);
  const auto info = m.info();
  EXPECT_EQ(info.folder, api_models().mlm);
  EXPECT_EQ(info.family, "bert");
  EXPECT_EQ(info.layers, 2);
  EXPECT_EQ(info.heads, 2);
  EXPECT_EQ(info.hidden, 32);
  EXPECT_EQ(info.intermediate, 40);
  EXPECT_EQ(info.head_dim, 16);
  EXPECT_EQ(info.vocab, 30522);
  EXPECT_TRUE(info.has_tokenizer);
  EXPECT_TRUE(info.has_mlm_head);
  EXPECT_FALSE(info.has_classifier);
  EXPECT_EQ(info.labels, 0);

  const auto clf = Model::load(api_models().classifier).info();
  EXPECT_TRUE(clf.has_classifier);
  EXPECT_TRUE(clf.has_pooler);
  EXPECT_EQ(clf.labels, 3);

  const auto rob = Model::load(api_models().roberta).info();
  EXPECT_EQ(rob.family, "roberta");
  EXPECT_EQ(rob.heads, 3);
  EXPECT_EQ(rob.vocab, 120);
}

// A family without tokenizer files runs from ids; encoding says what is missing.
TEST(ApiModel, RunsRobertaFromIds) {
  const auto m = Model::load(api_models().roberta);
  EXPECT_FALSE(m.info().has_tokenizer);
  EXPECT_THROW(m.encode("hello"), Error);
  Encoding e;
  e.ids = {0, 17, 42, 99, 2};
  const auto out = m.run(e, {.record = "layer.1.attn.probs", .mlm_logits = true});
  const auto& probs = out.site("layer.1.attn.probs");
  EXPECT_EQ(probs.shape(), (std::vector<std::int64_t>{3, 5, 5}));
  EXPECT_EQ(out.mlm_logits.shape(), (std::vector<std::int64_t>{5, 120}));
  const auto internal = model::Model::load(api_models().roberta);
  model::RunOptions ro;
  ro.record = model::SiteSet::parse("layer.1.attn.probs", 2);
  model::ModelInput in;
  in.ids = e.ids;
  const auto ref = internal.forward(std::span<const model::ModelInput>(&in, 1), ro);
  EXPECT_EQ(api_values(probs), api_values(ref[0].trace.at("layer.1.attn.probs")));
}

TEST(ApiModel, EncodesLikeTheTokenizer) {
  const auto m = Model::load(api_models().mlm);
  const auto internal = model::Model::load(api_models().mlm);
  const auto e = m.encode("Hello, wonderful world!", std::string("Second part."));
  const auto r = internal.encode("Hello, wonderful world!", std::string_view("Second part."));
  EXPECT_EQ(e.ids, r.ids);
  EXPECT_EQ(e.type_ids, r.type_ids);
  EXPECT_EQ(e.tokens, r.tokens);
  EXPECT_EQ(e.word_ids, r.word_ids);
  EXPECT_EQ(e.sequence_ids, r.sequence_ids);
  EXPECT_EQ(e.offsets, r.char_offsets);
  ASSERT_EQ(e.roles.size(), e.size());
  EXPECT_EQ(e.roles.front(), "cls_or_bos");
  EXPECT_EQ(e.roles.back(), "sep_or_eos");
  EXPECT_EQ(e.roles[1], "ordinary");
  EXPECT_EQ(e.tokens.front(), "[CLS]");
  EXPECT_EQ(e.offsets[1], (std::pair<std::int64_t, std::int64_t>{0, 5}));  // "hello"

  // Over-long text fails unless truncated.
  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "word ";
  EXPECT_THROW(m.encode(long_text), Error);
  EXPECT_EQ(static_cast<std::int64_t>(m.encode(long_text, {}, true).size()), m.info().max_tokens);
}

TEST(ApiModel, RunRecordsTheEnginesValuesAndSharesThem) {
  const auto m = Model::load(api_models().mlm);
  const auto internal = model::Model::load(api_models().mlm);
  const auto a = m.encode("the cat sat on the mat .");
  const auto b = m.encode("a dog .", std::string("it barked ."));
  RunOptions o;
  o.record = "attn.probs,layer.1.out,embed.out";
  o.mlm_logits = true;
  o.batch_size = 1;  // two forward passes: batching must not change anything
  const auto out = m.run(std::vector<Input>{{a, {}}, {b, {}}}, o);
  ASSERT_EQ(out.size(), 2u);

  model::RunOptions ro;
  ro.record = model::SiteSet::parse("attn.probs,layer.1.out,embed.out", 2);
  ro.mlm_logits = true;
  std::vector<model::ModelInput> inputs{model::ModelInput::from_encoding(internal.encode("the cat sat on the mat .")),
                                        model::ModelInput::from_encoding(internal.encode("a dog .", std::string_view("it barked .")))};
  auto ref = internal.forward(inputs, ro);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto T = static_cast<std::int64_t>(inputs[i].ids.size());
    EXPECT_EQ(out[i].sites.size(), 4u);
    for (const char* name : {"layer.0.attn.probs", "layer.1.attn.probs", "layer.1.out", "embed.out"}) {
      EXPECT_EQ(api_values(out[i].site(name)), api_values(ref[i].trace.at(name))) << name;
      EXPECT_EQ(out[i].site(name).shape(), ref[i].trace.at(name).shape) << name;
    }
    EXPECT_EQ(out[i].site("layer.1.attn.probs").shape(), (std::vector<std::int64_t>{2, T, T}));
    EXPECT_EQ(api_values(out[i].mlm_logits), api_values(ref[i].mlm_logits));
    EXPECT_EQ(out[i].mlm_logits.shape(), (std::vector<std::int64_t>{T, 30522}));
    EXPECT_EQ(api_values(out[i].last_hidden), api_values(ref[i].last_hidden));
    // Every layer's attention was recorded into one [layers, heads, T, T] buffer, each layer's
    // site a view at its place; hidden_states needs every layer's output, so is absent.
    ASSERT_EQ(out[i].stacks.count("attentions"), 1u);
    EXPECT_EQ(out[i].stacks.count("hidden_states"), 0u);
    const auto& stacked = out[i].stacks.at("attentions");
    EXPECT_EQ(stacked.shape(), (std::vector<std::int64_t>{2, 2, T, T}));
    EXPECT_EQ(out[i].site("layer.0.attn.probs").data(), stacked.data());
    EXPECT_EQ(out[i].site("layer.1.attn.probs").data(), stacked.data() + 2 * T * T);
  }
  {
    RunOptions h;
    h.record = "hidden";
    const auto one = m.run(a, h);
    const auto& states = one.stacks.at("hidden_states");
    const auto T = static_cast<std::int64_t>(a.ids.size());
    ASSERT_EQ(states.shape(), (std::vector<std::int64_t>{3, T, 32}));
    const std::vector<float> all(states.data(), states.data() + states.size());
    std::vector<float> expected;
    for (const char* name : {"embed.out", "layer.0.out", "layer.1.out"}) {
      const auto v = api_values(one.site(name));
      expected.insert(expected.end(), v.begin(), v.end());
    }
    EXPECT_EQ(all, expected);
    EXPECT_EQ(api_values(one.site("layer.1.out")), api_values(one.last_hidden));
  }
  // Copies share the engine's buffer; the buffer outlives the outputs it came from.
  Array kept;
  {
    const auto again = m.run(a, o);
    const auto& probs = again.site("layer.0.attn.probs");
    Array copy = probs;
    EXPECT_EQ(copy.data(), probs.data());
    kept = copy;
  }
  ASSERT_FALSE(kept.empty());
  for (std::int64_t q = 0; q < kept.dim(1); ++q) {
    double sum = 0;
    for (std::int64_t k = 0; k < kept.dim(2); ++k) sum += kept.at({1, q, k});
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(ApiModel, InterventionsMatchTheEngine) {
  const auto m = Model::load(api_models().mlm);
  const auto internal = model::Model::load(api_models().mlm);
  const auto e = m.encode("the keys to the cabinet are here .");
  const auto T = static_cast<std::int64_t>(e.size());

  RunOptions o;
  o.record = "attn.probs,layer.0.out,layer.1.out";
  o.mlm_logits = true;
  o.head_mask = Array::from_values({2, 2}, {1.0f, 0.0f, 1.0f, 0.5f});
  o.uniform_heads = {{1, 0}};
  Input in{e, {}};
  std::vector<float> replaced(static_cast<std::size_t>(T * T), 0.0f);
  for (std::int64_t q = 0; q < T; ++q) replaced[static_cast<std::size_t>(q * T + (q + 1) % T)] = 1.0f;  // next token
  in.replaced_attention.push_back({0, 0, Array::from_values({T, T}, replaced)});
  const auto out = m.run(std::vector<Input>{in}, o).front();

  const auto& p0 = out.site("layer.0.attn.probs");
  const auto& p1 = out.site("layer.1.attn.probs");
  for (std::int64_t q = 0; q < T; ++q)
    for (std::int64_t k = 0; k < T; ++k) {
      EXPECT_FLOAT_EQ(p0.at({0, q, k}), replaced[static_cast<std::size_t>(q * T + k)]);
      EXPECT_FLOAT_EQ(p0.at({1, q, k}), 0.0f);  // masked head
      EXPECT_NEAR(p1.at({0, q, k}), 1.0 / static_cast<double>(T), 1e-6);  // uniform head
    }

  model::RunOptions ro;
  ro.record = model::SiteSet::parse("attn.probs", 2);
  ro.mlm_logits = true;
  ro.head_mask = core::Tensor({2, 2});
  ro.head_mask.data = {1.0f, 0.0f, 1.0f, 0.5f};
  ro.uniform_heads = {{1, 0}};
  auto mi = model::ModelInput::from_encoding(internal.encode("the keys to the cabinet are here ."));
  core::Tensor probs({T, T});
  probs.data.assign(replaced.begin(), replaced.end());
  mi.attention_overrides.push_back({0, 0, probs});
  const auto ref = internal.forward(std::span<const model::ModelInput>(&mi, 1), ro);
  EXPECT_EQ(api_values(out.mlm_logits), api_values(ref[0].mlm_logits));

  // A skipped layer's output is its input.
  RunOptions skip;
  skip.record = "layer.0.out,layer.1.out";
  skip.skip_layers = {1};
  const auto s = m.run(e, skip);
  EXPECT_EQ(api_values(s.site("layer.1.out")), api_values(s.site("layer.0.out")));
  EXPECT_NE(api_values(m.run(e, {.record = "layer.0.out,layer.1.out"}).site("layer.1.out")),
            api_values(s.site("layer.0.out")));
}

TEST(ApiModel, GradientsMatchTheEngineAndFiniteDifferences) {
  const auto m = Model::load(api_models().classifier);
  const auto internal = model::Model::load(api_models().classifier);
  const auto e = m.encode("a fine film .");
  const Input in{e, {}};
  GradientRequest req;
  req.head_mask = true;
  req.sites = "layer.0.attn.probs,embed.out";
  const auto g = m.gradient(in, Target::class_logit(2), req);
  ASSERT_EQ(g.head_mask.shape(), (std::vector<std::int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(static_cast<float>(g.value), g.output.classifier_logits.at({2}));
  ASSERT_EQ(g.sites.size(), 2u);
  EXPECT_EQ(g.sites.at("embed.out").shape(), (std::vector<std::int64_t>{static_cast<std::int64_t>(e.size()), 32}));

  // The engine, called directly.
  auto mi = model::ModelInput::from_encoding(internal.encode("a fine film ."));
  model::TapeOptions to;
  to.classifier_logits = true;
  model::ForwardTape tape;
  const auto fwd = model::forward_with_tape(internal, std::span<const model::ModelInput>(&mi, 1), {}, to, tape);
  model::OutputGrad seed;
  seed.classifier_logits = core::Tensor({3});
  seed.classifier_logits.data[2] = 1.0f;
  model::GradRequest gr;
  gr.head_mask = true;
  gr.sites = model::SiteSet::parse("layer.0.attn.probs,embed.out", 2);
  const auto b = model::backward(internal, tape, std::span<const model::OutputGrad>(&seed, 1), gr);
  EXPECT_EQ(api_values(g.head_mask), api_values(b.head_mask_grad));
  EXPECT_EQ(api_values(g.sites.at("layer.0.attn.probs")), api_values(b.site_grads[0].at("layer.0.attn.probs")));
  EXPECT_EQ(api_values(g.sites.at("embed.out")), api_values(b.site_grads[0].at("embed.out")));

  // Central differences of the logit in each head-mask coefficient, through the public run.
  const double h = 1e-2;
  for (std::int64_t l = 0; l < 2; ++l)
    for (std::int64_t hd = 0; hd < 2; ++hd) {
      auto logit_at = [&](double delta) {
        std::vector<float> mask(4, 1.0f);
        mask[static_cast<std::size_t>(l * 2 + hd)] = static_cast<float>(1.0 + delta);
        RunOptions o;
        o.classifier_logits = true;
        o.head_mask = Array::from_values({2, 2}, mask);
        return static_cast<double>(m.run(e, o).classifier_logits.at({2}));
      };
      const double fd = (logit_at(h) - logit_at(-h)) / (2 * h);
      EXPECT_NEAR(g.head_mask.at({l, hd}), fd, 2e-3 + 2e-2 * std::abs(fd)) << l << "," << hd;
    }

  // A loss target: its value is the cross-entropy of the class.
  const auto loss = m.gradient(in, Target::class_loss(0), {.head_mask = true});
  std::vector<double> z;
  for (std::int64_t k = 0; k < 3; ++k) z.push_back(loss.output.classifier_logits.at({k}));
  const double lse = std::log(std::exp(z[0]) + std::exp(z[1]) + std::exp(z[2]));
  EXPECT_NEAR(loss.value, lse - z[0], 1e-5);

  // An MLM logit of the MLM model.
  const auto mlm = Model::load(api_models().mlm);
  const auto em = mlm.encode("the cat sat .");
  const auto gm = mlm.gradient({em, {}}, Target::mlm_logit(2, 1996), {.head_mask = true, .sites = "layer.1.out"});
  EXPECT_FLOAT_EQ(static_cast<float>(gm.value), gm.output.mlm_logits.at({2, 1996}));
  EXPECT_EQ(gm.sites.count("layer.1.out"), 1u);
  double norm = 0;
  for (float v : api_values(gm.head_mask)) norm += std::abs(v);
  EXPECT_GT(norm, 0.0);
}

TEST(ApiModel, ErrorsAreExceptionsWithTheLibrarysMessage) {
  TempDir dir("api-errors");
  const auto missing = (dir / "no-such-model").string();
  const auto msg = test::error_message([&] { Model::load(missing); });
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;

  const auto m = Model::load(api_models().mlm);
  const auto e = m.encode("a b c");
  auto bad_site = test::error_message([&] { m.run(e, {.record = "layer.0.attn.prob"}); });
  EXPECT_NE(bad_site.find("layer.0.attn.prob"), std::string::npos) << bad_site;
  bad_site = test::error_message([&] { m.run(e, {.record = "layer.7.attn.probs"}); });
  EXPECT_NE(bad_site.find("layer.7"), std::string::npos) << bad_site;
  const auto absent = test::error_message([&] { m.run(e, {.record = "embed.out"}).site("layer.0.out"); });
  EXPECT_NE(absent.find("'layer.0.out' was not recorded (recorded: embed.out)"), std::string::npos) << absent;
  RunOptions wrong_mask;
  wrong_mask.head_mask = Array::from_values({3}, {1, 1, 1});
  EXPECT_NE(test::error_message([&] { m.run(e, wrong_mask); }).find("head mask [3]"), std::string::npos);
  EXPECT_NE(test::error_message([&] { m.run(e, {.uniform_heads = {{0, 5}}}); }).find("head 5"), std::string::npos);
  EXPECT_NE(test::error_message([&] { m.run(e, {.skip_layers = {2}}); }).find("skipped layer 2"), std::string::npos);
  EXPECT_NE(test::error_message([&] { m.gradient({e, {}}, Target::mlm_logit(9, 5), {}); }).find("position 9"),
            std::string::npos);
  EXPECT_NE(test::error_message([&] { m.gradient({e, {}}, Target::mlm_loss({1, 2}), {}); }).find("2 labels"),
            std::string::npos);
  EXPECT_THROW(m.gradient({e, {}}, Target::class_logit(0), {}), Error);  // no classifier
  EXPECT_NE(test::error_message([&] { Array::from_values({2, 2}, {1, 2, 3}); }).find("holds 4 values, 3 given"),
            std::string::npos);
  EXPECT_NE(test::error_message([&] { (void)m.run(e, {.record = "embed.out"}).site("embed.out").at({0}); }).find("index"),
            std::string::npos);
}

}  // namespace
}  // namespace bertscope
