#include "model/layers/norm.hpp"

#include <cmath>
#include <vector>

#include "core/kernels.hpp"

namespace bertscope::model::layers {

namespace {

// d(in) for a given per-column scale (g, or ones for the JVP, which scales afterwards).
void norm_input_grad(const float* dy, const NormTape& tape, const float* g, std::int64_t rows, std::int64_t cols,
                     float* din) {
  const float* xhat = tape.xhat.data();
  const float* rstd = tape.rstd.data();
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    double s1 = 0, s2 = 0;
    for (std::int64_t j = 0; j < cols; ++j) {
      const double dxh = static_cast<double>(dy[r * cols + j]) * g[j];
      s1 += dxh;
      s2 += dxh * xhat[r * cols + j];
    }
    s1 /= static_cast<double>(cols);
    s2 /= static_cast<double>(cols);
    for (std::int64_t j = 0; j < cols; ++j) {
      const double dxh = static_cast<double>(dy[r * cols + j]) * g[j];
      din[r * cols + j] = static_cast<float>(rstd[r] * (dxh - s1 - xhat[r * cols + j] * s2));
    }
  }
}

}  // namespace

void norm_forward(const float* x, const float* skip, std::int64_t rows, std::int64_t cols, const float* g,
                  const float* b, float eps, float* y, NormTape* tape, std::uint16_t* y16) {
  if (!tape) {
    if (skip)
      core::add_layer_norm(x, skip, rows, cols, g, b, eps, y, y16);
    else
      core::layer_norm(x, rows, cols, g, b, eps, y, y16);
    return;
  }
  tape->xhat = core::FloatBuffer(static_cast<std::size_t>(rows * cols));
  tape->rstd = core::FloatBuffer(static_cast<std::size_t>(rows));
  float* xhat = tape->xhat.data();
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<float> sum;
    const float* in = x + r * cols;
    if (skip) {
      sum.resize(static_cast<std::size_t>(cols));
      for (std::int64_t j = 0; j < cols; ++j) sum[static_cast<std::size_t>(j)] = in[j] + skip[r * cols + j];
      in = sum.data();
    }
    double total = 0;
    for (std::int64_t j = 0; j < cols; ++j) total += in[j];
    const double mean = total / static_cast<double>(cols);
    double sq = 0;
    for (std::int64_t j = 0; j < cols; ++j) sq += (in[j] - mean) * (in[j] - mean);
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
    tape->rstd[static_cast<std::size_t>(r)] = static_cast<float>(inv);
    for (std::int64_t j = 0; j < cols; ++j) {
      const float h = static_cast<float>((in[j] - mean) * inv);
      xhat[r * cols + j] = h;
      y[r * cols + j] = h * g[j] + b[j];
    }
  }
  if (y16) core::to_bf16(y, rows * cols, y16);
}

void norm_vjp(const float* dy, const NormTape& tape, const float* g, std::int64_t rows, std::int64_t cols, float* din,
              float* dg, float* db) {
  if (dg)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < cols; ++j) {
        dg[j] += dy[r * cols + j] * tape.xhat[static_cast<std::size_t>(r * cols + j)];
        db[j] += dy[r * cols + j];
      }
  norm_input_grad(dy, tape, g, rows, cols, din);
}

void norm_jvp(const float* t, const NormTape& tape, const float* g, std::int64_t rows, std::int64_t cols, float* out) {
  norm_input_grad(t, tape, std::vector<float>(static_cast<std::size_t>(cols), 1.0f).data(), rows, cols, out);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < cols; ++j) out[r * cols + j] *= g[j];
}

}  // namespace bertscope::model::layers
