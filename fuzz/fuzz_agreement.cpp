// Agreement data: the first byte picks the format, as the extension does for read_agreement
// (0 Marvin & Linzen TSV, 1 BLiMP JSON lines, 2 template JSON); the rest is the file. The
// examples are then matched to roles as analysis/influence does.
#include "analysis/agreement_data.hpp"
#include "fuzz_util.hpp"

namespace ad = bertscope::analysis::agreement;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % 3;
  static const char* names[] = {"agreement.tsv", "blimp.jsonl", "template.json"};
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, names[which]);
  bertscope::fuzz::expect_error_or_success([&] {
    auto d = ad::read_agreement(path, {}, ad::detect_format(path));
    ad::find_roles(d.examples);
  });
  return 0;
}
