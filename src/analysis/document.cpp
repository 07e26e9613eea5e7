#include "analysis/document.hpp"

#include "analysis/figure.hpp"

namespace bertscope::analysis {

nlohmann::json ResultDocument::to_json() const {
  nlohmann::json j = {{"method", method}, {"model", model}, {"data", data}, {"params", params}, {"results", results},
                      {"bertscope_version", "0.1.0"}};
  if (!execution.is_null()) j["execution"] = execution;
  // The method's own figures, from the results as they are now (also for documents read back).
  if (auto figures = declared_figures(method, results, model); !figures.empty()) j["figures"] = figures_json(figures);
  return j;
}

}  // namespace bertscope::analysis
