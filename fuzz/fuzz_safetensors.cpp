// safetensors: the header (length, JSON, dtypes, shapes, offsets) of io::SafetensorsFile, then
// every tensor's bytes are read, so a record that points outside the mapping is caught by ASan.
#include <numeric>

#include "fuzz_util.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = bertscope::fuzz::write_input(data, size, "model.safetensors");
  bertscope::fuzz::expect_error_or_success([&] {
    bertscope::io::SafetensorsFile file(path);
    unsigned sum = 0;
    for (const auto& name : file.names()) {
      const auto& t = file.get(name);
      std::size_t numel = 1;
      for (auto d : t.shape) numel *= static_cast<std::size_t>(d);
      if (numel * bertscope::io::dtype_size(t.dtype) != t.nbytes) std::abort();
      for (std::size_t i = 0; i < t.nbytes; ++i) sum += static_cast<unsigned>(t.data[i]);
    }
    for (const auto& [k, v] : file.metadata()) sum += static_cast<unsigned>(k.size() + v.size());
    volatile unsigned sink = sum;
    (void)sink;
  });
  return 0;
}
