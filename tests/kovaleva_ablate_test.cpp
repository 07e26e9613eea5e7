// Head and layer disabling (`bertscope ablate`): golden logits from the independent PyTorch
// reference (tools/reference/ablation_reference.py), known answers (a head whose value vectors
// are all equal changes nothing when made uniform; uniform mode equals an explicit uniform
// attention matrix; zero mode equals a head mask of 0; reusing the layers below equals full
// passes), the cost of the sweep, bad input, and the command end to end on random classifiers
// with SST-2 and RTE dev slices.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/ablate.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/npz.hpp"
#include "model/generator.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

float max_abs_diff(const core::Tensor& a, const core::Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  float m = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i) m = std::max(m, std::abs(a.data[i] - b.data[i]));
  return m;
}

// A small sequence classifier with sharp attention and the real uncased vocabulary, so that
// SST-2/RTE text tokenizes to real word pieces.
const std::string& classifier_dir() {
  static TempDir dir("ablate-model");
  static const std::string path =
      make_model(dir, "clf", fmt::format("--vocab {} --layers 3 --hidden 32 --heads 4 --intermediate 48 --labels 2 "
                                         "--seed 5 --init-std 0.2 --bias-std 0.1 --norm-std 0.1",
                                         (test::data_dir() / "bert-base-uncased" / "vocab.txt").string()));
  return path;
}

std::vector<model::ModelInput> encode(const model::Model& m, const std::vector<std::pair<std::string, std::string>>& texts) {
  std::vector<model::ModelInput> out;
  for (const auto& [a, b] : texts)
    out.push_back(model::ModelInput::from_encoding(b.empty() ? m.encode(a) : m.encode(a, b)));
  return out;
}

const std::vector<std::pair<std::string, std::string>> kTexts = {
    {"it 's a charming and often affecting journey .", ""},
    {"the cat sat on the mat .", "a cat was sitting ."},
    {"unflinchingly bleak and desperate", ""},
    {"Dana Reeve has died of lung cancer at age 44.", "Christopher Reeve had an accident."}};

core::Tensor full_pass(const model::Model& m, std::vector<model::ModelInput> inputs, const model::RunOptions& base) {
  model::RunOptions opt = base;
  opt.classifier_logits = true;
  const auto r = m.forward(inputs, opt);
  core::Tensor out({static_cast<std::int64_t>(r.size()), m.config().num_labels});
  for (std::size_t b = 0; b < r.size(); ++b)
    std::copy(r[b].classifier_logits.data.begin(), r[b].classifier_logits.data.end(),
              out.data.begin() + static_cast<std::ptrdiff_t>(b) * m.config().num_labels);
  return out;
}

}  // namespace

TEST(KovalevaAblate, MatchesTheIndependentReference) {
  const auto summary = io::read_json(test::golden_dir() / "ablation.json");
  TempDir dir("ablate-golden");
  std::string args = fmt::format("--vocab {}", (test::data_dir() / "tiny-vocab.txt").string());
  for (const auto& a : summary["args"]) args += fmt::format(" {}", a.get<std::string>());
  const auto folder = make_model(dir, "golden", args);
  ASSERT_EQ(fmt::format("{:016x}", test::fnv1a64_file(std::filesystem::path(folder) / "model.safetensors")),
            summary["fnv1a64"].get<std::string>())
      << "make-model no longer produces the golden weights; rerun tools/reference/ablation_reference.py";
  const auto m = model::Model::load(folder);
  io::NpzReader npz(test::golden_dir() / "ablation.npz");
  const auto ids = npz.read("input_ids"), types = npz.read("token_type_ids"), mask = npz.read("attention_mask");
  const auto id = ids.to_i64(), ty = types.to_i64(), mk = mask.to_i64();
  const auto B = ids.shape[0], T = ids.shape[1], L = m.layers(), H = m.heads(), K = m.config().num_labels;
  std::vector<model::ModelInput> inputs(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < T; ++j)
      if (mk[b * T + j]) {
        inputs[b].ids.push_back(static_cast<std::int32_t>(id[b * T + j]));
        inputs[b].type_ids.push_back(static_cast<std::int32_t>(ty[b * T + j]));
      }
  auto golden = [&](const std::string& name) { return npz.read(name).to_f64(); };
  const auto baseline = golden("baseline");
  auto check = [&](const core::Tensor& got, const std::vector<double>& want, std::size_t offset, const std::string& what) {
    for (std::int64_t i = 0; i < B * K; ++i)
      EXPECT_NEAR(got.data[static_cast<std::size_t>(i)], want[offset + static_cast<std::size_t>(i)], 1e-4) << what;
  };
  for (const auto mode : {ablate::Mode::uniform, ablate::Mode::zero}) {
    ablate::SweepOptions opt;
    opt.mode = mode;
    const auto out = ablate::sweep(m, inputs, opt);
    check(out.baseline, baseline, 0, "baseline");
    const auto name = std::string(ablate::mode_name(mode));
    const auto heads = golden(name + "_heads"), layers = golden(name + "_layers");
    for (std::int64_t l = 0; l < L; ++l) {
      for (std::int64_t h = 0; h < H; ++h) {
        const auto off = static_cast<std::size_t>((l * H + h) * B * K);
        check(out.heads[static_cast<std::size_t>(l * H + h)], heads, off, fmt::format("{} head {}:{}", name, l, h));
        // The comparison can fail: every golden disabled head moves the logits far beyond 1e-4.
        double moved = 0;
        for (std::int64_t i = 0; i < B * K; ++i) moved = std::max(moved, std::abs(heads[off + i] - baseline[i]));
        EXPECT_GT(moved, 1e-2) << name << " head " << l << ":" << h << " barely matters; the check would be weak";
      }
      check(out.layers[static_cast<std::size_t>(l)], layers, static_cast<std::size_t>(l * B * K), fmt::format("{} layer {}", name, l));
    }
  }
}

TEST(KovalevaAblate, UniformModeEqualsAnExplicitUniformMatrixAndZeroEqualsHeadMask) {
  const auto m = model::Model::load(classifier_dir());
  const auto inputs = encode(m, kTexts);
  const auto L = m.layers(), H = m.heads();
  ablate::SweepOptions opt;
  const auto uniform = ablate::sweep(m, inputs, opt);
  opt.mode = ablate::Mode::zero;
  const auto zero = ablate::sweep(m, inputs, opt);
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t h = 0; h < H; ++h) {
      // Uniform: every input carries an explicit [T, T] matrix of 1/T for the head.
      auto with_override = inputs;
      for (auto& in : with_override) {
        const auto t = static_cast<std::int64_t>(in.ids.size());
        in.attention_overrides.push_back({l, h, core::Tensor({t, t}, 1.0f / static_cast<float>(t))});
      }
      EXPECT_LT(max_abs_diff(uniform.heads[static_cast<std::size_t>(l * H + h)], full_pass(m, with_override, {})), 2e-5)
          << "head " << l << ":" << h;
      model::RunOptions masked;
      masked.head_mask = core::Tensor({L, H}, 1.0f);
      masked.head_mask.data[static_cast<std::size_t>(l * H + h)] = 0.0f;
      EXPECT_LT(max_abs_diff(zero.heads[static_cast<std::size_t>(l * H + h)], full_pass(m, inputs, masked)), 2e-5)
          << "head " << l << ":" << h;
    }
}

TEST(KovalevaAblate, ReuseEqualsFullPassesAndCostsLess) {
  const auto m = model::Model::load(classifier_dir());
  const auto inputs = encode(m, kTexts);
  ablate::SweepOptions opt;
  opt.head_sets = {{{1, 2}, {2, 0}}, {{0, 3}}};
  ablate::Cost reuse_cost, full_cost;
  const auto reused = ablate::sweep(m, inputs, opt, &reuse_cost);
  opt.reuse = false;
  const auto full = ablate::sweep(m, inputs, opt, &full_cost);
  EXPECT_LT(max_abs_diff(reused.baseline, full.baseline), 1e-6);
  for (std::size_t i = 0; i < reused.heads.size(); ++i) EXPECT_LT(max_abs_diff(reused.heads[i], full.heads[i]), 2e-5);
  for (std::size_t i = 0; i < reused.layers.size(); ++i) EXPECT_LT(max_abs_diff(reused.layers[i], full.layers[i]), 2e-5);
  for (std::size_t i = 0; i < reused.sets.size(); ++i) EXPECT_LT(max_abs_diff(reused.sets[i], full.sets[i]), 2e-5);
  // L = 3, H = 4, 4 inputs: intact 3 + heads 4 * (3 + 2 + 1) + layers (3 + 2 + 1) + sets (2 + 3)
  // layer evaluations per input, against 3 per configuration (1 + 12 + 3 + 2 = 18) for full passes.
  EXPECT_EQ(reuse_cost.layer_evaluations, (3 + 24 + 6 + 5) * 4);
  EXPECT_EQ(reuse_cost.full_pass_evaluations, 18 * 3 * 4);
  EXPECT_EQ(full_cost.layer_evaluations, full_cost.full_pass_evaluations);
}

TEST(KovalevaAblate, AHeadWithEqualValueVectorsChangesNothing) {
  // With its value weights zero, every value vector of head (1, 2) is the value bias, so
  // uniform attention gives the same context as the head's own attention.
  model::GeneratorOptions g;
  g.layers = 2;
  g.hidden = 32;
  g.heads = 4;
  g.intermediate = 40;
  g.labels = 2;
  g.seed = 9;
  g.init_std = 0.2;
  g.bias_std = 0.1;
  g.vocab = test::data_dir() / "tiny-vocab.txt";
  const auto config = model::generator_config(g, 200);
  auto params = model::random_parameters(config, g);
  auto& vw = params.at("bert.encoder.layer.1.attention.self.value.weight");  // [out, in]
  const auto d = config.head_dim();
  for (std::int64_t o = 2 * d; o < 3 * d; ++o)
    for (std::int64_t i = 0; i < config.hidden_size; ++i) vw.data[static_cast<std::size_t>(o * config.hidden_size + i)] = 0.0f;
  const model::Model m(config, model::Weights::from_tensors(config, std::move(params)), std::nullopt);
  std::vector<model::ModelInput> inputs(3);
  for (std::size_t b = 0; b < inputs.size(); ++b)
    for (std::int32_t j = 0; j < static_cast<std::int32_t>(5 + 4 * b); ++j) inputs[b].ids.push_back(5 + (j * 7 + static_cast<std::int32_t>(b)) % 150);
  const auto out = ablate::sweep(m, inputs, {});
  EXPECT_LT(max_abs_diff(out.heads[1 * 4 + 2], out.baseline), 1e-5);
  // Its neighbours do change the output, so the comparison means something.
  EXPECT_GT(max_abs_diff(out.heads[1 * 4 + 1], out.baseline), 1e-3);
}

TEST(KovalevaAblate, RejectsModelsWithoutAClassifier) {
  TempDir dir("ablate-mlm");
  const auto mlm = make_model(dir, "mlm", fmt::format("--vocab {} --layers 1 --hidden 16 --heads 2 --intermediate 20 --seed 1",
                                                      (test::data_dir() / "tiny-vocab.txt").string()));
  const auto m = model::Model::load(mlm);
  try {
    ablate::check_classifier(m);
    FAIL() << "an MLM model was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(mlm + ": not a sequence classifier"), std::string::npos) << e.what();
  }
  const auto r = test::run_command(fmt::format("{} ablate --model {} --data {}", test::cli(), mlm,
                                               (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not a sequence classifier"), std::string::npos) << r.output;
}

TEST(KovalevaAblate, BadTaskFilesNameFileAndLine) {
  TempDir dir("ablate-bad");
  const auto bad_label = dir / "labels.tsv";
  io::write_file_atomic(bad_label, "sentence\tlabel\ngood film\t1\nbad film\t3\n");
  auto r = test::run_command(fmt::format("{} ablate --model {} --data {}", test::cli(), classifier_dir(), bad_label.string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(bad_label.string() + ":3: label \"3\" is not one of the model's 2 classes"), std::string::npos)
      << r.output;
  const auto bad_columns = dir / "columns.tsv";
  io::write_file_atomic(bad_columns, "sentence\tlabel\ngood film\t1\nbad film\t0\textra\n");
  r = test::run_command(fmt::format("{} ablate --model {} --data {}", test::cli(), classifier_dir(), bad_columns.string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(bad_columns.string() + ":3: expected 2 tab-separated columns, found 3"), std::string::npos)
      << r.output;
}

TEST(KovalevaAblate, EndToEndOnSst2AndRte) {
  TempDir dir("ablate-e2e");
  for (const char* file : {"sst2_dev.head40.tsv", "rte_dev.head12.tsv"}) {
    SCOPED_TRACE(file);
    const auto out = dir / (std::string(file) + ".json");
    const auto r = test::run_command(fmt::format("{} ablate --model {} --data {} --random-draws 3 --random-size 2 --out {}",
                                                 test::cli(), classifier_dir(), (test::data_dir() / "kovaleva" / file).string(),
                                                 out.string()));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("baseline"), std::string::npos);
    const auto doc = io::read_json(out);
    EXPECT_EQ(doc["method"], "ablate");
    EXPECT_EQ(doc["params"]["mode"], "uniform");
    const auto& res = doc["results"];
    const double base = res["baseline"].get<double>();
    EXPECT_GE(base, 0.0);
    EXPECT_LE(base, 1.0);
    ASSERT_EQ(res["head_delta"].size(), 3u);
    ASSERT_EQ(res["head_delta"][0].size(), 4u);
    ASSERT_EQ(res["layer_delta"].size(), 3u);
    double mean = 0;
    for (std::int64_t l = 0; l < 3; ++l)
      for (std::int64_t h = 0; h < 4; ++h) {
        const double d = res["head_delta"][l][h].get<double>();
        EXPECT_NEAR(res["head_metric"][l][h].get<double>() - base, d, 1e-12);
        mean += d / 12.0;
      }
    EXPECT_NEAR(res["random_head"]["mean_delta"].get<double>(), mean, 1e-12);
    for (const auto& e : res["improving_heads"]) EXPECT_GT(e["delta"].get<double>(), 0.0);
    EXPECT_EQ(res["random_sets"]["draws"].size(), 3u);
    EXPECT_EQ(res["random_sets"]["draws"][0]["heads"].size(), 2u);
    EXPECT_LT(res["cost"]["ratio"].get<double>(), 0.75);
    EXPECT_TRUE(res["metrics"].contains("f1"));
  }
  // Zero mode and full passes give the same document up to rounding.
  const auto a = dir / "zero.json", b = dir / "zero_full.json";
  const auto data = (test::data_dir() / "kovaleva" / "rte_dev.head12.tsv").string();
  ASSERT_EQ(test::run_command(fmt::format("{} ablate --model {} --data {} --mode zero --out {}", test::cli(), classifier_dir(), data, a.string())).status, 0);
  ASSERT_EQ(test::run_command(fmt::format("{} ablate --model {} --data {} --mode zero --full-passes --out {}", test::cli(),
                                          classifier_dir(), data, b.string())).status, 0);
  const auto ja = io::read_json(a), jb = io::read_json(b);
  EXPECT_EQ(ja["results"]["head_delta"], jb["results"]["head_delta"]);
  EXPECT_DOUBLE_EQ(jb["results"]["cost"]["ratio"].get<double>(), 1.0);
}
