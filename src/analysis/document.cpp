#include "analysis/document.hpp"

namespace bertscope::analysis {

nlohmann::json ResultDocument::to_json() const {
  return {{"method", method}, {"model", model}, {"data", data}, {"params", params}, {"results", results},
          {"bertscope_version", "0.1.0"}};
}

}  // namespace bertscope::analysis
