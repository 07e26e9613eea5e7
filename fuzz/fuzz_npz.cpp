// .npy and .npz (trace files): the first byte picks the reader (even: read_npy, odd: NpzReader on
// the rest); every array read is converted the way the trace readers do.
#include "fuzz_util.hpp"
#include "io/npz.hpp"

namespace {
void convert(const bertscope::io::NpyArray& a) {
  (void)a.numel();
  bertscope::fuzz::expect_error_or_success([&] { (void)a.to_f32(); });
  bertscope::fuzz::expect_error_or_success([&] { (void)a.to_f64(); });
  bertscope::fuzz::expect_error_or_success([&] { (void)a.to_i64(); });
  bertscope::fuzz::expect_error_or_success([&] { (void)a.to_strings(); });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool npz = data[0] & 1;
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, npz ? "trace.npz" : "array.npy");
  bertscope::fuzz::expect_error_or_success([&] {
    if (!npz) {
      convert(bertscope::io::read_npy(path));
      return;
    }
    bertscope::io::NpzReader reader(path);
    for (const auto& name : reader.names()) {
      if (!reader.contains(name)) std::abort();
      bertscope::fuzz::expect_error_or_success([&] { convert(reader.read(name)); });
    }
  });
  return 0;
}
