// Influence patterns (Lu et al. 2021; `bertscope analyze influence`): completeness of the
// integrated-gradients path and of the node decompositions, Guided Pattern Refinement checked by
// brute force on a 2-layer, 2-head model, the shape of refined patterns, the ablation check
// (node replacement against independent interventions, attention paths on hand-made maps), the
// agreement-data readers (Marvin & Linzen, BLiMP, templates) and the command end to end on
// Marvin & Linzen subj_rel and obj_rel_across_anim excerpts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <span>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/agreement_data.hpp"
#include "analysis/influence.hpp"
#include "analysis/influence_ablation.hpp"
#include "analysis/influence_run.hpp"
#include "core/parallel.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using bertscope::test::TempDir;
namespace inf = bertscope::analysis::influence;
namespace ag = bertscope::analysis::agreement;

namespace {

std::filesystem::path excerpt(const std::string& name) { return test::data_dir() / "influence" / (name + ".excerpt.tsv"); }

struct Models {
  TempDir dir{"influence-models"};
  // 2 layers and 2 heads: small enough to enumerate every stage-2 choice.
  std::string tiny = make_model(dir, "tiny", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 --intermediate 48 "
                                                         "--seed 81 --init-std 0.2 --bias-std 0.1",
                                                         test::uncased_vocab()));
  std::string deeper = make_model(dir, "deeper", fmt::format("--vocab {} --layers 3 --hidden 32 --heads 4 --intermediate 48 "
                                                             "--seed 82 --init-std 0.1 --bias-std 0.1",
                                                             test::uncased_vocab()));
  std::string classifier = make_model(dir, "clf", fmt::format("--vocab {} --layers 2 --hidden 32 --heads 2 --intermediate 48 "
                                                              "--labels 2 --seed 83 --init-std 0.2 --bias-std 0.1",
                                                              test::uncased_vocab()));
};

const Models& models() {
  static Models m;
  return m;
}

// The excerpt's examples as QoI instances, through the same reader and encoder as the command.
std::vector<inf::Instance> instances_of(const model::Model& m, const std::string& name, std::size_t limit) {
  const auto data = ag::read_marvin_linzen(excerpt(name));
  const auto encoded = ag::encode_examples(m.tokenizer(), data.examples, m.max_length());
  std::vector<inf::Instance> out;
  for (const auto& e : encoded) {
    if (out.size() >= limit) break;
    inf::Instance in;
    in.ids = e.encoding.ids;
    in.type_ids = e.encoding.type_ids;
    in.qoi.target = e.mask_position;
    in.qoi.good = e.good_id;
    in.qoi.bad = e.bad_id;
    out.push_back(std::move(in));
  }
  return out;
}

double rel_err(double a, double b, double floor = 1e-6) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), floor}); }

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Completeness.

TEST(InfluenceCompleteness, UnrestrictedInfluenceIsTheAttributionAndSumsToTheQoiDifference) {
  const auto m = model::Model::load(models().deeper);
  const auto instances = instances_of(m, "subj_rel", 3);
  ASSERT_EQ(instances.size(), 3u);
  const auto direct = inf::evaluate_qoi(m, instances);
  int checked = 0;
  for (const auto baseline : {inf::Baseline::mask, inf::Baseline::zero, inf::Baseline::pad}) {
    for (std::size_t i = 0; i < instances.size(); ++i) {
      inf::IntegralOptions o;
      o.steps = 50;
      o.baseline = baseline;
      const inf::PathIntegral integral(m, instances[i], o);
      EXPECT_NEAR(integral.qoi(), direct[i], 1e-4 * std::max(1.0, std::abs(direct[i])));
      const double delta = integral.qoi() - integral.qoi_baseline();
      if (std::abs(delta) < 0.05) continue;  // the QoI barely moves along this path: a weak check
      ++checked;
      double sum = 0;
      for (double a : integral.attributions()) sum += a;
      EXPECT_LT(std::abs(sum - delta), 0.02 * std::abs(delta)) << inf::baseline_name(baseline) << " example " << i;
      if (baseline != inf::Baseline::mask || i > 0) continue;
      for (std::int32_t t = 0; t < integral.tokens(); ++t) {
        const double a = integral.attributions()[static_cast<std::size_t>(t)];
        // Unrestricted influence of the token (reverse mode under the source-only mask) and its
        // decomposition at every layer and block: all of the token's attribution.
        const auto pattern = inf::Pattern::from_source(t, integral.layers(), integral.tokens(), integral.heads());
        EXPECT_LT(rel_err(integral.influence(pattern), a, 1e-3 * std::abs(delta)), 1e-4) << "token " << t;
        const auto d = integral.decompose(pattern);
        for (std::int64_t l = 0; l <= integral.layers(); ++l)
          EXPECT_LT(rel_err(d.hidden_total(l), a, 1e-3 * std::abs(delta)), 1e-4) << "token " << t << " layer " << l;
        for (std::int64_t b = 0; b < integral.layers(); ++b)
          EXPECT_LT(rel_err(d.block_total(b), a, 1e-3 * std::abs(delta)), 1e-4) << "token " << t << " block " << b;
      }
    }
  }
  EXPECT_GE(checked, 6);
  // Lu et al.'s rule (m + 1 equal weights, both ends) is first order: its error shrinks like 1/m.
  inf::IntegralOptions coarse, fine;
  coarse.steps = 50;
  fine.steps = 200;
  auto error = [&](const inf::IntegralOptions& o) {
    const inf::PathIntegral integral(m, instances[0], o);
    double sum = 0;
    for (double a : integral.attributions()) sum += a;
    return std::abs(sum - (integral.qoi() - integral.qoi_baseline()));
  };
  const double e50 = error(coarse), e200 = error(fine);
  EXPECT_LT(e200, e50 / 3) << e50 << " " << e200;
  EXPECT_GT(e200, e50 / 5) << e50 << " " << e200;
}

TEST(InfluenceCompleteness, LayerDecompositionSumsToThePatternInfluence) {
  const auto m = model::Model::load(models().deeper);
  const auto instances = instances_of(m, "obj_rel_across_anim", 2);
  inf::IntegralOptions o;
  o.steps = 10;
  for (const auto& in : instances) {
    const inf::PathIntegral integral(m, in, o);
    const auto L = integral.layers();
    for (std::int32_t source : {1, 4}) {
      const auto tp = inf::refine(integral, source);
      // The stage-1 pattern, a half-refined one and the final one.
      for (std::size_t k : {std::size_t{0}, std::size_t{1}, static_cast<std::size_t>(L)}) {
        const auto pattern = inf::partial_pattern(integral, tp.positions, std::span(tp.choices).first(k));
        const double influence = integral.influence(pattern);
        const auto d = integral.decompose(pattern);
        const double scale = std::max(std::abs(influence), 1e-3 * std::abs(tp.attribution));
        for (std::int64_t l = 1; l <= L; ++l)
          EXPECT_LT(std::abs(d.hidden_total(l) - influence), 1e-4 * scale) << "source " << source << " layer " << l << " k " << k;
        for (std::int64_t b = 0; b < L; ++b)
          EXPECT_LT(std::abs(d.block_total(b) - influence), 1e-4 * scale) << "source " << source << " block " << b << " k " << k;
        if (k == 0) {
          EXPECT_LT(std::abs(tp.stage1_influence - influence), 1e-4 * scale);
        }
        if (k == static_cast<std::size_t>(L)) {
          EXPECT_LT(std::abs(tp.pattern_influence - influence), 1e-4 * scale);
        }
      }
      EXPECT_LT(rel_err(tp.total, tp.attribution, 1e-6), 1e-4);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Guided Pattern Refinement.

TEST(InfluenceRefinement, BruteForceConfirmsEveryGreedyChoiceOnTwoLayersTwoHeads) {
  const auto m = model::Model::load(models().tiny);
  ASSERT_EQ(m.layers(), 2);
  ASSERT_EQ(m.heads(), 2);
  const auto instances = instances_of(m, "subj_rel", 1);
  inf::IntegralOptions o;
  o.steps = 10;
  int compared = 0;
  for (const auto& in : instances) {
    const inf::PathIntegral integral(m, in, o);
    const auto T = integral.tokens(), L = integral.layers(), H = integral.heads();
    for (std::int32_t source = 0; source < T; ++source) {
      if (source == in.qoi.target) continue;
      const auto tp = inf::refine(integral, source);
      const int s = tp.sign;
      const double tol = 1e-5 * std::max(1.0, std::abs(tp.attribution));
      // Stage 1 (layer 1 is the only free layer): every position, by reverse mode alone.
      double best1 = -1e300;
      std::int32_t argbest1 = -1;
      for (std::int32_t p = 0; p < T; ++p) {
        auto pattern = inf::Pattern::from_source(source, L, T, H);
        pattern.keep_position(1, p);
        const double v = s * integral.influence(pattern);
        if (v > best1 + tol) {
          best1 = v;
          argbest1 = p;
        }
      }
      EXPECT_EQ(tp.positions[1], argbest1) << "source " << source;
      EXPECT_NEAR(s * tp.stage1[1], best1, tol);
      // Stage 2: at each block, every possible edge given the earlier blocks' choices.
      for (std::int64_t b = 0; b < L; ++b) {
        std::vector<std::int32_t> earlier(tp.choices.begin(), tp.choices.begin() + b);
        const bool skip_possible = tp.positions[static_cast<std::size_t>(b)] == tp.positions[static_cast<std::size_t>(b + 1)];
        double best = -1e300;
        for (std::int32_t c = skip_possible ? -1 : 0; c < H; ++c) {
          auto choices = earlier;
          choices.push_back(c);
          const double v = integral.influence(inf::partial_pattern(integral, tp.positions, choices));
          if (c == tp.choices[static_cast<std::size_t>(b)]) {
            EXPECT_NEAR(v, tp.stage2[static_cast<std::size_t>(b)], tol);
          }
          best = std::max(best, s * v);
          ++compared;
        }
        EXPECT_NEAR(s * tp.stage2[static_cast<std::size_t>(b)], best, tol) << "source " << source << " block " << b;
      }
    }
  }
  EXPECT_GT(compared, 40);
}

TEST(InfluenceRefinement, OneEdgePerBlockAndPositionsMoveOnlyThroughHeads) {
  for (const auto& dir : {models().tiny, models().deeper}) {
    const auto m = model::Model::load(dir);
    const auto instances = instances_of(m, "obj_rel_across_anim", 2);
    inf::Options o;
    o.integral.steps = 8;
    o.verify = true;
    for (const auto& in : instances) {
      const auto r = inf::analyse(m, in, o);
      const auto L = m.layers(), H = m.heads();
      ASSERT_EQ(r.patterns.size(), in.ids.size() - 1);
      for (std::size_t k = 0; k < r.patterns.size(); ++k) {
        const auto& p = r.patterns[k];
        ASSERT_EQ(p.positions.size(), static_cast<std::size_t>(L + 1));
        ASSERT_EQ(p.choices.size(), static_cast<std::size_t>(L));
        EXPECT_EQ(p.positions.front(), p.source);
        EXPECT_EQ(p.positions.back(), in.qoi.target);
        EXPECT_NE(p.source, in.qoi.target);
        for (std::int64_t b = 0; b < L; ++b) {
          const auto c = p.choices[static_cast<std::size_t>(b)];
          EXPECT_GE(c, -1);
          EXPECT_LT(c, H);
          if (p.positions[static_cast<std::size_t>(b)] != p.positions[static_cast<std::size_t>(b + 1)]) {
            EXPECT_GE(c, 0) << "the position changes at block " << b << " without a head";
          }
        }
        // The final pattern keeps one block output per layer and exactly one edge per block.
        const auto T = static_cast<std::int64_t>(in.ids.size());
        auto pattern = inf::Pattern::from_source(p.source, L, T, H);
        for (std::int64_t l = 1; l <= L; ++l) pattern.keep_position(l, p.positions[static_cast<std::size_t>(l)]);
        for (std::int64_t b = 0; b < L; ++b)
          pattern.keep_edge(b, p.positions[static_cast<std::size_t>(b + 1)], p.choices[static_cast<std::size_t>(b)]);
        for (std::int64_t l = 0; l <= L; ++l) {
          const auto& h = pattern.hidden[static_cast<std::size_t>(l)];
          EXPECT_EQ(std::count(h.begin(), h.end(), 1), 1);
        }
        for (std::int64_t b = 0; b < L; ++b) {
          const auto& c = pattern.context[static_cast<std::size_t>(b)];
          const auto& s = pattern.skip[static_cast<std::size_t>(b)];
          EXPECT_EQ(std::count(c.begin(), c.end(), 1) + std::count(s.begin(), s.end(), 1), 1);
        }
        inf::Pattern empty = inf::empty_node_set(L, T, H);
        inf::add_path(empty, inf::path_of(p));
        EXPECT_EQ(inf::node_count(empty), static_cast<std::size_t>(2 * L + 1));
        // The refined pattern's influence, recomputed by reverse mode alone.
        EXPECT_NEAR(r.verified[k], p.pattern_influence, 1e-4 * std::max(1e-3, std::abs(p.attribution)));
      }
      // Aggregates over the example's patterns.
      std::vector<const inf::TokenPattern*> ps;
      for (const auto& p : r.patterns) ps.push_back(&p);
      const auto share = inf::skip_share(ps, L);
      ASSERT_EQ(share.per_layer.size(), static_cast<std::size_t>(L));
      double mean = 0;
      for (double v : share.per_layer) mean += v / static_cast<double>(L);
      EXPECT_NEAR(share.overall, mean, 1e-12);
      const auto c = inf::consistency(ps);
      EXPECT_EQ(c.instances, ps.size());
      EXPECT_GE(c.modal_share * static_cast<double>(ps.size()), 1.0);
    }
  }
}

// The sweep (one forward-mode pass per stage) against the per-layer reference: the same
// positions, edges and heads, and the same node values within 1e-4 relative, for every source
// token of 50 examples on random models of 2, 4 and 6 layers and 2 on the shipped model. A decision may differ only where its two
// candidates are within that tolerance of each other (recomputed with the reference); the test
// prints how often that happened.
TEST(InfluenceRefinement, SweepGivesThePerLayerPatterns) {
  TempDir dir("influence-sweep");
  const std::vector<std::pair<std::string, std::size_t>> cases = {
      {models().tiny, 20},
      {make_model(dir, "four", fmt::format("--vocab {} --layers 4 --hidden 32 --heads 4 --intermediate 48 --seed 84 "
                                           "--init-std 0.15 --bias-std 0.1", test::uncased_vocab())), 15},
      {make_model(dir, "six", fmt::format("--vocab {} --layers 6 --hidden 32 --heads 4 --intermediate 48 --seed 85 "
                                          "--init-std 0.12 --bias-std 0.1", test::uncased_vocab())), 15},
      // The shipped model (tests/data/../../models), trained: its values are not a random model's (one
      // instance: 6 x 8 heads make each refinement costly).
      {(test::data_dir().parent_path().parent_path() / "models" / "bertscope-mini").string(), 1}};
  std::size_t tokens = 0, differing = 0;
  for (const auto& [folder, count] : cases) {
    const auto m = model::Model::load(folder);
    const auto L = m.layers(), H = m.heads();
    auto instances = instances_of(m, "obj_rel_across_anim", count / 2 + 1);
    for (const auto& in : instances_of(m, "subj_rel", count - instances.size())) instances.push_back(in);
    ASSERT_EQ(instances.size(), count);
    for (const auto& in : instances) {
      const inf::PathIntegral integral(m, in, {.steps = 10});
      ASSERT_EQ(integral.tapes(), 1u);
      const auto T = integral.tokens();
      for (std::int32_t source = 0; source < T; ++source) {
        if (source == in.qoi.target) continue;
        ++tokens;
        const auto ref = inf::refine(integral, source);
        const auto got = inf::refine_sweep(integral, source);
        const double scale = 1e-3 * std::max({std::abs(ref.attribution), std::abs(ref.total), 1e-6});
        auto close = [&](double a, double b) { return std::abs(a - b) <= 1e-4 * std::max({std::abs(a), std::abs(b), scale}); };
        EXPECT_TRUE(close(got.total, ref.total)) << got.total << " vs " << ref.total;
        EXPECT_EQ(got.sign, ref.sign);
        if (got.positions == ref.positions && got.choices == ref.choices) {
          for (std::int64_t l = 0; l <= L; ++l)
            EXPECT_TRUE(close(got.stage1[static_cast<std::size_t>(l)], ref.stage1[static_cast<std::size_t>(l)]))
                << "stage 1, layer " << l << ": " << got.stage1[static_cast<std::size_t>(l)] << " vs " << ref.stage1[static_cast<std::size_t>(l)];
          for (std::int64_t b = 0; b < L; ++b)
            EXPECT_TRUE(close(got.stage2[static_cast<std::size_t>(b)], ref.stage2[static_cast<std::size_t>(b)]))
                << "stage 2, block " << b << ": " << got.stage2[static_cast<std::size_t>(b)] << " vs " << ref.stage2[static_cast<std::size_t>(b)];
          EXPECT_TRUE(close(got.pattern_influence, ref.pattern_influence));
          EXPECT_TRUE(close(got.stage1_influence, ref.stage1_influence));
          continue;
        }
        // A differing decision: its two candidates must be a near-tie under the reference.
        ++differing;
        std::int64_t l = 1;
        while (l < L && got.positions[static_cast<std::size_t>(l)] == ref.positions[static_cast<std::size_t>(l)]) ++l;
        if (l < L) {
          auto S = inf::Pattern::from_source(source, L, T, H);
          for (std::int64_t j = 1; j < l; ++j) S.keep_position(j, ref.positions[static_cast<std::size_t>(j)]);
          const auto D = integral.combine(integral.unrestricted_reverse(), integral.forward_factors(S, false), S);
          const auto& row = D.hidden[static_cast<std::size_t>(l)];
          EXPECT_TRUE(close(row[static_cast<std::size_t>(got.positions[static_cast<std::size_t>(l)])],
                            row[static_cast<std::size_t>(ref.positions[static_cast<std::size_t>(l)])]))
              << "stage 1 layer " << l << " chose differently without a tie";
          continue;
        }
        std::int64_t b = 0;
        while (got.choices[static_cast<std::size_t>(b)] == ref.choices[static_cast<std::size_t>(b)]) ++b;
        const auto S2 = inf::partial_pattern(integral, ref.positions, std::span(ref.choices).first(static_cast<std::size_t>(b)));
        const auto D = integral.combine(integral.reverse_factors(inf::partial_pattern(integral, ref.positions, {}), true),
                                        integral.forward_factors(S2, true), S2);
        const auto q = ref.positions[static_cast<std::size_t>(b + 1)];
        auto value = [&](std::int32_t choice) {
          return choice < 0 ? D.skip[static_cast<std::size_t>(b)][static_cast<std::size_t>(q)]
                            : D.heads[static_cast<std::size_t>(b)][static_cast<std::size_t>(q * H + choice)];
        };
        EXPECT_TRUE(close(value(got.choices[static_cast<std::size_t>(b)]), value(ref.choices[static_cast<std::size_t>(b)])))
            << "stage 2 block " << b << " chose differently without a tie";
      }
    }
  }
  std::cout << "sweep vs per-layer: " << differing << " of " << tokens << " source tokens decided a near-tie differently\n";
  EXPECT_LE(differing * 20, tokens);  // near-ties are rare on random models
}

// Lu et al.'s edge-count aggregate and the consistency-accuracy correlation on hand-made patterns.
TEST(InfluenceAggregates, EdgeCountsAndCorrelation) {
  auto pattern = [](std::vector<std::int32_t> positions, std::vector<std::int32_t> choices, int sign) {
    inf::TokenPattern p;
    p.positions = std::move(positions);
    p.choices = std::move(choices);
    p.sign = sign;
    return p;
  };
  const std::vector<inf::TokenPattern> ps = {pattern({1, 1, 3}, {-1, 2}, 1), pattern({1, 1, 3}, {-1, 0}, -1),
                                            pattern({1, 1, 3}, {-1, 2}, 1), pattern({1, 2, 3}, {1, 1}, 1)};
  std::vector<const inf::TokenPattern*> ptrs;
  for (const auto& p : ps) ptrs.push_back(&p);
  const auto blocks = inf::edge_counts(ptrs, 2);
  ASSERT_EQ(blocks.size(), 2u);
  // Block 0: the skip 1 -> 1 three times (signs +1 -1 +1), the head edge 1 -> 2 once.
  ASSERT_EQ(blocks[0].size(), 2u);
  EXPECT_TRUE(blocks[0][0].skip);
  EXPECT_EQ(blocks[0][0].count, 3u);
  EXPECT_DOUBLE_EQ(blocks[0][0].signed_count, 1.0);
  EXPECT_EQ(blocks[0][1].modal_head, 1);
  // Block 1: 1 -> 3 through heads 2, 0, 2 (modal 2, share 2/3), and 2 -> 3 through head 1.
  ASSERT_EQ(blocks[1].size(), 2u);
  EXPECT_EQ(blocks[1][0].from, 1);
  EXPECT_EQ(blocks[1][0].count, 3u);
  EXPECT_EQ(blocks[1][0].modal_head, 2);
  EXPECT_NEAR(blocks[1][0].modal_head_share, 2.0 / 3.0, 1e-12);

  // r of (1, 2, 3, 4, 5) and (2, 4, 5, 4, 5) = 0.7746; Fisher's 95% interval (-0.35, 0.98).
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {2, 4, 5, 4, 5};
  const auto c = inf::pearson(x, y);
  EXPECT_NEAR(c.r, 0.774597, 1e-6);
  EXPECT_NEAR(c.low, std::tanh(std::atanh(0.774597) - 1.96 / std::sqrt(2.0)), 1e-5);
  EXPECT_NEAR(c.high, std::tanh(std::atanh(0.774597) + 1.96 / std::sqrt(2.0)), 1e-5);
  EXPECT_TRUE(std::isnan(inf::pearson(std::vector<double>{1, 2, 3}, std::vector<double>{1, 1, 1}).r));
  EXPECT_TRUE(std::isnan(inf::pearson(std::vector<double>{1, 2, 3}, std::vector<double>{1, 2, 4}).low));
}

TEST(InfluenceAggregates, ConsistencyAndAccuracyByForm) {
  inf::TokenPattern a, b, c;
  a.positions = {1, 1, 7};
  a.choices = {-1, 0};
  b = a;
  c.positions = {1, 7, 7};
  c.choices = {1, -1};
  const std::vector<const inf::TokenPattern*> ps = {&c, &a, &b};
  const auto k = inf::consistency(ps);
  EXPECT_EQ(k.distinct, 2u);
  EXPECT_DOUBLE_EQ(k.modal_share, 2.0 / 3.0);
  EXPECT_EQ(k.positions, a.positions);
  const auto s = inf::skip_share(ps, 2);
  EXPECT_DOUBLE_EQ(s.per_layer[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.per_layer[1], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.overall, 0.5);
  const std::vector<double> q = {1.0, -0.5, 2.0, 0.25};
  const std::vector<std::string> forms = {"SS", "SS", "SP", ""};
  const auto acc = inf::accuracy_by_form(q, forms);
  EXPECT_EQ(acc.at("").n, 4u);
  EXPECT_DOUBLE_EQ(acc.at("").accuracy, 0.75);
  EXPECT_DOUBLE_EQ(acc.at("SS").accuracy, 0.5);
  EXPECT_DOUBLE_EQ(acc.at("SS").mean_qoi, 0.25);
  EXPECT_EQ(acc.at("SP").correct, 1u);
}

// ---------------------------------------------------------------------------------------------
// Ablation.

TEST(InfluenceAblation, ReplacementsAgreeWithIndependentInterventions) {
  const auto m = model::Model::load(models().deeper);
  const auto instances = instances_of(m, "subj_rel", 2);
  const auto L = m.layers(), H = m.heads();
  const auto full = inf::evaluate_qoi(m, instances);
  std::vector<inf::Pattern> all, no_h1, no_head;
  for (const auto& in : instances) {
    const auto T = static_cast<std::int64_t>(in.ids.size());
    auto every = inf::empty_node_set(L, T, H);
    for (auto* group : {&every.hidden, &every.context, &every.skip})
      for (auto& row : *group) std::fill(row.begin(), row.end(), 1);
    all.push_back(every);
    auto a = every;  // h_1 replaced at positions 2 and 3
    a.hidden[1][2] = a.hidden[1][3] = 0;
    no_h1.push_back(a);
    auto b = every;  // head 1 of block 1 replaced at every query
    for (std::int64_t q = 0; q < T; ++q) b.context[1][static_cast<std::size_t>(q * H + 1)] = 0;
    no_head.push_back(b);
  }
  // Keeping every node changes nothing.
  const auto kept_all = inf::ablated_qoi(m, instances, all);
  for (std::size_t i = 0; i < instances.size(); ++i) EXPECT_NEAR(kept_all[i], full[i], 1e-5 * std::max(1.0, std::abs(full[i])));

  const auto q_h1 = inf::ablated_qoi(m, instances, no_h1);
  const auto q_head = inf::ablated_qoi(m, instances, no_head);
  auto qoi_of = [](const inf::Instance& in, const model::ForwardResult& r) {
    const auto V = r.mlm_logits.shape[1];
    const float* row = r.mlm_logits.ptr() + static_cast<std::int64_t>(in.qoi.target) * V;
    return static_cast<double>(row[in.qoi.good]) - row[in.qoi.bad];
  };
  for (std::size_t i = 0; i < instances.size(); ++i) {
    std::vector<model::ModelInput> in(1);
    in[0].ids = instances[i].ids;
    // h_1 rows zeroed, then the layers above run from there (the inference forward's start_layer).
    model::RunOptions rec;
    rec.record = model::SiteSet(L);
    rec.record.add(model::Site::layer_out, 0);
    auto h1 = *m.forward(in, rec)[0].trace.find(model::Site::layer_out, 0);
    const auto hidden = m.config().hidden_size;
    std::fill(h1.ptr() + 2 * hidden, h1.ptr() + 4 * hidden, 0.0f);
    model::RunOptions above;
    above.start_layer = 1;
    above.mlm_logits = true;
    in[0].start_hidden = h1;
    EXPECT_NEAR(q_h1[i], qoi_of(instances[i], m.forward(in, above)[0]), 1e-4 * std::max(1.0, std::abs(q_h1[i])));
    EXPECT_GT(std::abs(q_h1[i] - full[i]), 1e-4) << "replacing h_1 rows should change the QoI";
    // A head's context replaced by zero at every query is the head mask's 0.
    in[0].start_hidden = {};
    model::RunOptions masked;
    masked.mlm_logits = true;
    masked.head_mask = core::Tensor({L, H});
    std::fill(masked.head_mask.data.begin(), masked.head_mask.data.end(), 1.0f);
    masked.head_mask.data[static_cast<std::size_t>(1 * H + 1)] = 0.0f;
    EXPECT_NEAR(q_head[i], qoi_of(instances[i], m.forward(in, masked)[0]), 1e-4 * std::max(1.0, std::abs(q_head[i])));
  }
  // With Replacement::baseline and no node kept, every node takes the baseline input's value, so
  // the QoI is F(baseline).
  inf::AblationOptions ao;
  ao.replacement = inf::Replacement::baseline;
  std::vector<inf::Pattern> none;
  for (const auto& in : instances) none.push_back(inf::empty_node_set(L, static_cast<std::int64_t>(in.ids.size()), H));
  const auto q_none = inf::ablated_qoi(m, instances, none, ao);
  for (std::size_t i = 0; i < instances.size(); ++i) {
    inf::IntegralOptions io;
    io.steps = 1;
    const inf::PathIntegral integral(m, instances[i], io);
    EXPECT_NEAR(q_none[i], integral.qoi_baseline(), 1e-4 * std::max(1.0, std::abs(q_none[i])));
  }
  // With Replacement::mean and no node kept, h_L is the instances' mean per position, so the QoI
  // is the head's reading of that mean (checked by running the head alone on it).
  ao.replacement = inf::Replacement::mean;
  const auto q_mean = inf::ablated_qoi(m, instances, none, ao);
  std::vector<core::Tensor> last;
  for (const auto& inst : instances) {
    std::vector<model::ModelInput> one(1);
    one[0].ids = inst.ids;
    model::RunOptions rec;
    rec.record = model::SiteSet(L);
    rec.record.add(model::Site::layer_out, L - 1);
    last.push_back(*m.forward(one, rec)[0].trace.find(model::Site::layer_out, L - 1));
  }
  const auto hidden = m.config().hidden_size;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const auto T = static_cast<std::int64_t>(instances[i].ids.size());
    core::Tensor mean({T, hidden});
    for (std::int64_t p = 0; p < T; ++p) {
      int count = 0;
      for (const auto& h : last)
        if (h.dim(0) > p) {
          ++count;
          for (std::int64_t j = 0; j < hidden; ++j) mean.ptr()[p * hidden + j] += h.ptr()[p * hidden + j];
        }
      for (std::int64_t j = 0; j < hidden; ++j) mean.ptr()[p * hidden + j] /= static_cast<float>(count);
    }
    std::vector<model::ModelInput> one(1);
    one[0].ids = instances[i].ids;
    one[0].start_hidden = mean;
    model::RunOptions head_only;
    head_only.start_layer = L;
    head_only.mlm_logits = true;
    EXPECT_NEAR(q_mean[i], qoi_of(instances[i], m.forward(one, head_only)[0]), 1e-4 * std::max(1.0, std::abs(q_mean[i])));
  }
  EXPECT_EQ(inf::parse_replacement("mean"), inf::Replacement::mean);

  // A tape recorded with replacements refuses gradient passes.
  model::TapeOptions topt;
  topt.replacements.resize(1);
  topt.replacements[0].push_back({model::FlowSite::skip, 0, core::Tensor({static_cast<std::int64_t>(instances[0].ids.size())}), {}});
  std::vector<model::ModelInput> in(1);
  in[0].ids = instances[0].ids;
  model::ForwardTape tape;
  model::forward_with_tape(m, in, {}, topt, tape);
  std::vector<model::OutputGrad> seeds(1);
  EXPECT_THROW(model::backward(m, tape, seeds, {}), Error);
  // Bad shapes name what was expected.
  topt.replacements[0][0].keep = core::Tensor({3});
  try {
    model::forward_with_tape(m, in, {}, topt, tape);
    ADD_FAILURE() << "a keep mask of the wrong shape was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected"), std::string::npos) << e.what();
  }
}

// Attention maps [L, H, T, T] with every row one-hot on `to[l][h][q]`.
core::Tensor one_hot_attention(const std::vector<std::vector<std::vector<int>>>& to) {
  const auto L = static_cast<std::int64_t>(to.size()), H = static_cast<std::int64_t>(to[0].size()),
             T = static_cast<std::int64_t>(to[0][0].size());
  core::Tensor a({L, H, T, T});
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t q = 0; q < T; ++q)
        a.ptr()[((l * H + h) * T + q) * T + to[static_cast<std::size_t>(l)][static_cast<std::size_t>(h)][static_cast<std::size_t>(q)]] = 1.0f;
  return a;
}

TEST(InfluenceAblation, AttentionPathsOnHandMadeMaps) {
  // 3 blocks, 2 heads, 4 tokens; to[block][head][query] = the key the query reads.
  const auto att = one_hot_attention({{{0, 1, 0, 3}, {0, 1, 2, 0}},
                                      {{0, 1, 2, 3}, {0, 2, 2, 3}},
                                      {{0, 1, 2, 1}, {0, 1, 2, 3}}});
  // Greedy over raw heads, ties to the lower query, then the lower head. From 0: block 0's
  // edges out of key 0 are (q0, h0), (q0, h1), (q2, h0), (q3, h1): (q0, h0) first; block 1 the
  // same; the last block must reach the target 3 from 0, which no head does: head 0.
  auto g = inf::attention_path(inf::AttentionPath::greedy, att, 0, 3);
  EXPECT_EQ(g.positions, (std::vector<std::int32_t>{0, 0, 0, 3}));
  EXPECT_EQ(g.edges, (std::vector<std::int32_t>{0, 0, 0}));
  // From 2: block 0 only (q2, h1) reads key 2; block 1 (q1, h1) comes before (q2, h0); block 2
  // query 3 reads key 1 through head 0.
  g = inf::attention_path(inf::AttentionPath::greedy, att, 2, 3);
  EXPECT_EQ(g.positions, (std::vector<std::int32_t>{2, 2, 1, 3}));
  EXPECT_EQ(g.edges, (std::vector<std::int32_t>{1, 1, 0}));
  // Max-product on Â = 0.5 mean_h A + 0.5 I from 0 to 3: Â_2[3, :] is nonzero at 1 (1/4) and 3
  // (3/4). Through 3: Â_1[3, 3] = 1 and Â_0[3, 0] = 1/4, product 3/16. Through 1: Â_1[1, 2] = 1/4,
  // Â_0[2, 0] = 1/4, product 1/64 (Â_0[1, 0] = 0). The path moves in block 0 through head 1 (query
  // 3 reads key 0) and then stays on the skip connection.
  auto mp = inf::attention_path(inf::AttentionPath::max_product, att, 0, 3);
  EXPECT_EQ(mp.positions, (std::vector<std::int32_t>{0, 3, 3, 3}));
  EXPECT_EQ(mp.edges, (std::vector<std::int32_t>{1, -1, -1}));
  // Rollout: token 0's column of R_0 = Â_0 is (1, 0, 1/4, 1/4) and of R_1 = Â_1 R_0 is
  // (1, 1/16, 1/4, 1/4): the path stays at 0 until the last block, which reads 0 from 3 through
  // no head (head 0, the lowest).
  auto ro = inf::attention_path(inf::AttentionPath::rollout, att, 0, 3);
  EXPECT_EQ(ro.positions, (std::vector<std::int32_t>{0, 0, 0, 3}));
  EXPECT_EQ(ro.edges, (std::vector<std::int32_t>{-1, -1, 0}));
  // Every path is a valid node set of the same budget.
  for (const auto& p : {g, mp, ro}) {
    auto set = inf::empty_node_set(3, 4, 2);
    inf::add_path(set, p);
    EXPECT_EQ(inf::node_count(set), 7u);
  }
  inf::Path bad{{0, 1, 1, 3}, {-1, 0, 0}};
  auto set = inf::empty_node_set(3, 4, 2);
  EXPECT_THROW(inf::add_path(set, bad), Error);  // a skip that moves
}

// Beam search must find the path greedy misses; attention flow takes the only route with
// capacity; query-to-key walks the transposed maps.
TEST(InfluenceAblation, BeamFlowAndDirectionOnHandMadeMaps) {
  // 2 blocks, 1 head, 3 tokens, rows = queries. Block 0: query 0 reads key 0, query 1 reads
  // keys 0/1 at 0.6/0.4, query 2 keys 0/2 at 0.4/0.6; block 1 is the identity.
  core::Tensor att({2, 1, 3, 3});
  const std::vector<float> block0 = {1, 0, 0, 0.6f, 0.4f, 0, 0.4f, 0, 0.6f}, block1 = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  std::copy(block0.begin(), block0.end(), att.ptr());
  std::copy(block1.begin(), block1.end(), att.ptr() + 9);
  // From 0 to 2: greedy stays at 0 (its strongest edge, 1.0), then cannot reach 2 (0.0): total 1.0.
  // Beam keeps 0 -> 2 (0.4), which the identity carries to 2 (1.0): total 1.4.
  const auto g = inf::attention_path(inf::AttentionPath::greedy, att, 0, 2);
  EXPECT_EQ(g.positions, (std::vector<std::int32_t>{0, 0, 2}));
  const auto beam = inf::attention_path(inf::AttentionPath::beam, att, 0, 2);
  EXPECT_EQ(beam.positions, (std::vector<std::int32_t>{0, 2, 2}));
  EXPECT_EQ(beam.edges, (std::vector<std::int32_t>{0, 0}));  // heads, as greedy's
  // Flow on Â = (A + I) / 2: from h_0[0] the edges carry 1 to (1, 0), 0.3 to (1, 1), 0.2 to (1, 2);
  // block 1's Â is the identity, so only (1, 2) reaches h_2[2]: the max flow is 0.2, all through
  // position 2. The path moves through the head in block 0 and stays on the skip in block 1.
  const auto flow = inf::attention_path(inf::AttentionPath::flow, att, 0, 2);
  EXPECT_EQ(flow.positions, (std::vector<std::int32_t>{0, 2, 2}));
  EXPECT_EQ(flow.edges, (std::vector<std::int32_t>{0, -1}));
  // Query-to-key reads A[b][k, q]: the transposed maps, where key 0 is read by nobody but query 0.
  const auto t = inf::oriented_attentions(att, inf::AttentionDirection::query_to_key);
  EXPECT_FLOAT_EQ(t.ptr()[0 * 3 + 1], 0.6f);  // transposed block 0: [0][1] = A[1][0]
  EXPECT_FLOAT_EQ(t.ptr()[1 * 3 + 0], 0.0f);
  EXPECT_EQ(inf::attention_path(inf::AttentionPath::beam, t, 0, 2).positions, (std::vector<std::int32_t>{0, 0, 2}));
  EXPECT_EQ(inf::parse_attention_direction("query-to-key"), inf::AttentionDirection::query_to_key);
  EXPECT_THROW(inf::parse_attention_direction("sideways"), Error);
  for (const auto& p : {beam, flow}) {
    auto set = inf::empty_node_set(2, 3, 1);
    inf::add_path(set, p);
    EXPECT_EQ(inf::node_count(set), 5u);
  }
}

// The layer-based stand-in on hand-made attributions: per layer the k best positions (by the
// sign), paths that stay where they can, skips where they stay, else the strongest head; the
// budget of k refined patterns.
TEST(InfluenceAblation, LayerAttributionPathsOnHandMadeValues) {
  // 3 blocks, 2 heads, 5 tokens; to[block][head][query] = the key the query reads.
  const auto att = one_hot_attention({{{0, 1, 2, 3, 4}, {1, 1, 3, 3, 4}},
                                      {{0, 1, 2, 3, 4}, {3, 2, 2, 0, 4}},
                                      {{0, 1, 2, 3, 0}, {0, 1, 2, 3, 1}}});
  const std::vector<std::vector<double>> lig = {{0, 0, 0, 0, 0},
                                                {0.1, 0.5, -0.9, 0.7, 0.2},
                                                {0.6, 0.55, 0.0, 0.1, 0.3},
                                                {0, 0, 0, 0, 0}};
  const std::vector<std::int32_t> sources = {3, 1};  // in the order the ablation ranks them
  // Sign +1. Layer 1's best two are 3 and 1: both paths stay (skips). Layer 2's are 0 and 1: the
  // path at 1 stays, the path at 3 moves to 0 through head 1 (query 0 reads key 3 in block 1).
  // Block 2 reaches the target 4: from 0 through head 0, from 1 through head 1.
  auto paths = inf::layer_attribution_paths(lig, 1, sources, 4, att);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0].positions, (std::vector<std::int32_t>{3, 3, 0, 4}));
  EXPECT_EQ(paths[0].edges, (std::vector<std::int32_t>{-1, 1, 0}));
  EXPECT_EQ(paths[1].positions, (std::vector<std::int32_t>{1, 1, 1, 4}));
  EXPECT_EQ(paths[1].edges, (std::vector<std::int32_t>{-1, -1, 1}));
  // Sign -1: the most negative first. Layer 1: 2 (-0.9), then 0 (-0.1); neither path is there, so
  // the first path takes the best. Layer 2: 2 (0.0), then 3 (0.1): the path at 2 stays. No head
  // reads key 2 or 3 at query 4 in block 2: both paths take the lowest head there.
  paths = inf::layer_attribution_paths(lig, -1, sources, 4, att);
  EXPECT_EQ(paths[0].positions, (std::vector<std::int32_t>{3, 2, 2, 4}));
  EXPECT_EQ(paths[0].edges, (std::vector<std::int32_t>{1, -1, 0}));
  EXPECT_EQ(paths[1].positions, (std::vector<std::int32_t>{1, 0, 3, 4}));
  EXPECT_EQ(paths[1].edges, (std::vector<std::int32_t>{1, 1, 0}));
  // One source: the argmax per layer (layer 2 ties 0.6 at 0 with nothing; 0 wins).
  paths = inf::layer_attribution_paths(lig, 1, std::vector<std::int32_t>{2}, 4, att);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].positions, (std::vector<std::int32_t>{2, 3, 0, 4}));
  // The budget: k sources at layer 0, k positions at each inner layer, the target, and one edge
  // per path and block (the last block's may coincide) -- at most the 2kL + 1 nodes of k patterns.
  for (int sign : {1, -1}) {
    auto set = inf::empty_node_set(3, 5, 2);
    for (const auto& p : inf::layer_attribution_paths(lig, sign, sources, 4, att)) inf::add_path(set, p);
    for (std::size_t l = 0; l < set.hidden.size(); ++l)
      EXPECT_EQ(std::count(set.hidden[l].begin(), set.hidden[l].end(), 1), l == 3 ? 1 : 2) << "layer " << l;
    // 7 block outputs and 6 edges; with sign -1 both paths enter the target through head 0.
    EXPECT_EQ(inf::node_count(set), sign > 0 ? 13u : 12u) << "sign " << sign;
  }
  EXPECT_THROW(inf::layer_attribution_paths(std::span(lig).first(3), 1, sources, 4, att), Error);
  EXPECT_THROW(inf::layer_attribution_paths(lig, 1, std::vector<std::int32_t>{7}, 4, att), Error);
}

// The layer attributions against an independent computation: per alpha point the model run from
// h_l with row p moved by +-t (h_l(x) - h_l(b))[p] (central differences of the QoI along that
// direction), averaged over the grid. The stand-in's positions then follow these values.
TEST(InfluenceAblation, LayerIntegratedGradientsMatchFiniteDifferences) {
  for (const auto& dir : {models().tiny, models().deeper}) {
    const auto m = model::Model::load(dir);
    const auto L = m.layers(), hidden = m.config().hidden_size;
    const auto instances = instances_of(m, "subj_rel", 2);
    inf::IntegralOptions o;
    o.steps = 4;
    int near_ties = 0, ranked = 0;
    for (const auto& in : instances) {
      const inf::PathIntegral integral(m, in, o);
      const auto T = integral.tokens();
      const auto& lig = integral.layer_attributions();
      ASSERT_EQ(lig.size(), static_cast<std::size_t>(L + 1));
      // h_l at every alpha point, from plain forward passes at the interpolated word embeddings.
      const auto base = inf::baseline_word_embeddings(m, in.ids, o.baseline);
      std::vector<model::ModelInput> points(static_cast<std::size_t>(o.steps + 1));
      for (std::int64_t k = 0; k <= o.steps; ++k) {
        auto& p = points[static_cast<std::size_t>(k)];
        p.ids = in.ids;
        p.word_embeddings = core::Tensor({T, hidden});
        const float a = static_cast<float>(k) / static_cast<float>(o.steps);
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t j = 0; j < hidden; ++j) {
            const float x = m.params().word_emb.data[static_cast<std::int64_t>(in.ids[static_cast<std::size_t>(t)]) * hidden + j];
            const float b = base.ptr()[t * hidden + j];
            p.word_embeddings.ptr()[t * hidden + j] = b + a * (x - b);
          }
      }
      model::RunOptions rec;
      rec.record = model::SiteSet(L);
      rec.record.add(model::Site::embed_out);
      rec.record.add(model::Site::layer_out);
      const auto runs = m.forward(points, rec);
      auto h = [&](std::size_t k, std::int64_t l) {
        return *(l == 0 ? runs[k].trace.find(model::Site::embed_out, 0) : runs[k].trace.find(model::Site::layer_out, l - 1));
      };
      const double t = 1e-2;
      for (std::int64_t l = 0; l <= L; ++l) {
        const auto delta = [&] {
          auto d = h(runs.size() - 1, l);
          const auto hb = h(0, l);
          for (std::size_t j = 0; j < d.data.size(); ++j) d.data[j] -= hb.data[j];
          return d;
        }();
        std::vector<model::ModelInput> moved;
        for (std::int64_t p = 0; p < T; ++p)
          for (std::size_t k = 0; k < runs.size(); ++k)
            for (double sgn : {1.0, -1.0}) {
              model::ModelInput mi;
              mi.ids = in.ids;
              mi.start_hidden = h(k, l);
              for (std::int64_t j = 0; j < hidden; ++j)
                mi.start_hidden.ptr()[p * hidden + j] += static_cast<float>(sgn * t) * delta.ptr()[p * hidden + j];
              moved.push_back(std::move(mi));
            }
        model::RunOptions above;
        above.start_layer = l;
        above.mlm_logits = true;
        const auto out = m.forward(moved, above);
        std::vector<double> fd(static_cast<std::size_t>(T), 0.0);
        double scale = 0;
        std::size_t r = 0;
        for (std::int64_t p = 0; p < T; ++p) {
          for (std::size_t k = 0; k < runs.size(); ++k, r += 2) {
            auto qoi = [&](const model::ForwardResult& f) {
              const auto V = f.mlm_logits.shape[1];
              const float* row = f.mlm_logits.ptr() + static_cast<std::int64_t>(in.qoi.target) * V;
              return static_cast<double>(row[in.qoi.good]) - row[in.qoi.bad];
            };
            fd[static_cast<std::size_t>(p)] += (qoi(out[r]) - qoi(out[r + 1])) / (2 * t) / static_cast<double>(runs.size());
          }
          scale = std::max(scale, std::abs(fd[static_cast<std::size_t>(p)]));
        }
        const double tol = 2e-3 * std::max(scale, 1e-3);
        for (std::int64_t p = 0; p < T; ++p)
          EXPECT_NEAR(lig[static_cast<std::size_t>(l)][static_cast<std::size_t>(p)], fd[static_cast<std::size_t>(p)], tol)
              << "layer " << l << " position " << p;
        // The stand-in's single path takes the finite differences' best position at inner layers.
        if (l == 0 || l == L) continue;
        double delta_f = 0;
        for (double a : integral.attributions()) delta_f += a;
        const int sign = delta_f < 0 ? -1 : 1;
        std::vector<std::int32_t> order(static_cast<std::size_t>(T));
        for (std::int32_t p = 0; p < T; ++p) order[static_cast<std::size_t>(p)] = p;
        std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return sign * fd[a] > sign * fd[b]; });
        if (sign * (fd[order[0]] - fd[order[1]]) < 2 * tol) {
          ++near_ties;
          continue;
        }
        const auto att = inf::attentions_of(m, std::span(&in, 1));
        const auto path = inf::layer_attribution_paths(lig, sign, std::vector<std::int32_t>{1}, in.qoi.target, att[0]);
        EXPECT_EQ(path[0].positions[static_cast<std::size_t>(l)], order[0]) << "layer " << l;
        ++ranked;
      }
    }
    EXPECT_GT(ranked, near_ties) << dir;
  }
}

// ---------------------------------------------------------------------------------------------
// The random-pattern optimality test.

TEST(InfluenceOptimality, RandomPathsAreValidReproducibleAndCoverTheChoices) {
  const std::int32_t source = 2, target = 6;
  const std::int64_t L = 4, T = 7, H = 3;
  const auto paths = inf::random_paths(source, target, L, T, H, 2000, 7);
  ASSERT_EQ(paths.size(), 2000u);
  std::vector<std::vector<int>> seen(static_cast<std::size_t>(L), std::vector<int>(static_cast<std::size_t>(T), 0));
  std::size_t stays = 0, skips = 0;
  std::vector<int> heads(static_cast<std::size_t>(H), 0);
  for (const auto& p : paths) {
    ASSERT_EQ(p.positions.size(), static_cast<std::size_t>(L + 1));
    ASSERT_EQ(p.edges.size(), static_cast<std::size_t>(L));
    EXPECT_EQ(p.positions.front(), source);
    EXPECT_EQ(p.positions.back(), target);
    for (std::int64_t l = 1; l < L; ++l) ++seen[static_cast<std::size_t>(l)][static_cast<std::size_t>(p.positions[static_cast<std::size_t>(l)])];
    for (std::int64_t b = 0; b < L; ++b) {
      const auto e = p.edges[static_cast<std::size_t>(b)];
      ASSERT_GE(e, -1);
      ASSERT_LT(e, H);
      const bool stay = p.positions[static_cast<std::size_t>(b)] == p.positions[static_cast<std::size_t>(b + 1)];
      if (!stay) {
        EXPECT_GE(e, 0) << "a position change without a head";
      }
      stays += stay;
      skips += e < 0;
      if (e >= 0) ++heads[static_cast<std::size_t>(e)];
    }
    auto set = inf::empty_node_set(L, T, H);
    inf::add_path(set, p);  // a valid path: throws otherwise
  }
  // Uniform positions (about 2000/7 = 286 each) and, where the position stays, the skip about one
  // time in H + 1.
  for (std::int64_t l = 1; l < L; ++l)
    for (std::int64_t q = 0; q < T; ++q) EXPECT_NEAR(seen[static_cast<std::size_t>(l)][static_cast<std::size_t>(q)], 2000.0 / T, 60.0);
  EXPECT_NEAR(static_cast<double>(skips) / static_cast<double>(stays), 1.0 / (H + 1), 0.05);
  for (int n : heads) EXPECT_GT(n, 1000);
  // The same seed gives the same paths, another seed others.
  const auto again = inf::random_paths(source, target, L, T, H, 2000, 7);
  const auto other = inf::random_paths(source, target, L, T, H, 2000, 8);
  std::size_t same = 0, differ = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    same += again[i].positions == paths[i].positions && again[i].edges == paths[i].edges;
    differ += other[i].positions != paths[i].positions || other[i].edges != paths[i].edges;
  }
  EXPECT_EQ(same, paths.size());
  EXPECT_GT(differ, paths.size() * 9 / 10);
  EXPECT_EQ(inf::mix_seed(1, 2), inf::mix_seed(1, 2));
  EXPECT_NE(inf::mix_seed(1, 2), inf::mix_seed(1, 3));
  EXPECT_NE(inf::mix_seed(1, 2), inf::mix_seed(2, 2));
  EXPECT_THROW(inf::random_paths(9, target, L, T, H, 1, 1), Error);
}

TEST(InfluenceOptimality, SummaryOnHandMadeInfluences) {
  // Sign -1, the pattern's influence -0.5: s * I = 0.5 against s * random = (-0.3, 0.7, 0.5, -0.1,
  // 0.2): 4 of 5 do not exceed it (the 0.5 ties); by |I| the same four.
  inf::Optimality o;
  o.influence = -0.5;
  o.random = {0.3, -0.7, -0.5, 0.1, -0.2};
  inf::summarise_optimality(o, -1);
  EXPECT_EQ(o.samples, 5u);
  EXPECT_DOUBLE_EQ(o.percentile, 0.8);
  EXPECT_DOUBLE_EQ(o.percentile_abs, 0.8);
  EXPECT_FALSE(o.beats_all);
  EXPECT_DOUBLE_EQ(o.random_best, -0.7);
  EXPECT_DOUBLE_EQ(o.random_max_abs, 0.7);
  EXPECT_NEAR(o.random_mean, -0.2, 1e-15);
  // Sign +1: a large opposite influence exceeds it by |I| only.
  o.influence = 0.4;
  o.random = {-0.9, 0.3};
  inf::summarise_optimality(o, 1);
  EXPECT_DOUBLE_EQ(o.percentile, 1.0);
  EXPECT_TRUE(o.beats_all);
  EXPECT_DOUBLE_EQ(o.percentile_abs, 0.5);
  EXPECT_FALSE(o.beats_all_abs);
  EXPECT_DOUBLE_EQ(o.random_best, 0.3);
}

// On the 2-layer, 2-head model: the refined pattern's value is the one GPR recorded, and each
// random pattern's influence and the percentile agree with an independent recomputation (the
// node decomposition's value at h_L's target: forward-mode times reverse-mode factors, where the
// test's own values come from reverse mode alone).
TEST(InfluenceOptimality, PercentilesAgainstIndependentlyRecomputedInfluences) {
  const auto m = model::Model::load(models().tiny);
  const auto instances = instances_of(m, "obj_rel_across_anim", 1);
  inf::Options o;
  o.integral.steps = 6;
  o.optimality_samples = 40;
  o.optimality_seed = 12345;
  const auto r = inf::analyse(m, instances[0], o);
  ASSERT_EQ(r.optimality.size(), r.patterns.size());
  const inf::PathIntegral integral(m, instances[0], o.integral);
  const auto L = integral.layers(), T = integral.tokens(), H = integral.heads();
  const auto target = instances[0].qoi.target;
  int near_ties = 0, duplicates = 0, beats = 0;
  for (std::size_t k = 0; k < r.patterns.size(); ++k) {
    const auto& p = r.patterns[k];
    const auto& opt = r.optimality[k];
    const double tol = 1e-4 * std::max(1e-3, std::abs(p.attribution));
    EXPECT_NEAR(opt.influence, p.pattern_influence, tol) << "source " << p.source;
    ASSERT_EQ(opt.random.size(), 40u);
    const auto paths = inf::random_paths(p.source, target, L, T, H, 40, inf::mix_seed(o.optimality_seed, static_cast<std::uint64_t>(p.source)));
    std::size_t below = 0;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const auto pattern = inf::partial_pattern(integral, paths[i].positions, paths[i].edges);
      const double v = integral.decompose(pattern).hidden[static_cast<std::size_t>(L)][static_cast<std::size_t>(target)];
      EXPECT_NEAR(opt.random[i], v, tol) << "source " << p.source << " random pattern " << i;
      if (paths[i].positions == p.positions && paths[i].edges == p.choices) {
        ++duplicates;  // the refined pattern itself: a tie, not exceeding
        ++below;
        continue;
      }
      if (std::abs(v - opt.influence) < tol) {
        ++near_ties;
        below += p.sign * opt.random[i] <= p.sign * opt.influence;  // too close to recompute the order
        continue;
      }
      below += p.sign * v <= p.sign * opt.influence;
    }
    EXPECT_DOUBLE_EQ(opt.percentile, static_cast<double>(below) / 40.0) << "source " << p.source;
    EXPECT_EQ(opt.beats_all, below == 40u);
    beats += opt.beats_all;
  }
  EXPECT_LE(near_ties, 2);
  std::cout << "optimality: " << beats << " of " << r.patterns.size() << " patterns beat all 40 random ones; " << duplicates
            << " draws were the refined pattern itself, " << near_ties << " near-ties\n";
  // The same seed repeats every draw; another seed does not.
  const auto again = inf::analyse(m, instances[0], o);
  auto other_options = o;
  other_options.optimality_seed = 54321;
  const auto other = inf::analyse(m, instances[0], other_options);
  std::size_t differ = 0;
  for (std::size_t k = 0; k < r.optimality.size(); ++k) {
    EXPECT_EQ(again.optimality[k].random, r.optimality[k].random);
    differ += other.optimality[k].random != r.optimality[k].random;
  }
  EXPECT_GT(differ, r.optimality.size() / 2);
}

// ---------------------------------------------------------------------------------------------
// Agreement data.

TEST(AgreementData, MarvinLinzenPairsMasksFormsAndRoles) {
  const auto subj = ag::read_marvin_linzen(excerpt("subj_rel"));
  EXPECT_EQ(subj.task, "subj_rel.excerpt");
  EXPECT_EQ(subj.report.rows, 48u);
  EXPECT_EQ(subj.report.pairs, 48u);
  EXPECT_EQ(subj.report.excluded, 12u);  // "swims" (2 per condition) and "taxi driver" (1)
  EXPECT_EQ(subj.report.kept, 36u);
  EXPECT_EQ(subj.report.with_roles, 36u);
  const auto& e = subj.examples[2];  // line 12: "the author that likes the chef is tall"
  EXPECT_EQ(e.text(), "the author that likes the chef [MASK] tall .");
  EXPECT_EQ(e.good, "is");
  EXPECT_EQ(e.bad, "are");
  EXPECT_EQ(e.mask_word, 6u);
  EXPECT_EQ(e.form, "SS");
  EXPECT_EQ(e.subject_word, 1);
  EXPECT_EQ(e.attractor_word, 5);
  EXPECT_EQ(e.line, 5u);
  std::map<std::string, int> forms;
  for (const auto& x : subj.examples) ++forms[x.form];
  EXPECT_EQ(forms, (std::map<std::string, int>{{"PP", 9}, {"PS", 9}, {"SP", 9}, {"SS", 9}}));

  const auto obj = ag::read_marvin_linzen(excerpt("obj_rel_across_anim"));
  EXPECT_EQ(obj.report.excluded, 12u);  // "swim" (2 per condition) and "admires" (1)
  const auto& o = obj.examples[0];  // "the authors that the chef likes laugh"
  EXPECT_EQ(o.text(), "the authors that the chef likes [MASK] .");
  EXPECT_EQ(o.good, "laugh");
  EXPECT_EQ(o.form, "PS");
  EXPECT_EQ(o.subject_word, 1);
  EXPECT_EQ(o.attractor_word, 4);

  // Encoding keeps every example (single-piece candidates); the most common length is 11.
  const auto m = model::Model::load(models().tiny);
  ag::EncodeReport er;
  const auto enc = ag::encode_examples(m.tokenizer(), subj.examples, m.max_length(), &er);
  EXPECT_EQ(er.kept, 36u);
  EXPECT_EQ(enc[2].mask_position, 7);
  EXPECT_EQ(enc[2].subject_position, 2);
  EXPECT_EQ(enc[2].attractor_position, 6);
  ag::SelectOptions so;
  so.length = 0;
  so.single_pieces = true;
  so.per_form = 2;
  ag::SelectReport sr;
  const auto sel = ag::select_examples(enc, subj.examples, so, &sr);
  EXPECT_EQ(sr.length, 11);
  EXPECT_EQ(sel.size(), 8u);
  for (const auto& x : sel) EXPECT_EQ(x.encoding.size(), 11u);

  // Options: no exclusions, no period, "who".
  ag::ReadOptions ro;
  ro.exclude = std::vector<std::string>{};
  ro.append_period = false;
  ro.who = true;
  const auto plain = ag::read_marvin_linzen(excerpt("subj_rel"), ro);
  EXPECT_EQ(plain.report.kept, 48u);
  EXPECT_EQ(plain.examples[0].text(), "the author who likes the chef [MASK]");
}

TEST(AgreementData, MalformedMarvinLinzenFilesGiveOneErrorNamingFileAndLine) {
  TempDir dir("agreement-bad");
  const auto path = dir / "broken.tsv";
  write_file(path, "condition\tgrammatical\tungrammatical\n"
                   "sing_MS_MV\tthe author laughs\tthe author laugh\n"
                   "sing_MS_MV\tthe author smiles\n"
                   "sing_MS_MV\tthe pilot laughs\tthe pilot laugh\n");
  try {
    ag::read_marvin_linzen(path);
    FAIL() << "a row with two columns was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string() + ":3"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
  const auto no_bad = dir / "nobad.tsv";
  write_file(no_bad, "condition\tgrammatical\nsing_MS_MV\tthe author laughs\n");
  EXPECT_THROW(ag::read_marvin_linzen(no_bad), Error);
  const auto empty = dir / "empty.tsv";
  write_file(empty, "condition\tgrammatical\tungrammatical\nsing_MS_MV\t\tthe author laugh\n");
  try {
    ag::read_marvin_linzen(empty);
    FAIL() << "an empty grammatical sentence was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(empty.string() + ":2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ag::read_agreement(dir / "data.csv"), Error);  // unknown extension
}

TEST(AgreementData, BlimpPairsAndErrors) {
  TempDir dir("agreement-blimp");
  const auto path = dir / "anaphor_number.jsonl";
  write_file(path,
             R"({"sentence_good": "Mara hid herself.", "sentence_bad": "Mara hid themselves.", "UID": "anaphor_number_agreement"})"
             "\n"
             R"({"sentence_good": "The cats saw themselves.", "sentence_bad": "The cat saw themselves.", "UID": "x"})"
             "\n\n"
             R"({"sentence_good": "These dogs bark.", "sentence_bad": "This dog barks.", "UID": "x"})"
             "\n");
  const auto d = ag::read_blimp(path);
  EXPECT_EQ(d.report.rows, 3u);
  EXPECT_EQ(d.report.kept, 2u);
  EXPECT_EQ(d.report.not_one_word, 1u);
  EXPECT_EQ(d.examples[0].text(), "Mara hid [MASK] .");
  EXPECT_EQ(d.examples[0].good, "herself");
  EXPECT_EQ(d.examples[0].bad, "themselves");
  EXPECT_EQ(d.examples[0].condition, "anaphor_number_agreement");
  EXPECT_EQ(d.examples[0].form, "");
  EXPECT_EQ(d.examples[1].good, "cats");
  EXPECT_EQ(d.examples[1].line, 2u);
  // BLiMP has no sentence forms: the per-form quota does not apply.
  ag::SelectOptions so;
  so.per_form = 1;
  const std::vector<std::string> forms(3);
  const std::vector<std::size_t> lengths = {5, 5, 6};
  const std::vector<std::uint8_t> single(3, 1);
  EXPECT_EQ(ag::select_indices(forms, lengths, single, so).size(), 3u);
  EXPECT_EQ(ag::split_words("\"Hi,\" she said."), (std::vector<std::string>{"\"", "Hi", ",", "\"", "she", "said", "."}));

  const auto bad = dir / "bad.jsonl";
  write_file(bad, R"({"sentence_good": "A b.", "sentence_bad": "A c."})" "\n{not json\n");
  try {
    ag::read_blimp(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string() + ":2"), std::string::npos) << e.what();
  }
  write_file(bad, R"({"sentence_good": "A b."})" "\n");
  try {
    ag::read_blimp(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sentence_bad"), std::string::npos) << e.what();
  }
}

TEST(AgreementData, TemplatesGenerateEveryCombination) {
  TempDir dir("agreement-template");
  const auto path = dir / "new.json";
  write_file(path, R"({"name": "obj_rel_new",
    "text": "the {subject} that the {attractor} {verb} [MASK] young .",
    "slots": {"subject": [["author", "authors"], ["pilot", "pilots"]],
              "attractor": [["guard", "guards"]],
              "verb": {"agrees_with": "attractor", "words": [["likes", "like"]]}},
    "agrees_with": "subject",
    "target": [["is", "are"]]})");
  const auto d = ag::read_template(path);
  ASSERT_EQ(d.examples.size(), 8u);  // 2 subjects x 1 attractor x 1 verb x 4 number combinations
  std::map<std::string, int> forms;
  for (const auto& e : d.examples) {
    ++forms[e.form];
    EXPECT_EQ(e.subject_word, 1);
    EXPECT_EQ(e.attractor_word, 4);
    EXPECT_EQ(e.good, e.form[0] == 'S' ? "is" : "are");
    EXPECT_EQ(e.words[5], e.form[1] == 'S' ? "likes" : "like");
  }
  EXPECT_EQ(forms, (std::map<std::string, int>{{"PP", 2}, {"PS", 2}, {"SP", 2}, {"SS", 2}}));
  write_file(path, R"({"name": "x", "text": "the {subject} [MASK] .", "slots": {"subject": [["a"]]},
    "agrees_with": "subject", "target": [["is", "are"]]})");
  EXPECT_THROW(ag::read_template(path), Error);
  write_file(path, R"({"name": "x", "text": "the {subject} is .", "slots": {"subject": [["a", "as"]]},
    "agrees_with": "subject", "target": [["is", "are"]]})");
  EXPECT_THROW(ag::read_template(path), Error);  // no [MASK]
}

// ---------------------------------------------------------------------------------------------
// The command.

TEST(InfluenceCli, MarvinLinzenSubjRelAndObjRelEndToEnd) {
  TempDir dir("influence-cli");
  const auto out = dir / "influence.json";
  const auto r = test::run_command(fmt::format(
      "{} analyze influence --model {} --data {} --data {} --out {} --max-examples 4 --per-form 1 --steps 20 "
      "--ablation-tokens 2 --threads 1",
      test::cli(), models().tiny, excerpt("subj_rel").string(), excerpt("obj_rel_across_anim").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("skip share"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("max_product_attention"), std::string::npos) << r.output;
  const auto doc = io::read_json(out);
  EXPECT_EQ(doc["method"], "influence");
  EXPECT_EQ(doc["params"]["steps"], 20);
  EXPECT_EQ(doc["params"]["baseline"], "mask");
  const auto& ex = doc["results"]["examples"];
  ASSERT_EQ(ex.size(), 8u);
  std::map<std::string, int> tasks;
  for (const auto& e : ex) {
    ++tasks[e["task"].get<std::string>()];
    const auto T = e["tokens"].size();
    EXPECT_EQ(e["attributions"].size(), T);
    EXPECT_EQ(e["patterns"].size(), T - 1);  // every token but the target
    EXPECT_EQ(e["tokens"][e["target"].get<std::size_t>()], "[MASK]");
    const double delta = e["qoi"].get<double>() - e["qoi_baseline"].get<double>();
    EXPECT_NEAR(e["attribution_sum"].get<double>(), delta, 0.05 * std::abs(delta) + 1e-6);
    for (const auto& p : e["patterns"]) {
      ASSERT_EQ(p["positions"].size(), 3u);
      ASSERT_EQ(p["edges"].size(), 2u);
      ASSERT_EQ(p["layers"].size(), 2u);
      for (const auto& l : p["layers"]) {
        if (l["edge"] == "skip") {
          EXPECT_EQ(l["from"], l["to"]);
        } else {
          EXPECT_EQ(l["label"], fmt::format("{}-{}", l["block"].get<int>() + 1, l["head"].get<int>() + 1));
        }
      }
      EXPECT_DOUBLE_EQ(p["influence"].get<double>(), p["layers"][1]["influence"].get<double>());
    }
    EXPECT_EQ(e["ablation"].size(), 7u);  // influence, five attention paths and the layer stand-in
    EXPECT_EQ(e["layer_attributions"].size(), 3u);
  }
  EXPECT_EQ(tasks, (std::map<std::string, int>{{"subj_rel.excerpt", 4}, {"obj_rel_across_anim.excerpt", 4}}));
  // Consistency both ways, and across the two tasks its correlation with accuracy (no interval below 4 tasks).
  const auto& cva = doc["results"]["consistency_vs_accuracy"]["subject"];
  EXPECT_EQ(cva["n"], 2);
  EXPECT_EQ(cva["tasks"].size(), 2u);
  EXPECT_TRUE(cva["ci95"][0].is_null());
  for (const auto& task : doc["results"]["tasks"]) {
    const auto& edges = task["consistency"]["subject"]["edges"];
    ASSERT_EQ(edges.size(), 2u);  // per block
    std::size_t count = 0;
    for (const auto& e : edges[0]) count += e["count"].get<std::size_t>();
    EXPECT_EQ(count, 4u);  // every subject pattern uses one edge of block 0
  }
  const auto& t = doc["results"]["tasks"];
  ASSERT_EQ(t.size(), 2u);
  for (const auto& task : t) {
    EXPECT_EQ(task["examples"], 4);
    EXPECT_EQ(task["accuracy"]["all"]["n"], 4);
    for (const char* form : {"SS", "SP", "PS", "PP"}) EXPECT_EQ(task["accuracy"][form]["n"], 1) << form;
    EXPECT_EQ(task["skip_share"]["all"]["per_layer"].size(), 2u);
    EXPECT_EQ(task["skip_share"]["subject"]["patterns"], 4);
    EXPECT_EQ(task["consistency"]["subject"]["instances"], 4);
    for (const char* method : {"influence", "greedy_attention", "beam_attention", "max_product_attention", "attention_flow", "rollout",
                               "layer_integrated_gradients"})
      EXPECT_TRUE(task["ablation"]["methods"].contains(method)) << method;
    EXPECT_GT(task["seconds"]["per_example"].get<double>(), 0.0);
  }

  EXPECT_FALSE(doc["params"].contains("optimality"));  // off unless asked

  // Chosen roles only, the zero baseline, the baseline-value ablation and the optimality test.
  const auto out2 = dir / "roles.json";
  const auto r2 = test::run_command(fmt::format(
      "{} analyze influence --model {} --data {} --out {} --max-examples 2 --steps 10 --sources subject,attractor "
      "--baseline zero --ablation-value baseline --optimality-samples 5 --optimality-seed 3 --threads 1",
      test::cli(), models().tiny, excerpt("subj_rel").string(), out2.string()));
  ASSERT_EQ(r2.status, 0) << r2.output;
  EXPECT_NE(r2.output.find("optimality (5 random patterns"), std::string::npos) << r2.output;
  const auto doc2 = io::read_json(out2);
  EXPECT_EQ(doc2["params"]["optimality"]["samples"], 5);
  EXPECT_EQ(doc2["params"]["optimality"]["seed"], 3);
  for (const auto& e : doc2["results"]["examples"]) {
    ASSERT_EQ(e["patterns"].size(), 2u);
    EXPECT_EQ(e["patterns"][0]["role"], "subject");
    EXPECT_EQ(e["patterns"][1]["role"], "attractor");
    for (const auto& p : e["patterns"]) {
      EXPECT_EQ(p["optimality"]["samples"], 5);
      EXPECT_NEAR(p["optimality"]["influence"].get<double>(), p["influence"].get<double>(),
                  1e-4 * std::max(1e-3, std::abs(p["attribution"].get<double>())));
      const double pct = p["optimality"]["percentile"].get<double>();
      EXPECT_DOUBLE_EQ(pct * 5, std::round(pct * 5));
    }
  }
  const auto& opt = doc2["results"]["tasks"][0]["optimality"];
  EXPECT_EQ(opt["patterns"], 4);
  EXPECT_GE(opt["mean_percentile"].get<double>(), 0.0);
  EXPECT_LE(opt["beats_all"].get<double>(), 1.0);

  // The data set's mean activation as the replacement, from the command line too.
  const auto out3 = dir / "mean.json";
  const auto r3 = test::run_command(fmt::format(
      "{} analyze influence --model {} --data {} --out {} --max-examples 2 --steps 4 --ablation-tokens 1 "
      "--ablation-value mean --threads 1",
      test::cli(), models().tiny, excerpt("subj_rel").string(), out3.string()));
  ASSERT_EQ(r3.status, 0) << r3.output;
  EXPECT_EQ(io::read_json(out3)["results"]["tasks"][0]["ablation"]["replacement"], "mean");
}

TEST(InfluenceCli, ClassifierTaskExplainsTheGoldClassLogitAtCls) {
  TempDir dir("influence-cli-clf");
  const auto out = dir / "clf.json";
  const auto data = test::data_dir() / "kovaleva" / "sst2_dev.head40.tsv";
  const auto r = test::run_command(fmt::format("{} analyze influence --model {} --data {} --out {} --max-examples 3 --steps 20 "
                                               "--threads 1",
                                               test::cli(), models().classifier, data.string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto doc = io::read_json(out);
  EXPECT_EQ(doc["data"]["files"][0]["format"], "task");
  const auto& ex = doc["results"]["examples"];
  ASSERT_EQ(ex.size(), 3u);
  for (const auto& e : ex) {
    EXPECT_EQ(e["target"], 0);
    EXPECT_EQ(e["good"], e["form"]);  // the gold class is the "form" accuracy is grouped by
    EXPECT_NE(e["good"], e["bad"]);
    EXPECT_EQ(e["patterns"].size(), e["tokens"].size() - 1);
    for (const auto& p : e["patterns"]) EXPECT_EQ(p["positions"].back(), 0);
  }
  EXPECT_EQ(doc["results"]["tasks"][0]["accuracy"]["all"]["n"], 3);
}

TEST(InfluenceCli, BadInputsFailWithOneLineAndNoOutput) {
  TempDir dir("influence-cli-bad");
  const auto out = dir / "out.json";
  const auto broken = dir / "broken.tsv";
  write_file(broken, "condition\tgrammatical\tungrammatical\nsing_MS_MV\tthe author laughs\n");
  auto r = test::run_command(fmt::format("{} analyze influence --model {} --data {} --out {}", test::cli(), models().tiny,
                                         broken.string(), out.string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(broken.string() + ":2"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
  r = test::run_command(fmt::format("{} analyze influence --model {} --data {} --out {} --sources verb", test::cli(),
                                    models().tiny, excerpt("subj_rel").string(), out.string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("verb"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
  r = test::run_command(fmt::format("{} analyze influence --model {} --data {} --out {} --sources 7 --max-examples 1",
                                    test::cli(), models().tiny, excerpt("subj_rel").string(), out.string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("target"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// The library's influence run writes the document the command writes, numbers and keys alike
// (timings aside), so the bindings and the server can run it without the CLI.
TEST(InfluenceLibrary, RunTasksWritesTheCommandsDocument) {
  TempDir dir("influence-library");
  const auto out = dir / "cli.json";
  const auto r = test::run_command(fmt::format(
      "{} analyze influence --model {} --data {} --out {} --max-examples 3 --steps 8 --ablation-tokens 2 --threads 1",
      test::cli(), models().tiny, excerpt("subj_rel").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;

  core::set_num_threads(1);
  const auto m = model::Model::load(models().tiny);
  inf::RunOptions o;
  o.steps = 8;
  o.ablation_tokens = 2;
  o.selection.limit = 3;
  const auto tasks = inf::load_tasks(m, {excerpt("subj_rel").string()}, inf::DataOptions{}, o.selection);
  std::size_t advanced = 0;
  const auto run = inf::run_tasks(m, tasks, o, [&] { ++advanced; });
  EXPECT_EQ(advanced, 3u);
  EXPECT_NE(run.table.find("skip share"), std::string::npos) << run.table;

  // Timings differ from run to run; everything else must not.
  std::function<void(nlohmann::json&)> drop_seconds = [&](nlohmann::json& j) {
    if (j.is_object()) {
      j.erase("seconds");
      for (auto& [k, v] : j.items()) drop_seconds(v);
    } else if (j.is_array()) {
      for (auto& v : j) drop_seconds(v);
    }
  };
  auto from_cli = io::read_json(out);
  auto from_library = run.document.to_json();
  drop_seconds(from_cli);
  drop_seconds(from_library);
  EXPECT_EQ(from_library["params"], from_cli["params"]);
  EXPECT_EQ(from_library["data"], from_cli["data"]);
  EXPECT_EQ(from_library["results"], from_cli["results"]);
  EXPECT_EQ(from_library["model"]["layers"], from_cli["model"]["layers"]);

  EXPECT_NE(test::error_message([&] { inf::parse_sources("subject,,2"); }).find("an empty item"), std::string::npos);
  EXPECT_NE(test::error_message([&] { inf::parse_sources("verb"); }).find("unknown role"), std::string::npos);
}

// Found by fuzz/fuzz_agreement: a word that starts with "{" but is not a whole "{slot}" (here
// "{attrc}ator") was taken for the next slot by generate(), reading past the slots (a heap
// overflow under ASan). Such a word is text, as parse_template already treated it.
TEST(AgreementData, FuzzTemplateWordStartingWithABraceIsText) {
  TempDir dir("agreement-template-brace");
  const auto path = dir / "brace.json";
  write_file(path, R"({"name": "refl_brace",
    "text": "some {subject} who can dress our {attrc}ator can clean [MASK] .",
    "slots": {"subject": [["king", "queen"], ["boy", "girl"]]},
    "agrees_with": "subject",
    "target": [["himself", "herself"]]})");
  const auto d = ag::read_template(path);
  ASSERT_EQ(d.examples.size(), 4u);  // 2 subjects x 2 numbers
  for (const auto& e : d.examples) EXPECT_EQ(e.words[6], "{attrc}ator");
}
