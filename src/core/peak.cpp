#include "core/peak.hpp"

#include <immintrin.h>

#include <chrono>
#include <cstdint>

#include <omp.h>

namespace bertscope::core {

namespace {

using Clock = std::chrono::steady_clock;

// Each probe keeps 16 independent accumulators (more than FMA latency times the FMA units), each
// with its own start value so the compiler cannot merge them, and returns their sum so none is
// dead. It returns the flops it did.
__attribute__((target("avx512f"))) double fma_avx512(std::int64_t iterations, float* sink) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i + 1));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (std::int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  *sink += _mm512_reduce_add_ps(sum);
  return static_cast<double>(iterations) * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fma_avx2(std::int64_t iterations, float* sink) {
  __m256 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i + 1));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (std::int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  for (float v : lanes) *sink += v;
  return static_cast<double>(iterations) * 16 * 8 * 2;
}

// vdpbf16ps: 16 lanes, each a sum of two bf16 products added to float32: 4 flops per lane.
__attribute__((target("avx512f,avx512bf16"))) double bf16_avx512(std::int64_t iterations, float* sink) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i + 1));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(4e-3f));
  for (std::int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  *sink += _mm512_reduce_add_ps(sum);
  return static_cast<double>(iterations) * 16 * 16 * 4;
}

// Flops per second of `probe` on every thread at once, each running for about `seconds`.
template <class Probe>
double rate(Probe probe, int threads, double seconds) {
  double total = 0;
  float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total) reduction(+ : sink)
  {
    std::int64_t iterations = 1 << 12;
    probe(iterations, &sink);  // warm up (clock ramp, page-in)
    // Grow the run until it lasts long enough to time.
    for (;;) {
      const auto start = Clock::now();
      const double flops = probe(iterations, &sink);
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      if (elapsed >= seconds) {
        total += flops / elapsed;
        break;
      }
      iterations *= 2;
    }
  }
  static volatile float keep;
  keep = sink;
  return total / 1e9;
}

}  // namespace

Peak measure_peak(int threads, double seconds) {
  if (threads <= 0) threads = omp_get_max_threads();
  Peak p;
  if (__builtin_cpu_supports("avx512f")) {
    p.isa = "avx512";
    p.f32_gflops = rate(fma_avx512, threads, seconds);
    if (__builtin_cpu_supports("avx512bf16")) p.bf16_gflops = rate(bf16_avx512, threads, seconds);
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    p.isa = "avx2-fma";
    p.f32_gflops = rate(fma_avx2, threads, seconds);
  } else {
    p.isa = "scalar";
  }
  return p;
}

}  // namespace bertscope::core
