// `bertscope compare`: the cosine of a model with itself is exactly 1 for every head (cropped
// and padded maps); padded maps, padding rows included, match the independent PyTorch
// reference's padded batch; a pre-trained model compares with a classifier of the same encoder
// shape; mismatched models are refused; the special-token scores have known values.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "analysis/compare.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/npz.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

struct CompareModels {
  TempDir dir{"compare"};
  std::string mlm, clf, other_shape, other_vocab;
  CompareModels() {
    const auto shape = "--layers 2 --hidden 32 --heads 4 --intermediate 48 --init-std 0.2 --bias-std 0.1";
    mlm = make_model(dir, "mlm", fmt::format("--vocab {} --seed 3 {}", test::uncased_vocab(), shape));
    clf = make_model(dir, "clf", fmt::format("--vocab {} --seed 4 --labels 2 {}", test::uncased_vocab(), shape));
    other_shape = make_model(dir, "wide", fmt::format("--vocab {} --seed 4 --layers 2 --hidden 32 --heads 2 --intermediate 48", test::uncased_vocab()));
    other_vocab = make_model(dir, "tiny", fmt::format("--vocab {} --seed 4 {}", (test::data_dir() / "tiny-vocab.txt").string(), shape));
  }
};

CompareModels& compare_models() {
  static CompareModels m;
  return m;
}

std::vector<AnalysisInput> inputs() {
  return {{"it 's a charming and often affecting journey .", std::nullopt, {}},
          {"the cat sat on the mat .", std::string("a cat was sitting , quietly ."), {}},
          {"unflinchingly bleak and desperate", std::nullopt, {}}};
}

}  // namespace

TEST(KovalevaCompare, SelfCosineIsExactlyOne) {
  const auto a = model::Model::load(compare_models().mlm);
  const auto b = model::Model::load(compare_models().mlm);
  for (std::int64_t pad : {0, 24}) {
    compare::Options opt;
    opt.pad_to = pad;
    opt.batch_size = 2;
    const auto r = compare::run(a, b, inputs(), opt);
    ASSERT_EQ(r.cosine.size(), 8u);
    for (double c : r.cosine) EXPECT_EQ(c, 1.0) << "pad " << pad;
    EXPECT_EQ(r.inputs, 3u);
    EXPECT_EQ(r.to_json()["cosine"][1][3].get<double>(), 1.0);
  }
  // A map that is all zero has no direction: cosine 0, not NaN.
  const float z[3] = {0, 0, 0}, o[3] = {1, 2, 3};
  EXPECT_EQ(compare::cosine(z, o, 3), 0.0);
}

TEST(KovalevaCompare, PretrainedAgainstClassifierOfTheSameShape) {
  const auto a = model::Model::load(compare_models().mlm);
  const auto b = model::Model::load(compare_models().clf);
  compare::Options cropped;
  const auto r = compare::run(a, b, inputs(), cropped);
  for (double c : r.cosine) {
    EXPECT_GT(c, 0.0);
    EXPECT_LT(c, 1.0);
  }
  // One input per batch (a tiny memory budget) changes nothing.
  compare::Options tiny_budget;
  tiny_budget.max_map_floats = 1;
  const auto one_by_one = compare::run(a, b, inputs(), tiny_budget);
  for (std::size_t i = 0; i < r.cosine.size(); ++i) EXPECT_NEAR(one_by_one.cosine[i], r.cosine[i], 1e-6);
  EXPECT_EQ(one_by_one.inputs, 3u);
  compare::Options padded;
  padded.pad_to = 40;
  const auto p = compare::run(a, b, inputs(), padded);
  // Padding adds rows (the padding queries) but no columns: the cosines differ from the cropped ones.
  double differ = 0;
  for (std::size_t i = 0; i < r.cosine.size(); ++i) differ = std::max(differ, std::abs(r.cosine[i] - p.cosine[i]));
  EXPECT_GT(differ, 1e-4);
  // Special-token scores per layer are the mean of the heads' scores.
  const auto j = r.to_json()["special"]["a"];
  double mean = 0;
  for (std::int64_t h = 0; h < 4; ++h) mean += j["sep"]["heads"][1][h].get<double>() / 4;
  EXPECT_NEAR(j["sep"]["layers"][1].get<double>(), mean, 1e-12);
  EXPECT_EQ(j["inputs"], 3);
}

TEST(KovalevaCompare, PaddedMapsMatchTheReferencePaddedBatch) {
  const auto summary = io::read_json(test::golden_dir() / "ablation.json");
  TempDir dir("compare-golden");
  std::string args = fmt::format("--vocab {}", (test::data_dir() / "tiny-vocab.txt").string());
  for (const auto& a : summary["args"]) args += fmt::format(" {}", a.get<std::string>());
  const auto folder = make_model(dir, "golden", args);
  ASSERT_EQ(fmt::format("{:016x}", test::fnv1a64_file(std::filesystem::path(folder) / "model.safetensors")),
            summary["fnv1a64"].get<std::string>());
  const auto m = model::Model::load(folder);
  io::NpzReader npz(test::golden_dir() / "ablation.npz");
  const auto ids = npz.read("input_ids"), types = npz.read("token_type_ids"), mask = npz.read("attention_mask");
  const auto id = ids.to_i64(), ty = types.to_i64(), mk = mask.to_i64();
  const auto want = npz.read("padded_attentions").to_f64();
  const auto B = ids.shape[0], T = ids.shape[1], L = m.layers(), H = m.heads();
  std::vector<model::ModelInput> batch(static_cast<std::size_t>(B));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < T; ++j) {
      batch[b].ids.push_back(static_cast<std::int32_t>(id[b * T + j]));
      batch[b].type_ids.push_back(static_cast<std::int32_t>(ty[b * T + j]));
      batch[b].attention_mask.push_back(static_cast<std::uint8_t>(mk[b * T + j]));
    }
  model::RunOptions opt;
  opt.record = model::SiteSet(L);
  opt.record.add(model::Site::attn_probs);
  const auto got = m.forward(batch, opt);
  // Within 3x PyTorch's own float32 error, as the encoder goldens.
  const double tol = 3 * std::max(summary["torch_f32_max_padded_attention_error"].get<double>(), 1e-7);
  double worst = 0, pad_row_mass = 0;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t l = 0; l < L; ++l) {
      const auto& probs = *got[static_cast<std::size_t>(b)].trace.find(model::Site::attn_probs, l);
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t i = 0; i < T; ++i)
          for (std::int64_t j = 0; j < T; ++j) {
            const double w = want[static_cast<std::size_t>((((b * L + l) * H + h) * T + i) * T + j)];
            const double g = probs.data[static_cast<std::size_t>((h * T + i) * T + j)];
            worst = std::max(worst, std::abs(g - w));
            if (!mk[b * T + i]) pad_row_mass += g;
            if (!mk[b * T + j]) {
              EXPECT_EQ(g, 0.0f);  // padding keys get exactly nothing
            }
          }
    }
  EXPECT_LE(worst, tol);
  EXPECT_GT(pad_row_mass, 1.0);  // padding rows were compared, not skipped
}

TEST(KovalevaCompare, RefusesDifferentShapesAndVocabularies) {
  const auto a = model::Model::load(compare_models().mlm);
  const auto wide = model::Model::load(compare_models().other_shape);
  const auto tiny = model::Model::load(compare_models().other_vocab);
  auto error_of = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto msg = error_of([&] { compare::check_compatible(a, wide); });
  EXPECT_NE(msg.find("2 layers x 4 heads"), std::string::npos) << msg;
  EXPECT_NE(msg.find(compare_models().other_shape), std::string::npos) << msg;
  msg = error_of([&] { compare::check_compatible(a, tiny); });
  EXPECT_NE(msg.find("compare needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find(compare_models().other_vocab), std::string::npos) << msg;
  const auto r = test::run_command(fmt::format("{} compare --model {} --model-b {} --data {}", test::cli(), compare_models().mlm,
                                               compare_models().other_vocab,
                                               (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("compare needs"), std::string::npos) << r.output;
}

TEST(KovalevaCompare, SpecialTokenScores) {
  // [CLS] a b [SEP] c [SEP] with a "." token: every query puts 0.5 on [CLS], 0.25 on the last
  // [SEP] and 0.25 on ".".
  model::Encoding e;
  e.tokens = {"[CLS]", "a", ".", "[SEP]", "c", "[SEP]"};
  e.ids = {2, 10, 11, 3, 12, 3};
  e.sequence_ids = {-1, 0, 0, -1, 1, -1};
  core::Tensor att({1, 1, 6, 6});
  for (int i = 0; i < 6; ++i) {
    att.data[i * 6 + 0] = 0.5f;
    att.data[i * 6 + 5] = 0.25f;
    att.data[i * 6 + 2] = 0.25f;
  }
  compare::SpecialAttention s(1, 1);
  s.add(att, e);
  const auto j = s.to_json();
  EXPECT_DOUBLE_EQ(j["cls"]["heads"][0][0].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["sep"]["heads"][0][0].get<double>(), 0.25);  // max over the two [SEP]s
  EXPECT_DOUBLE_EQ(j["punct"]["heads"][0][0].get<double>(), 0.25);
}

TEST(KovalevaCompare, CommandEndToEnd) {
  TempDir dir("compare-cli");
  for (const auto& [data, pad] : std::vector<std::pair<std::string, int>>{{"sst2_dev.head40.tsv", 0}, {"rte_dev.head12.tsv", 200}}) {
    const auto out = dir / (data + ".json");
    const auto r = test::run_command(fmt::format("{} compare --model {} --model-b {} --data {} --pad-to {} --out {}", test::cli(),
                                                 compare_models().mlm, compare_models().clf, (test::data_dir() / "kovaleva" / data).string(),
                                                 pad, out.string()));
    ASSERT_EQ(r.status, 0) << r.output;
    const auto doc = io::read_json(out);
    EXPECT_EQ(doc["method"], "compare");
    EXPECT_EQ(doc["params"]["maps"], pad ? "padded" : "cropped");
    EXPECT_EQ(doc["results"]["cosine"].size(), 2u);
    EXPECT_EQ(doc["results"]["cosine"][0].size(), 4u);
    EXPECT_EQ(doc["results"]["special"]["b"]["cls"]["layers"].size(), 2u);
    EXPECT_EQ(doc["data"]["inputs"], data[0] == 's' ? 40 : 12);
  }
  // Self comparison through the command: every cosine exactly 1.
  const auto out = dir / "self.json";
  ASSERT_EQ(test::run_command(fmt::format("{} compare --model {} --model-b {} --data {} --out {}", test::cli(), compare_models().clf,
                                          compare_models().clf, (test::data_dir() / "kovaleva" / "rte_dev.head12.tsv").string(),
                                          out.string())).status, 0);
  const auto self = io::read_json(out);  // a named document: the range-for must not iterate a destroyed temporary
  for (const auto& row : self["results"]["cosine"])
    for (const auto& v : row) EXPECT_EQ(v.get<double>(), 1.0);
}
