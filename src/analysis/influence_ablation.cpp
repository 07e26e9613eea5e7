#include "analysis/influence_ablation.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "analysis/maxflow.hpp"
#include "analysis/rollout.hpp"
#include "io/error.hpp"
#include "model/autodiff.hpp"

namespace bertscope::analysis::influence {

namespace {

using model::Site;

// The head with the largest A^{b,h}[q, k] (ties: the lowest head).
std::int32_t best_head(const core::Tensor& att, std::int64_t b, std::int64_t q, std::int64_t k) {
  const auto H = att.dim(1), T = att.dim(2);
  std::int32_t best = 0;
  for (std::int64_t h = 1; h < H; ++h)
    if (att.ptr()[((b * H + h) * T + q) * T + k] > att.ptr()[((b * H + best) * T + q) * T + k])
      best = static_cast<std::int32_t>(h);
  return best;
}

// Edges of a position sequence: the skip where the position stays (when Â has a residual), else
// the strongest head between the two positions.
std::vector<std::int32_t> edges_of(const core::Tensor& att, const std::vector<std::int32_t>& positions, double residual) {
  std::vector<std::int32_t> edges;
  for (std::size_t b = 0; b + 1 < positions.size(); ++b) {
    const auto k = positions[b], q = positions[b + 1];
    edges.push_back(k == q && residual > 0 ? -1 : best_head(att, static_cast<std::int64_t>(b), q, k));
  }
  return edges;
}

// The strongest single head's weight along the edge k at h_b -> q at h_{b+1}.
float strongest_edge(const core::Tensor& att, std::int64_t b, std::int64_t q, std::int64_t k) {
  const auto H = att.dim(1), T = att.dim(2);
  float best = 0;
  for (std::int64_t h = 0; h < H; ++h) best = std::max(best, att.ptr()[((b * H + h) * T + q) * T + k]);
  return best;
}

// Beam search of width kBeamWidth over p_1..p_{L-1} (p_L = the target) maximising the summed
// strongest-edge weights; ties keep the earlier candidate (lower positions first).
std::vector<std::int32_t> beam_positions(const core::Tensor& att, std::int32_t source, std::int32_t target) {
  const auto L = att.dim(0), T = att.dim(2);
  struct Beam {
    double score;
    std::vector<std::int32_t> positions;
  };
  std::vector<Beam> beams{{0.0, {source}}};
  for (std::int64_t b = 0; b < L; ++b) {
    std::vector<Beam> next;
    for (const auto& beam : beams) {
      const auto k = beam.positions.back();
      for (std::int64_t q = 0; q < T; ++q) {
        if (b + 1 == L && q != target) continue;
        auto positions = beam.positions;
        positions.push_back(static_cast<std::int32_t>(q));
        next.push_back({beam.score + strongest_edge(att, b, q, k), std::move(positions)});
      }
    }
    std::stable_sort(next.begin(), next.end(), [](const Beam& x, const Beam& y) { return x.score > y.score; });
    if (next.size() > kBeamWidth) next.resize(kBeamWidth);
    beams = std::move(next);
  }
  return beams.front().positions;
}

// Attention flow from h_0[source] to h_L[target] on the layered graph with capacities aug[b][q, k]
// (edge (b, k) -> (b + 1, q)); per layer 1..L-1 the node with the most inflow (ties: the lower
// position), the ends fixed.
std::vector<std::int32_t> flow_positions(const core::Tensor& aug, std::int32_t source, std::int32_t target) {
  const auto L = aug.dim(0), T = aug.dim(1);
  auto node = [&](std::int64_t layer, std::int64_t p) { return static_cast<std::int32_t>(layer * T + p); };
  maxflow::Network net(static_cast<std::int32_t>((L + 1) * T));
  std::vector<std::int32_t> edge_ids;
  for (std::int64_t b = 0; b < L; ++b)
    for (std::int64_t q = 0; q < T; ++q)
      for (std::int64_t k = 0; k < T; ++k)
        edge_ids.push_back(net.add_edge(node(b, k), node(b + 1, q), aug.ptr()[(b * T + q) * T + k]));
  net.augment(node(0, source), node(L, target));
  std::vector<std::int32_t> positions(static_cast<std::size_t>(L + 1), 0);
  positions[0] = source;
  positions[static_cast<std::size_t>(L)] = target;
  std::size_t e = 0;
  std::vector<double> inflow(static_cast<std::size_t>(T));
  for (std::int64_t b = 0; b < L; ++b) {
    std::fill(inflow.begin(), inflow.end(), 0.0);
    for (std::int64_t q = 0; q < T; ++q)
      for (std::int64_t k = 0; k < T; ++k) inflow[static_cast<std::size_t>(q)] += net.flow(edge_ids[e++]);
    if (b + 1 < L)
      positions[static_cast<std::size_t>(b + 1)] =
          static_cast<std::int32_t>(std::max_element(inflow.begin(), inflow.end()) - inflow.begin());
  }
  return positions;
}

}  // namespace

std::string_view attention_direction_name(AttentionDirection direction) {
  return direction == AttentionDirection::key_to_query ? "key-to-query" : "query-to-key";
}

AttentionDirection parse_attention_direction(std::string_view name) {
  if (name == "key-to-query") return AttentionDirection::key_to_query;
  if (name == "query-to-key") return AttentionDirection::query_to_key;
  fail(ErrorKind::input, "attention direction \"{}\": expected key-to-query or query-to-key", name);
}

core::Tensor oriented_attentions(const core::Tensor& att, AttentionDirection direction) {
  if (direction == AttentionDirection::key_to_query) return att;
  if (att.shape.size() != 4 || att.dim(2) != att.dim(3))
    fail(ErrorKind::input, "attention path: attentions have shape {}, expected [layers, heads, T, T]", core::shape_string(att.shape));
  core::Tensor out(att.shape);
  const auto maps = att.dim(0) * att.dim(1), T = att.dim(2);
  for (std::int64_t m = 0; m < maps; ++m)
    for (std::int64_t i = 0; i < T; ++i)
      for (std::int64_t j = 0; j < T; ++j) out.ptr()[(m * T + j) * T + i] = att.ptr()[(m * T + i) * T + j];
  return out;
}

Path path_of(const TokenPattern& pattern) { return {pattern.positions, pattern.choices}; }

Pattern empty_node_set(std::int64_t layers, std::int64_t tokens, std::int64_t heads) {
  Pattern p;
  p.layers = layers;
  p.tokens = tokens;
  p.heads = heads;
  const auto t = static_cast<std::size_t>(tokens);
  p.hidden.assign(static_cast<std::size_t>(layers + 1), std::vector<std::uint8_t>(t, 0));
  p.context.assign(static_cast<std::size_t>(layers), std::vector<std::uint8_t>(t * static_cast<std::size_t>(heads), 0));
  p.skip.assign(static_cast<std::size_t>(layers), std::vector<std::uint8_t>(t, 0));
  return p;
}

void add_path(Pattern& kept, const Path& path) {
  const auto L = kept.layers;
  if (static_cast<std::int64_t>(path.positions.size()) != L + 1 || static_cast<std::int64_t>(path.edges.size()) != L)
    fail(ErrorKind::input, "a path needs {} positions and {} edges, got {} and {}", L + 1, L, path.positions.size(),
         path.edges.size());
  for (auto p : path.positions)
    if (p < 0 || p >= kept.tokens) fail(ErrorKind::input, "path position {} outside the input's {} tokens", p, kept.tokens);
  for (std::int64_t l = 0; l <= L; ++l)
    kept.hidden[static_cast<std::size_t>(l)][static_cast<std::size_t>(path.positions[static_cast<std::size_t>(l)])] = 1;
  for (std::int64_t b = 0; b < L; ++b) {
    const auto from = path.positions[static_cast<std::size_t>(b)], to = path.positions[static_cast<std::size_t>(b + 1)];
    const auto e = path.edges[static_cast<std::size_t>(b)];
    if (e < -1 || e >= kept.heads) fail(ErrorKind::input, "path edge {} at block {} is neither -1 (skip) nor a head below {}", e, b, kept.heads);
    if (e < 0) {
      if (from != to) fail(ErrorKind::input, "path takes the skip connection at block {} from position {} to {}", b, from, to);
      kept.skip[static_cast<std::size_t>(b)][static_cast<std::size_t>(to)] = 1;
    } else {
      kept.context[static_cast<std::size_t>(b)][static_cast<std::size_t>(to * kept.heads + e)] = 1;
    }
  }
}

std::size_t node_count(const Pattern& kept) {
  std::size_t n = 0;
  for (const auto* group : {&kept.hidden, &kept.context, &kept.skip})
    for (const auto& row : *group)
      for (auto v : row) n += v != 0;
  return n;
}

std::string_view attention_path_name(AttentionPath kind) {
  switch (kind) {
    case AttentionPath::greedy: return "greedy_attention";
    case AttentionPath::max_product: return "max_product_attention";
    case AttentionPath::rollout: return "rollout";
    case AttentionPath::beam: return "beam_attention";
    case AttentionPath::flow: return "attention_flow";
  }
  return "?";
}

Path attention_path(AttentionPath kind, const core::Tensor& att, std::int32_t source, std::int32_t target, double residual) {
  if (att.shape.size() != 4 || att.dim(2) != att.dim(3))
    fail(ErrorKind::input, "attention path: attentions have shape {}, expected [layers, heads, T, T]", core::shape_string(att.shape));
  const auto L = att.dim(0), H = att.dim(1), T = att.dim(2);
  if (source < 0 || source >= T || target < 0 || target >= T)
    fail(ErrorKind::input, "attention path from {} to {} outside the input's {} tokens", source, target, T);
  Path path;
  path.positions.assign(static_cast<std::size_t>(L + 1), 0);
  path.positions[0] = source;
  path.positions[static_cast<std::size_t>(L)] = target;
  if (kind == AttentionPath::greedy) {
    for (std::int64_t b = 0; b < L; ++b) {
      const auto k = path.positions[static_cast<std::size_t>(b)];
      std::int32_t best_q = b + 1 == L ? target : 0, best_h = 0;
      float best = -1;
      for (std::int64_t q = 0; q < T; ++q) {
        if (b + 1 == L && q != target) continue;
        for (std::int64_t h = 0; h < H; ++h) {
          const float a = att.ptr()[((b * H + h) * T + q) * T + k];
          if (a > best) {
            best = a;
            best_q = static_cast<std::int32_t>(q);
            best_h = static_cast<std::int32_t>(h);
          }
        }
      }
      path.positions[static_cast<std::size_t>(b + 1)] = best_q;
      path.edges.push_back(best_h);
    }
    return path;
  }
  if (kind == AttentionPath::beam) {
    path.positions = beam_positions(att, source, target);
    // Every edge a head, as greedy's: the strongest one along the edge.
    for (std::int64_t b = 0; b < L; ++b)
      path.edges.push_back(best_head(att, b, path.positions[static_cast<std::size_t>(b + 1)], path.positions[static_cast<std::size_t>(b)]));
    return path;
  }
  const auto aug = rollout::augmented_attention(att, residual);  // [L, T, T]
  if (kind == AttentionPath::flow) {
    path.positions = flow_positions(aug, source, target);
  } else if (kind == AttentionPath::max_product) {
    // Viterbi in log space: score[q] = the best log-product of a path from the source to q at h_{b+1}.
    const double ninf = -std::numeric_limits<double>::infinity();
    std::vector<double> score(static_cast<std::size_t>(T), ninf);
    score[static_cast<std::size_t>(source)] = 0;
    std::vector<std::vector<std::int32_t>> back(static_cast<std::size_t>(L), std::vector<std::int32_t>(static_cast<std::size_t>(T), 0));
    for (std::int64_t b = 0; b < L; ++b) {
      std::vector<double> next(static_cast<std::size_t>(T), ninf);
      for (std::int64_t q = 0; q < T; ++q) {
        std::int32_t arg = -1;
        for (std::int64_t k = 0; k < T; ++k) {
          const double w = aug.ptr()[(b * T + q) * T + k];
          if (w <= 0 || score[static_cast<std::size_t>(k)] == ninf) continue;
          const double s = score[static_cast<std::size_t>(k)] + std::log(w);
          if (arg < 0 || s > next[static_cast<std::size_t>(q)]) {
            next[static_cast<std::size_t>(q)] = s;
            arg = static_cast<std::int32_t>(k);
          }
        }
        back[static_cast<std::size_t>(b)][static_cast<std::size_t>(q)] = arg < 0 ? q : arg;
      }
      score = std::move(next);
    }
    for (std::int64_t b = L - 1; b >= 1; --b)
      path.positions[static_cast<std::size_t>(b)] =
          back[static_cast<std::size_t>(b)][static_cast<std::size_t>(path.positions[static_cast<std::size_t>(b + 1)])];
    // back[0] points at the source wherever a path exists; where none does (residual 0 and zero
    // attention) the path still starts at the source.
  } else {
    const auto R = rollout::rollout(aug);
    for (std::int64_t b = 0; b + 1 < L; ++b) {
      std::int32_t best = 0;
      for (std::int64_t q = 1; q < T; ++q)
        if (R.ptr()[(b * T + q) * T + source] > R.ptr()[(b * T + best) * T + source]) best = static_cast<std::int32_t>(q);
      path.positions[static_cast<std::size_t>(b + 1)] = best;
    }
  }
  path.edges = edges_of(att, path.positions, residual);
  return path;
}

std::vector<Path> layer_attribution_paths(std::span<const std::vector<double>> layer_attributions, int sign,
                                          std::span<const std::int32_t> sources, std::int32_t target,
                                          const core::Tensor& att) {
  if (att.shape.size() != 4 || att.dim(2) != att.dim(3))
    fail(ErrorKind::input, "layer attribution paths: attentions have shape {}, expected [layers, heads, T, T]",
         core::shape_string(att.shape));
  const auto L = att.dim(0), T = att.dim(2);
  if (static_cast<std::int64_t>(layer_attributions.size()) != L + 1)
    fail(ErrorKind::input, "layer attribution paths: {} layers of attributions for a model of {} blocks (expected {})",
         layer_attributions.size(), L, L + 1);
  for (const auto& row : layer_attributions)
    if (static_cast<std::int64_t>(row.size()) != T)
      fail(ErrorKind::input, "layer attribution paths: {} attributions in a layer of an input of {} tokens", row.size(), T);
  if (static_cast<std::int64_t>(sources.size()) > T || target < 0 || target >= T)
    fail(ErrorKind::input, "layer attribution paths: {} sources and target {} for an input of {} tokens", sources.size(), target, T);
  const auto k = sources.size();
  std::vector<Path> paths(k);
  for (std::size_t j = 0; j < k; ++j) {
    if (sources[j] < 0 || sources[j] >= T) fail(ErrorKind::input, "layer attribution paths: source {} outside the input's {} tokens", sources[j], T);
    paths[j].positions.assign(static_cast<std::size_t>(L + 1), target);
    paths[j].positions[0] = sources[j];
  }
  for (std::int64_t l = 1; l < L; ++l) {
    // The layer's k best positions, best first (stable: ties keep the lower position).
    const auto& row = layer_attributions[static_cast<std::size_t>(l)];
    std::vector<std::int32_t> order(static_cast<std::size_t>(T));
    for (std::int32_t p = 0; p < T; ++p) order[static_cast<std::size_t>(p)] = p;
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      return sign * row[static_cast<std::size_t>(a)] > sign * row[static_cast<std::size_t>(b)];
    });
    order.resize(k);
    std::vector<bool> taken(k, false), placed(k, false);
    // A path whose position is among them stays there (through the skip connection)...
    for (std::size_t j = 0; j < k; ++j) {
      const auto prev = paths[j].positions[static_cast<std::size_t>(l - 1)];
      for (std::size_t r = 0; r < k; ++r)
        if (!taken[r] && order[r] == prev) {
          taken[r] = placed[j] = true;
          paths[j].positions[static_cast<std::size_t>(l)] = prev;
          break;
        }
    }
    // ... the others take the remaining positions, best first.
    std::size_t r = 0;
    for (std::size_t j = 0; j < k; ++j) {
      if (placed[j]) continue;
      while (taken[r]) ++r;
      taken[r] = true;
      paths[j].positions[static_cast<std::size_t>(l)] = order[r];
    }
  }
  for (auto& path : paths) path.edges = edges_of(att, path.positions, 1.0);
  return paths;
}

std::string_view replacement_name(Replacement replacement) {
  return replacement == Replacement::zero ? "zero" : replacement == Replacement::baseline ? "baseline" : "mean";
}

Replacement parse_replacement(std::string_view name) {
  if (name == "zero") return Replacement::zero;
  if (name == "baseline") return Replacement::baseline;
  if (name == "mean") return Replacement::mean;
  fail(ErrorKind::input, "unknown ablation replacement \"{}\" (zero, baseline, mean)", name);
}

namespace {

void add_readout(model::TapeOptions& o, const Qoi& q) {
  if (q.readout == Readout::mlm) {
    o.mlm_logits = true;
    o.mlm_positions.push_back({q.target});
  } else {
    o.classifier_logits = true;
    o.mlm_positions.push_back({});
  }
}

double read_qoi(const Qoi& q, const model::ForwardResult& r) {
  const auto& logits = q.readout == Readout::mlm ? r.mlm_logits : r.classifier_logits;
  return static_cast<double>(logits.data.at(static_cast<std::size_t>(q.good))) - logits.data.at(static_cast<std::size_t>(q.bad));
}

core::Tensor copy_of(const core::Tensor* t, const char* what) {
  if (!t) fail(ErrorKind::internal, "ablation: {} missing from the baseline trace", what);
  return *t;
}

// The data set's mean activation at every node site, per position, over the instances that have
// the position (the instances of one task usually share one length): a trace per length asked.
class MeanActivations {
 public:
  MeanActivations(const model::Model& model, std::span<const Instance> instances, std::size_t batch) {
    const auto L = model.layers();
    std::int64_t longest = 0;
    for (const auto& in : instances) longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(in.ids.size()));
    counts_.assign(static_cast<std::size_t>(longest), 0.0);
    model::RunOptions run;
    run.record = model::SiteSet(L);
    run.record.add(Site::embed_out);
    run.record.add(Site::layer_out);
    run.record.add(Site::attn_context);
    for (std::size_t start = 0; start < instances.size(); start += batch) {
      const auto n = std::min(batch, instances.size() - start);
      std::vector<model::ModelInput> inputs(n);
      for (std::size_t i = 0; i < n; ++i) {
        inputs[i].ids = instances[start + i].ids;
        inputs[i].type_ids = instances[start + i].type_ids;
      }
      for (auto& r : model.forward(inputs, run)) add(r.trace, L, longest);
    }
  }

  // The mean trace cut to the first `tokens` positions.
  model::Trace for_length(std::int64_t tokens, std::int64_t layers) const {
    model::Trace t(layers);
    for (const auto& [key, sum] : sums_) {
      const auto& [site, layer] = key;
      const bool per_head = site == Site::attn_context;
      const auto rows = per_head ? sum.dim(1) : sum.dim(0);
      const auto width = per_head ? sum.dim(2) : sum.dim(1);
      auto& m = t.emplace(site, layer, per_head ? core::Shape{sum.dim(0), tokens, width} : core::Shape{tokens, width});
      const auto blocks = per_head ? sum.dim(0) : 1;
      for (std::int64_t b = 0; b < blocks; ++b)
        for (std::int64_t p = 0; p < tokens; ++p) {
          const double c = counts_[static_cast<std::size_t>(p)];
          for (std::int64_t j = 0; j < width; ++j)
            m.ptr()[(b * tokens + p) * width + j] = c > 0 ? static_cast<float>(sum.ptr()[(b * rows + p) * width + j] / c) : 0.0f;
        }
    }
    return t;
  }

 private:
  void add(const model::Trace& trace, std::int64_t layers, std::int64_t longest) {
    std::int64_t tokens = -1;
    auto accumulate = [&](Site site, std::int64_t layer) {
      const auto* v = trace.find(site, layer);
      if (!v) fail(ErrorKind::internal, "ablation: {} missing from the mean's trace", model::site_name(site, layer));
      const bool per_head = site == Site::attn_context;
      const auto t = per_head ? v->dim(1) : v->dim(0), width = per_head ? v->dim(2) : v->dim(1);
      const auto blocks = per_head ? v->dim(0) : 1;
      tokens = t;
      auto [it, fresh] = sums_.try_emplace({site, layer});
      if (fresh) it->second = core::Tensor(per_head ? core::Shape{blocks, longest, width} : core::Shape{longest, width});
      for (std::int64_t b = 0; b < blocks; ++b)
        for (std::int64_t p = 0; p < t; ++p)
          for (std::int64_t j = 0; j < width; ++j)
            it->second.ptr()[(b * longest + p) * width + j] += v->ptr()[(b * t + p) * width + j];
    };
    accumulate(Site::embed_out, 0);
    for (std::int64_t l = 0; l < layers; ++l) {
      accumulate(Site::layer_out, l);
      accumulate(Site::attn_context, l);
    }
    for (std::int64_t p = 0; p < tokens; ++p) counts_[static_cast<std::size_t>(p)] += 1;
  }

  std::map<std::pair<Site, std::int64_t>, core::Tensor> sums_;  // float sums per position
  std::vector<double> counts_;                                   // instances per position
};

}  // namespace

std::vector<double> ablated_qoi(const model::Model& model, std::span<const Instance> instances, std::span<const Pattern> kept,
                                const AblationOptions& options) {
  if (kept.size() != instances.size()) fail(ErrorKind::internal, "{} kept node sets for {} instances", kept.size(), instances.size());
  const auto L = model.layers(), H = model.heads();
  std::vector<double> out;
  out.reserve(instances.size());
  const auto batch = std::max<std::size_t>(options.batch_size, 1);
  std::optional<MeanActivations> mean;
  if (options.replacement == Replacement::mean) mean.emplace(model, instances, batch);
  for (std::size_t start = 0; start < instances.size(); start += batch) {
    const auto n = std::min(batch, instances.size() - start);
    std::vector<model::ModelInput> inputs(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& in = instances[start + i];
      const auto& k = kept[start + i];
      const auto T = static_cast<std::int64_t>(in.ids.size());
      if (k.layers != L || k.tokens != T || k.heads != H)
        fail(ErrorKind::input, "ablation: a node set for {} layers, {} tokens and {} heads given for an input of {} tokens "
                               "to a model of {} layers and {} heads", k.layers, k.tokens, k.heads, T, L, H);
      inputs[i].ids = in.ids;
      inputs[i].type_ids = in.type_ids;
    }
    // The values that replace nodes: the baseline input's activations, or zero (no values).
    std::vector<model::Trace> values(n);
    if (options.replacement == Replacement::baseline) {
      std::vector<model::ModelInput> base = inputs;
      for (std::size_t i = 0; i < n; ++i) base[i].word_embeddings = baseline_word_embeddings(model, base[i].ids, options.baseline);
      model::RunOptions run;
      run.record = model::SiteSet(L);
      run.record.add(Site::embed_out);
      run.record.add(Site::layer_out);
      run.record.add(Site::attn_context);
      model::ForwardTape tape;
      auto results = model::forward_with_tape(model, base, run, {}, tape);
      for (std::size_t i = 0; i < n; ++i) values[i] = std::move(results[i].trace);
    } else if (mean) {
      for (std::size_t i = 0; i < n; ++i) values[i] = mean->for_length(static_cast<std::int64_t>(inputs[i].ids.size()), L);
    }
    model::TapeOptions topt;
    topt.replacements.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      add_readout(topt, instances[start + i].qoi);
      const auto& k = kept[start + i];
      const auto T = k.tokens;
      const bool base = options.replacement != Replacement::zero;  // baseline or mean: values from `values`
      auto hidden_value = [&](std::int64_t l) {
        return l == 0 ? copy_of(values[i].find(Site::embed_out, 0), "embed.out")
                      : copy_of(values[i].find(Site::layer_out, l - 1), "layer.out");
      };
      auto& reps = topt.replacements[i];
      auto add = [&](model::FlowSite site, std::int64_t layer, const std::vector<std::uint8_t>& keep, core::Shape shape,
                     core::Tensor value) {
        model::NodeReplacement r{site, layer, core::Tensor(std::move(shape)), std::move(value)};
        for (std::size_t j = 0; j < keep.size(); ++j) r.keep.data[j] = keep[j] ? 1.0f : 0.0f;
        reps.push_back(std::move(r));
      };
      for (std::int64_t l = 0; l <= L; ++l)
        add(model::FlowSite::hidden, l, k.hidden[static_cast<std::size_t>(l)], {T}, base ? hidden_value(l) : core::Tensor{});
      for (std::int64_t b = 0; b < L; ++b) {
        add(model::FlowSite::context, b, k.context[static_cast<std::size_t>(b)], {T, H},
            base ? copy_of(values[i].find(Site::attn_context, b), "attn.context") : core::Tensor{});
        add(model::FlowSite::skip, b, k.skip[static_cast<std::size_t>(b)], {T}, base ? hidden_value(b) : core::Tensor{});
      }
    }
    if (!topt.mlm_logits) topt.mlm_positions.clear();
    model::ForwardTape tape;
    const auto results = model::forward_with_tape(model, inputs, {}, topt, tape);
    for (std::size_t i = 0; i < n; ++i) out.push_back(read_qoi(instances[start + i].qoi, results[i]));
  }
  return out;
}

std::vector<core::Tensor> attentions_of(const model::Model& model, std::span<const Instance> instances, std::size_t batch_size) {
  const auto L = model.layers(), H = model.heads();
  std::vector<core::Tensor> out;
  batch_size = std::max<std::size_t>(batch_size, 1);
  for (std::size_t start = 0; start < instances.size(); start += batch_size) {
    const auto n = std::min(batch_size, instances.size() - start);
    std::vector<model::ModelInput> inputs(n);
    for (std::size_t i = 0; i < n; ++i) {
      inputs[i].ids = instances[start + i].ids;
      inputs[i].type_ids = instances[start + i].type_ids;
    }
    model::RunOptions run;
    run.record = model::SiteSet(L);
    run.record.add(Site::attn_probs);
    const auto results = model.forward(inputs, run);
    for (std::size_t i = 0; i < n; ++i) {
      const auto T = static_cast<std::int64_t>(inputs[i].ids.size());
      core::Tensor a({L, H, T, T});
      for (std::int64_t l = 0; l < L; ++l) {
        const auto* p = results[i].trace.find(Site::attn_probs, l);
        if (!p) fail(ErrorKind::internal, "attentions of layer {} were not recorded", l);
        std::memcpy(a.ptr() + l * H * T * T, p->ptr(), static_cast<std::size_t>(H * T * T) * sizeof(float));
      }
      out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace bertscope::analysis::influence
