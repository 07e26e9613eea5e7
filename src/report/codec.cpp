#include "report/codec.hpp"

#include <bit>
#include <cstring>

#include "io/error.hpp"
#include "io/base64.hpp"
#include "io/float16.hpp"

namespace bertscope::report {

static_assert(std::endian::native == std::endian::little, "packed arrays are written in host order");

std::string pack_f16_base64(std::span<const float> values) {
  std::string bytes(values.size() * 2, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t h = io::float_to_half(values[i]);
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  }
  return io::base64_encode(bytes);
}

std::string pack_f32_base64(std::span<const float> values) {
  return io::base64_encode(std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

}  // namespace bertscope::report
