// Kovaleva et al.'s pattern types on synthetic maps with known answers: purely vertical,
// diagonal, block and mixed maps are classified as such, random and uniform maps as
// heterogeneous; the learned classifier learns them from labelled examples and survives a
// save/load round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/patterns.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis::patterns;
using bertscope::test::TempDir;

namespace {

// "[CLS] a... [SEP] b... [SEP]" (pair) or "[CLS] a... [SEP]".
TokenRoles roles(std::int64_t a, std::int64_t b = 0) {
  model::Encoding e;
  auto push = [&](int seq, int type) {
    e.ids.push_back(seq < 0 ? 3 : 10);
    e.sequence_ids.push_back(seq);
    e.type_ids.push_back(type);
  };
  push(-1, 0);
  for (std::int64_t i = 0; i < a; ++i) push(0, 0);
  push(-1, 0);
  for (std::int64_t i = 0; i < b; ++i) push(1, 1);
  if (b > 0) push(-1, 1);
  return token_roles(e);
}

using Map = std::vector<float>;

Map vertical(const TokenRoles& r, std::mt19937& rng, double noise = 0) {
  const auto t = r.size();
  std::uniform_real_distribution<float> u(0, 1);
  Map m(static_cast<std::size_t>(t * t), 0.0f);
  std::vector<std::int64_t> specials;
  for (std::int64_t j = 0; j < t; ++j)
    if (r.special[j]) specials.push_back(j);
  for (std::int64_t i = 0; i < t; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < t; ++j) {
      float v = static_cast<float>(noise * u(rng));
      if (r.special[j]) v += j == 0 ? 0.5f : 0.5f / static_cast<float>(specials.size() - 1);
      m[i * t + j] = v;
      sum += v;
    }
    for (std::int64_t j = 0; j < t; ++j) m[i * t + j] = static_cast<float>(m[i * t + j] / sum);
  }
  return m;
}

Map offset(const TokenRoles& r, int k, std::mt19937& rng, double noise = 0) {
  const auto t = r.size();
  std::uniform_real_distribution<float> u(0, 1);
  Map m(static_cast<std::size_t>(t * t));
  for (std::int64_t i = 0; i < t; ++i) {
    double sum = 0;
    const auto target = std::clamp<std::int64_t>(i + k, 0, t - 1);
    for (std::int64_t j = 0; j < t; ++j) sum += m[i * t + j] = static_cast<float>(noise * u(rng)) + (j == target);
    for (std::int64_t j = 0; j < t; ++j) m[i * t + j] = static_cast<float>(m[i * t + j] / sum);
  }
  return m;
}

Map block(const TokenRoles& r, std::mt19937& rng, double noise = 0) {
  const auto t = r.size();
  std::uniform_real_distribution<float> u(0, 1);
  Map m(static_cast<std::size_t>(t * t));
  for (std::int64_t i = 0; i < t; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < t; ++j)
      sum += m[i * t + j] = static_cast<float>(noise * u(rng)) + (!r.special[j] && r.segment[j] == r.segment[i]);
    for (std::int64_t j = 0; j < t; ++j) m[i * t + j] = static_cast<float>(m[i * t + j] / sum);
  }
  return m;
}

Map mix(const Map& a, const Map& b, float w) {
  Map m(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) m[i] = w * a[i] + (1 - w) * b[i];
  return m;
}

// Softmax of Gaussian scores: what an unstructured head looks like.
Map random_map(std::int64_t t, std::mt19937& rng, double scale) {
  std::normal_distribution<double> g(0, scale);
  Map m(static_cast<std::size_t>(t * t));
  for (std::int64_t i = 0; i < t; ++i) {
    double sum = 0;
    std::vector<double> e(static_cast<std::size_t>(t));
    for (auto& v : e) sum += v = std::exp(g(rng));
    for (std::int64_t j = 0; j < t; ++j) m[i * t + j] = static_cast<float>(e[static_cast<std::size_t>(j)] / sum);
  }
  return m;
}

PatternClass rules(const Map& m, const TokenRoles& r) { return classify_rules(map_features(m.data(), r.size(), r), {}); }

}  // namespace

TEST(KovalevaPatterns, FeaturesOfKnownMaps) {
  std::mt19937 rng(1);
  const auto r = roles(9, 8);
  const auto t = r.size();
  const auto v = map_features(vertical(r, rng).data(), t, r);
  EXPECT_NEAR(v.cls, 0.5, 1e-6);
  EXPECT_NEAR(v.sep, 0.5, 1e-6);
  EXPECT_GT(v.special, 0.9);
  const auto p = map_features(offset(r, -1, rng).data(), t, r);
  EXPECT_NEAR(p.prev, (t - 1.0) / t, 1e-6);  // row 0 has no previous token and attends to itself
  EXPECT_NEAR(p.diagonal + p.special, 1.0, 1e-6);
  Map uniform(static_cast<std::size_t>(t * t), 1.0f / static_cast<float>(t));
  const auto u = map_features(uniform.data(), t, r);
  EXPECT_NEAR(u.entropy, 1.0, 1e-6);
  EXPECT_NEAR(u.block, 0.0, 1e-6);  // uniform attention is no block, whatever the segment sizes
  EXPECT_NEAR(map_features(block(r, rng).data(), t, r).block, 1.0, 1e-6);
  // Single inputs have no block feature.
  const auto s = roles(12);
  Map us(static_cast<std::size_t>(s.size() * s.size()), 1.0f / static_cast<float>(s.size()));
  EXPECT_EQ(map_features(us.data(), s.size(), s).block, 0.0);
}

TEST(KovalevaPatterns, RulesClassifyKnownMaps) {
  std::mt19937 rng(7);
  for (const auto& [a, b] : std::vector<std::pair<int, int>>{{9, 8}, {20, 30}, {6, 12}, {40, 0}, {12, 0}}) {
    const auto r = roles(a, b);
    SCOPED_TRACE(testing::Message() << "segments " << a << " + " << b);
    EXPECT_EQ(rules(vertical(r, rng), r), PatternClass::vertical);
    EXPECT_EQ(rules(vertical(r, rng, 0.02), r), PatternClass::vertical);
    EXPECT_EQ(rules(offset(r, -1, rng), r), PatternClass::diagonal);
    EXPECT_EQ(rules(offset(r, +1, rng), r), PatternClass::diagonal);
    EXPECT_EQ(rules(offset(r, 0, rng), r), PatternClass::diagonal);
    EXPECT_EQ(rules(mix(vertical(r, rng), offset(r, 1, rng), 0.5f), r), PatternClass::vertical_diagonal);
    EXPECT_EQ(rules(mix(vertical(r, rng), offset(r, -1, rng), 0.4f), r), PatternClass::vertical_diagonal);
    if (b >= 7) {
      EXPECT_EQ(rules(block(r, rng), r), PatternClass::block);
    }
    for (int k = 0; k < 5; ++k) EXPECT_EQ(rules(random_map(r.size(), rng, 1.0), r), PatternClass::heterogeneous);
    Map uniform(static_cast<std::size_t>(r.size() * r.size()), 1.0f / static_cast<float>(r.size()));
    EXPECT_EQ(rules(uniform, r), PatternClass::heterogeneous);
    // A far offset is structured but not one of the paper's types.
    EXPECT_EQ(rules(offset(r, 3, rng), r), PatternClass::heterogeneous);
  }
}

TEST(KovalevaPatterns, ThresholdsAreSettable) {
  RuleThresholds th;
  th.set("vertical=0.95");
  EXPECT_EQ(th.vertical, 0.95);
  EXPECT_THROW(th.set("vertical"), Error);
  EXPECT_THROW(th.set("vertical=2"), Error);
  EXPECT_THROW(th.set("slope=0.1"), Error);
  MapFeatures f;
  f.special = 0.9;
  EXPECT_EQ(classify_rules(f, th), PatternClass::heterogeneous);
  EXPECT_EQ(classify_rules(f, {}), PatternClass::vertical);
}

TEST(KovalevaPatterns, DownsampleKeepsRowsStochastic) {
  std::mt19937 rng(3);
  for (std::int64_t t : {3, 8, 13, 40}) {
    const auto m = random_map(t, rng, 2.0);
    const auto g = downsample(m.data(), t, kGrid);
    for (std::int64_t r = 0; r < kGrid; ++r) {
      double s = 0;
      for (std::int64_t c = 0; c < kGrid; ++c) s += g[static_cast<std::size_t>(r * kGrid + c)];
      EXPECT_NEAR(s, 1.0, 1e-6) << "t " << t;
    }
  }
  // An identity map of grid size stays the identity.
  Map eye(static_cast<std::size_t>(kGrid * kGrid), 0.0f);
  for (std::int64_t i = 0; i < kGrid; ++i) eye[static_cast<std::size_t>(i * kGrid + i)] = 1.0f;
  const auto g = downsample(eye.data(), kGrid, kGrid);
  for (std::int64_t i = 0; i < kGrid * kGrid; ++i) EXPECT_NEAR(g[static_cast<std::size_t>(i)], eye[static_cast<std::size_t>(i)], 1e-12);
  EXPECT_EQ(feature_names().size(), feature_vector(eye.data(), kGrid, roles(kGrid - 2)).size());
}

TEST(KovalevaPatterns, LearnedClassifierLearnsLabelledMaps) {
  std::mt19937 rng(11);
  std::vector<std::vector<double>> x, test_x;
  std::vector<PatternClass> y, test_y;
  std::uniform_int_distribution<int> len(6, 30);
  for (int n = 0; n < 200; ++n) {
    const auto r = roles(len(rng), len(rng));
    const auto c = static_cast<PatternClass>(n % 5);
    Map m;
    switch (c) {
      case PatternClass::vertical: m = vertical(r, rng, 0.1); break;
      case PatternClass::diagonal: m = offset(r, n % 2 ? 1 : -1, rng, 0.1); break;
      case PatternClass::vertical_diagonal: m = mix(vertical(r, rng), offset(r, 1, rng), 0.5f); break;
      case PatternClass::block: m = block(r, rng, 0.2); break;
      case PatternClass::heterogeneous: m = random_map(r.size(), rng, 1.5); break;
    }
    (n < 150 ? x : test_x).push_back(feature_vector(m.data(), r.size(), r));
    (n < 150 ? y : test_y).push_back(c);
  }
  const auto model = LearnedClassifier::train(x, y);
  std::vector<PatternClass> predicted;
  for (const auto& v : test_x) predicted.push_back(model.predict(v));
  const auto a = agreement(test_y, predicted);
  EXPECT_GE(a.accuracy, 0.95);
  EXPECT_GE(a.macro_f1, 0.95);
  EXPECT_GE(cross_validate(x, y, 5).accuracy, 0.9);

  TempDir dir("patterns");
  model.save(dir / "clf.json");
  const auto loaded = LearnedClassifier::load(dir / "clf.json");
  for (const auto& v : test_x) {
    const auto p = model.probabilities(v), q = loaded.probabilities(v);
    for (std::size_t c = 0; c < kClassCount; ++c) EXPECT_DOUBLE_EQ(p[c], q[c]);
  }
  auto j = model.to_json();
  j["features"][0] = "other";
  EXPECT_THROW(LearnedClassifier::from_json(j, "x.json"), Error);
  EXPECT_THROW(LearnedClassifier::from_json(nlohmann::json::object(), "x.json"), Error);
}

TEST(KovalevaPatterns, LabelFileErrorsNameTheLine) {
  TempDir dir("patterns");
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "labels.tsv") << text;
    return dir / "labels.tsv";
  };
  auto error_of = [&](const std::string& text) {
    try {
      read_map_labels(write(text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const auto ok = read_map_labels(write("input\tlayer\thead\tlabel\n0\t1\t2\tvertical\n3\t0\t0\tvertical+diagonal\n"));
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].label, PatternClass::vertical_diagonal);
  EXPECT_EQ(ok[1].line, 3u);
  EXPECT_NE(error_of("in\tlayer\thead\tlabel\n").find(":1: expected the header"), std::string::npos);
  EXPECT_NE(error_of("input\tlayer\thead\tlabel\n0\t1\t2\tstripes\n").find(":2: label \"stripes\""), std::string::npos);
  EXPECT_NE(error_of("input\tlayer\thead\tlabel\n0\t-1\t2\tblock\n").find(":2: layer \"-1\""), std::string::npos);
  EXPECT_NE(error_of("input\tlayer\thead\tlabel\n0\t1\t2\tblock\n0\t1\t2\tblock\n").find(":3: map (input 0, layer 1, head 2) is already labelled on line 2"),
            std::string::npos);
  EXPECT_NE(error_of("input\tlayer\thead\tlabel\n0\t1\n").find(":2: expected 4 tab-separated columns"), std::string::npos);
}

TEST(KovalevaPatterns, CountsSharesPerHead) {
  std::mt19937 rng(5);
  const auto r = roles(9, 8);
  const auto t = r.size();
  // Layer 0: head 0 vertical, head 1 diagonal; layer 1: head 0 block, head 1 random.
  core::Tensor att({2, 2, t, t});
  const std::vector<Map> maps{vertical(r, rng), offset(r, -1, rng), block(r, rng), random_map(t, rng, 1.0)};
  for (std::size_t k = 0; k < 4; ++k) std::copy(maps[k].begin(), maps[k].end(), att.data.begin() + static_cast<std::ptrdiff_t>(k) * t * t);
  PatternCounts counts(2, 2);
  counts.add(att, r, {}, nullptr);
  counts.add(att, r, {}, nullptr);
  EXPECT_EQ(counts.count(0, 0, PatternClass::vertical), 2);
  EXPECT_EQ(counts.count(0, 1, PatternClass::diagonal), 2);
  EXPECT_EQ(counts.count(1, 0, PatternClass::block), 2);
  EXPECT_EQ(counts.count(1, 1, PatternClass::heterogeneous), 2);
  const auto j = counts.to_json();
  double total = 0;
  for (const auto& [k, v] : j["share"].items()) total += v.get<double>();
  EXPECT_NEAR(total, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(j["share"]["block"].get<double>(), 0.25);
  EXPECT_EQ(j["heads"][1]["majority"], "diagonal");
  EXPECT_EQ(j["heads"][1]["label"], "1-2");
  EXPECT_DOUBLE_EQ(j["class_share"]["vertical"][0][0].get<double>(), 1.0);
  // Per layer: layer 0 is half vertical, half diagonal; layer 1 half block, half heterogeneous.
  EXPECT_DOUBLE_EQ(j["by_layer"][0]["vertical"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["by_layer"][1]["block"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["by_layer"][1]["diagonal"].get<double>(), 0.0);
  // Without tokens no example maps are kept; with them, the first map of each type is.
  EXPECT_TRUE(j["examples"].empty());
  std::vector<std::string> tokens(static_cast<std::size_t>(t), "w");
  PatternCounts named(2, 2);
  named.add(att, r, {}, nullptr, &tokens);
  const auto e = named.to_json()["examples"];
  ASSERT_EQ(e.size(), 4u);
  for (const auto& x : e) {
    const auto k = x["layer"].get<std::size_t>() * 2 + x["head"].get<std::size_t>();
    EXPECT_EQ(x["type"], (std::vector<std::string>{"vertical", "diagonal", "block", "heterogeneous"})[k]);
    EXPECT_EQ(x["map"].size(), static_cast<std::size_t>(t));
    EXPECT_NEAR(x["map"][2][3].get<double>(), maps[k][2 * static_cast<std::size_t>(t) + 3], 1e-4);
  }
}

namespace {

std::string run_ok(const std::string& cmd) {
  const auto r = test::run_command(cmd);
  EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  return r.output;
}

}  // namespace

TEST(KovalevaPatterns, CommandEndToEnd) {
  TempDir dir("patterns-cli");
  const auto model = (dir / "m").string();
  run_ok(fmt::format("{} make-model --out {} --vocab {} --layers 2 --hidden 32 --heads 4 --intermediate 48 --labels 2 "
                     "--seed 6 --init-std 0.3 --bias-std 0.2",
                     test::cli(), model, (test::data_dir() / "bert-base-uncased" / "vocab.txt").string()));
  const auto sst = (test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv").string();
  const auto rte = (test::data_dir() / "kovaleva" / "rte_dev.head12.tsv").string();
  nlohmann::json rte_doc;
  for (const auto& data : {sst, rte}) {
    const auto out = dir / "rules.json";
    const auto printed = run_ok(fmt::format("{} analyze patterns --model {} --data {} --batch-size 4 --out {}", test::cli(),
                                            model, data, out.string()));
    EXPECT_NE(printed.find("heterogeneous"), std::string::npos);
    const auto doc = io::read_json(out);
    EXPECT_EQ(doc["params"]["classifier"], "rules");
    EXPECT_EQ(doc["results"]["maps"], doc["results"]["inputs"].get<int>() * 8);
    double total = 0;
    for (const auto& [k, v] : doc["results"]["share"].items()) total += v.get<double>();
    EXPECT_NEAR(total, 1.0, 1e-12);
    ASSERT_EQ(doc["results"]["heads"].size(), 8u);
    rte_doc = doc;
  }
  EXPECT_EQ(rte_doc["results"]["inputs"], 12);

  // Label the first 6 inputs' maps with their head's majority class, train, save, apply.
  std::string labels = "input\tlayer\thead\tlabel\n";
  for (int i = 0; i < 6; ++i)
    for (const auto& h : rte_doc["results"]["heads"])
      labels += fmt::format("{}\t{}\t{}\t{}\n", i, h["layer"].get<int>(), h["head"].get<int>(), h["majority"].get<std::string>());
  io::write_file_atomic(dir / "labels.tsv", labels);
  const auto trained = dir / "trained.json", applied = dir / "applied.json", clf = dir / "clf.json";
  run_ok(fmt::format("{} analyze patterns --model {} --data {} --batch-size 4 --labels {} --save-classifier {} --folds 3 --out {}",
                     test::cli(), model, rte, (dir / "labels.tsv").string(), clf.string(), trained.string()));
  const auto t = io::read_json(trained);
  EXPECT_EQ(t["params"]["classifier"], "learned");
  EXPECT_EQ(t["results"]["training"]["maps"], 48);
  EXPECT_TRUE(t["results"]["training"]["cross_validation"].contains("macro_f1"));
  EXPECT_TRUE(t["results"]["training"]["rules_vs_labels"].contains("confusion"));
  run_ok(fmt::format("{} analyze patterns --model {} --data {} --batch-size 4 --classifier {} --out {}", test::cli(), model, rte,
                     clf.string(), applied.string()));
  EXPECT_EQ(io::read_json(applied)["results"]["share"], t["results"]["share"]);

  // Saved traces give the same classification as the model.
  std::string pairs;
  for (const auto& line : io::read_text_lines(rte)) {
    if (line.rfind("idx\t", 0) == 0) continue;
    const auto a = line.find('\t') + 1, b = line.find('\t', a), c = line.find('\t', b + 1);
    pairs += line.substr(a, b - a) + "\t" + line.substr(b + 1, c - b - 1) + "\n";
  }
  io::write_file_atomic(dir / "rte.txt", pairs);
  run_ok(fmt::format("{} run --model {} --input {} --batch-size 4 --out {}", test::cli(), model, (dir / "rte.txt").string(),
                     (dir / "traces").string()));
  const auto from_traces = dir / "traces.json";
  run_ok(fmt::format("{} analyze patterns --traces {} --data {} --out {}", test::cli(), (dir / "traces").string(), rte,
                     from_traces.string()));
  EXPECT_EQ(io::read_json(from_traces)["results"]["class_share"], rte_doc["results"]["class_share"]);

  // A labelled map outside the data is one clear error naming the labels file and line.
  io::write_file_atomic(dir / "bad.tsv", "input\tlayer\thead\tlabel\n0\t0\t0\tvertical\n99\t0\t0\tblock\n");
  const auto r = test::run_command(fmt::format("{} analyze patterns --model {} --data {} --labels {}", test::cli(), model, rte,
                                               (dir / "bad.tsv").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find((dir / "bad.tsv").string() + ":3: map (input 99, layer 0, head 0) is outside the data (12 inputs)"),
            std::string::npos)
      << r.output;
}
