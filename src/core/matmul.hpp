// The encoder's matrix products. With oneDNN (the default backend) each shape gets a cached
// matmul primitive (brgemm kernels chosen for the CPU at run time, bias and activation fused,
// batched attention products over all heads in one call); the CBLAS fallback loops sgemm.
// All matrices are row-major; every function is safe to call from several threads at once.
#pragma once

#include <cstdint>

#include "core/kernels.hpp"

namespace bertscope::core {

using bf16 = std::uint16_t;  // bfloat16 bits

// y[M,N] = x[M,K] W^T + bias, W stored [N,K] as in a PyTorch Linear; bias may be null;
// `post` (optional) is applied to y in the same pass.
void linear(const float* x, std::int64_t m, std::int64_t k, const float* w, const float* bias, std::int64_t n,
            float* y, const Activation* post = nullptr);

// The same with bfloat16 inputs and float32 accumulation and output (AVX512-BF16 where the
// CPU has it). Needs the oneDNN backend.
void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const bf16* w, const float* bias, std::int64_t n,
                 float* y, const Activation* post = nullptr);
bool bf16_supported();  // the backend can run linear_bf16 and gemm_bf16

// C[M,N] (+)= op(A)[M,K] op(B)[K,N] with bfloat16 A and B and float32 accumulation and C (the
// reverse pass of bf16 training); op = transpose when the flag is set, lda/ldb/ldc the row
// strides as stored; `accumulate` adds into C instead of overwriting it.
void gemm_bf16(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const bf16* a,
               std::int64_t lda, const bf16* b, std::int64_t ldb, bool accumulate, float* c, std::int64_t ldc);

// Attention products for `batch` inputs of equal length t whose rows are consecutive in packed
// [batch*t, ld] matrices, head h occupying columns [h*d, (h+1)*d):
//   scores[b, h, i, j] = scale * q[b*t+i, h*d:] . k[b*t+j, h*d:]      scores contiguous [batch, heads, t, t]
//   ctx[b*t+i, h*d:]   = sum_j probs[b, h, i, j] * v[b*t+j, h*d:]     ctx packed like q
void attention_scores(const float* q, const float* k, std::int64_t batch, std::int64_t heads, std::int64_t t,
                      std::int64_t d, std::int64_t ld, float scale, float* scores);
void attention_context(const float* probs, const float* v, std::int64_t batch, std::int64_t heads, std::int64_t t,
                       std::int64_t d, std::int64_t ld, float* ctx);

}  // namespace bertscope::core
