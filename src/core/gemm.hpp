// Single-precision matrix products through the backend chosen at build time (oneDNN's sgemm or
// any CBLAS). All matrices are row-major.
#pragma once

#include <cstdint>
#include <string>

namespace bertscope::core {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, op = transpose when the flag is set.
// lda/ldb/ldc are the row strides of A, B and C as stored.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc);

std::string gemm_backend_name();

}  // namespace bertscope::core
