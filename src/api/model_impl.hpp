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

}  // namespace api
}  // namespace bertscope
