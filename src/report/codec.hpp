// Packing numbers for the viewer: IEEE half precision (io/float16) and base64 (docs/viewer.md, "Packed arrays").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bertscope::report {

// `values` as little-endian float16 or float32 bytes, base64-encoded.
std::string pack_f16_base64(std::span<const float> values);
std::string pack_f32_base64(std::span<const float> values);

}  // namespace bertscope::report
