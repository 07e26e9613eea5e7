// Result documents as `bertscope report` and `bertscope summary` read them: the input as one
// .json file of a results folder, through report::load_viewer_document (io::read_json, then
// check_viewer_document: a result document or an attention document), then report::summarize on
// it (every method's finding: surface, syntax, coref, ablate, influence, ...), format_summary
// (what `summary` prints) and summary_json dumped as `summary --out` writes it.
// A document the summary cannot read is listed in Summary::skipped with a reason; a reason that is
// that is a library exception's bare message (nlohmann's "[json.exception...", naming neither the
// file nor the method) counts as a bug here.
#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "report/documents.hpp"
#include "report/summary.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = bertscope::fuzz::write_input(data, size, "result.json");
  bertscope::fuzz::expect_error_or_success([&] {
    auto doc = bertscope::report::load_viewer_document(path);
    std::vector<std::pair<std::string, nlohmann::json>> docs;
    docs.emplace_back(doc.name, std::move(doc.json));
    const auto summary = bertscope::report::summarize(docs);
    for (const auto& reason : summary.skipped)
      if (reason.find("json.exception") != std::string::npos) {
        std::fprintf(stderr, "summary skipped the document with an unclear reason: %s\n", reason.c_str());
        std::abort();
      }
    (void)bertscope::report::format_summary(summary);
    (void)bertscope::report::summary_json(summary).dump(1);
  });
  return 0;
}
