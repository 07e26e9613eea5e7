// The 16-bit float formats of checkpoints and packed arrays, one exact conversion each way:
// IEEE 754 binary16 (float16) and bfloat16. Narrowing rounds to nearest, ties to even (as numpy's
// astype(float16) and PyTorch's .to(bfloat16)); overflow gives infinity, values below half the
// smallest subnormal give signed zero, NaN stays NaN (quiet).
#pragma once

#include <cstdint>

namespace bertscope::io {

std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t half);
std::uint16_t float_to_bf16(float value);
float bf16_to_float(std::uint16_t bf16);

}  // namespace bertscope::io
