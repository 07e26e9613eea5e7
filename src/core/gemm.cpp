#include "core/gemm.hpp"

#include "io/error.hpp"

#if defined(BERTSCOPE_GEMM_DNNL)
#include <oneapi/dnnl/dnnl.h>
#elif defined(BERTSCOPE_GEMM_CBLAS)
#include <cblas.h>
#else
#error "no GEMM backend selected"
#endif

namespace bertscope::core {

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc) {
  if (m == 0 || n == 0) return;
#if defined(BERTSCOPE_GEMM_DNNL)
  const auto status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb,
                                 beta, c, ldc);
  if (status != dnnl_success)
    fail(ErrorKind::internal, "oneDNN sgemm failed (status {}) for M={} N={} K={}", static_cast<int>(status), m, n, k);
#else
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
#endif
}

std::string gemm_backend_name() {
#if defined(BERTSCOPE_GEMM_DNNL)
  return "onednn";
#else
  return "cblas";
#endif
}

}  // namespace bertscope::core
