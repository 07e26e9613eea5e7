// Element-wise and row-wise kernels of the encoder, vectorised with Highway and dispatched at
// run time to the widest vector unit the CPU has (AVX-512, AVX2, SSE4, ...). Rows are
// contiguous row-major; loops over rows use the OpenMP threads. kernels_reference.hpp has the
// scalar versions the tests hold these to.
#pragma once

#include <bit>
#include <cstdint>

namespace bertscope::core {

enum class Activation { gelu_erf, gelu_tanh, relu, silu, gelu_quick };

// In-place numerically stable softmax of each of `rows` rows of length `cols`.
void softmax_rows(float* x, std::int64_t rows, std::int64_t cols);

// y = LayerNorm(x) * gamma + beta per row, biased variance as PyTorch; x and y may alias.
// `y16` (optional): y also in bfloat16 (as to_bf16 rounds), written while each row is in cache.
void layer_norm(const float* x, std::int64_t rows, std::int64_t cols, const float* gamma, const float* beta,
                float eps, float* y, std::uint16_t* y16 = nullptr);

// y = LayerNorm(a + b) per row (the residual add fused into the norm); y may alias a or b.
void add_layer_norm(const float* a, const float* b, std::int64_t rows, std::int64_t cols, const float* gamma,
                    const float* beta, float eps, float* y, std::uint16_t* y16 = nullptr);

// In-place activation over n values.
void activate(Activation act, float* x, std::int64_t n);

// dx = dy * act'(pre) over n values (backward pass); dx may alias dy.
void activation_grad(Activation act, const float* pre, const float* dy, float* dx, std::int64_t n);

// In-place tanh over n values.
void tanh_inplace(float* x, std::int64_t n);

// float32 -> bfloat16 bits, rounding to nearest even: one value, and n of them.
inline std::uint16_t round_to_bf16(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
void to_bf16(const float* x, std::int64_t n, std::uint16_t* out);

// Name of the vector target chosen at run time ("AVX3", "AVX2", ...).
const char* vector_target_name();

}  // namespace bertscope::core
