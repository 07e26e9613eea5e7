// Head importance (`bertscope analyze importance`): goldens from the independent PyTorch
// reference (tools/reference/importance_reference.py: run_bertology's scores and masking loop at
// batch sizes 1 and 3, Michel et al.'s per-example sums for a classifier and an MLM model),
// per-input head-mask gradients of one batched pass against passes of one input, finite
// differences, known answers (a head with zero value vectors scores 0 and is masked first; the
// masking loop's step sizes and stopping rules), BERT's masking, and the command end to end on
// task data and on plain text.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/importance.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/autodiff.hpp"
#include "model/generator.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

// Accuracy of argmax logits against labels (ties to the lowest class, as numpy).
importance::Task classification_task(const std::vector<importance::Example>& examples) {
  importance::Task task;
  task.objective = importance::Objective::classification;
  task.examples = examples;
  task.metric_name = "accuracy";
  std::vector<std::int32_t> gold;
  for (const auto& e : examples) gold.push_back(e.label);
  task.metric = [gold](std::span<const core::Tensor> outputs) {
    double right = 0;
    for (std::size_t i = 0; i < outputs.size(); ++i)
      right += std::max_element(outputs[i].data.begin(), outputs[i].data.end()) - outputs[i].data.begin() == gold[i];
    return right / static_cast<double>(outputs.size());
  };
  return task;
}

void expect_matrix_near(const core::Tensor& got, const nlohmann::json& want, double rel, double abs, const std::string& what) {
  const auto L = got.dim(0), H = got.dim(1);
  ASSERT_EQ(want.size(), static_cast<std::size_t>(L)) << what;
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t h = 0; h < H; ++h) {
      const double w = want[static_cast<std::size_t>(l)][static_cast<std::size_t>(h)].get<double>();
      EXPECT_NEAR(got.data[static_cast<std::size_t>(l * H + h)], w, abs + rel * std::abs(w)) << what << " head " << l << ":" << h;
    }
}

model::Model golden_model(const TempDir& dir, const nlohmann::json& entry, const std::string& name) {
  std::string args = fmt::format("--vocab {}", (test::data_dir() / "tiny-vocab.txt").string());
  for (const auto& a : entry["args"]) args += fmt::format(" {}", a.get<std::string>());
  const auto folder = make_model(dir, name, args);
  EXPECT_EQ(fmt::format("{:016x}", test::fnv1a64_file(std::filesystem::path(folder) / "model.safetensors")),
            entry["fnv1a64"].get<std::string>())
      << "make-model no longer produces the golden weights; rerun tools/reference/importance_reference.py";
  return model::Model::load(folder);
}

// A small classifier with a head (1, 2) whose value vectors are all zero.
model::Model dead_head_classifier() {
  model::GeneratorOptions g;
  g.layers = 3;
  g.hidden = 32;
  g.heads = 4;
  g.intermediate = 40;
  g.labels = 2;
  g.seed = 12;
  g.init_std = 0.2;
  g.bias_std = 0.1;
  g.vocab = test::data_dir() / "tiny-vocab.txt";
  const auto config = model::generator_config(g, 464);
  auto params = model::random_parameters(config, g);
  auto& vw = params.at("bert.encoder.layer.1.attention.self.value.weight");
  auto& vb = params.at("bert.encoder.layer.1.attention.self.value.bias");
  const auto d = config.head_dim();
  for (std::int64_t o = 2 * d; o < 3 * d; ++o) {
    for (std::int64_t i = 0; i < config.hidden_size; ++i) vw.data[static_cast<std::size_t>(o * config.hidden_size + i)] = 0.0f;
    vb.data[static_cast<std::size_t>(o)] = 0.0f;
  }
  return model::Model(config, model::Weights::from_tensors(config, std::move(params)), std::nullopt);
}

std::vector<importance::Example> random_examples(std::size_t n, std::int64_t labels, std::uint64_t seed) {
  std::vector<importance::Example> out;
  for (std::size_t b = 0; b < n; ++b) {
    importance::Example e;
    const auto t = 5 + static_cast<std::int32_t>((b * 7 + seed) % 9);
    e.input.ids.push_back(2);
    for (std::int32_t j = 1; j + 1 < t; ++j) e.input.ids.push_back(5 + static_cast<std::int32_t>((j * 31 + b * 17 + seed * 5) % 450));
    e.input.ids.push_back(3);
    e.label = static_cast<std::int32_t>((b * 5 + seed) % static_cast<std::size_t>(labels));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

TEST(ImportanceGolden, MatchesRunBertologyAndMichelInTheIndependentReference) {
  const auto golden = io::read_json(test::golden_dir() / "importance.json");
  TempDir dir("importance-golden");
  {
    const auto& entry = golden["classifier"];
    const auto m = golden_model(dir, entry, "clf");
    std::vector<importance::Example> examples;
    for (std::size_t i = 0; i < entry["inputs"].size(); ++i) {
      importance::Example e;
      e.input.ids = entry["inputs"][i]["ids"].get<std::vector<std::int32_t>>();
      e.input.type_ids = entry["inputs"][i]["types"].get<std::vector<std::int32_t>>();
      e.label = entry["labels"][i].get<std::int32_t>();
      examples.push_back(std::move(e));
    }
    const auto task = classification_task(examples);
    importance::Options michel;
    michel.normalize_layers = michel.normalize_global = false;
    michel.batch_size = 5;  // batching must not change per-example sums
    const auto raw = importance::score(m, task, core::Tensor({m.layers(), m.heads()}, 1.0f), michel, false);
    expect_matrix_near(raw.importance, entry["michel_raw"], 1e-4, 1e-7, "michel raw");
    for (int batch : {1, 3}) {
      const auto& want = entry[fmt::format("bertology_batch{}", batch)];
      importance::Options o;
      o.bertology = true;
      o.bertology_batch = static_cast<std::size_t>(batch);
      o.batch_size = 4;
      const auto r = importance::run(m, task, o);
      const auto what = fmt::format("bertology batch {}", batch);
      expect_matrix_near(r.initial.importance, want["importance"], 0, 2e-4, what);
      expect_matrix_near(r.initial.entropy, want["entropy"], 1e-5, 1e-7, what + " entropy");
      EXPECT_DOUBLE_EQ(r.initial.metric, want["accuracy"].get<double>());
      const auto& steps = want["steps"];
      ASSERT_EQ(r.curve.size(), steps.size()) << what;
      for (std::size_t s = 1; s < steps.size(); ++s) {
        std::vector<std::int64_t> masked;
        for (const auto& [l, h] : r.curve[s].newly_masked) masked.push_back(l * m.heads() + h);
        std::sort(masked.begin(), masked.end());
        auto expected = steps[s]["masked"].get<std::vector<std::int64_t>>();
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(masked, expected) << what << " step " << s;
        EXPECT_DOUBLE_EQ(r.curve[s].metric, steps[s]["accuracy"].get<double>()) << what << " step " << s;
      }
      for (std::int64_t l = 0; l < m.layers(); ++l)
        for (std::int64_t h = 0; h < m.heads(); ++h)
          EXPECT_EQ(r.final_mask.data[static_cast<std::size_t>(l * m.heads() + h)], want["final_mask"][l][h].get<float>()) << what;
    }
    // Batch 3 and batch 1 really differ in run_bertology (|mean| vs sum of |.| and the
    // cumulative gradient), so the comparison above tells the variants apart.
    double diff = 0;
    for (std::size_t l = 0; l < entry["bertology_batch1"]["importance"].size(); ++l)
      for (std::size_t h = 0; h < entry["bertology_batch1"]["importance"][l].size(); ++h)
        diff = std::max(diff, std::abs(entry["bertology_batch1"]["importance"][l][h].get<double>() -
                                       entry["bertology_batch3"]["importance"][l][h].get<double>()));
    EXPECT_GT(diff, 1e-2);
    ASSERT_GE(entry["bertology_batch1"]["steps"].size(), 3u) << "the golden masking curve is too short to test";
  }
  {
    const auto& entry = golden["mlm"];
    const auto m = golden_model(dir, entry, "mlm");
    importance::Task task;
    task.objective = importance::Objective::mlm;
    task.metric_name = "mlm_accuracy";
    task.metric = [](std::span<const core::Tensor>) { return 0.0; };
    for (const auto& in : entry["inputs"]) {
      importance::Example e;
      e.input.ids = in["ids"].get<std::vector<std::int32_t>>();
      e.input.type_ids = in["types"].get<std::vector<std::int32_t>>();
      e.positions = in["positions"].get<std::vector<std::int32_t>>();
      e.labels = in["labels"].get<std::vector<std::int32_t>>();
      task.examples.push_back(std::move(e));
    }
    importance::Options o;
    o.normalize_layers = o.normalize_global = false;
    const auto raw = importance::score(m, task, core::Tensor({m.layers(), m.heads()}, 1.0f), o, false);
    expect_matrix_near(raw.importance, entry["michel_raw"], 1e-4, 1e-7, "mlm michel raw");
  }
}

TEST(ImportanceGradients, PerInputHeadMaskGradientsOfABatchEqualPassesOfOneInput) {
  const auto m = dead_head_classifier();
  const auto examples = random_examples(4, 2, 3);
  std::vector<model::ModelInput> batch;
  std::vector<model::OutputGrad> seeds;
  model::TapeOptions topt;
  topt.classifier_logits = true;
  model::ForwardTape tape;
  for (const auto& e : examples) batch.push_back(e.input);
  const auto res = model::forward_with_tape(m, batch, {}, topt, tape);
  for (std::size_t b = 0; b < batch.size(); ++b)
    seeds.push_back({{}, {}, model::class_cross_entropy(res[b].classifier_logits, examples[b].label).grad});
  model::GradRequest req;
  req.head_mask = req.head_mask_per_input = true;
  const auto all = model::backward(m, tape, seeds, req);
  ASSERT_EQ(all.head_mask_grads.size(), batch.size());
  core::Tensor sum({m.layers(), m.heads()});
  for (std::size_t b = 0; b < batch.size(); ++b) {
    model::ForwardTape one;
    const auto r1 = model::forward_with_tape(m, std::span(&batch[b], 1), {}, topt, one);
    std::vector<model::OutputGrad> s1{{{}, {}, model::class_cross_entropy(r1[0].classifier_logits, examples[b].label).grad}};
    model::GradRequest q1;
    q1.head_mask = true;
    const auto g1 = model::backward(m, one, s1, q1).head_mask_grad;
    for (std::size_t i = 0; i < g1.data.size(); ++i) {
      EXPECT_NEAR(all.head_mask_grads[b].data[i], g1.data[i], 1e-6 + 1e-5 * std::abs(g1.data[i])) << "input " << b << " head " << i;
      sum.data[i] += all.head_mask_grads[b].data[i];
    }
  }
  for (std::size_t i = 0; i < sum.data.size(); ++i) EXPECT_NEAR(sum.data[i], all.head_mask_grad.data[i], 1e-5);
}

TEST(ImportanceGradients, RawScoresMatchFiniteDifferencesAndADeadHeadScoresZero) {
  const auto m = dead_head_classifier();
  const auto L = m.layers(), H = m.heads();
  const auto examples = random_examples(3, 2, 8);
  const auto task = classification_task(examples);
  importance::Options o;
  o.normalize_layers = o.normalize_global = false;
  const auto pass = importance::score(m, task, core::Tensor({L, H}, 1.0f), o, false);
  // Central differences of each example's loss in the head-mask coefficient, in double on
  // float32 logits: eps 1e-2 keeps rounding (1e-7 / 2e-2) far below the tolerance.
  auto loss = [&](const importance::Example& e, const core::Tensor& mask) {
    model::RunOptions run;
    run.classifier_logits = true;
    run.head_mask = mask;
    const auto r = m.forward(std::span(&e.input, 1), run);
    return model::class_cross_entropy(r[0].classifier_logits, e.label).loss;
  };
  const double eps = 1e-2;
  for (std::int64_t k = 0; k < L * H; ++k) {
    double want = 0;
    for (const auto& e : examples) {
      core::Tensor plus({L, H}, 1.0f), minus({L, H}, 1.0f);
      plus.data[static_cast<std::size_t>(k)] += static_cast<float>(eps);
      minus.data[static_cast<std::size_t>(k)] -= static_cast<float>(eps);
      want += std::abs((loss(e, plus) - loss(e, minus)) / (2 * eps));
    }
    EXPECT_NEAR(pass.raw.data[static_cast<std::size_t>(k)], want, 2e-3 * std::abs(want) + 2e-5) << "head " << k / H << ":" << k % H;
  }
  // Head (1, 2) outputs zero whatever its mask: no gradient, and the lowest score after
  // normalisation too.
  EXPECT_EQ(pass.raw.data[1 * H + 2], 0.0f);
  importance::Options norm;
  const auto normalized = importance::normalize(pass.raw, norm, pass.tokens);
  EXPECT_EQ(normalized.data[1 * H + 2], 0.0f);
  EXPECT_FLOAT_EQ(*std::max_element(normalized.data.begin(), normalized.data.end()), 1.0f);
  for (std::int64_t l = 0; l < L; ++l) {
    // Per-layer L2 normalisation alone gives unit rows.
    importance::Options layer_only;
    layer_only.normalize_global = false;
    const auto n2 = importance::normalize(pass.raw, layer_only, pass.tokens);
    double sq = 0;
    for (std::int64_t h = 0; h < H; ++h) sq += n2.data[static_cast<std::size_t>(l * H + h)] * n2.data[static_cast<std::size_t>(l * H + h)];
    EXPECT_NEAR(sq, 1.0, 1e-5);
  }
}

TEST(ImportanceCurve, StepSizesStoppingRulesAndTheDeadHeadFirst) {
  const auto m = dead_head_classifier();
  const auto L = m.layers(), H = m.heads();  // 12 heads: 10% is 1 head per step
  const auto task = classification_task(random_examples(6, 2, 1));
  importance::Options o;
  o.masking_amount = 0.25;  // floor(0.25 * 12) = 3 heads per step
  o.masking_threshold = 0.0;  // accuracy >= 0 always: masks until no head is left, then stops
  const auto r = importance::run(m, task, o);
  ASSERT_EQ(r.curve.size(), 5u);  // all heads, then 3, 6, 9, 12 masked
  for (std::size_t s = 1; s < r.curve.size(); ++s) {
    EXPECT_EQ(r.curve[s].newly_masked.size(), 3u);
    EXPECT_EQ(r.curve[s].masked, static_cast<std::int64_t>(3 * s));
  }
  const auto& first = r.curve[1].newly_masked;
  EXPECT_NE(std::find(first.begin(), first.end(), importance::Head{1, 2}), first.end()) << "the dead head is masked first";
  for (auto v : r.final_mask.data) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(r.passes, 5);
  // A threshold above the unmasked metric stops before masking anything.
  o.masking_threshold = 1.5;
  const auto none = importance::run(m, task, o);
  EXPECT_EQ(none.curve.size(), 1u);
  for (auto v : none.final_mask.data) EXPECT_EQ(v, 1.0f);
  // A threshold between: the final mask is the last one at or above it.
  o.masking_threshold = 0.9;
  o.masking_amount = 0.1;
  const auto mid = importance::run(m, task, o);
  std::int64_t kept = 0;
  for (auto v : mid.final_mask.data) kept += v != 0.0f;
  std::int64_t last_ok = 0;
  for (const auto& s : mid.curve)
    if (s.above_threshold) last_ok = s.masked;
  EXPECT_EQ(kept, L * H - last_ok);
  if (mid.curve.back().masked < L * H) {
    EXPECT_FALSE(mid.curve.back().above_threshold);
  }
  EXPECT_THROW(importance::run(m, task, [] {
                 importance::Options bad;
                 bad.masking_amount = 0;
                 return bad;
               }()),
               Error);
}

TEST(ImportanceMasking, BertMaskingIsDeterministicSkipsSpecialsAndSplits801010) {
  TempDir dir("importance-mask");
  const auto m = model::Model::load(make_model(dir, "m", fmt::format("--vocab {} --layers 1 --hidden 16 --heads 2 --intermediate 16 --seed 4", test::uncased_vocab())));
  const auto& tok = m.tokenizer();
  const auto enc = m.encode("the quick brown fox jumps over the lazy dog near the river bank today", "and then it rests .");
  importance::MlmMasking mk;
  const auto a = importance::mask_for_mlm(enc, tok, mk, 3), b = importance::mask_for_mlm(enc, tok, mk, 3);
  EXPECT_EQ(a.input.ids, b.input.ids);
  EXPECT_EQ(a.positions, b.positions);
  const auto c = importance::mask_for_mlm(enc, tok, mk, 4);
  EXPECT_NE(a.positions, c.positions);
  const auto candidates = static_cast<double>(enc.size() - 3);
  EXPECT_EQ(a.positions.size(), static_cast<std::size_t>(std::llround(0.15 * candidates)));
  std::int64_t masked = 0, random = 0, kept = 0;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    const auto e = importance::mask_for_mlm(enc, tok, mk, i);
    for (std::size_t k = 0; k < e.positions.size(); ++k) {
      const auto p = static_cast<std::size_t>(e.positions[k]);
      EXPECT_NE(enc.ids[p], tok.cls_id());
      EXPECT_NE(enc.ids[p], tok.sep_id());
      EXPECT_EQ(e.labels[k], enc.ids[p]);
      if (e.input.ids[p] == tok.mask_id()) ++masked;
      else if (e.input.ids[p] == enc.ids[p]) ++kept;
      else ++random;
    }
  }
  const double n = static_cast<double>(masked + random + kept);
  EXPECT_NEAR(masked / n, 0.8, 0.03);
  EXPECT_NEAR(random / n, 0.1, 0.03);
  EXPECT_NEAR(kept / n, 0.1, 0.03);
}

TEST(ImportanceCli, TaskDataAndPlainTextEndToEnd) {
  TempDir dir("importance-cli");
  const auto clf = make_model(dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 4 --intermediate 48 --labels 2 "
                                                      "--seed 5 --init-std 0.2 --bias-std 0.1",
                                                      test::uncased_vocab()));
  const auto sst = (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string();
  auto run = [&](const std::string& args) {
    const auto r = test::run_command(fmt::format("{} analyze importance {}", test::cli(), args));
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  };
  run(fmt::format("--model {} --data {} --out {}", clf, sst, (dir / "norm.json").string()));
  run(fmt::format("--model {} --data {} --no-normalize --no-curve --batch-size 7 --out {}", clf, sst, (dir / "raw.json").string()));
  const auto norm = io::read_json(dir / "norm.json"), raw = io::read_json(dir / "raw.json");
  EXPECT_EQ(norm["results"]["objective"], "classification");
  EXPECT_EQ(norm["results"]["metric"], "accuracy");
  EXPECT_EQ(norm["results"]["examples"], 40);
  const auto& imp = norm["results"]["importance"];
  ASSERT_EQ(imp.size(), 2u);
  ASSERT_EQ(imp[0].size(), 4u);
  double lo = 1e9, hi = -1e9;
  for (const auto& row : imp)
    for (double v : row) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_NEAR(lo, 0.0, 1e-6);
  EXPECT_NEAR(hi, 1.0, 1e-6);
  EXPECT_GE(norm["results"]["curve"].size(), 2u);
  EXPECT_EQ(norm["results"]["per_head"].size(), 8u);
  // Raw = the sums, identical whatever the batch size.
  for (std::size_t l = 0; l < 2; ++l)
    for (std::size_t h = 0; h < 4; ++h) {
      EXPECT_NEAR(raw["results"]["importance"][l][h].get<double>(), norm["results"]["raw_importance"][l][h].get<double>(),
                  1e-5 * std::abs(norm["results"]["raw_importance"][l][h].get<double>()) + 1e-9);
      EXPECT_GT(raw["results"]["importance"][l][h].get<double>(), 0.0);
    }
  EXPECT_EQ(raw["results"]["curve"].size(), 1u);

  // Plain text with the MLM loss: Clark's segments of running text.
  const auto mlm = make_model(dir, "mlm", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 4 --intermediate 48 --seed 6", test::uncased_vocab()));
  const auto text = (test::data_dir() / "clark" / "running_text.txt").string();
  const auto out = run(fmt::format("--model {} --data {} --segments --segment-length 40 --bertology --out {}", mlm, text,
                                   (dir / "mlm.json").string()));
  const auto doc = io::read_json(dir / "mlm.json");
  EXPECT_EQ(doc["results"]["objective"], "mlm");
  EXPECT_EQ(doc["results"]["metric"], "mlm_accuracy");
  EXPECT_GT(doc["results"]["examples"].get<int>(), 1);
  EXPECT_TRUE(doc["params"]["bertology"].get<bool>());
  EXPECT_NE(out.find("masking curve"), std::string::npos) << out;

  // Errors: an MLM model on task data names the folder; a task file without labels.
  const auto bad = test::run_command(fmt::format("{} analyze importance --model {} --data {} --objective task", test::cli(), mlm, sst));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("not a sequence classifier"), std::string::npos) << bad.output;
}
