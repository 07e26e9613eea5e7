// Highway compiles this file once per vector target; the HWY_ONCE part at the end dispatches.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/kernels.cpp"
#include <hwy/foreach_target.h>  // must precede highway.h

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace bertscope::core {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// erfc(z) for z >= 0 by the Chebyshev fit of Numerical Recipes' erfcc: relative error about
// 1e-7 over the whole range, so GELU's tail needs no cancelling 1 + erf.
template <class D, class V>
HWY_INLINE V ErfcNonNegative(D d, V z) {
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(hn::Set(d, 0.5f), z, hn::Set(d, 1.0f)));
  V p = hn::MulAdd(t, hn::Set(d, 0.17087277f), hn::Set(d, -0.82215223f));
  p = hn::MulAdd(t, p, hn::Set(d, 1.48851587f));
  p = hn::MulAdd(t, p, hn::Set(d, -1.13520398f));
  p = hn::MulAdd(t, p, hn::Set(d, 0.27886807f));
  p = hn::MulAdd(t, p, hn::Set(d, -0.18628806f));
  p = hn::MulAdd(t, p, hn::Set(d, 0.09678418f));
  p = hn::MulAdd(t, p, hn::Set(d, 0.37409196f));
  p = hn::MulAdd(t, p, hn::Set(d, 1.00002368f));
  p = hn::MulAdd(t, p, hn::Set(d, -1.26551223f));
  // Beyond z = 10 erfc underflows in float32; the clamp keeps exp's argument finite.
  const V zc = hn::Min(z, hn::Set(d, 10.0f));
  return hn::Mul(t, hn::Exp(d, hn::Sub(p, hn::Mul(zc, zc))));
}

// GELU(x) = 0.5 x (1 + erf(x / sqrt 2)) = x - 0.5 x erfc(x / sqrt 2) for x >= 0 and
// 0.5 x erfc(-x / sqrt 2) for x < 0: both forms avoid subtracting nearly equal numbers.
template <class D, class V>
HWY_INLINE V GeluErf(D d, V x) {
  const V half_x = hn::Mul(hn::Set(d, 0.5f), x);
  const V c = ErfcNonNegative(d, hn::Mul(hn::Abs(x), hn::Set(d, 0.70710678118654752f)));
  const V tail = hn::Mul(half_x, c);
  return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), tail, hn::Sub(x, tail));
}

template <class D, class V>
HWY_INLINE V Activate(D d, Activation act, V x) {
  const V half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f);
  switch (act) {
    case Activation::gelu_erf:
      return GeluErf(d, x);
    case Activation::gelu_tanh: {
      const V inner = hn::Mul(hn::Set(d, 0.79788456080286536f),
                              hn::MulAdd(hn::Mul(hn::Set(d, 0.044715f), hn::Mul(x, x)), x, x));
      return hn::Mul(hn::Mul(half, x), hn::Add(one, hn::Tanh(d, inner)));
    }
    case Activation::relu:
      return hn::Max(x, hn::Zero(d));
    case Activation::silu:
      return hn::Div(x, hn::Add(one, hn::Exp(d, hn::Neg(x))));
    case Activation::gelu_quick:
      return hn::Div(x, hn::Add(one, hn::Exp(d, hn::Mul(hn::Set(d, -1.702f), x))));
  }
  return x;
}

// d act(x) / dx.
template <class D, class V>
HWY_INLINE V ActivationDerivative(D d, Activation act, V x) {
  const V one = hn::Set(d, 1.0f), half = hn::Set(d, 0.5f);
  switch (act) {
    case Activation::gelu_erf: {
      // Phi(x) + x phi(x), Phi through erfc as in GeluErf.
      const V c = ErfcNonNegative(d, hn::Mul(hn::Abs(x), hn::Set(d, 0.70710678118654752f)));
      const V tail = hn::Mul(half, c);
      const V cdf = hn::IfThenElse(hn::Lt(x, hn::Zero(d)), tail, hn::Sub(one, tail));
      const V pdf = hn::Mul(hn::Set(d, 0.39894228040143268f), hn::Exp(d, hn::Mul(hn::Set(d, -0.5f), hn::Mul(x, x))));
      return hn::MulAdd(x, pdf, cdf);
    }
    case Activation::gelu_tanh: {
      const V c = hn::Set(d, 0.79788456080286536f), a = hn::Set(d, 0.044715f);
      const V x2 = hn::Mul(x, x);
      const V th = hn::Tanh(d, hn::Mul(c, hn::MulAdd(hn::Mul(a, x2), x, x)));
      const V dinner = hn::Mul(c, hn::MulAdd(hn::Set(d, 3.0f * 0.044715f), x2, one));
      return hn::MulAdd(hn::Mul(hn::Mul(half, x), hn::NegMulAdd(th, th, one)), dinner, hn::Mul(half, hn::Add(one, th)));
    }
    case Activation::relu:
      return hn::IfThenElseZero(hn::Gt(x, hn::Zero(d)), one);
    case Activation::silu:
    case Activation::gelu_quick: {
      const V k = hn::Set(d, act == Activation::silu ? 1.0f : 1.702f);
      const V sig = hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(hn::Mul(k, x)))));
      return hn::Mul(sig, hn::MulAdd(hn::Mul(k, x), hn::Sub(one, sig), one));
    }
  }
  return one;
}

void ActivationGradImpl(Activation act, const float* HWY_RESTRICT pre, const float* dy, float* dx, std::int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  const auto lanes = static_cast<std::int64_t>(hn::Lanes(d));
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(hn::Mul(hn::LoadU(d, dy + i), ActivationDerivative(d, act, hn::LoadU(d, pre + i))), d, dx + i);
  for (; i < n; ++i)
    hn::StoreU(hn::Mul(hn::LoadU(d1, dy + i), ActivationDerivative(d1, act, hn::LoadU(d1, pre + i))), d1, dx + i);
}

void ActivateImpl(Activation act, float* HWY_RESTRICT x, std::int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  const auto lanes = static_cast<std::int64_t>(hn::Lanes(d));
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(Activate(d, act, hn::LoadU(d, x + i)), d, x + i);
  for (; i < n; ++i) hn::StoreU(Activate(d1, act, hn::LoadU(d1, x + i)), d1, x + i);
}

void TanhImpl(float* HWY_RESTRICT x, std::int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  const auto lanes = static_cast<std::int64_t>(hn::Lanes(d));
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Tanh(d, hn::LoadU(d, x + i)), d, x + i);
  for (; i < n; ++i) hn::StoreU(hn::Tanh(d1, hn::LoadU(d1, x + i)), d1, x + i);
}

void SoftmaxRow(float* HWY_RESTRICT x, std::int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::CappedTag<float, 1> d1;
  const auto lanes = static_cast<std::int64_t>(hn::Lanes(d));
  auto vmax = hn::Set(d, -std::numeric_limits<float>::infinity());
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
  float max = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < n; ++i) max = std::max(max, x[i]);
  const auto vm = hn::Set(d, max);
  auto vsum = hn::Zero(d);
  i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vm));
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; i < n; ++i) {
    const auto e = hn::Exp(d1, hn::Sub(hn::LoadU(d1, x + i), hn::Set(d1, max)));
    hn::StoreU(e, d1, x + i);
    sum += hn::GetLane(e);
  }
  const auto inv = hn::Set(d, 1.0f / sum);
  i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), inv), d, x + i);
  for (; i < n; ++i) x[i] *= 1.0f / sum;
}

void SoftmaxRowsImpl(float* HWY_RESTRICT x, std::int64_t rows, std::int64_t cols) {
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (std::int64_t r = 0; r < rows; ++r) SoftmaxRow(x + r * cols, cols);
}

// One row of LayerNorm(a + b); b may be null. Two passes (mean, then centred squares) in float
// lanes keep the variance accurate without double arithmetic.
void NormRow(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::int64_t n, const float* gamma,
             const float* beta, float eps, float* HWY_RESTRICT y) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<std::int64_t>(hn::Lanes(d));
  auto vsum = hn::Zero(d);
  std::int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    auto v = hn::LoadU(d, a + i);
    if (b) v = hn::Add(v, hn::LoadU(d, b + i));
    hn::StoreU(v, d, y + i);
    vsum = hn::Add(vsum, v);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
  for (; i < n; ++i) {
    y[i] = b ? a[i] + b[i] : a[i];
    sum += y[i];
  }
  const float mean = sum / static_cast<float>(n);
  const auto vmean = hn::Set(d, mean);
  auto vsq = hn::Zero(d);
  i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto c = hn::Sub(hn::LoadU(d, y + i), vmean);
    vsq = hn::MulAdd(c, c, vsq);
  }
  float sq = hn::GetLane(hn::SumOfLanes(d, vsq));
  for (; i < n; ++i) sq += (y[i] - mean) * (y[i] - mean);
  const float inv = 1.0f / std::sqrt(sq / static_cast<float>(n) + eps);
  const auto vinv = hn::Set(d, inv);
  i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto c = hn::Mul(hn::Sub(hn::LoadU(d, y + i), vmean), vinv);
    hn::StoreU(hn::MulAdd(c, hn::LoadU(d, gamma + i), hn::LoadU(d, beta + i)), d, y + i);
  }
  for (; i < n; ++i) y[i] = (y[i] - mean) * inv * gamma[i] + beta[i];
}

void AddLayerNormImpl(const float* a, const float* b, std::int64_t rows, std::int64_t cols, const float* gamma,
                      const float* beta, float eps, float* y, std::uint16_t* y16) {
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    NormRow(a + r * cols, b ? b + r * cols : nullptr, cols, gamma, beta, eps, y + r * cols);
    if (y16)
      for (std::int64_t j = 0; j < cols; ++j) y16[r * cols + j] = round_to_bf16(y[r * cols + j]);
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace bertscope::core
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace bertscope::core {

HWY_EXPORT(ActivateImpl);
HWY_EXPORT(TanhImpl);
HWY_EXPORT(ActivationGradImpl);
HWY_EXPORT(SoftmaxRowsImpl);
HWY_EXPORT(AddLayerNormImpl);
HWY_EXPORT(TargetName);

void softmax_rows(float* x, std::int64_t rows, std::int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxRowsImpl)(x, rows, cols);
}

void layer_norm(const float* x, std::int64_t rows, std::int64_t cols, const float* gamma, const float* beta,
                float eps, float* y, std::uint16_t* y16) {
  HWY_DYNAMIC_DISPATCH(AddLayerNormImpl)(x, nullptr, rows, cols, gamma, beta, eps, y, y16);
}

void add_layer_norm(const float* a, const float* b, std::int64_t rows, std::int64_t cols, const float* gamma,
                    const float* beta, float eps, float* y, std::uint16_t* y16) {
  HWY_DYNAMIC_DISPATCH(AddLayerNormImpl)(a, b, rows, cols, gamma, beta, eps, y, y16);
}

void activate(Activation act, float* x, std::int64_t n) {
  // Large arrays are split across the threads in vector-aligned chunks.
  constexpr std::int64_t chunk = 1 << 14;
  if (n <= chunk) {
    HWY_DYNAMIC_DISPATCH(ActivateImpl)(act, x, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t start = 0; start < n; start += chunk)
    HWY_DYNAMIC_DISPATCH(ActivateImpl)(act, x + start, std::min(chunk, n - start));
}

void tanh_inplace(float* x, std::int64_t n) { HWY_DYNAMIC_DISPATCH(TanhImpl)(x, n); }

void activation_grad(Activation act, const float* pre, const float* dy, float* dx, std::int64_t n) {
  constexpr std::int64_t chunk = 1 << 14;
#pragma omp parallel for schedule(static) if (n > chunk)
  for (std::int64_t start = 0; start < n; start += chunk)
    HWY_DYNAMIC_DISPATCH(ActivationGradImpl)(act, pre + start, dy + start, dx + start, std::min(chunk, n - start));
}

void to_bf16(const float* x, std::int64_t n, std::uint16_t* out) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) out[i] = round_to_bf16(x[i]);
}

const char* vector_target_name() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace bertscope::core
#endif
