// Node values of influence patterns: small helpers shared by the per-layer GPR (influence.cpp)
// and the sweep (influence_sweep.cpp).
#pragma once

#include <cstdint>

#include "core/tensor.hpp"
#include "io/error.hpp"
#include "model/trace.hpp"

namespace bertscope::analysis::influence::nodes {

// Float32 products summed in double.
inline double dot(const float* a, const float* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// The trace site holding h_l: embed.out for l = 0, layer.{l-1}.out above.
inline const core::Tensor& hidden_site(const model::Trace& trace, std::int64_t l) {
  const auto* t = l == 0 ? trace.find(model::Site::embed_out, 0) : trace.find(model::Site::layer_out, l - 1);
  if (!t) fail(ErrorKind::internal, "influence: h_{} missing from the derivative trace", l);
  return *t;
}

inline const core::Tensor& site(const model::Trace& trace, model::Site s, std::int64_t l) {
  const auto* t = trace.find(s, l);
  if (!t) fail(ErrorKind::internal, "influence: {} missing from the derivative trace", model::site_name(s, l));
  return *t;
}

// The index of the largest sign * value; ties go to the lowest index.
inline std::int32_t argmax_signed(const double* values, std::int64_t n, int sign) {
  std::int32_t best = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (sign * values[i] > sign * values[best]) best = static_cast<std::int32_t>(i);
  return best;
}

}  // namespace bertscope::analysis::influence::nodes
