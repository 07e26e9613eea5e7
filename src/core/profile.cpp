#include "core/profile.hpp"

namespace bertscope::core {

std::string_view op_class_name(OpClass c) {
  switch (c) {
    case OpClass::embed: return "embeddings";
    case OpClass::linear: return "linear (GEMM)";
    case OpClass::attention: return "attention (per head)";
    case OpClass::norm: return "layer norm + residual";
    case OpClass::activation: return "activation";
    case OpClass::record: return "recording";
    case OpClass::head: return "task heads";
    case OpClass::other: return "other";
  }
  return "?";
}

double OpProfile::total() const {
  double t = 0;
  for (double s : seconds) t += s;
  return t;
}

}  // namespace bertscope::core
