#include "model/layers/linear.hpp"

#include <algorithm>

#include "core/gemm.hpp"

namespace bertscope::model::layers {

namespace {

const core::PackedWeight* packed_of(const std::map<const float*, std::unique_ptr<core::PackedWeight>>* map,
                                    const Param& w) {
  if (!map) return nullptr;
  const auto it = map->find(w.data);
  return it == map->end() ? nullptr : it->second.get();
}

// The bf16 product, into float32 or bfloat16 y: x converted into x16 unless it already is.
template <class Y>
void bf16_product(const LinearContext& ctx, const float* x, std::int64_t m, std::int64_t in, const Param& w,
                  const Param& b, std::int64_t out, Y* y, const core::Activation* act, std::vector<core::bf16>* x16,
                  bool x_converted) {
  if (!x_converted) core::to_bf16(x, m * in, x16->data());
  if (const auto* pw = packed_of(ctx.packed_bf16, w))
    core::linear_bf16(x16->data(), m, in, *pw, b.data, out, y, act);
  else
    core::linear_bf16(x16->data(), m, in, ctx.bf16_weights->at(w.data).data(), b.data, out, y, act);
}

}  // namespace

void linear_forward(const LinearContext& ctx, const float* x, std::int64_t m, std::int64_t in, const Param& w,
                    const Param& b, std::int64_t out, float* y, const core::Activation* act,
                    std::vector<core::bf16>* x16, bool x_converted) {
  core::ScopedOp op(ctx.profile, core::OpClass::linear);
  if (ctx.bf16) return bf16_product(ctx, x, m, in, w, b, out, y, act, x16, x_converted);
  if (const auto* pw = packed_of(ctx.packed, w))
    core::linear(x, m, in, *pw, b.data, out, y, act);
  else
    core::linear(x, m, in, w.data, b.data, out, y, act);
}

void linear_forward_bf16(const LinearContext& ctx, const float* x, std::int64_t m, std::int64_t in, const Param& w,
                         const Param& b, std::int64_t out, core::bf16* y16, const core::Activation* act,
                         std::vector<core::bf16>* x16, bool x_converted) {
  core::ScopedOp op(ctx.profile, core::OpClass::linear);
  bf16_product(ctx, x, m, in, w, b, out, y16, act, x16, x_converted);
}

namespace {

// Grow-only staging for bf16 copies: no allocation (and no page faults) per call once sizes settle.
core::bf16* bf16_scratch(std::vector<core::bf16>& buffer, std::int64_t n) {
  if (static_cast<std::int64_t>(buffer.size()) < n) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
}

}  // namespace

void linear_vjp(const LinearContext& ctx, const float* dy, std::int64_t m, std::int64_t out, const Param& w,
                std::int64_t in, const float* x, float* dx, bool accumulate, float* dw, float* db,
                const core::bf16* x16) {
  core::ScopedOp op(ctx.profile, core::OpClass::linear);
  if (ctx.bf16) {
    thread_local std::vector<core::bf16> dy_staging, x_staging;
    auto* dy16 = bf16_scratch(dy_staging, m * out);
    core::to_bf16(dy, m * out, dy16);
    if (dx) core::gemm_bf16(false, false, m, in, out, dy16, out, ctx.bf16_weights->at(w.data).data(), in, accumulate, dx, in);
    if (!dw) return;
    if (!x16) {
      auto* staged = bf16_scratch(x_staging, m * in);
      core::to_bf16(x, m * in, staged);
      x16 = staged;
    }
    core::gemm_bf16(true, false, out, in, m, dy16, out, x16, in, true, dw, in);
  } else {
    if (dx) core::gemm(false, false, m, in, out, 1.0f, dy, out, w.data, in, accumulate ? 1.0f : 0.0f, dx, in);
    if (!dw) return;
    core::gemm(true, false, out, in, m, 1.0f, dy, out, x, in, 1.0f, dw, in);
  }
  if (!db) return;
  // Column sums split over the threads by column blocks: each column still sums its rows in
  // order, so the result does not depend on the thread count.
  constexpr std::int64_t kColumns = 256;
#pragma omp parallel for schedule(static) if (m * out > 65536)
  for (std::int64_t j0 = 0; j0 < out; j0 += kColumns) {
    const auto j1 = std::min(out, j0 + kColumns);
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t j = j0; j < j1; ++j) db[j] += dy[r * out + j];
  }
}

void linear_jvp(const float* tx, std::int64_t m, std::int64_t in, const Param& w, std::int64_t out, float* ty) {
  core::gemm(false, true, m, out, in, 1.0f, tx, in, w.data, in, 0.0f, ty, out);
}

}  // namespace bertscope::model::layers
