// The one thread pool of bertscope is OpenMP's: oneDNN (built with the OpenMP runtime) uses the
// same threads, so GEMMs and bertscope's own loops never oversubscribe the cores.
#pragma once

#include <cstdint>

namespace bertscope::core {

// Sets the number of threads used by every later parallel region and GEMM; 0 = all cores.
void set_num_threads(int threads);
int num_threads();

}  // namespace bertscope::core
