// Naming heads in results: 0-based indices in the API, the papers' 1-based "layer-head" label
// beside them.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace bertscope::analysis {

std::string head_label(std::int64_t layer, std::int64_t head);  // "8-10" for (7, 9)
nlohmann::json head_json(std::int64_t layer, std::int64_t head);  // {"layer", "head", "label"}

}  // namespace bertscope::analysis
