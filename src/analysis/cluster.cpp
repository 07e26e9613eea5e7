#include "analysis/cluster.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "analysis/blocks.hpp"
#include "analysis/heads.hpp"
#include "analysis/surface.hpp"
#include "analysis/word_attention.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::cluster {

namespace {

// Cephes logf: x = 2^e * z with z in [sqrt(1/2), sqrt(2)), then a degree-9 polynomial in
// f = z - 1. The split uses integer arithmetic only (as musl's logf does), with no branch, so
// loops over it vectorise. Only for positive normal x, which smoothed attention always is
// (x >= s / n > 1e-7).
inline float log_positive(float x) {
  constexpr std::uint32_t sqrt_half = 0x3f3504f3u;  // bits of sqrt(1/2)
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t t = bits - sqrt_half;
  const float e = static_cast<float>(static_cast<std::int32_t>(t) >> 23);
  const float f = std::bit_cast<float>(bits - (t & 0xff800000u)) - 1.0f;
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return f + y + 0.693359375f * e;
}

// sum_j m_j ln m_j with m = (p + q) / 2, in 16 float lanes (each sums at most n / 16 terms)
// added up in double. With q == p this is sum_j p_j ln p_j computed by the very same
// operations, so a head compared with an identical one gives exactly 0.
inline double row_mlogm(const float* p, const float* q, std::int64_t n) {
  constexpr std::int64_t lanes = 16;
  float acc[lanes] = {};
  std::int64_t j = 0;
  for (; j + lanes <= n; j += lanes)
    for (std::int64_t k = 0; k < lanes; ++k) {
      const float m = 0.5f * (p[j + k] + q[j + k]);
      acc[k] += m * log_positive(m);
    }
  double total = 0;
  for (; j < n; ++j) {
    const float m = 0.5f * (p[j] + q[j]);
    total += static_cast<double>(m * log_positive(m));
  }
  for (std::int64_t k = 0; k < lanes; ++k) total += acc[k];
  return total;
}

}  // namespace

float fast_log(float x) { return log_positive(x); }

double js_divergence(const float* p, const float* q, std::int64_t n) {
  return 0.5 * row_mlogm(p, p, n) + 0.5 * row_mlogm(q, q, n) - row_mlogm(p, q, n);
}

Accumulator::Accumulator(std::int64_t layers, std::int64_t heads, Options options)
    : layers_(layers), heads_(heads), options_(std::move(options)), sums_(static_cast<std::size_t>(layers * heads * layers * heads), 0.0) {
  if (!(options_.smoothing > 0 && options_.smoothing < 1))
    fail(ErrorKind::input, "cluster: smoothing {} must be in (0, 1): JS needs strictly positive rows", options_.smoothing);
}

void Accumulator::add(const core::Tensor& att) {
  if (att.dim(0) != layers_ || att.dim(1) != heads_)
    fail(ErrorKind::internal, "cluster: attentions have {} x {} heads, expected {} x {}", att.dim(0), att.dim(1), layers_, heads_);
  const auto n = att.dim(2);
  const auto heads = layers_ * heads_;
  const auto map_size = n * n;
  // The smoothed maps of this input (the one batch of memory the pass needs).
  core::Tensor smooth({heads, n, n});
  const float keep = static_cast<float>(1.0 - options_.smoothing);
  const float floor = static_cast<float>(options_.smoothing / static_cast<double>(n));
  for (std::int64_t i = 0; i < smooth.size(); ++i) smooth.data[static_cast<std::size_t>(i)] = keep * att.data[static_cast<std::size_t>(i)] + floor;
  // Per head and row: sum p ln p.
  std::vector<double> self(static_cast<std::size_t>(heads * n));
#pragma omp parallel for schedule(static) if (heads * n * n > kParallelWork)
  for (std::int64_t k = 0; k < heads * n; ++k) {
    const float* row = smooth.ptr() + k * n;
    self[static_cast<std::size_t>(k)] = row_mlogm(row, row, n);
  }
  std::vector<double> self_total(static_cast<std::size_t>(heads), 0.0);
  for (std::int64_t a = 0; a < heads; ++a)
    for (std::int64_t i = 0; i < n; ++i) self_total[static_cast<std::size_t>(a)] += self[static_cast<std::size_t>(a * n + i)];
  // Each thread owns whole rows a of the upper triangle, so no two threads write one cell.
#pragma omp parallel for schedule(dynamic, 1) if (heads * heads * n * n > kParallelWork)
  for (std::int64_t a = 0; a < heads; ++a) {
    const float* pa = smooth.ptr() + a * map_size;
    for (std::int64_t b = a + 1; b < heads; ++b) {
      const float* pb = smooth.ptr() + b * map_size;
      double cross = 0;
      for (std::int64_t i = 0; i < n; ++i) cross += row_mlogm(pa + i * n, pb + i * n, n);
      sums_[static_cast<std::size_t>(a * heads + b)] +=
          0.5 * self_total[static_cast<std::size_t>(a)] + 0.5 * self_total[static_cast<std::size_t>(b)] - cross;
    }
  }
  ++inputs_;
  rows_ += static_cast<std::size_t>(n);
}

Result Accumulator::result() const {
  Result r;
  r.layers = layers_;
  r.heads = heads_;
  r.inputs = inputs_;
  r.rows = rows_;
  const auto n = static_cast<std::size_t>(layers_ * heads_);
  r.distances.assign(n * n, 0.0);
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a + 1; b < n; ++b) {
      // Rounding can leave a tiny negative sum for near-identical heads; a divergence is >= 0.
      const double v = std::max(0.0, sums_[a * n + b]);
      r.distances[a * n + b] = r.distances[b * n + a] = v;
    }
  r.mds = smacof(r.distances, n, options_.mds);
  return r;
}

std::string Accumulator::save() const {
  dist::Packer p;
  p.put(sums_);
  p.put<std::uint64_t>(inputs_);
  p.put<std::uint64_t>(rows_);
  return p.take();
}

void Accumulator::merge(std::string_view saved, const std::string& what) {
  dist::Unpacker u(saved, what);
  const auto sums = u.get_vector<double>();
  if (sums.size() != sums_.size())
    fail(ErrorKind::format, "{} hold sums of another model ({} values, expected {})", what, sums.size(), sums_.size());
  for (std::size_t i = 0; i < sums.size(); ++i) sums_[i] += sums[i];
  inputs_ += u.get<std::uint64_t>();
  rows_ += u.get<std::uint64_t>();
  u.done();
}

Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& source_options,
           const Options& options, const std::function<std::string(std::size_t)>& data_where, dist::Runner* runner) {
  Accumulator acc(source.layers(), source.heads(), options);
  // The surface statistics ride along (O(heads T^2) per input beside the O(heads^2 T^2) distances).
  surface::Accumulator behaviour(source.layers(), source.heads(), {});
  const auto skipped = run_blocks(
      source, inputs, source_options, runner, "cluster",
      [&](const ExampleVisitor& visit) {
        Accumulator block(source.layers(), source.heads(), options);
        surface::Accumulator block_behaviour(source.layers(), source.heads(), {});
        visit([&](AttentionExample& ex) {
          surface::check_trace_text(source, ex, inputs[ex.index], data_where);
          block.add(ex.attentions);
          block_behaviour.add(ex.encoding, ex.attentions);
        });
        dist::Packer p;
        p.put(std::string_view(block.save()));
        p.put(std::string_view(block_behaviour.save()));
        return p.take();
      },
      [&](std::size_t b, std::string_view saved) {
        const auto what = fmt::format("cluster: the stored sums of block {}", b);
        dist::Unpacker u(saved, what);
        acc.merge(u.get_string(), what);
        behaviour.merge(u.get_string(), what);
        u.done();
      });
  auto r = acc.result();
  r.skipped_too_long = skipped;
  if (r.inputs > 0) r.behaviours = behaviour.result().labels;
  return r;
}

nlohmann::json to_json(const Result& r) {
  const auto n = static_cast<std::size_t>(r.layers * r.heads);
  nlohmann::json heads = nlohmann::json::array();
  nlohmann::json matrix = nlohmann::json::array();
  for (std::size_t a = 0; a < n; ++a) {
    auto j = head_json(static_cast<std::int64_t>(a) / r.heads, static_cast<std::int64_t>(a) % r.heads);
    nlohmann::json xy = nlohmann::json::array();
    for (std::size_t c = 0; c < r.mds.dimensions; ++c) xy.push_back(r.mds.coordinates[a * r.mds.dimensions + c]);
    j["coordinates"] = xy;
    if (a < r.behaviours.size()) j["behaviour"] = r.behaviours[a];
    heads.push_back(j);
    matrix.push_back(std::vector<double>(r.distances.begin() + static_cast<std::ptrdiff_t>(a * n),
                                         r.distances.begin() + static_cast<std::ptrdiff_t>((a + 1) * n)));
  }
  return {{"heads", heads},
          {"distances", matrix},
          {"inputs", r.inputs},
          {"rows", r.rows},
          {"mds",
           {{"stress", r.mds.stress},
            {"normalized_stress", r.mds.normalized_stress},
            {"iterations", r.mds.iterations},
            {"converged", r.mds.converged}}},
          {"skipped", {{"too_long", r.skipped_too_long}}}};
}

std::string table(const Result& r) {
  const auto n = static_cast<std::size_t>(r.layers * r.heads);
  std::string out = fmt::format("{} inputs, {} query rows; MDS stress-1 {:.4f} after {} iterations\n\n", r.inputs, r.rows,
                                r.mds.normalized_stress, r.mds.iterations);
  // Mean distance within a layer vs across layers: Clark's observation that heads of one layer
  // sit together.
  double within = 0, across = 0;
  std::size_t nw = 0, na = 0;
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a + 1; b < n; ++b) {
      const bool same = static_cast<std::int64_t>(a) / r.heads == static_cast<std::int64_t>(b) / r.heads;
      (same ? within : across) += r.distances[a * n + b];
      ++(same ? nw : na);
    }
  if (nw) out += fmt::format("mean JS sum between heads of the same layer:      {:.4f}\n", within / static_cast<double>(nw));
  if (na) out += fmt::format("mean JS sum between heads of different layers:   {:.4f}\n", across / static_cast<double>(na));
  out += fmt::format("\n{:>6} {:>10} {:>10}   nearest head\n", "head", "x", "y");
  for (std::size_t a = 0; a < n; ++a) {
    std::size_t nearest = a == 0 && n > 1 ? 1 : 0;
    for (std::size_t b = 0; b < n; ++b)
      if (b != a && r.distances[a * n + b] < r.distances[a * n + nearest]) nearest = b;
    const double x = r.mds.dimensions > 0 ? r.mds.coordinates[a * r.mds.dimensions] : 0.0;
    const double y = r.mds.dimensions > 1 ? r.mds.coordinates[a * r.mds.dimensions + 1] : 0.0;
    out += fmt::format("{:>6} {:10.3f} {:10.3f}   {}\n", head_label(static_cast<std::int64_t>(a) / r.heads, static_cast<std::int64_t>(a) % r.heads), x,
                       y, n > 1 ? head_label(static_cast<std::int64_t>(nearest) / r.heads, static_cast<std::int64_t>(nearest) % r.heads) : "-");
  }
  return out;
}

nlohmann::json params_json(const Options& options) {
  return {{"smoothing", options.smoothing},
          {"distance", "sum over query rows of Jensen-Shannon divergence (natural log, no square root)"},
          {"mds", {{"algorithm", "SMACOF from classical MDS"},
                   {"dimensions", options.mds.dimensions},
                   {"max_iterations", options.mds.max_iterations},
                   {"eps", options.mds.eps}}}};
}

}  // namespace bertscope::analysis::cluster

namespace bertscope::analysis::cluster {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Clark et al. Fig. 6: the heads embedded by MDS of their attention distances, on equal axes.
std::vector<Figure> figures(const nlohmann::json& results) {
  std::vector<Figure> out;
  out.push_back({.id = "cluster.mds",
                 .kind = "scatter",
                 .title = "Heads embedded by the distances between their attention",
                 .caption = "Multidimensional scaling of the Jensen-Shannon divergences between the heads' attention "
                            "distributions: heads close together attend alike. Equal scales on both axes, so distances read "
                            "true; coloured by each head's behaviour on the same inputs (analyze surface's labels; or by "
                            "layer). Clark et al. (2019), Fig. 6 (docs/methods.md 1.8): heads of one layer sit together, "
                            "with clusters of broad, next, previous, [CLS], [SEP] and punctuation heads.",
                 .rows = "heads",
                 .x = FigureField{"coordinates.0", "MDS 1", Unit::coordinate},
                 .x_axis = "MDS dimension 1",
                 .values = {FigureField{"coordinates.1", "MDS 2", Unit::coordinate}},
                 .axis = "MDS dimension 2",
                 .options = {{"numeric_x", true}, {"equal", true}}});
  const auto& heads = results.value("heads", nlohmann::json::array());
  if (!heads.empty() && heads[0].contains("behaviour")) out.back().options["colour"] = {"behaviour"};
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::cluster
