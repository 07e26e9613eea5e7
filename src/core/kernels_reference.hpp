// Plain scalar versions of the vector kernels in kernels.hpp, with double accumulation. Tests
// hold the fast kernels to these; nothing on the hot path calls them.
#pragma once

#include <cstdint>

#include "core/kernels.hpp"

namespace bertscope::core::reference {

void softmax_rows(float* x, std::int64_t rows, std::int64_t cols);
void add_layer_norm(const float* a, const float* b, std::int64_t rows, std::int64_t cols, const float* gamma,
                    const float* beta, float eps, float* y);  // b may be null: plain LayerNorm
void activate(Activation act, float* x, std::int64_t n);

}  // namespace bertscope::core::reference
