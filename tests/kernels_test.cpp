// Every vector kernel against its plain scalar reference, on odd sizes that are not multiples
// of any vector width. Tolerances are stated per kernel.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <random>
#include <vector>

#include "core/gemm.hpp"
#include "core/kernels.hpp"
#include "core/kernels_reference.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/peak.hpp"
#include "io/float16.hpp"

using namespace bertscope::core;

namespace {

std::vector<float> random_vector(std::size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

const std::vector<std::int64_t> kSizes{1, 3, 7, 15, 16, 17, 31, 33, 64, 100, 127, 129, 768, 1001};

}  // namespace

TEST(Kernel, SoftmaxMatchesReference) {
  for (auto cols : kSizes) {
    const std::int64_t rows = 5;
    auto x = random_vector(static_cast<std::size_t>(rows * cols), 4.0f, static_cast<unsigned>(cols));
    auto ref = x;
    softmax_rows(x.data(), rows, cols);
    reference::softmax_rows(ref.data(), rows, cols);
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], ref[i], 2e-7 + 4e-6 * ref[i]) << "cols " << cols;
  }
}

TEST(Kernel, SoftmaxOfHugeLogitsIsStable) {
  std::vector<float> x{1000.0f, 999.0f, -1000.0f};
  softmax_rows(x.data(), 1, 3);
  EXPECT_NEAR(x[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(x[2], 0.0f);
}

TEST(Kernel, AddLayerNormMatchesReference) {
  for (auto cols : kSizes) {
    if (cols < 2) continue;
    const std::int64_t rows = 4;
    auto a = random_vector(static_cast<std::size_t>(rows * cols), 3.0f, 1);
    auto b = random_vector(static_cast<std::size_t>(rows * cols), 1.0f, 2);
    for (auto& v : a) v += 5.0f;  // a large common offset is what breaks one-pass variances
    auto g = random_vector(static_cast<std::size_t>(cols), 1.0f, 3), beta = random_vector(static_cast<std::size_t>(cols), 1.0f, 4);
    std::vector<float> y(a.size()), ref(a.size()), plain(a.size()), plain_ref(a.size());
    add_layer_norm(a.data(), b.data(), rows, cols, g.data(), beta.data(), 1e-12f, y.data());
    reference::add_layer_norm(a.data(), b.data(), rows, cols, g.data(), beta.data(), 1e-12f, ref.data());
    layer_norm(a.data(), rows, cols, g.data(), beta.data(), 1e-5f, plain.data());
    reference::add_layer_norm(a.data(), nullptr, rows, cols, g.data(), beta.data(), 1e-5f, plain_ref.data());
    for (std::size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], ref[i], 3e-6 * (1 + std::abs(ref[i]))) << "cols " << cols;
      ASSERT_NEAR(plain[i], plain_ref[i], 3e-6 * (1 + std::abs(plain_ref[i]))) << "cols " << cols;
    }
  }
}

TEST(Kernel, LayerNormInPlace) {
  auto a = random_vector(96 * 3, 1.0f, 9);
  std::vector<float> g(96, 1.0f), beta(96, 0.0f), ref(a.size());
  reference::add_layer_norm(a.data(), nullptr, 3, 96, g.data(), beta.data(), 1e-12f, ref.data());
  layer_norm(a.data(), 3, 96, g.data(), beta.data(), 1e-12f, a.data());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], ref[i], 3e-6);
}

TEST(Kernel, ActivationsMatchReference) {
  for (auto act : {Activation::gelu_erf, Activation::gelu_tanh, Activation::relu, Activation::silu, Activation::gelu_quick}) {
    for (auto n : kSizes) {
      auto x = random_vector(static_cast<std::size_t>(n), 3.0f, static_cast<unsigned>(n) + 7);
      x[0] = 9.5f;  // beyond erf's clamp
      auto ref = x;
      activate(act, x.data(), n);
      reference::activate(act, ref.data(), n);
      for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(x[i], ref[i], 4e-7 * (1 + std::abs(ref[i]))) << static_cast<int>(act);
    }
  }
}

TEST(Kernel, ActivationOnLargeArraysSplitsCorrectly) {
  const std::int64_t n = (1 << 16) + 37;
  auto x = random_vector(static_cast<std::size_t>(n), 2.0f, 5);
  auto ref = x;
  activate(Activation::gelu_erf, x.data(), n);
  reference::activate(Activation::gelu_erf, ref.data(), n);
  for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(x[i], ref[i], 4e-7 * (1 + std::abs(ref[i])));
}

TEST(Kernel, TanhMatchesStd) {
  auto x = random_vector(1001, 3.0f, 11);
  auto y = x;
  tanh_inplace(y.data(), 1001);
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], std::tanh(double(x[i])), 3e-7);
}

TEST(Kernel, Bf16RoundsToNearestEven) {
  std::vector<float> x{1.0f, 1.00390625f /* halfway: stays 1.0 */, 1.01171875f /* halfway: rounds up to even */,
                       -2.5f, 3.14159265f};
  std::vector<std::uint16_t> out(x.size());
  to_bf16(x.data(), static_cast<std::int64_t>(x.size()), out.data());
  EXPECT_EQ(out[0], 0x3f80);
  EXPECT_EQ(out[1], 0x3f80);
  EXPECT_EQ(out[2], 0x3f82);
  EXPECT_EQ(out[3], 0xc020);
  EXPECT_EQ(out[4], 0x4049);
}

namespace {

// Plain triple loop in double: y = x W^T + b.
std::vector<double> reference_linear(const std::vector<float>& x, std::int64_t m, std::int64_t k,
                                     const std::vector<float>& w, const std::vector<float>& b, std::int64_t n) {
  std::vector<double> y(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = b.empty() ? 0.0 : b[j];
      for (std::int64_t q = 0; q < k; ++q) s += static_cast<double>(x[i * k + q]) * w[j * k + q];
      y[i * n + j] = s;
    }
  return y;
}

}  // namespace

TEST(Kernel, LinearMatchesReferenceOnOddShapes) {
  for (auto [m, k, n] : std::vector<std::array<std::int64_t, 3>>{{1, 1, 1}, {3, 17, 5}, {13, 96, 200}, {7, 200, 96}, {129, 33, 65}, {5, 70, 301}}) {
    auto x = random_vector(static_cast<std::size_t>(m * k), 1.0f, 1), w = random_vector(static_cast<std::size_t>(n * k), 1.0f, 2);
    auto b = random_vector(static_cast<std::size_t>(n), 1.0f, 3);
    const auto ref = reference_linear(x, m, k, w, b, n);
    std::vector<float> y(static_cast<std::size_t>(m * n));
    linear(x.data(), m, k, w.data(), b.data(), n, y.data());
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 2e-6 * std::sqrt(double(k)) * 4) << m << "x" << k << "x" << n;
    const Activation gelu = Activation::gelu_erf;
    linear(x.data(), m, k, w.data(), b.data(), n, y.data(), &gelu);
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double v = ref[i], g = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      ASSERT_NEAR(y[i], g, 2e-6 * std::sqrt(double(k)) * 4) << "fused gelu " << m << "x" << k << "x" << n;
    }
  }
}

TEST(Kernel, LinearSplitOverAnyThreadCountMatchesReference) {
  // Each thread multiplies its own block of outputs (forced, and where `automatic` picks it) or
  // oneDNN splits the product: 1, 2, 3 and 5 threads give blocks of different widths and an
  // uneven last one; every output must still be the product's, in float32 and in bfloat16.
  struct Restore {  // the process-wide settings go back even when an assertion returns early
    int threads = num_threads();
    ~Restore() {
      set_linear_split(LinearSplit::automatic);
      set_num_threads(threads);
    }
  } restore;
  const std::int64_t m = 9, k = 130, n = 1000;
  auto x = random_vector(static_cast<std::size_t>(m * k), 1.0f, 1), w = random_vector(static_cast<std::size_t>(n * k), 1.0f, 2);
  auto b = random_vector(static_cast<std::size_t>(n), 1.0f, 3);
  const auto ref = reference_linear(x, m, k, w, b, n);
  const PackedWeight packed(w.data(), n, k);
  std::vector<std::uint16_t> x16(x.size()), w16(w.size());
  to_bf16(x.data(), m * k, x16.data());
  to_bf16(w.data(), n * k, w16.data());
  std::vector<float> xr(x.size()), wr(w.size());  // the bf16 inputs as float32
  std::transform(x16.begin(), x16.end(), xr.begin(), bertscope::io::bf16_to_float);
  std::transform(w16.begin(), w16.end(), wr.begin(), bertscope::io::bf16_to_float);
  const auto ref16 = reference_linear(xr, m, k, wr, b, n);
  for (auto split : {LinearSplit::automatic, LinearSplit::output_columns, LinearSplit::library}) {
    set_linear_split(split);
    for (int t : {1, 2, 3, 5}) {
      set_num_threads(t);
      const auto where = ::testing::Message() << t << " threads, split " << static_cast<int>(split);
      std::vector<float> plain(static_cast<std::size_t>(m * n), -1.0f), y(plain.size(), -1.0f), y16(plain.size(), -1.0f);
      linear(x.data(), m, k, w.data(), b.data(), n, plain.data());
      linear(x.data(), m, k, packed, b.data(), n, y.data());
      if (bf16_supported()) linear_bf16(x16.data(), m, k, w16.data(), b.data(), n, y16.data());
      for (std::size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(plain[i], ref[i], 2e-6 * std::sqrt(double(k)) * 4) << where << ", output " << i;
        ASSERT_NEAR(y[i], ref[i], 2e-6 * std::sqrt(double(k)) * 4) << where << ", packed, output " << i;
        // Products of bf16 values are exact in float32; only the summation order may differ.
        if (bf16_supported()) ASSERT_NEAR(y16[i], ref16[i], 2e-6 * std::sqrt(double(k)) * 4) << where << ", bf16, output " << i;
      }
    }
  }
}

TEST(Kernel, Bf16LinearIsCloseToFloat) {
  if (!bf16_supported()) GTEST_SKIP() << "bf16 needs the oneDNN backend";
  const std::int64_t m = 9, k = 64, n = 33;
  auto x = random_vector(static_cast<std::size_t>(m * k), 1.0f, 1), w = random_vector(static_cast<std::size_t>(n * k), 1.0f, 2);
  std::vector<std::uint16_t> x16(x.size()), w16(w.size());
  to_bf16(x.data(), m * k, x16.data());
  to_bf16(w.data(), n * k, w16.data());
  std::vector<float> y(static_cast<std::size_t>(m * n));
  linear_bf16(x16.data(), m, k, w16.data(), nullptr, n, y.data());
  const auto ref = reference_linear(x, m, k, w, {}, n);
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 0.15);  // bf16 keeps 8 mantissa bits
}

TEST(Kernel, PackedWeightsGiveTheUnpackedProduct) {
  // BERT-like and odd shapes, several row counts per weight (each may pick its own kernel and
  // layout: the packed weight keeps one copy per layout asked for).
  for (auto [k, n] : std::vector<std::array<std::int64_t, 2>>{{768, 768}, {768, 3072}, {3072, 768}, {33, 65}, {1, 7}}) {
    const auto w = random_vector(static_cast<std::size_t>(n * k), 1.0f, 2);
    const auto b = random_vector(static_cast<std::size_t>(n), 1.0f, 3);
    const PackedWeight packed(w.data(), n, k);
    for (std::int64_t m : {1, 5, 128, 1024}) {
      const auto x = random_vector(static_cast<std::size_t>(m * k), 1.0f, 1);
      const auto ref = reference_linear(x, m, k, w, b, n);
      std::vector<float> plain(static_cast<std::size_t>(m * n)), y(plain.size());
      const Activation gelu = Activation::gelu_erf;
      for (const Activation* act : {static_cast<const Activation*>(nullptr), &gelu}) {
        linear(x.data(), m, k, w.data(), b.data(), n, plain.data(), act);
        linear(x.data(), m, k, packed, b.data(), n, y.data(), act);
        for (std::size_t i = 0; i < y.size(); ++i) {
          // The same product up to the kernels' summation order.
          ASSERT_NEAR(y[i], plain[i], 2e-6 * std::sqrt(double(k)) * 4) << m << "x" << k << "x" << n;
          if (!act) {
            ASSERT_NEAR(y[i], ref[i], 2e-6 * std::sqrt(double(k)) * 4) << m << "x" << k << "x" << n;
          }
        }
      }
    }
  }
  // A packed weight used with another shape is refused before anything is read.
  EXPECT_THROW(linear(nullptr, 1, 5, PackedWeight(static_cast<const float*>(nullptr), 4, 4), nullptr, 4, nullptr),
               std::exception);
}

TEST(Kernel, PackedBf16WeightsGiveTheUnpackedProduct) {
  if (!bf16_supported()) GTEST_SKIP() << "bf16 needs the oneDNN backend";
  const std::int64_t k = 768, n = 3072;
  auto w = random_vector(static_cast<std::size_t>(n * k), 1.0f, 2);
  std::vector<std::uint16_t> w16(w.size());
  to_bf16(w.data(), n * k, w16.data());
  const PackedWeight packed(w16.data(), n, k);
  for (std::int64_t m : {1, 128, 1024}) {
    auto x = random_vector(static_cast<std::size_t>(m * k), 1.0f, 1);
    std::vector<std::uint16_t> x16(x.size());
    to_bf16(x.data(), m * k, x16.data());
    std::vector<float> plain(static_cast<std::size_t>(m * n)), y(plain.size());
    linear_bf16(x16.data(), m, k, w16.data(), nullptr, n, plain.data());
    linear_bf16(x16.data(), m, k, packed, nullptr, n, y.data());
    // Products of bf16 values are exact in float32; only the summation order may differ.
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], plain[i], 1e-4 * std::sqrt(double(k))) << m;
  }
}

TEST(Kernel, Bf16GemmIsTheExactProductOfRoundedInputs) {
  if (!bf16_supported()) GTEST_SKIP() << "bf16 needs the oneDNN backend";
  const std::int64_t m = 13, n = 21, k = 37;
  for (int variant = 0; variant < 8; ++variant) {
    const bool ta = variant & 1, tb = variant & 2, acc = variant & 4;
    // Stored shapes (with padded row strides): A is [m, k] or [k, m], B is [k, n] or [n, k].
    const std::int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
    const auto a = random_vector(static_cast<std::size_t>((ta ? k : m) * lda), 1.0f, 3 + variant);
    const auto b = random_vector(static_cast<std::size_t>((tb ? n : k) * ldb), 1.0f, 11 + variant);
    std::vector<std::uint16_t> a16(a.size()), b16(b.size());
    to_bf16(a.data(), static_cast<std::int64_t>(a.size()), a16.data());
    to_bf16(b.data(), static_cast<std::int64_t>(b.size()), b16.data());
    auto value = [](std::uint16_t h) { return static_cast<double>(bertscope::io::bf16_to_float(h)); };
    auto c = random_vector(static_cast<std::size_t>(m * ldc), 1.0f, 29);
    const auto c0 = c;
    gemm_bf16(ta, tb, m, n, k, a16.data(), lda, b16.data(), ldb, acc, c.data(), ldc);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double want = acc ? c0[static_cast<std::size_t>(i * ldc + j)] : 0.0;
        for (std::int64_t p = 0; p < k; ++p)
          want += value(a16[static_cast<std::size_t>(ta ? p * lda + i : i * lda + p)]) *
                  value(b16[static_cast<std::size_t>(tb ? j * ldb + p : p * ldb + j)]);
        ASSERT_NEAR(c[static_cast<std::size_t>(i * ldc + j)], want, 1e-5 * std::sqrt(double(k)) * 4)
            << "trans_a " << ta << " trans_b " << tb << " accumulate " << acc;
      }
  }
}

TEST(Kernel, BatchedAttentionProductsMatchLoops) {
  const std::int64_t batch = 2, heads = 3, t = 7, d = 5, ld = heads * d + 4;  // padded rows: ld > heads*d
  auto q = random_vector(static_cast<std::size_t>(batch * t * ld), 1.0f, 1), k = random_vector(q.size(), 1.0f, 2),
       v = random_vector(q.size(), 1.0f, 3);
  std::vector<float> scores(static_cast<std::size_t>(batch * heads * t * t));
  attention_scores(q.data(), k.data(), batch, heads, t, d, ld, 0.5f, scores.data());
  std::vector<float> ctx(q.size(), -7.0f);
  attention_context(scores.data(), v.data(), batch, heads, t, d, ld, ctx.data());
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < t; ++i) {
        for (std::int64_t j = 0; j < t; ++j) {
          double s = 0;
          for (std::int64_t e = 0; e < d; ++e) s += double(q[(b * t + i) * ld + h * d + e]) * k[(b * t + j) * ld + h * d + e];
          ASSERT_NEAR(scores[((b * heads + h) * t + i) * t + j], 0.5 * s, 1e-5);
        }
        for (std::int64_t e = 0; e < d; ++e) {
          double s = 0;
          for (std::int64_t j = 0; j < t; ++j) s += double(scores[((b * heads + h) * t + i) * t + j]) * v[(b * t + j) * ld + h * d + e];
          ASSERT_NEAR(ctx[(b * t + i) * ld + h * d + e], s, 1e-5);
        }
        for (std::int64_t e = heads * d; e < ld; ++e) ASSERT_EQ(ctx[(b * t + i) * ld + e], -7.0f) << "wrote outside the heads";
      }
}

TEST(Kernel, PeakProbeMeasuresTheVectorUnits) {
  const auto p = measure_peak(1, 0.02);
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_GT(p.f32_gflops, 0.5);  // any vector FMA unit of this century, even shared
    EXPECT_NE(p.isa, "scalar");
  }
  EXPECT_EQ(p.bf16_gflops > 0, p.isa == "avx512" && __builtin_cpu_supports("avx512bf16"));
}
