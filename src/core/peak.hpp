// The machine's arithmetic peak, measured: how many float32 FMA and bf16 dot-product flops per
// second the threads of this process get right now. Benchmarks print every speed as a share of
// it, measured in the same run, so figures from different VMs of one kind (which differ in FMA
// width and in how much of a core the host lends) can be compared.
#pragma once

#include <string>

namespace bertscope::core {

struct Peak {
  double f32_gflops = 0;   // fused multiply-adds on float32 vectors, 2 flops each per lane
  double bf16_gflops = 0;  // bf16 dot products accumulating into float32 (0 where the CPU has none)
  std::string isa;         // the instructions used: "avx512", "avx2-fma" or "scalar"
};

// Runs the probe on `threads` threads (0: the OpenMP default) for about `seconds` per kind.
Peak measure_peak(int threads = 0, double seconds = 0.2);

}  // namespace bertscope::core
