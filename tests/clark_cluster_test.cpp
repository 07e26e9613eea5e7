// Head clustering (methods.md 1.8): the JS divergence against a plain double-precision formula,
// identical heads at distance 0, MDS reproducing known distances, and the command end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "analysis/cluster.hpp"
#include "analysis/mds.hpp"
#include "clark_test_util.hpp"
#include "io/error.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
namespace tc = bertscope::test::clark;

namespace {

// Clark's head_distances.py for one pair of rows, in double precision with std::log.
double reference_js(const float* p, const float* q, std::int64_t n, double s) {
  double js = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const double a = (1 - s) * p[j] + s / static_cast<double>(n), b = (1 - s) * q[j] + s / static_cast<double>(n);
    const double m = (a + b) / 2;
    js += 0.5 * a * std::log(a / m) + 0.5 * b * std::log(b / m);
  }
  return js;
}

core::Tensor random_attention(std::int64_t layers, std::int64_t heads, std::int64_t t, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  core::Tensor att({layers, heads, t, t});
  for (std::int64_t r = 0; r < layers * heads * t; ++r) {
    float* row = att.ptr() + r * t;
    float sum = 0;
    for (std::int64_t j = 0; j < t; ++j) sum += row[j] = std::pow(e(rng), 3.0f);  // peaky rows
    for (std::int64_t j = 0; j < t; ++j) row[j] /= sum;
  }
  return att;
}

double distance(const std::vector<double>& x, std::size_t dims, std::size_t i, std::size_t j) {
  double s = 0;
  for (std::size_t c = 0; c < dims; ++c) s += (x[i * dims + c] - x[j * dims + c]) * (x[i * dims + c] - x[j * dims + c]);
  return std::sqrt(s);
}

}  // namespace

TEST(ClarkCluster, FastLogIsAccurate) {
  double worst = 0;
  for (double x = 1e-8; x < 4; x *= 1.0137) {
    const auto f = static_cast<float>(x);
    const double exact = std::log(static_cast<double>(f));
    worst = std::max(worst, std::abs(cluster::fast_log(f) - exact) / std::max(1.0, std::abs(exact)));
  }
  EXPECT_LT(worst, 3e-7);
}

TEST(ClarkCluster, DivergencesMatchClarksFormula) {
  const std::int64_t t = 7;
  const auto att = random_attention(2, 3, t, 5);
  cluster::Options o;
  cluster::Accumulator acc(2, 3, o);
  acc.add(att);
  const auto att2 = random_attention(2, 3, 4, 9);
  acc.add(att2);
  const auto r = acc.result();
  ASSERT_EQ(r.distances.size(), 36u);
  EXPECT_EQ(r.rows, 11u);
  for (std::int64_t a = 0; a < 6; ++a)
    for (std::int64_t b = 0; b < 6; ++b) {
      double expected = 0;
      for (const auto* x : {&att, &att2}) {
        const auto n = x->dim(2);
        for (std::int64_t i = 0; i < n; ++i)
          expected += reference_js(x->ptr() + (a * n + i) * n, x->ptr() + (b * n + i) * n, n, o.smoothing);
      }
      const double got = r.distances[static_cast<std::size_t>(a * 6 + b)];
      EXPECT_NEAR(got, expected, 1e-5 * std::max(1.0, expected)) << a << " " << b;
      EXPECT_EQ(got, r.distances[static_cast<std::size_t>(b * 6 + a)]);
      if (a == b) {
        EXPECT_EQ(got, 0.0);
      }
    }
}

TEST(ClarkCluster, IdenticalHeadsAreAtZero) {
  auto att = random_attention(2, 2, 9, 11);
  const auto t = att.dim(2);
  std::copy(att.ptr(), att.ptr() + t * t, att.ptr() + 3 * t * t);  // head (1, 1) = head (0, 0)
  cluster::Accumulator acc(2, 2, {});
  acc.add(att);
  const auto r = acc.result();
  EXPECT_EQ(r.distances[3], 0.0);
  EXPECT_GT(r.distances[1], 0.0);
  // JS of a row with itself through the public helper is 0 as well.
  std::vector<float> row(9);
  for (int j = 0; j < 9; ++j) row[static_cast<std::size_t>(j)] = 0.001f / 9 + 0.999f * att.data[static_cast<std::size_t>(j)];
  EXPECT_EQ(cluster::js_divergence(row.data(), row.data(), 9), 0.0);
}

TEST(ClarkCluster, EigenAndClassicalMds) {
  std::vector<double> values, vectors;
  symmetric_eigen({2, 1, 0, 1, 2, 0, 0, 0, 5}, 3, values, vectors);
  EXPECT_NEAR(values[0], 5, 1e-12);
  EXPECT_NEAR(values[1], 3, 1e-12);
  EXPECT_NEAR(values[2], 1, 1e-12);
  EXPECT_NEAR(std::abs(vectors[0 * 3 + 1]), std::sqrt(0.5), 1e-12);
  // Three heads at distances 3, 4, 5 (a right triangle): MDS puts them exactly there.
  const std::vector<double> d = {0, 3, 4, 3, 0, 5, 4, 5, 0};
  const auto r = smacof(d, 3);
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(distance(r.coordinates, 2, 0, 1), 3, 1e-9);
  EXPECT_NEAR(distance(r.coordinates, 2, 0, 2), 4, 1e-9);
  EXPECT_NEAR(distance(r.coordinates, 2, 1, 2), 5, 1e-9);
  EXPECT_NEAR(r.normalized_stress, 0, 1e-9);
  // Deterministic: the same input gives the same layout.
  EXPECT_EQ(smacof(d, 3).coordinates, r.coordinates);
}

TEST(ClarkCluster, SmacofImprovesOnClassicalStress) {
  // Dissimilarities that no 2-D layout fits exactly (5 points, all pairwise 1 apart but one).
  const std::size_t n = 5;
  std::vector<double> d(n * n, 1.0);
  for (std::size_t i = 0; i < n; ++i) d[i * n + i] = 0;
  d[0 * n + 4] = d[4 * n + 0] = 2.5;
  const auto classical = classical_mds(d, n, 2);
  double classical_stress = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) classical_stress += std::pow(distance(classical, 2, i, j) - d[i * n + j], 2);
  const auto r = smacof(d, n);
  EXPECT_LT(r.stress, classical_stress);
  EXPECT_GT(r.iterations, 1);
  std::vector<double> bad = d;
  bad[1] = 7;  // not symmetric
  EXPECT_THROW(smacof(bad, n), Error);
}

TEST(ClarkCluster, CommandOnRandomModel) {
  test::TempDir dir("clark-cluster");
  const auto model = tc::make_model(dir);
  const auto data = dir / "lines.txt";
  io::write_file_atomic(data, "the cat sat on the mat .\nwe went home , and slept .\tit was late .\n");
  std::string printed;
  const auto j = tc::run_json(fmt::format("analyze cluster --model {} --data {}", model.string(), data.string()), dir / "c.json", &printed);
  ASSERT_FALSE(j.is_null());
  const auto& r = j["results"];
  ASSERT_EQ(r["distances"].size(), 8u);
  for (std::size_t a = 0; a < 8; ++a) {
    EXPECT_EQ(r["distances"][a][a], 0.0);
    for (std::size_t b = 0; b < 8; ++b) EXPECT_EQ(r["distances"][a][b], r["distances"][b][a]);
  }
  ASSERT_EQ(r["heads"].size(), 8u);
  EXPECT_EQ(r["heads"][7]["label"], "2-4");
  EXPECT_EQ(r["heads"][7]["coordinates"].size(), 2u);
  EXPECT_EQ(r["inputs"], 2);
  EXPECT_EQ(r["rows"], 9 + 14);  // 7 + 2 and 11 + 3 tokens
  EXPECT_NE(printed.find("stress"), std::string::npos);
  // Each head's behaviour is analyze surface's label on the same inputs (Fig. 6's colours).
  const auto s = tc::run_json(fmt::format("analyze surface --model {} --data {}", model.string(), data.string()), dir / "s.json");
  ASSERT_FALSE(s.is_null());
  for (std::size_t a = 0; a < 8; ++a) EXPECT_EQ(r["heads"][a]["behaviour"], s["results"]["heads"][a]["behaviour"]) << a;
  EXPECT_EQ(j["figures"][0]["options"]["colour"], nlohmann::json::array({"behaviour"}));
}
