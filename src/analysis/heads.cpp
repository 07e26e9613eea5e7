#include "analysis/heads.hpp"

#include <fmt/format.h>

namespace bertscope::analysis {

std::string head_label(std::int64_t layer, std::int64_t head) { return fmt::format("{}-{}", layer + 1, head + 1); }

nlohmann::json head_json(std::int64_t layer, std::int64_t head) {
  return {{"layer", layer}, {"head", head}, {"label", head_label(layer, head)}};
}

}  // namespace bertscope::analysis
