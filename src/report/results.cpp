#include "report/results.hpp"

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::report {

void write_results(const std::filesystem::path& path, const ResultDocument& doc) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  io::write_file_atomic(path, doc.to_json().dump(1) + "\n");
}

ResultDocument read_results(const std::filesystem::path& path) {
  const auto j = io::read_json(path);
  for (const char* key : {"method", "results"})
    if (!j.contains(key)) fail(ErrorKind::format, "{}: not a bertscope result document (no \"{}\")", path.string(), key);
  ResultDocument d;
  d.method = j["method"].get<std::string>();
  d.model = j.value("model", nlohmann::json());
  d.data = j.value("data", nlohmann::json());
  d.params = j.value("params", nlohmann::json());
  d.results = j["results"];
  d.execution = j.value("execution", nlohmann::json());
  return d;
}

}  // namespace bertscope::report
