// Linear layers y = x W^T + b (W [out, in]) over packed rows: the forward in float32 or with
// bfloat16 inputs (oneDNN primitives, bias and activation fused), its reverse (VJP) and its
// forward-mode derivative (JVP).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/kernels.hpp"
#include "core/matmul.hpp"
#include "core/profile.hpp"
#include "model/weights.hpp"

namespace bertscope::model::layers {

// How a forward pass multiplies.
struct LinearContext {
  bool bf16 = false;
  const std::map<const float*, std::vector<core::bf16>>* bf16_weights = nullptr;  // by float32 storage
  core::OpProfile* profile = nullptr;
  // Packed weights for the forward products, by float32 storage (null, or a weight not listed:
  // multiplied as stored). The reverse products read the weights as stored.
  const std::map<const float*, std::unique_ptr<core::PackedWeight>>* packed = nullptr;
  const std::map<const float*, std::unique_ptr<core::PackedWeight>>* packed_bf16 = nullptr;
};

// y = act(x W^T + b) over m rows. With bf16, x is first converted into x16, unless the caller
// says x16 already holds it (`x_converted`, e.g. K and V after Q).
void linear_forward(const LinearContext& ctx, const float* x, std::int64_t m, std::int64_t in, const Param& w,
                    const Param& b, std::int64_t out, float* y, const core::Activation* act = nullptr,
                    std::vector<core::bf16>* x16 = nullptr, bool x_converted = false);

// The same on the bf16 path with the result rounded to bfloat16 into y16 (a result only the next
// product reads: never held in float32). Needs ctx.bf16.
void linear_forward_bf16(const LinearContext& ctx, const float* x, std::int64_t m, std::int64_t in, const Param& w,
                         const Param& b, std::int64_t out, core::bf16* y16, const core::Activation* act,
                         std::vector<core::bf16>* x16, bool x_converted = false);

// Reverse: dx (+)= dy W (skipped when dx is null); dW += dy^T x and db += column sums of dy
// (skipped when dw is null). dy [m, out], x [m, in]. With a bf16 context (a tape recorded in
// bf16) both products take bfloat16 inputs (dy, x and the weights' bf16 copies) and accumulate
// in float32 into the float32 gradients; `x16`, when given, is x already in bf16 (inputs that
// several layers share, as Q, K and V do, are converted once).
void linear_vjp(const LinearContext& ctx, const float* dy, std::int64_t m, std::int64_t out, const Param& w,
                std::int64_t in, const float* x, float* dx, bool accumulate, float* dw, float* db,
                const core::bf16* x16 = nullptr);
inline void linear_vjp(const float* dy, std::int64_t m, std::int64_t out, const Param& w, std::int64_t in,
                       const float* x, float* dx, bool accumulate, float* dw, float* db) {
  linear_vjp(LinearContext{}, dy, m, out, w, in, x, dx, accumulate, dw, db);
}

// Forward mode: ty = tx W^T (the bias has no tangent).
void linear_jvp(const float* tx, std::int64_t m, std::int64_t in, const Param& w, std::int64_t out, float* ty);

}  // namespace bertscope::model::layers
