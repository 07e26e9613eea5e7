// Maximum flow with real capacities on an acyclic network (Dinic's algorithm), with warm starts:
// capacities can be changed after a flow has been found, the flow is repaired to stay feasible
// by cancelling surplus back to the source, and augmenting again finds the new maximum without
// starting from zero. Attention flow (flow.hpp) uses this to compute the flows from one output
// node into every input token on one residual graph.
//
// Nodes must be numbered topologically: every edge goes from a smaller to a larger node number
// (layered attention graphs are numbered from the source layer down). That keeps every flow
// acyclic and lets surplus be cancelled in one pass over the nodes.
#pragma once

#include <cstdint>
#include <vector>

namespace bertscope::analysis::maxflow {

// Residual capacities at or below this are treated as zero (capacities are attention weights
// in [0, 1], flows sums of a few thousand of them, so rounding stays far below it).
inline constexpr double kEpsilon = 1e-12;

struct Stats {
  std::int64_t phases = 0;         // Dinic level graphs built
  std::int64_t augmentations = 0;  // augmenting paths found
  std::int64_t cancellations = 0;  // surplus repairs after capacity changes
};

class Network {
 public:
  explicit Network(std::int32_t nodes);

  // Adds an edge of the given capacity (>= 0) from `from` to `to` (from < to); returns its id.
  // Every edge must be added before the first augment().
  std::int32_t add_edge(std::int32_t from, std::int32_t to, double capacity);

  std::int32_t nodes() const { return nodes_; }
  double flow(std::int32_t edge) const;
  double capacity(std::int32_t edge) const;

  // Sets an edge's capacity. When its flow exceeds the new capacity, the surplus is taken off
  // the edge and sent back to `source` along edges that carry flow, so the flow stays feasible
  // (conservation everywhere except at the source and the sink). O(nodes + edges) per call of
  // repair(); set several capacities first, then repair once.
  void set_capacity(std::int32_t edge, double capacity);
  void repair(std::int32_t source);

  // Augments the current feasible flow to a maximum flow from source to sink (Dinic: BFS level
  // graph, blocking flow by depth-first search with current-arc pointers); returns the flow
  // value (net flow out of the source). O(nodes^2 * edges) in the worst case from zero flow.
  double augment(std::int32_t source, std::int32_t sink);

  void clear_flow();
  const Stats& stats() const { return stats_; }

 private:
  struct Arc {
    std::int32_t to;
    std::int32_t rev;   // index of the paired arc in arcs_[to]
    double residual;    // capacity left on this arc
    bool forward;       // an edge as added (false: its reverse arc)
  };
  void finalize();
  double push(std::int32_t v, std::int32_t sink, double limit);

  std::int32_t nodes_;
  bool finalized_ = false;
  // Edges as added, then arcs grouped by tail node (adjacency arrays).
  struct EdgeSpec {
    std::int32_t from, to;
    double capacity;
  };
  std::vector<EdgeSpec> specs_;
  std::vector<std::vector<Arc>> arcs_;
  std::vector<std::pair<std::int32_t, std::int32_t>> where_;  // edge id -> (tail node, arc index)
  std::vector<double> capacity_;
  std::vector<double> surplus_;
  std::vector<std::int32_t> level_, next_arc_, queue_;
  Stats stats_;
};

}  // namespace bertscope::analysis::maxflow
