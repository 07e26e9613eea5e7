// Metric multidimensional scaling: points in a low-dimensional space whose distances match a
// given dissimilarity matrix, by stress majorization (SMACOF, de Leeuw 1977; the algorithm of
// sklearn.manifold.MDS(metric=True) that Clark et al. used for their Figure 6).
//
// sklearn starts from random points (n_init tries); bertscope starts once from classical
// (Torgerson) MDS, which is deterministic and already close to the optimum, so a layout is
// reproducible run to run. Layouts are defined only up to rotation and reflection anyway.
#pragma once

#include <cstddef>
#include <vector>

namespace bertscope::analysis {

struct MdsOptions {
  std::size_t dimensions = 2;
  int max_iterations = 1000;  // sklearn's max_iter in Clark's notebook
  double eps = 1e-10;         // stop when the stress falls by less than eps x stress in one step
};

struct MdsResult {
  std::size_t n = 0, dimensions = 0;
  std::vector<double> coordinates;  // [n, dimensions], row-major
  double stress = 0;                // raw stress: sum_{i<j} (d_ij - D_ij)^2
  double normalized_stress = 0;     // Kruskal's stress-1: sqrt(stress / sum_{i<j} D_ij^2)
  int iterations = 0;
  bool converged = false;
};

// Eigen-decomposition of a symmetric [n, n] matrix (cyclic Jacobi): eigenvalues in decreasing
// order, eigenvectors as the columns of `vectors` ([n, n], row-major), each with its
// largest-magnitude component positive so results are deterministic.
void symmetric_eigen(std::vector<double> matrix, std::size_t n, std::vector<double>& values, std::vector<double>& vectors);

// Classical MDS of a symmetric dissimilarity matrix [n, n]: the top eigenvectors of the
// double-centred squared dissimilarities, scaled by sqrt(eigenvalue) ([n, dimensions]).
std::vector<double> classical_mds(const std::vector<double>& dissimilarities, std::size_t n, std::size_t dimensions);

// SMACOF from the classical solution. Throws Error(input) for a matrix that is not square,
// symmetric, non-negative and finite.
MdsResult smacof(const std::vector<double>& dissimilarities, std::size_t n, const MdsOptions& options = {});

}  // namespace bertscope::analysis
