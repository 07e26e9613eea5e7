#include "core/parallel.hpp"

#include <omp.h>

#if defined(BERTSCOPE_GEMM_CBLAS)
// OpenBLAS keeps its own pthreads; keep its count equal to ours so the two never compete.
extern "C" void openblas_set_num_threads(int);
#endif

namespace bertscope::core {

void set_num_threads(int threads) {
  const int n = threads > 0 ? threads : omp_get_num_procs();
  omp_set_num_threads(n);
#if defined(BERTSCOPE_GEMM_CBLAS)
  openblas_set_num_threads(n);
#endif
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace bertscope::core
