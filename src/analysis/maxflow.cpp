#include "analysis/maxflow.hpp"

#include <algorithm>
#include <limits>

#include "io/error.hpp"

namespace bertscope::analysis::maxflow {

Network::Network(std::int32_t nodes) : nodes_(nodes) {
  if (nodes < 2) fail(ErrorKind::internal, "max flow: a network needs at least 2 nodes, got {}", nodes);
}

std::int32_t Network::add_edge(std::int32_t from, std::int32_t to, double capacity) {
  if (finalized_) fail(ErrorKind::internal, "max flow: edge added after the first augment");
  if (from < 0 || to >= nodes_ || from >= to)
    fail(ErrorKind::internal, "max flow: edge {} -> {} is not topologically numbered in 0..{}", from, to, nodes_ - 1);
  if (!(capacity >= 0)) fail(ErrorKind::internal, "max flow: edge {} -> {} has capacity {}", from, to, capacity);
  specs_.push_back({from, to, capacity});
  return static_cast<std::int32_t>(specs_.size()) - 1;
}

void Network::finalize() {
  if (finalized_) return;
  std::vector<std::int32_t> degree(static_cast<std::size_t>(nodes_), 0);
  for (const auto& e : specs_) {
    ++degree[static_cast<std::size_t>(e.from)];
    ++degree[static_cast<std::size_t>(e.to)];
  }
  arcs_.assign(static_cast<std::size_t>(nodes_), {});
  for (std::int32_t v = 0; v < nodes_; ++v) arcs_[static_cast<std::size_t>(v)].reserve(static_cast<std::size_t>(degree[static_cast<std::size_t>(v)]));
  where_.resize(specs_.size());
  capacity_.resize(specs_.size());
  for (std::size_t id = 0; id < specs_.size(); ++id) {
    const auto& e = specs_[id];
    auto& out = arcs_[static_cast<std::size_t>(e.from)];
    auto& in = arcs_[static_cast<std::size_t>(e.to)];
    where_[id] = {e.from, static_cast<std::int32_t>(out.size())};
    capacity_[id] = e.capacity;
    out.push_back({e.to, static_cast<std::int32_t>(in.size()), e.capacity, true});
    in.push_back({e.from, static_cast<std::int32_t>(out.size()) - 1, 0.0, false});
  }
  specs_.clear();
  specs_.shrink_to_fit();
  surplus_.assign(static_cast<std::size_t>(nodes_), 0.0);
  level_.resize(static_cast<std::size_t>(nodes_));
  next_arc_.resize(static_cast<std::size_t>(nodes_));
  queue_.reserve(static_cast<std::size_t>(nodes_));
  finalized_ = true;
}

double Network::flow(std::int32_t edge) const {
  if (!finalized_) return 0.0;
  const auto [tail, index] = where_.at(static_cast<std::size_t>(edge));
  const auto& a = arcs_[static_cast<std::size_t>(tail)][static_cast<std::size_t>(index)];
  return arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)].residual;
}

double Network::capacity(std::int32_t edge) const {
  return finalized_ ? capacity_.at(static_cast<std::size_t>(edge)) : specs_.at(static_cast<std::size_t>(edge)).capacity;
}

void Network::set_capacity(std::int32_t edge, double capacity) {
  if (!(capacity >= 0)) fail(ErrorKind::internal, "max flow: capacity {} for edge {}", capacity, edge);
  finalize();
  const auto [tail, index] = where_.at(static_cast<std::size_t>(edge));
  auto& a = arcs_[static_cast<std::size_t>(tail)][static_cast<std::size_t>(index)];
  auto& r = arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)];
  capacity_[static_cast<std::size_t>(edge)] = capacity;
  const double f = r.residual;
  if (f > capacity) {
    // The tail keeps inflow it can no longer pass on (surplus, cancelled towards the source)
    // and the head loses inflow it was passing on (deficit, cancelled towards the sink).
    // surplus_ holds both: positive = surplus, negative = deficit.
    surplus_[static_cast<std::size_t>(tail)] += f - capacity;
    surplus_[static_cast<std::size_t>(a.to)] -= f - capacity;
    r.residual = capacity;
    a.residual = 0.0;
  } else {
    a.residual = capacity - f;
  }
}

void Network::repair(std::int32_t source) {
  finalize();
  bool any = false;
  for (auto s : surplus_) any = any || s != 0.0;
  if (!any) return;
  ++stats_.cancellations;
  // Surplus moves to predecessors (smaller numbers): visit nodes from the largest down, so each
  // node is settled once. A node's incoming flow is the residual of its reverse arcs.
  for (std::int32_t v = nodes_ - 1; v >= 0; --v) {
    double& s = surplus_[static_cast<std::size_t>(v)];
    if (s <= 0.0 || v == source) continue;
    for (auto& a : arcs_[static_cast<std::size_t>(v)]) {
      if (s <= 0.0) break;
      if (a.forward || a.residual <= 0.0) continue;
      const double d = std::min(s, a.residual);
      a.residual -= d;
      arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)].residual += d;
      surplus_[static_cast<std::size_t>(a.to)] += d;
      s -= d;
    }
    // Rounding can leave a sliver the inflow no longer covers; it is below kEpsilon.
    s = 0.0;
  }
  // Deficit moves to successors (larger numbers): visit nodes from the smallest up.
  for (std::int32_t v = 0; v < nodes_; ++v) {
    double& s = surplus_[static_cast<std::size_t>(v)];
    if (s >= 0.0) {
      s = 0.0;
      continue;
    }
    for (auto& a : arcs_[static_cast<std::size_t>(v)]) {
      if (s >= 0.0) break;
      if (!a.forward) continue;
      auto& r = arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)];
      if (r.residual <= 0.0) continue;
      const double d = std::min(-s, r.residual);
      r.residual -= d;
      a.residual += d;
      surplus_[static_cast<std::size_t>(a.to)] -= d;
      s += d;
    }
    s = 0.0;
  }
}

void Network::clear_flow() {
  finalize();
  for (auto& out : arcs_)
    for (auto& a : out)
      if (!a.forward) {
        auto& f = arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)];
        f.residual += a.residual;
        a.residual = 0.0;
      }
  std::fill(surplus_.begin(), surplus_.end(), 0.0);
}

double Network::push(std::int32_t v, std::int32_t sink, double limit) {
  if (v == sink) {
    ++stats_.augmentations;
    return limit;
  }
  double sent = 0.0;
  auto& out = arcs_[static_cast<std::size_t>(v)];
  const auto next_level = level_[static_cast<std::size_t>(v)] + 1;
  for (auto& i = next_arc_[static_cast<std::size_t>(v)]; i < static_cast<std::int32_t>(out.size()); ++i) {
    auto& a = out[static_cast<std::size_t>(i)];
    if (a.residual <= kEpsilon || level_[static_cast<std::size_t>(a.to)] != next_level) continue;
    const double d = push(a.to, sink, std::min(limit - sent, a.residual));
    if (d <= 0.0) continue;
    a.residual -= d;
    arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)].residual += d;
    sent += d;
    // Keep the current arc: it may still have room for the next path.
    if (limit - sent <= kEpsilon) return sent;
  }
  // Blocked: nothing more reaches the sink through v in this level graph.
  level_[static_cast<std::size_t>(v)] = -1;
  return sent;
}

double Network::augment(std::int32_t source, std::int32_t sink) {
  finalize();
  if (source < 0 || source >= nodes_ || sink < 0 || sink >= nodes_ || source == sink)
    fail(ErrorKind::internal, "max flow: source {} and sink {} in a network of {} nodes", source, sink, nodes_);
  for (;;) {
    std::fill(level_.begin(), level_.end(), -1);
    queue_.clear();
    level_[static_cast<std::size_t>(source)] = 0;
    queue_.push_back(source);
    for (std::size_t head = 0; head < queue_.size(); ++head) {
      const auto v = queue_[head];
      for (const auto& a : arcs_[static_cast<std::size_t>(v)])
        if (a.residual > kEpsilon && level_[static_cast<std::size_t>(a.to)] < 0) {
          level_[static_cast<std::size_t>(a.to)] = level_[static_cast<std::size_t>(v)] + 1;
          queue_.push_back(a.to);
        }
    }
    if (level_[static_cast<std::size_t>(sink)] < 0) break;
    ++stats_.phases;
    std::fill(next_arc_.begin(), next_arc_.end(), 0);
    const double sent = push(source, sink, std::numeric_limits<double>::infinity());
    if (sent <= kEpsilon) break;
  }
  double value = 0.0;
  for (const auto& a : arcs_[static_cast<std::size_t>(source)]) {
    if (a.forward) value += arcs_[static_cast<std::size_t>(a.to)][static_cast<std::size_t>(a.rev)].residual;
    else value -= a.residual;
  }
  return value;
}

}  // namespace bertscope::analysis::maxflow
