// The encoder's matrix products. With oneDNN (the default backend) each linear shape gets a
// cached matmul primitive (kernels chosen for the CPU at run time, bias and activation fused,
// each thread multiplying its own block of output columns where the weights' layout allows);
// the attention products are one sgemm per (input, head). The CBLAS fallback loops sgemm.
// All matrices are row-major; every function is safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/kernels.hpp"

namespace bertscope::core {

using bf16 = std::uint16_t;  // bfloat16 bits

// A weight matrix W [N,K] (row-major, as a PyTorch Linear stores it) to be multiplied in the
// layout oneDNN's kernels prefer for it (blocked panels for its brgemm kernels, W^T [K,N] for
// its gemm:jit ones, which Debian's oneDNN 2.6 picks on some AMD VMs and not on others):
// reordered once, at the first product that needs it, and kept. The source must stay alive and
// unchanged while this lives (a model drops its packed weights when its weights change). Packing
// is lazy so that a memory-mapped model whose caller runs a few layers only packs those; it costs
// one more copy of each packed matrix in memory. Safe to use from several threads at once. The
// CBLAS fallback multiplies the source as it is.
class PackedWeight {
 public:
  // `release_source`: the source lies in a read-only file mapping, whose pages are dropped from
  // this process's memory once packed (read again from the file if anything reads the source).
  PackedWeight(const float* w, std::int64_t n, std::int64_t k, bool release_source = false);
  PackedWeight(const bf16* w, std::int64_t n, std::int64_t k);
  ~PackedWeight();
  PackedWeight(const PackedWeight&) = delete;
  PackedWeight& operator=(const PackedWeight&) = delete;
  std::size_t packed_bytes() const;  // memory held by the packed copies so far

  struct Impl;

 private:
  friend void linear(const float*, std::int64_t, std::int64_t, const PackedWeight&, const float*, std::int64_t, float*,
                     const Activation*);
  friend void linear_bf16(const bf16*, std::int64_t, std::int64_t, const PackedWeight&, const float*, std::int64_t,
                          float*, const Activation*);
  friend void linear_bf16(const bf16*, std::int64_t, std::int64_t, const PackedWeight&, const float*, std::int64_t,
                          bf16*, const Activation*);
  std::unique_ptr<Impl> impl_;
};

// y[M,N] = x[M,K] W^T + bias, W stored [N,K] as in a PyTorch Linear; bias may be null;
// `post` (optional) is applied to y in the same pass.
void linear(const float* x, std::int64_t m, std::int64_t k, const float* w, const float* bias, std::int64_t n,
            float* y, const Activation* post = nullptr);

// The same with bfloat16 inputs and float32 accumulation and output (AVX512-BF16 where the
// CPU has it). Needs the oneDNN backend.
void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const bf16* w, const float* bias, std::int64_t n,
                 float* y, const Activation* post = nullptr);
bool bf16_supported();  // the backend can run linear_bf16 and gemm_bf16

// The same products with packed weights (`w` made from the same N x K matrix, float32 for linear
// and bfloat16 for linear_bf16). Equal to the unpacked products up to the kernels' summation order.
void linear(const float* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias, std::int64_t n,
            float* y, const Activation* post = nullptr);
void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias,
                 std::int64_t n, float* y, const Activation* post = nullptr);

// The same rounded to bfloat16 on output (round to nearest even, as to_bf16), for a result that
// only feeds the next bf16 product: it is never written or read in float32.
void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const bf16* w, const float* bias, std::int64_t n,
                 bf16* y, const Activation* post = nullptr);
void linear_bf16(const bf16* x, std::int64_t m, std::int64_t k, const PackedWeight& w, const float* bias,
                 std::int64_t n, bf16* y, const Activation* post = nullptr);

// How the products above share the threads. `automatic`: each thread multiplies its own block of
// output columns where oneDNN's whole-matrix kernel is gemm:jit (a block's kernel is always
// gemm:jit, since a block's rows are strided in y), and oneDNN splits the product itself where it
// picked brgemm. The others force one way, for the kernel tests and for measuring. Process-wide.
enum class LinearSplit { automatic, output_columns, library };
void set_linear_split(LinearSplit split);

// The kernel the backend runs for y[M,N] = x[M,K] W^T with weights packed (`packed`) or as
// stored, e.g. "brg:avx512_core" or "gemm:jit" (oneDNN's own names), "cblas" for the fallback:
// which one oneDNN picks differs between VMs of the same kind, and so do the figures.
std::string linear_kernel_name(bool bf16, bool packed, std::int64_t m, std::int64_t k, std::int64_t n);

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
// One (input, head) of the above: q, k, v and ctx point at the head's first value. The batched
// functions run exactly these, so a caller that runs heads one by one (the forward's fused
// scores-softmax-context jobs) gets the same bits.
void head_scores(const float* q, const float* k, std::int64_t t, std::int64_t d, std::int64_t ld, float scale,
                 float* scores);
void head_context(const float* probs, const float* v, std::int64_t t, std::int64_t d, std::int64_t ld, float* ctx);

}  // namespace bertscope::core
