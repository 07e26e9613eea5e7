// Clark et al.'s gradient of the MLM loss with respect to attention (`bertscope analyze
// gradsep`): the per-layer, per-category means against finite differences of the loss in each
// attention weight (attention overrides), with the categories worked out by hand; a layer whose
// value vectors are all zero has exactly zero gradient; keys chosen for masking count in no
// category; and the command end to end on Clark's segments of running text.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/gradsep.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/generator.hpp"
#include "model/autodiff.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

// "[CLS] the he . was [SEP] in , it [SEP]" with tokens 2 and 7 masked.
struct Case {
  importance::Example example;
  std::vector<std::string> tokens;
};

Case make_case(const model::Model& m) {
  const auto& tok = m.tokenizer();
  const std::vector<std::string> words = {"[CLS]", "the", "he", ".", "was", "[SEP]", "in", ",", "it", "[SEP]"};
  Case c;
  c.tokens = words;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto id = tok.find(words[i]);
    EXPECT_TRUE(id.has_value()) << words[i];
    c.example.input.ids.push_back(*id);
    c.example.input.type_ids.push_back(i > 5 ? 1 : 0);
  }
  for (std::int32_t p : {2, 7}) {
    c.example.positions.push_back(p);
    c.example.labels.push_back(c.example.input.ids[static_cast<std::size_t>(p)]);
    c.example.input.ids[static_cast<std::size_t>(p)] = tok.mask_id();
  }
  return c;
}

double loss_of(const model::Model& m, const model::ModelInput& in, const importance::Example& ex) {
  model::RunOptions run;
  run.mlm_logits = true;
  const auto r = m.forward(std::span(&in, 1), run);
  const auto V = r[0].mlm_logits.dim(1);
  core::Tensor rows({static_cast<std::int64_t>(ex.positions.size()), V});
  for (std::size_t k = 0; k < ex.positions.size(); ++k)
    std::copy(r[0].mlm_logits.ptr() + ex.positions[k] * V, r[0].mlm_logits.ptr() + (ex.positions[k] + 1) * V,
              rows.ptr() + static_cast<std::int64_t>(k) * V);
  return model::mlm_cross_entropy(rows, ex.labels).loss;
}

}  // namespace

TEST(GradsepKnownAnswer, LayerMeansEqualFiniteDifferencesAveragedByHand) {
  TempDir dir("gradsep-fd");
  const auto m = model::Model::load(make_model(dir, "m", fmt::format("--vocab {} --layers 2 --hidden 16 --heads 2 --intermediate 24 "
                                                                     "--seed 9 --init-std 0.3 --bias-std 0.1",
                                                                     (test::data_dir() / "tiny-vocab.txt").string())));
  const auto c = make_case(m);
  gradsep::Options o;
  const auto g = gradsep::input_gradients(m, c.example, c.tokens, o);
  // Categories by hand: [SEP] at 5 and 9; "." at 3 and "," at 7 (masked: no category); other =
  // 0, 1, 4, 6, 8 (2 is masked).
  EXPECT_EQ(g.keys[0], 2);
  EXPECT_EQ(g.keys[1], 1);
  EXPECT_EQ(g.keys[2], 5);
  const std::vector<std::vector<std::int64_t>> keys = {{5, 9}, {3}, {0, 1, 4, 6, 8}};
  const auto L = m.layers(), H = m.heads(), T = static_cast<std::int64_t>(c.tokens.size());
  model::RunOptions rec;
  rec.record = model::SiteSet(L);
  rec.record.add(model::Site::attn_probs);
  const auto base = m.forward(std::span(&c.example.input, 1), rec);
  const double eps = 1e-2;
  for (std::int64_t l = 0; l < L; ++l) {
    std::array<double, 3> layer{};
    for (std::int64_t h = 0; h < H; ++h) {
      const auto& probs = *base[0].trace.find(model::Site::attn_probs, l);
      std::array<double, 3> sum{};
      for (std::int64_t i = 0; i < T; ++i)
        for (std::size_t cat = 0; cat < 3; ++cat)
          for (auto j : keys[cat]) {
            auto fd = [&](double sign) {
              model::ModelInput in = c.example.input;
              core::Tensor a({T, T});
              std::copy(probs.ptr() + h * T * T, probs.ptr() + (h + 1) * T * T, a.ptr());
              a.data[static_cast<std::size_t>(i * T + j)] += static_cast<float>(sign * eps);
              in.attention_overrides.push_back({l, h, a});
              return loss_of(m, in, c.example);
            };
            sum[cat] += std::abs((fd(1) - fd(-1)) / (2 * eps));
          }
      for (std::size_t cat = 0; cat < 3; ++cat) {
        const double mean = sum[cat] / static_cast<double>(T * static_cast<std::int64_t>(keys[cat].size()));
        EXPECT_NEAR(g.head_mean[static_cast<std::size_t>(l * H + h)][cat], mean, 2e-3 * mean + 1e-5)
            << "layer " << l << " head " << h << " " << gradsep::category_names()[cat];
        layer[cat] += mean / static_cast<double>(H);
      }
    }
    for (std::size_t cat = 0; cat < 3; ++cat) {
      EXPECT_NEAR(g.layer_mean[static_cast<std::size_t>(l)][cat], layer[cat], 2e-3 * layer[cat] + 1e-5);
      EXPECT_GT(layer[cat], 1e-4) << "a category without gradient would make the check weak";
    }
  }
}

TEST(GradsepKnownAnswer, ALayerWithZeroValueVectorsHasNoGradientAndTheLossReductionScales) {
  // Layer 1's value projection (weight and bias) is zero: every value vector is 0, so the
  // layer's attention weights multiply nothing and dL/dA = 0 exactly.
  model::GeneratorOptions gen;
  gen.layers = 3;
  gen.hidden = 16;
  gen.heads = 2;
  gen.intermediate = 24;
  gen.seed = 4;
  gen.init_std = 0.3;
  gen.bias_std = 0.1;
  const auto vocab = test::data_dir() / "tiny-vocab.txt";
  gen.vocab = vocab;
  auto tokenizer = model::Tokenizer::from_vocab(vocab, {});
  const auto config = model::generator_config(gen, static_cast<std::int64_t>(tokenizer.vocab_size()));
  auto params = model::random_parameters(config, gen);
  for (const auto* name : {"bert.encoder.layer.1.attention.self.value.weight", "bert.encoder.layer.1.attention.self.value.bias"})
    std::fill(params.at(name).data.begin(), params.at(name).data.end(), 0.0f);
  const model::Model m(config, model::Weights::from_tensors(config, std::move(params)), std::move(tokenizer));
  const auto c = make_case(m);
  gradsep::Options o;
  const auto g = gradsep::input_gradients(m, c.example, c.tokens, o);
  for (std::size_t cat = 0; cat < 3; ++cat) {
    EXPECT_EQ(g.layer_mean[1][cat], 0.0);
    EXPECT_GT(g.layer_mean[0][cat], 0.0);
    EXPECT_GT(g.layer_mean[2][cat], 0.0);
  }
  // The summed loss has twice the gradient of the mean for two masked tokens.
  o.sum_loss = true;
  const auto s = gradsep::input_gradients(m, c.example, c.tokens, o);
  for (std::size_t cat = 0; cat < 3; ++cat) EXPECT_NEAR(s.layer_mean[2][cat], 2 * g.layer_mean[2][cat], 1e-6 * g.layer_mean[2][cat]);
  EXPECT_NEAR(s.loss, 2 * g.loss, 1e-9);
}

TEST(GradsepCli, ClarkSegmentsEndToEnd) {
  TempDir dir("gradsep-cli");
  const auto model = make_model(dir, "m", fmt::format("--vocab {} --layers 3 --hidden 32 --heads 4 --intermediate 48 --seed 2",
                                                      (test::data_dir() / "bert-base-uncased" / "vocab.txt").string()));
  const auto text = (test::data_dir() / "clark" / "running_text.txt").string();
  const auto r = test::run_command(fmt::format("{} analyze gradsep --model {} --data {} --segments --segment-length 48 --out {}",
                                               test::cli(), model, text, (dir / "g.json").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto doc = io::read_json(dir / "g.json");
  EXPECT_EQ(doc["method"], "gradsep");
  const auto& res = doc["results"];
  ASSERT_EQ(res["layers"].size(), 3u);
  for (const auto& name : {"sep", "punct", "other"}) {
    ASSERT_EQ(res["per_layer"][name].size(), 3u);
    ASSERT_EQ(res["per_head"][name].size(), 3u);
    ASSERT_EQ(res["per_head"][name][0].size(), 4u);
    for (double v : res["per_layer"][name]) EXPECT_GT(v, 0.0);
  }
  EXPECT_EQ(res["inputs_with_keys"]["sep"], res["inputs"]);
  EXPECT_GT(res["masked_tokens"].get<int>(), 0);
  // Same seed, same numbers; another seed masks other tokens.
  const auto again = test::run_command(fmt::format("{} analyze gradsep --model {} --data {} --segments --segment-length 48 --mask-seed 1 --out {}",
                                                   test::cli(), model, text, (dir / "g1.json").string()));
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_NE(io::read_json(dir / "g1.json")["results"]["per_layer"]["sep"], res["per_layer"]["sep"]);
  // A classifier has no MLM head.
  const auto clf = make_model(dir, "clf", fmt::format("--vocab {} --layers 1 --hidden 16 --heads 2 --intermediate 16 --labels 2 --seed 3",
                                                      (test::data_dir() / "bert-base-uncased" / "vocab.txt").string()));
  const auto bad = test::run_command(fmt::format("{} analyze gradsep --model {} --data {}", test::cli(), clf, text));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("no MLM head"), std::string::npos) << bad.output;
}
