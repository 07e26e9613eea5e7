#include "analysis/mds.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "io/error.hpp"

namespace bertscope::analysis {

void symmetric_eigen(std::vector<double> a, std::size_t n, std::vector<double>& values, std::vector<double>& vectors) {
  std::vector<double> v(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  auto off_norm = [&] {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) s += a[i * n + j] * a[i * n + j];
    return s;
  };
  double scale = 0;
  for (double x : a) scale += x * x;
  for (int sweep = 0; sweep < 100 && off_norm() > 1e-30 * std::max(scale, 1e-300); ++sweep) {
    for (std::size_t p = 0; p < n; ++p) {
      for (std::size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0.0) continue;
        // The rotation that zeroes a[p][q] (Golub & Van Loan, algorithm 8.4.1).
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return a[x * n + x] > a[y * n + y]; });
  values.assign(n, 0.0);
  vectors.assign(n * n, 0.0);
  for (std::size_t c = 0; c < n; ++c) {
    const auto src = order[c];
    values[c] = a[src * n + src];
    std::size_t big = 0;
    for (std::size_t k = 0; k < n; ++k)
      if (std::abs(v[k * n + src]) > std::abs(v[big * n + src]) + 1e-12) big = k;
    const double sign = v[big * n + src] < 0 ? -1.0 : 1.0;
    for (std::size_t k = 0; k < n; ++k) vectors[k * n + c] = sign * v[k * n + src];
  }
}

std::vector<double> classical_mds(const std::vector<double>& d, std::size_t n, std::size_t dims) {
  // B = -1/2 J D^2 J with J the centring matrix.
  std::vector<double> b(n * n);
  std::vector<double> row_mean(n, 0.0);
  double all_mean = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const double sq = d[i * n + j] * d[i * n + j];
      row_mean[i] += sq / static_cast<double>(n);
      all_mean += sq / static_cast<double>(n * n);
    }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      b[i * n + j] = -0.5 * (d[i * n + j] * d[i * n + j] - row_mean[i] - row_mean[j] + all_mean);
  std::vector<double> values, vectors;
  symmetric_eigen(std::move(b), n, values, vectors);
  std::vector<double> x(n * dims, 0.0);
  for (std::size_t c = 0; c < dims && c < n; ++c) {
    const double s = values[c] > 0 ? std::sqrt(values[c]) : 0.0;
    for (std::size_t i = 0; i < n; ++i) x[i * dims + c] = s * vectors[i * n + c];
  }
  return x;
}

namespace {

double stress_of(const std::vector<double>& x, const std::vector<double>& d, std::size_t n, std::size_t dims,
                 std::vector<double>& dist) {
  double stress = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      double s = 0;
      for (std::size_t c = 0; c < dims; ++c) {
        const double diff = x[i * dims + c] - x[j * dims + c];
        s += diff * diff;
      }
      const double e = std::sqrt(s);
      dist[i * n + j] = dist[j * n + i] = e;
      stress += (e - d[i * n + j]) * (e - d[i * n + j]);
    }
  return stress;
}

}  // namespace

MdsResult smacof(const std::vector<double>& d, std::size_t n, const MdsOptions& o) {
  if (d.size() != n * n) fail(ErrorKind::input, "MDS: dissimilarity matrix has {} values, expected {} x {}", d.size(), n, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const double v = d[i * n + j];
      if (!std::isfinite(v) || v < 0) fail(ErrorKind::input, "MDS: dissimilarity [{}, {}] = {} is not a finite non-negative number", i, j, v);
      if (std::abs(v - d[j * n + i]) > 1e-9 * std::max(1.0, std::abs(v)))
        fail(ErrorKind::input, "MDS: dissimilarities are not symmetric at [{}, {}]", i, j);
    }
  MdsResult r;
  r.n = n;
  r.dimensions = o.dimensions;
  auto x = classical_mds(d, n, o.dimensions);
  std::vector<double> dist(n * n, 0.0), next(x.size());
  double stress = stress_of(x, d, n, o.dimensions, dist);
  for (r.iterations = 0; r.iterations < o.max_iterations && stress > 0; ++r.iterations) {
    // Guttman transform: X <- (1/n) B(X) X, B_ij = -D_ij / d_ij (i != j), B_ii = -sum_j B_ij.
    std::fill(next.begin(), next.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double diag = 0;
      for (std::size_t j = 0; j < n; ++j) {
        if (j == i || dist[i * n + j] == 0) continue;
        const double bij = -d[i * n + j] / dist[i * n + j];
        diag -= bij;
        for (std::size_t c = 0; c < o.dimensions; ++c) next[i * o.dimensions + c] += bij * x[j * o.dimensions + c];
      }
      for (std::size_t c = 0; c < o.dimensions; ++c) next[i * o.dimensions + c] += diag * x[i * o.dimensions + c];
    }
    for (auto& v : next) v /= static_cast<double>(n);
    x.swap(next);
    const double updated = stress_of(x, d, n, o.dimensions, dist);
    const bool done = stress - updated < o.eps * stress;
    stress = updated;
    if (done) {
      r.converged = true;
      ++r.iterations;
      break;
    }
  }
  if (stress == 0) r.converged = true;
  double total = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) total += d[i * n + j] * d[i * n + j];
  r.coordinates = std::move(x);
  r.stress = stress;
  r.normalized_stress = total > 0 ? std::sqrt(stress / total) : 0.0;
  return r;
}

}  // namespace bertscope::analysis
