// Coreference data: the first byte picks the reader the program would use for the format
// (analysis/runs.cpp): 0 the project's JSON lines (read_coref), 1 GAP TSV (read_gap),
// 2 CoNLL-2012 (read_conll2012); then every document is written back as JSON.
#include "fuzz_util.hpp"
#include "io/coref.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int format = data[0] % 3;
  static const char* names[] = {"docs.jsonl", "gap.tsv", "docs.conll"};
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, names[format]);
  bertscope::fuzz::expect_error_or_success([&] {
    const auto docs = format == 0   ? bertscope::io::read_coref(path)
                      : format == 1 ? bertscope::io::read_gap(path)
                                    : bertscope::io::read_conll2012(path);
    for (const auto& d : docs) (void)bertscope::io::coref_to_json(d).dump();
  });
  return 0;
}
