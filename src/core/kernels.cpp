#include "core/kernels.hpp"

#include <algorithm>
#include <cmath>

namespace bertscope::core {

void softmax_rows(float* x, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    float max = row[0];
    for (std::int64_t j = 1; j < cols; ++j) max = std::max(max, row[j]);
    double sum = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) {
      row[j] = std::exp(row[j] - max);
      sum += row[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (std::int64_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

namespace {

// Mean and variance in double: the float32 result then carries only the final rounding.
void normalize_row(const float* x, std::int64_t cols, const float* gamma, const float* beta, float eps, float* y) {
  double sum = 0.0;
  for (std::int64_t j = 0; j < cols; ++j) sum += x[j];
  const double mean = sum / static_cast<double>(cols);
  double sq = 0.0;
  for (std::int64_t j = 0; j < cols; ++j) {
    const double d = x[j] - mean;
    sq += d * d;
  }
  const double inv_std = 1.0 / std::sqrt(sq / static_cast<double>(cols) + static_cast<double>(eps));
  for (std::int64_t j = 0; j < cols; ++j)
    y[j] = static_cast<float>((x[j] - mean) * inv_std) * gamma[j] + beta[j];
}

}  // namespace

void layer_norm(const float* x, std::int64_t rows, std::int64_t cols, const float* gamma, const float* beta,
                float eps, float* y) {
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
  for (std::int64_t r = 0; r < rows; ++r) normalize_row(x + r * cols, cols, gamma, beta, eps, y + r * cols);
}

void add_layer_norm(const float* a, const float* b, std::int64_t rows, std::int64_t cols, const float* gamma,
                    const float* beta, float eps, float* y) {
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* out = y + r * cols;
    const float* ar = a + r * cols;
    const float* br = b + r * cols;
    for (std::int64_t j = 0; j < cols; ++j) out[j] = ar[j] + br[j];
    normalize_row(out, cols, gamma, beta, eps, out);
  }
}

void activate(Activation act, float* x, std::int64_t n) {
  switch (act) {
    case Activation::gelu_erf:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
    case Activation::gelu_tanh:
#pragma omp parallel for schedule(static) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
      }
      break;
    case Activation::relu:
      for (std::int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f);
      break;
    case Activation::silu:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
      break;
    case Activation::gelu_quick:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-1.702f * x[i]));
      break;
  }
}

void tanh_inplace(float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

}  // namespace bertscope::core
