// What stands behind the public bertscope::Model, and the conversions between the public types
// and the engine's (internal to the library: the analyses' public layer uses them too).
#pragma once

#include <string>

#include "bertscope/array.hpp"
#include "bertscope/model.hpp"
#include "core/tensor.hpp"
#include "model/model.hpp"

namespace bertscope {

struct Model::Impl {
  model::Model model;
  std::string folder;  // as the caller named it (documents record it so)
};

namespace api {

Array share(core::Tensor&& tensor);  // no copy: the array owns the tensor's storage
core::Tensor copy_tensor(const Array& array);
Output output_of(model::ForwardResult&& result, std::int64_t layers);
// The engine's encoding of a public one (roles by name; type ids 0 and roles "ordinary" when
// absent); Error(input) when its fields disagree on the length.
model::Encoding engine_encoding(const Encoding& encoding);
// A view's maps as one [layers, heads, T, T] tensor; Error(input) naming a wrong shape.
core::Tensor stacked_attention(const AttentionView& view);

}  // namespace api
}  // namespace bertscope
