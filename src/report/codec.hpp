// Packing numbers for the viewer: IEEE half precision and base64 (docs/viewer.md, "Packed arrays").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bertscope::report {

// float -> IEEE 754 binary16, rounding to nearest with ties to even, as numpy's astype(float16):
// overflow gives infinity, values below half the smallest subnormal give (signed) zero, NaN
// stays NaN.
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t half);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);
// Throws Error(format) naming `what` on characters outside the alphabet or bad padding.
std::string base64_decode(std::string_view text, std::string_view what);

// `values` as little-endian float16 or float32 bytes, base64-encoded.
std::string pack_f16_base64(std::span<const float> values);
std::string pack_f32_base64(std::span<const float> values);

}  // namespace bertscope::report
