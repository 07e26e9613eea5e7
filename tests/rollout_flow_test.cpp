// Attention rollout and attention flow (`bertscope analyze rollout|flow`): the max-flow solver
// and its warm starts against a plain Edmonds-Karp on random networks, attention flow against
// Edmonds-Karp on the full layered graph of random attention, known answers (identity and
// uniform attention, a two-layer graph solved by hand), rows summing to 1, the cost on a
// 128-token 12-layer input, and both commands end to end (model and traces).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <queue>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/flow.hpp"
#include "analysis/maxflow.hpp"
#include "analysis/rollout.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;

namespace {

// Edmonds-Karp on a dense capacity matrix: the plain reference.
double edmonds_karp(std::vector<std::vector<double>> cap, int s, int t) {
  const int n = static_cast<int>(cap.size());
  double total = 0;
  for (;;) {
    std::vector<int> parent(n, -1);
    parent[s] = s;
    std::queue<int> q;
    q.push(s);
    while (!q.empty() && parent[t] < 0) {
      const int v = q.front();
      q.pop();
      for (int w = 0; w < n; ++w)
        if (parent[w] < 0 && cap[v][w] > 1e-15) {
          parent[w] = v;
          q.push(w);
        }
    }
    if (parent[t] < 0) return total;
    double f = 1e300;
    for (int v = t; v != s; v = parent[v]) f = std::min(f, cap[parent[v]][v]);
    for (int v = t; v != s; v = parent[v]) {
      cap[parent[v]][v] -= f;
      cap[v][parent[v]] += f;
    }
    total += f;
  }
}

// Random row-stochastic attention [layers, heads, T, T] with sharp rows (so flows differ from rollout).
core::Tensor random_attention(std::int64_t L, std::int64_t H, std::int64_t T, std::uint64_t seed, double sharpness = 3.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, sharpness);
  core::Tensor a({L, H, T, T});
  for (std::int64_t r = 0; r < L * H * T; ++r) {
    std::vector<double> e(static_cast<std::size_t>(T));
    double sum = 0;
    for (auto& v : e) sum += v = std::exp(normal(rng));
    for (std::int64_t j = 0; j < T; ++j) a.data[static_cast<std::size_t>(r * T + j)] = static_cast<float>(e[static_cast<std::size_t>(j)] / sum);
  }
  return a;
}

// The whole layered graph of methods.md 4.2 as a dense matrix: nodes (m, p) = m * T + p for
// m = 0..L, an edge (m, p) -> (m-1, k) of capacity Â_{m-1}[p, k].
std::vector<std::vector<double>> layered_graph(const core::Tensor& aug) {
  const auto L = aug.dim(0), T = aug.dim(1);
  const auto n = static_cast<std::size_t>((L + 1) * T);
  std::vector<std::vector<double>> cap(n, std::vector<double>(n, 0.0));
  for (std::int64_t m = 1; m <= L; ++m)
    for (std::int64_t p = 0; p < T; ++p)
      for (std::int64_t k = 0; k < T; ++k)
        cap[static_cast<std::size_t>(m * T + p)][static_cast<std::size_t>((m - 1) * T + k)] =
            aug.data[static_cast<std::size_t>(((m - 1) * T + p) * T + k)];
  return cap;
}

}  // namespace

TEST(RolloutFlowMaxflow, DinicMatchesEdmondsKarpOnRandomNetworksAndAfterCapacityChanges) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int checked = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 3 + static_cast<int>(rng() % 10);
    const double density = 0.2 + 0.7 * unit(rng);
    std::vector<std::vector<double>> cap(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(n), 0.0));
    maxflow::Network net(n);
    std::vector<std::tuple<int, int, int>> edges;
    for (int a = 0; a < n; ++a)
      for (int b = a + 1; b < n; ++b)
        if (unit(rng) < density) {
          const double c = unit(rng) < 0.1 ? 0.0 : unit(rng);
          cap[a][b] += c;
          edges.emplace_back(a, b, net.add_edge(a, b, c));
        }
    const int s = 0, t = n - 1;
    const double want = edmonds_karp(cap, s, t);
    EXPECT_NEAR(net.augment(s, t), want, 1e-12) << "trial " << trial;
    // Change a third of the capacities (up and down), repair, augment again.
    for (int round = 0; round < 3; ++round) {
      for (auto& [a, b, id] : edges)
        if (unit(rng) < 0.33) {
          const double c = unit(rng);
          cap[a][b] += c - net.capacity(id);
          net.set_capacity(id, c);
        }
      net.repair(s);
      // The repaired flow is feasible: within capacity and conserved at inner nodes.
      std::vector<double> balance(static_cast<std::size_t>(n), 0.0);
      for (auto& [a, b, id] : edges) {
        EXPECT_LE(net.flow(id), net.capacity(id) + 1e-12);
        EXPECT_GE(net.flow(id), -1e-12);
        balance[a] -= net.flow(id);
        balance[b] += net.flow(id);
      }
      for (int v = 1; v + 1 < n; ++v) EXPECT_NEAR(balance[v], 0.0, 1e-12) << "trial " << trial << " node " << v;
      EXPECT_NEAR(net.augment(s, t), edmonds_karp(cap, s, t), 1e-12) << "trial " << trial << " round " << round;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 600);
}

TEST(RolloutFlowMaxflow, ANetworkSolvedByHand) {
  // Paths 0-1-3 (0.2), 0-2-3 (0.3) and 0-1-2-3 through the cross edge (0.1): the cut {0, 1}
  // has capacity 0.2 + 0.1 + 0.3 = 0.6. Without the cross edge the answer is 0.5, so both
  // solvers must see it.
  std::vector<std::vector<double>> cap(4, std::vector<double>(4, 0.0));
  cap[0][1] = 0.5;
  cap[0][2] = 0.3;
  cap[1][3] = 0.2;
  cap[2][3] = 0.6;
  cap[1][2] = 0.1;
  EXPECT_NEAR(edmonds_karp(cap, 0, 3), 0.6, 1e-15);
  maxflow::Network net(4);
  net.add_edge(0, 1, 0.5);
  net.add_edge(0, 2, 0.3);
  net.add_edge(1, 3, 0.2);
  net.add_edge(2, 3, 0.6);
  const auto cross = net.add_edge(1, 2, 0.1);
  EXPECT_NEAR(net.augment(0, 3), 0.6, 1e-15);
  net.set_capacity(cross, 0.0);
  net.repair(0);
  EXPECT_NEAR(net.augment(0, 3), 0.5, 1e-15);
  cap[1][2] = 0.0;
  EXPECT_NEAR(edmonds_karp(cap, 0, 3), 0.5, 1e-15);
  EXPECT_THROW(net.add_edge(2, 1, 0.1), bertscope::Error);  // not topologically numbered
}

TEST(RolloutFlowAttention, FlowEqualsPlainMaxFlowOnTheFullLayeredGraph) {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    const std::int64_t L = 1 + static_cast<std::int64_t>(seed % 4), H = 2, T = 3 + static_cast<std::int64_t>(seed % 5);
    const auto aug = rollout::augmented_attention(random_attention(L, H, T, seed), 0.5);
    const auto graph = layered_graph(aug);
    for (std::int64_t layer = 0; layer < L; ++layer)
      for (std::int64_t q = 0; q < T; q += 2) {
        const auto warm = flow::max_flows(aug, layer, q, true);
        const auto cold = flow::max_flows(aug, layer, q, false);
        for (std::int64_t t = 0; t < T; ++t) {
          const double want = edmonds_karp(graph, static_cast<int>((layer + 1) * T + q), static_cast<int>(t));
          EXPECT_NEAR(warm[static_cast<std::size_t>(t)], want, 1e-9) << "seed " << seed << " layer " << layer << " q " << q << " t " << t;
          EXPECT_NEAR(cold[static_cast<std::size_t>(t)], want, 1e-9);
        }
      }
  }
}

TEST(RolloutFlowAttention, TwoLayerFlowSolvedByHand) {
  // T = 2. Top layer row 0: [a, 1-a]; bottom layer [[b, 1-b], [c, 1-c]] (residual 0: the
  // matrices are used as given). Flow (2, 0) -> (0, 0) = min(a, b) + min(1 - a, c).
  const float a = 0.7f, b = 0.4f, c = 0.5f;
  core::Tensor att({2, 1, 2, 2});
  const float bottom[] = {b, 1 - b, c, 1 - c}, top[] = {a, 1 - a, 0.5f, 0.5f};
  std::copy(bottom, bottom + 4, att.ptr());
  std::copy(top, top + 4, att.ptr() + 4);
  const auto aug = rollout::augmented_attention(att, 0.0);
  const auto f = flow::max_flows(aug, 1, 0);
  EXPECT_NEAR(f[0], std::min(a, b) + std::min(1 - a, c), 1e-6);
  EXPECT_NEAR(f[1], std::min(a, 1 - b) + std::min(1 - a, 1 - c), 1e-6);
  // Rollout on the same graph multiplies instead: a b + (1 - a) c.
  const auto r = rollout::rollout(aug);
  EXPECT_NEAR(r.data[(1 * 2 + 0) * 2 + 0], a * b + (1 - a) * c, 1e-6);
  // One layer: the flow to each token is the edge itself.
  const auto f0 = flow::max_flows(aug, 0, 1);
  EXPECT_NEAR(f0[0], c, 1e-7);
  EXPECT_NEAR(f0[1], 1 - c, 1e-7);
}

TEST(RolloutFlowRollout, KnownAnswersAndRowSums) {
  const std::int64_t L = 4, H = 3, T = 6;
  // Uniform attention U (U^2 = U): Â = (U + I) / 2, so R_l = 2^-(l+1) I + (1 - 2^-(l+1)) U.
  core::Tensor uniform({L, H, T, T}, 1.0f / static_cast<float>(T));
  const auto r = rollout::rollout(rollout::augmented_attention(uniform));
  for (std::int64_t l = 0; l < L; ++l) {
    const double w = std::pow(0.5, static_cast<double>(l + 1));
    for (std::int64_t i = 0; i < T; ++i)
      for (std::int64_t j = 0; j < T; ++j)
        EXPECT_NEAR(r.data[static_cast<std::size_t>((l * T + i) * T + j)], (i == j ? w : 0.0) + (1 - w) / static_cast<double>(T), 1e-6);
  }
  // Attention to the token itself keeps every token where it is.
  core::Tensor self({L, H, T, T});
  for (std::int64_t k = 0; k < L * H; ++k)
    for (std::int64_t i = 0; i < T; ++i) self.data[static_cast<std::size_t>((k * T + i) * T + i)] = 1.0f;
  const auto id = rollout::rollout(rollout::augmented_attention(self));
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t j = 0; j < T; ++j) EXPECT_EQ(id.data[static_cast<std::size_t>(((L - 1) * T + i) * T + j)], i == j ? 1.0f : 0.0f);
  // Random attention: Â is 0.5 W + 0.5 I, rows of every R_l sum to 1, and R_l = Â_l R_{l-1}.
  const auto att = random_attention(L, H, T, 5);
  const auto aug = rollout::augmented_attention(att);
  const auto roll = rollout::rollout(aug);
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t i = 0; i < T; ++i) {
      double sum = 0;
      for (std::int64_t j = 0; j < T; ++j) {
        double w = 0;
        for (std::int64_t h = 0; h < H; ++h) w += att.data[static_cast<std::size_t>(((l * H + h) * T + i) * T + j)] / H;
        EXPECT_NEAR(aug.data[static_cast<std::size_t>((l * T + i) * T + j)], 0.5 * w + (i == j ? 0.5 : 0.0), 1e-6);
        sum += roll.data[static_cast<std::size_t>((l * T + i) * T + j)];
        if (l > 0) {
          double want = 0;
          for (std::int64_t k = 0; k < T; ++k)
            want += static_cast<double>(aug.data[static_cast<std::size_t>((l * T + i) * T + k)]) *
                    roll.data[static_cast<std::size_t>(((l - 1) * T + k) * T + j)];
          EXPECT_NEAR(roll.data[static_cast<std::size_t>((l * T + i) * T + j)], want, 1e-6);
        }
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  EXPECT_THROW(rollout::augmented_attention(att, 1.5), bertscope::Error);
}

TEST(RolloutFlowAttention, CostOnA128TokenTwelveLayerInput) {
  const std::int64_t L = 12, H = 12, T = 128;
  const auto aug = rollout::augmented_attention(random_attention(L, H, T, 77, 2.0));
  flow::Stats warm, cold;
  const auto a = flow::max_flows(aug, L - 1, 0, true, &warm);
  const auto b = flow::max_flows(aug, L - 1, 0, false, &cold);
  double sum = 0;
  for (std::int64_t t = 0; t < T; ++t) {
    EXPECT_NEAR(a[static_cast<std::size_t>(t)], b[static_cast<std::size_t>(t)], 1e-9);
    EXPECT_GE(a[static_cast<std::size_t>(t)], 0.0);
    EXPECT_LE(a[static_cast<std::size_t>(t)], 1.0 + 1e-6);
    sum += a[static_cast<std::size_t>(t)];
  }
  EXPECT_GT(sum, 0.0);
  EXPECT_EQ(warm.nodes, (L - 1) * T + 2);
  EXPECT_EQ(warm.edges, T + (L - 2) * T * T + T);
  RecordProperty("warm_seconds", fmt::format("{:.3f}", warm.seconds));
  RecordProperty("cold_seconds", fmt::format("{:.3f}", cold.seconds));
  std::printf("flow, 128 tokens x 12 layers, all tokens of one output node: warm %.3f s (%lld phases), cold %.3f s (%lld phases)\n",
              warm.seconds, static_cast<long long>(warm.phases), cold.seconds, static_cast<long long>(cold.phases));
  EXPECT_LE(warm.phases, cold.phases);  // warm starts never need more level graphs
}

TEST(RolloutFlowCli, RolloutAndFlowEndToEndOnAModelAndOnTraces) {
  TempDir dir("rollout-cli");
  const auto model = make_model(dir, "m", fmt::format("--vocab {} --layers 3 --hidden 32 --heads 4 --intermediate 48 --seed 3 "
                                                       "--init-std 0.2",
                                                       (test::data_dir() / "bert-base-uncased" / "vocab.txt").string()));
  const auto data = (dir / "text.txt").string();
  io::write_file_atomic(data, "the cat sat on the mat .\nthe keys to the cabinet are on the table .\tdogs bark .\n");
  auto run = [&](const std::string& args) {
    const auto r = test::run_command(fmt::format("{} analyze {}", test::cli(), args));
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  };
  run(fmt::format("rollout --model {} --data {} --positions 0,-1 --matrix --out {}", model, data, (dir / "roll.json").string()));
  run(fmt::format("flow --model {} --data {} --positions all --out {}", model, data, (dir / "flow.json").string()));
  const auto roll = io::read_json(dir / "roll.json");
  const auto fl = io::read_json(dir / "flow.json");
  EXPECT_EQ(roll["method"], "rollout");
  const auto& ex = roll["results"]["examples"];
  ASSERT_EQ(ex.size(), 4u);  // 2 inputs x 2 positions
  for (const auto& e : ex) {
    double sum = 0;
    for (double v : e["rollout"]) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(e["rollout"].size(), e["tokens"].size());
  }
  EXPECT_EQ(ex[1]["position"], ex[1]["tokens"].size() - 1);
  ASSERT_EQ(roll["results"]["matrices"].size(), 2u);
  // Flow: one entry per position, rows of flow sum to 1, flow <= 1 each, rollout row alongside.
  const auto& fe = fl["results"]["examples"];
  std::size_t tokens = 0;
  for (const auto& in : fl["results"]["matrices"]) tokens += in["tokens"].size();
  EXPECT_EQ(fe.size(), tokens);
  for (const auto& e : fe) {
    double sum = 0;
    for (double v : e["flow"]) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-9);
    for (double v : e["flow_raw"]) EXPECT_LE(v, 1.0 + 1e-6);
  }
  // The [CLS] row of rollout is the same in both documents.
  for (std::size_t j = 0; j < ex[0]["rollout"].size(); ++j)
    EXPECT_NEAR(ex[0]["rollout"][j].get<double>(), fe[0]["rollout"][j].get<double>(), 1e-5);
  EXPECT_GT(fl["results"]["cost"]["networks"].get<int>(), 0);

  // From traces written by `bertscope run`: the same numbers.
  const auto traces = (dir / "traces").string();
  const auto r = test::run_command(fmt::format("{} run --model {} --input {} --out {}", test::cli(), model, data, traces));
  ASSERT_EQ(r.status, 0) << r.output;
  run(fmt::format("rollout --traces {} --data {} --positions 0,-1 --out {}", traces, data, (dir / "roll_traces.json").string()));
  const auto rt = io::read_json(dir / "roll_traces.json");
  for (std::size_t k = 0; k < ex.size(); ++k)
    for (std::size_t j = 0; j < ex[k]["rollout"].size(); ++j)
      EXPECT_NEAR(rt["results"]["examples"][k]["rollout"][j].get<double>(), ex[k]["rollout"][j].get<double>(), 1e-5);

  // Bad input: a position outside the input names it.
  const auto bad = test::run_command(fmt::format("{} analyze flow --model {} --data {} --positions 40", test::cli(), model, data));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("position 40"), std::string::npos) << bad.output;
}
