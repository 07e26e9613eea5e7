// Micro-benchmarks of the encoder's kernels on BERT shapes, vector kernels beside the plain
// scalar references they are tested against (the ratio is the speed-up of vectorisation).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/kernels.hpp"
#include "core/kernels_reference.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"

using namespace bertscope::core;

namespace {

std::vector<float> random_vector(std::size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void softmax(benchmark::State& state, bool vector) {
  const std::int64_t rows = 12 * 128, cols = state.range(0);
  auto x = random_vector(static_cast<std::size_t>(rows * cols));
  for (auto _ : state) {
    if (vector) softmax_rows(x.data(), rows, cols);
    else reference::softmax_rows(x.data(), rows, cols);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows * cols);
}

void norm(benchmark::State& state, bool vector) {
  const std::int64_t rows = state.range(0), cols = 768;
  auto a = random_vector(static_cast<std::size_t>(rows * cols)), b = random_vector(a.size());
  std::vector<float> g(cols, 1.0f), beta(cols, 0.0f), y(a.size());
  for (auto _ : state) {
    if (vector) add_layer_norm(a.data(), b.data(), rows, cols, g.data(), beta.data(), 1e-12f, y.data());
    else reference::add_layer_norm(a.data(), b.data(), rows, cols, g.data(), beta.data(), 1e-12f, y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows * cols);
}

void gelu(benchmark::State& state, bool vector) {
  const std::int64_t n = state.range(0) * 3072;
  const auto src = random_vector(static_cast<std::size_t>(n));
  auto x = src;
  for (auto _ : state) {
    x = src;
    if (vector) activate(Activation::gelu_erf, x.data(), n);
    else reference::activate(Activation::gelu_erf, x.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void gemm_linear(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  auto x = random_vector(static_cast<std::size_t>(m * k)), w = random_vector(static_cast<std::size_t>(n * k)),
       b = random_vector(static_cast<std::size_t>(n));
  std::vector<float> y(static_cast<std::size_t>(m * n));
  for (auto _ : state) {
    linear(x.data(), m, k, w.data(), b.data(), n, y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m * k * n), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK_CAPTURE(softmax, vector, true)->Arg(128)->Arg(512);
BENCHMARK_CAPTURE(softmax, scalar, false)->Arg(128)->Arg(512);
BENCHMARK_CAPTURE(norm, vector, true)->Arg(128)->Arg(1024);
BENCHMARK_CAPTURE(norm, scalar, false)->Arg(128)->Arg(1024);
BENCHMARK_CAPTURE(gelu, vector, true)->Arg(128)->Arg(1024);
BENCHMARK_CAPTURE(gelu, scalar, false)->Arg(128)->Arg(1024);
BENCHMARK(gemm_linear)->Args({128, 768, 768})->Args({128, 768, 3072})->Args({1024, 768, 768})->Args({1024, 768, 3072})->Args({1024, 3072, 768});
