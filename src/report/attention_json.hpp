// Attention documents: one input's tokens and attention maps as the viewer reads them. They
// are the response of `POST /api/run` and what `bertscope report` embeds for each trace file;
// the shape is specified in docs/viewer.md ("Attention documents").
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::report {

// float16 halves the size of the maps (75 MB instead of 151 MB for a 512-token bert-base input)
// with a relative rounding error below 2^-11, far below what a colour map shows.
enum class Precision { float16, float32 };

Precision parse_precision(const std::string& name);  // "float16" | "float32"; throws Error(input)

struct AttentionInput {
  const model::Encoding* encoding = nullptr;  // tokens, ids, word/sequence/type ids, char offsets
  std::vector<std::string> text;              // the text, and the pair when there is one
  // Either one [heads, T, T] map per layer (in layer order) ...
  std::vector<const core::Tensor*> layers;
  // ... or all of them as one [layers, heads, T, T] tensor.
  const core::Tensor* stacked = nullptr;
  nlohmann::json model;  // what produced it (folder name, layers, heads, ...)
};

// Throws Error(internal) when the maps disagree with the encoding's length.
nlohmann::json attention_document(const AttentionInput& input, Precision precision);

// Reads a trace .npz (`bertscope run`) into an attention document.
nlohmann::json attention_document_from_trace(const std::filesystem::path& npz, Precision precision);

}  // namespace bertscope::report
