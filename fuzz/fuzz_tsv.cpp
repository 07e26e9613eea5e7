// GLUE TSV: io::parse_tsv (what read_tsv calls), with a header row (first byte even) or without,
// then the column lookups a GLUE task does.
#include "fuzz_util.hpp"
#include "io/tsv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  bertscope::io::TsvOptions options;
  options.header = !(data[0] & 1);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  bertscope::fuzz::expect_error_or_success([&] {
    const auto table = bertscope::io::parse_tsv(text, "fuzz.tsv", options);
    if (table.lines.size() != table.rows.size()) std::abort();
    for (const char* name : {"sentence", "label", "sentence1", "sentence2", "question"})
      bertscope::fuzz::expect_error_or_success([&] { (void)table.column(std::string_view(name)); });
    for (std::size_t c = 0; c < table.num_columns() && c < 4; ++c) {
      (void)table.column(c);
      bertscope::fuzz::expect_error_or_success([&] { (void)table.int_column(c); });
    }
  });
  return 0;
}
