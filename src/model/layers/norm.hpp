// LayerNorm over packed rows, optionally of a residual sum (post-norm blocks: LN(branch + skip)):
// the inference forward (fused Highway kernels), the taped forward that keeps x-hat and 1/std,
// its reverse (VJP) and forward-mode (JVP) derivatives.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace bertscope::model::layers {

struct NormTape {
  core::FloatBuffer xhat, rstd;  // [rows, cols], [rows]
};

// y = LN(x (+ skip)) * g + b; x, skip and y may alias. With a tape, x-hat and 1/std are kept
// (and the statistics accumulated in double, as the tape always has).
// `y16` (optional): y also in bfloat16, for a bf16 product that reads it next.
void norm_forward(const float* x, const float* skip, std::int64_t rows, std::int64_t cols, const float* g,
                  const float* b, float eps, float* y, NormTape* tape = nullptr, std::uint16_t* y16 = nullptr);

// d(input) = rstd * (dxh - mean(dxh) - xhat * mean(dxh * xhat)), dxh = dy * g; accumulates dg
// and db when given. The input of a residual sum receives the same gradient in both terms.
void norm_vjp(const float* dy, const NormTape& tape, const float* g, std::int64_t rows, std::int64_t cols, float* din,
              float* dg, float* db);

// Tangent of y along tangent t of the input (t and out may alias).
void norm_jvp(const float* t, const NormTape& tape, const float* g, std::int64_t rows, std::int64_t cols, float* out);

}  // namespace bertscope::model::layers
