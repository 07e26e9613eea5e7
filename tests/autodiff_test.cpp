// Gradients against PyTorch autograd in float64 (tools/reference/make_grad_goldens.py), flow
// restriction identities, and finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/kernels.hpp"
#include "core/kernels_reference.hpp"
#include "io/files.hpp"
#include "io/npz.hpp"
#include "model/autodiff.hpp"
#include "model/generator.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;

namespace {

struct GradGolden {
  nlohmann::json entry;
  std::shared_ptr<TempDir> dir;
  std::shared_ptr<model::Model> model;
  std::map<std::string, io::NpyArray> arrays;
  std::vector<model::ModelInput> inputs;
};

GradGolden& grad_golden(const std::string& name) {
  static std::map<std::string, GradGolden> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  for (const char* file : {"gradients.json", "roberta.json", "distilbert.json", "albert.json", "deberta.json",
                          "electra.json", "modernbert.json"}) {
    const auto summary = io::read_json(test::golden_dir() / file);
    for (const auto& entry : summary["models"]) {
      if (entry["name"] != name) continue;
      GradGolden g;
      g.entry = entry;
      g.dir = std::make_shared<TempDir>("grad");
      std::string cmd = fmt::format("{} make-model --out {}", test::cli(), (g.dir->path() / name).string());
      const auto& args = entry["args"];
      if (std::find(args.begin(), args.end(), "--vocab-size") == args.end())
        cmd += " --vocab " + (test::data_dir() / "tiny-vocab.txt").string();
      for (const auto& a : args) cmd += " '" + a.get<std::string>() + "'";  // "c2p|p2c" must reach make-model whole
      const auto made = test::run_command(cmd);
      EXPECT_EQ(made.status, 0) << made.output;
      EXPECT_EQ(fmt::format("{:016x}", test::fnv1a64_file(g.dir->path() / name / "model.safetensors")),
                entry["fnv1a64"].get<std::string>())
          << "regenerate the goldens with tools/reference/make_grad_goldens.py";
      g.model = std::make_shared<model::Model>(model::Model::load(g.dir->path() / name));
      io::NpzReader npz(test::golden_dir() / (name + ".npz"));
      for (const auto& member : npz.names()) g.arrays.emplace(member, npz.read(member));
      const auto ids = g.arrays.at("input_ids").to_i64(), types = g.arrays.at("token_type_ids").to_i64(),
                 mask = g.arrays.at("attention_mask").to_i64();
      const auto b = g.arrays.at("input_ids").shape[0], t = g.arrays.at("input_ids").shape[1];
      const auto hidden = g.model->config().embedding_dim();  // the word embeddings' width
      const auto& table = g.model->params().word_emb;
      for (std::int64_t i = 0; i < b; ++i) {
        model::ModelInput in;
        for (std::int64_t j = 0; j < t; ++j)
          if (mask[i * t + j]) {
            in.ids.push_back(static_cast<std::int32_t>(ids[i * t + j]));
            in.type_ids.push_back(static_cast<std::int32_t>(types[i * t + j]));
          }
        // As the reference did: the looked-up rows are a leaf of their own.
        const auto n = static_cast<std::int64_t>(in.ids.size());
        in.word_embeddings = core::Tensor({n, hidden});
        for (std::int64_t j = 0; j < n; ++j)
          std::copy_n(table.data + in.ids[j] * hidden, hidden, in.word_embeddings.ptr() + j * hidden);
        g.inputs.push_back(std::move(in));
      }
      return cache.emplace(name, std::move(g)).first->second;
    }
  }
  throw std::runtime_error("no gradient golden " + name);
}

double rel_error(std::span<const float> ours, std::span<const double> ref) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::abs(ours[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return diff / std::max(scale, 1e-30);
}

struct Run {
  std::vector<model::ForwardResult> forward;
  model::BackwardResult grads;
  double loss = 0;
};

// ElectraForPreTraining's loss on one input: mean binary cross-entropy with logits over its
// tokens; its gradient (sigmoid(z) - y) / n seeds the replaced-token logits.
model::LossGrad replaced_token_bce(const core::Tensor& logits, std::span<const std::int64_t> labels) {
  model::LossGrad r;
  const auto n = logits.size();
  r.grad = core::Tensor({n});
  for (std::int64_t i = 0; i < n; ++i) {
    const double z = logits.data[i], y = static_cast<double>(labels[i]);
    r.loss += (std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)))) / static_cast<double>(n);
    r.grad.data[i] = static_cast<float>((1.0 / (1.0 + std::exp(-z)) - y) / static_cast<double>(n));
  }
  return r;
}

// `consume`: the backward pass that frees the tape as it goes (a tape used once).
Run run_golden(GradGolden& g, const std::vector<std::vector<model::FlowMask>>& masks = {}, bool consume = false) {
  const auto& m = *g.model;
  const bool classifier = g.entry["classifier"].get<bool>();
  const bool rtd = g.entry.value("replaced_token_detection", false);
  model::RunOptions run;
  run.head_mask = core::Tensor({m.layers(), m.heads()});
  const auto hm = g.arrays.at("head_mask").to_f32();
  std::copy(hm.begin(), hm.end(), run.head_mask.data.begin());
  model::TapeOptions topt;
  topt.mlm_logits = !classifier;
  topt.classifier_logits = classifier;
  model::ForwardTape tape;
  Run r;
  r.forward = model::forward_with_tape(m, g.inputs, run, topt, tape);
  std::vector<model::OutputGrad> seeds(g.inputs.size());
  const auto labels = g.arrays.at("mlm_labels").to_i64(), classes = g.arrays.at("class_labels").to_i64();
  const auto t_pad = g.arrays.at("mlm_labels").shape[1];
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    if (rtd) {
      const auto y = g.arrays.at("rtd_labels").to_i64();
      auto lg = replaced_token_bce(r.forward[b].classifier_logits,
                                   std::span(y).subspan(b * t_pad, g.inputs[b].ids.size()));
      r.loss += lg.loss;
      seeds[b].classifier_logits = std::move(lg.grad);
    } else if (classifier) {
      auto lg = model::class_cross_entropy(r.forward[b].classifier_logits, static_cast<std::int32_t>(classes[b]));
      r.loss += lg.loss;
      seeds[b].classifier_logits = std::move(lg.grad);
    } else {
      std::vector<std::int32_t> lab;
      for (std::size_t j = 0; j < g.inputs[b].ids.size(); ++j) lab.push_back(static_cast<std::int32_t>(labels[b * t_pad + j]));
      auto lg = model::mlm_cross_entropy(r.forward[b].mlm_logits, lab);
      r.loss += lg.loss;
      seeds[b].mlm_logits = std::move(lg.grad);
    }
  }
  model::GradRequest req;
  req.params = req.head_mask = req.word_embeddings = true;
  req.sites = model::SiteSet::parse("attn.probs", m.layers());
  req.flow_masks = masks;
  r.grads = consume ? model::backward(m, std::move(tape), seeds, req) : model::backward(m, tape, seeds, req);
  return r;
}

}  // namespace

class GradientGolden : public ::testing::TestWithParam<std::string> {};

// Freeing each layer's tape once the reverse pass has gone below it changes nothing: every
// gradient is the one the kept tape gives, bit for bit.
TEST_P(GradientGolden, AConsumedTapeGivesTheSameGradients) {
  auto& g = grad_golden(GetParam());
  const auto kept = run_golden(g), consumed = run_golden(g, {}, true);
  ASSERT_EQ(kept.grads.param_grads.size(), consumed.grads.param_grads.size());
  for (const auto& [name, t] : kept.grads.param_grads) EXPECT_EQ(consumed.grads.param_grads.at(name).data, t.data) << name;
  EXPECT_EQ(consumed.grads.head_mask_grad.data, kept.grads.head_mask_grad.data);
  ASSERT_EQ(consumed.grads.word_embedding_grads.size(), kept.grads.word_embedding_grads.size());
  for (std::size_t b = 0; b < kept.grads.word_embedding_grads.size(); ++b)
    EXPECT_EQ(consumed.grads.word_embedding_grads[b].data, kept.grads.word_embedding_grads[b].data) << b;
  for (std::size_t b = 0; b < kept.grads.site_grads.size(); ++b)
    for (std::int64_t l = 0; l < g.model->layers(); ++l) {
      const auto* a = kept.grads.site_grads[b].find(model::Site::attn_probs, l);
      const auto* c = consumed.grads.site_grads[b].find(model::Site::attn_probs, l);
      ASSERT_TRUE(a && c) << b << " " << l;
      EXPECT_EQ(a->data, c->data) << b << " " << l;
    }
}

TEST_P(GradientGolden, MatchesAutogradWithinRelative1e4) {
  auto& g = grad_golden(GetParam());
  const auto& m = *g.model;
  const auto r = run_golden(g);
  EXPECT_NEAR(r.loss, g.arrays.at("loss").to_f64()[0], 1e-4 * std::abs(r.loss));
  // Every parameter gradient the reference produced. Some are zero in exact arithmetic (the key
  // bias: softmax ignores a per-row constant) and float round-off in both; those are held to
  // 1e-4 of the largest gradient of the model instead.
  double global = 0;
  for (const auto& [key, arr] : g.arrays)
    if (key.starts_with("param."))
      for (double v : arr.to_f64()) global = std::max(global, std::abs(v));
  int compared = 0;
  double worst_param = 0;
  for (const auto& [key, arr] : g.arrays) {
    if (!key.starts_with("param.")) continue;
    const auto name = key.substr(6);
    ASSERT_TRUE(r.grads.param_grads.count(name)) << name;
    const auto ref = arr.to_f64();
    double scale = 0, diff = 0;
    const auto& ours = r.grads.param_grads.at(name).data;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      scale = std::max(scale, std::abs(ref[i]));
      diff = std::max(diff, std::abs(ours[i] - ref[i]));
    }
    EXPECT_LE(diff / std::max(scale, 1e-3 * global), 1e-4) << name;
    worst_param = std::max(worst_param, diff / std::max(scale, 1e-3 * global));
    ++compared;
  }
  EXPECT_GT(compared, 20);
  ::testing::Test::RecordProperty("worst_param_relative_error", fmt::format("{:.3g}", worst_param));
  EXPECT_LE(rel_error(r.grads.head_mask_grad.span(), g.arrays.at("grad.head_mask").to_f64()), 1e-4);
  // Word-embedding and attention-probability gradients, real tokens only.
  const auto& we = g.arrays.at("grad.word_embeddings");
  const auto we_ref = we.to_f64();
  const auto t_pad = we.shape[1], hidden = we.shape[2];
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    const auto t = static_cast<std::int64_t>(g.inputs[b].ids.size());
    std::vector<double> ref(we_ref.begin() + static_cast<std::ptrdiff_t>(b * t_pad * hidden),
                            we_ref.begin() + static_cast<std::ptrdiff_t>((b * t_pad + t) * hidden));
    EXPECT_LE(rel_error(r.grads.word_embedding_grads[b].span(), ref), 1e-4) << "input " << b;
    for (std::int64_t l = 0; l < m.layers(); ++l) {
      const auto& pg = g.arrays.at(fmt::format("grad.layer.{}.attn.probs", l));
      const auto pr = pg.to_f64();
      const auto heads = pg.shape[1];
      std::vector<double> sub;
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t i = 0; i < t; ++i)
          for (std::int64_t j = 0; j < t; ++j) sub.push_back(pr[((b * heads + h) * t_pad + i) * t_pad + j]);
      EXPECT_LE(rel_error(r.grads.site_grads[b].find(model::Site::attn_probs, l)->span(), sub), 1e-4)
          << "input " << b << " layer " << l;
    }
  }
}

TEST_P(GradientGolden, ForwardModeMatchesAutogradJvp) {
  auto& g = grad_golden(GetParam());
  const auto& m = *g.model;
  const bool classifier = g.entry["classifier"].get<bool>();
  model::RunOptions run;
  run.head_mask = core::Tensor({m.layers(), m.heads()});
  const auto hm = g.arrays.at("head_mask").to_f32();
  std::copy(hm.begin(), hm.end(), run.head_mask.data.begin());
  model::TapeOptions topt;
  topt.mlm_logits = !classifier;
  topt.classifier_logits = classifier;
  model::ForwardTape tape;
  (void)model::forward_with_tape(m, g.inputs, run, topt, tape);
  const auto& tan = g.arrays.at("jvp.tangent");
  const auto tv = tan.to_f32();
  const auto t_pad = tan.shape[1], hidden = tan.shape[2];
  std::vector<core::Tensor> tangents;
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    const auto t = static_cast<std::int64_t>(g.inputs[b].ids.size());
    core::Tensor x({t, hidden});
    std::copy_n(tv.begin() + static_cast<std::ptrdiff_t>(b * t_pad * hidden), t * hidden, x.data.begin());
    tangents.push_back(std::move(x));
  }
  const auto res = model::jvp(m, tape, tangents, model::SiteSet(m.layers()));
  const auto& ref_arr = g.arrays.at("jvp.logits");
  const auto ref = ref_arr.to_f64();
  double worst = 0;
  const bool rtd = g.entry.value("replaced_token_detection", false);
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    if (rtd) {  // [B, T_pad] reference, [t] ours
      const auto t = static_cast<std::int64_t>(g.inputs[b].ids.size()), tp = ref_arr.shape[1];
      std::vector<double> sub(ref.begin() + static_cast<std::ptrdiff_t>(b * tp), ref.begin() + static_cast<std::ptrdiff_t>(b * tp + t));
      const double e = rel_error(res.classifier_logits[b].span(), sub);
      EXPECT_LE(e, 1e-4) << "input " << b;
      worst = std::max(worst, e);
    } else if (classifier) {
      const auto k = ref_arr.shape[1];
      std::vector<double> sub(ref.begin() + static_cast<std::ptrdiff_t>(b * k), ref.begin() + static_cast<std::ptrdiff_t>((b + 1) * k));
      const double e = rel_error(res.classifier_logits[b].span(), sub);
      EXPECT_LE(e, 1e-4);
      worst = std::max(worst, e);
    } else {
      const auto t = static_cast<std::int64_t>(g.inputs[b].ids.size()), v = ref_arr.shape[2];
      std::vector<double> sub(ref.begin() + static_cast<std::ptrdiff_t>(b * t_pad * v),
                              ref.begin() + static_cast<std::ptrdiff_t>((b * t_pad + t) * v));
      const double e = rel_error(res.mlm_logits[b].span(), sub);
      EXPECT_LE(e, 1e-4) << "input " << b;
      worst = std::max(worst, e);
    }
  }
  ::testing::Test::RecordProperty("worst_jvp_relative_error", fmt::format("{:.3g}", worst));
}

INSTANTIATE_TEST_SUITE_P(Models, GradientGolden,
                         ::testing::Values("grad_mlm", "grad_classifier", "roberta_mlm", "xlmr_classifier",
                                           "distilbert_mlm", "distilbert_classifier", "albert_mlm",
                                           "albert_classifier", "deberta_v3_mlm", "deberta_v2_classifier",
                                           "electra_generator", "electra_discriminator", "electra_classifier",
                                           "modernbert_mlm", "modernbert_classifier"));

TEST(GradientGoldenCheck, CorruptedValueIsCaught) {
  auto& g = grad_golden("grad_mlm");
  const auto r = run_golden(g);
  auto ref = g.arrays.at("param.bert.encoder.layer.1.attention.self.key.weight").to_f64();
  const auto& ours = r.grads.param_grads.at("bert.encoder.layer.1.attention.self.key.weight");
  EXPECT_LE(rel_error(ours.span(), ref), 1e-4);
  double scale = 0;
  for (double v : ref) scale = std::max(scale, std::abs(v));
  ref[7] += 1e-3 * scale;
  EXPECT_GT(rel_error(ours.span(), ref), 1e-4);
}

// The gradient at h_l splits exactly into its skip and attention branches of block l.
TEST(GradientFlow, ResidualBranchesSumToUnrestricted) {
  auto& g = grad_golden("grad_mlm");
  const auto& m = *g.model;
  const std::int64_t layer = 1;
  std::vector<std::vector<model::FlowMask>> skip_only(g.inputs.size()), attention_only(g.inputs.size()),
      none(g.inputs.size());
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    const auto t = static_cast<std::int64_t>(g.inputs[b].ids.size());
    const model::FlowMask block_skip{model::FlowSite::skip, layer, core::Tensor({t}, 0.0f)};
    const model::FlowMask block_heads{model::FlowSite::context, layer, core::Tensor({t, m.heads()}, 0.0f)};
    attention_only[b] = {block_skip};
    skip_only[b] = {block_heads};
    none[b] = {block_skip, block_heads};
  }
  const auto full = run_golden(g), a = run_golden(g, attention_only), s = run_golden(g, skip_only),
             z = run_golden(g, none);
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    const auto& f = full.grads.word_embedding_grads[b].data;
    double scale = 0, worst = 0, zero = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      scale = std::max(scale, std::abs(double(f[i])));
      worst = std::max(worst, std::abs(double(a.grads.word_embedding_grads[b].data[i]) + s.grads.word_embedding_grads[b].data[i] - f[i]));
      zero = std::max(zero, std::abs(double(z.grads.word_embedding_grads[b].data[i])));
    }
    EXPECT_LE(worst, 1e-5 * scale) << "input " << b;
    EXPECT_EQ(zero, 0.0) << "input " << b;
  }
}

// Blocking every position of h_l stops all gradient below it; parameters above still learn.
TEST(GradientFlow, BlockedHiddenLayerStopsGradient) {
  auto& g = grad_golden("grad_mlm");
  std::vector<std::vector<model::FlowMask>> masks(g.inputs.size());
  for (std::size_t b = 0; b < g.inputs.size(); ++b)
    masks[b] = {{model::FlowSite::hidden, 1, core::Tensor({static_cast<std::int64_t>(g.inputs[b].ids.size())}, 0.0f)}};
  const auto r = run_golden(g, masks);
  for (const auto& w : r.grads.word_embedding_grads)
    for (float v : w.data) ASSERT_EQ(v, 0.0f);
  double above = 0;
  for (float v : r.grads.param_grads.at("bert.encoder.layer.1.output.dense.weight").data) above += std::abs(v);
  EXPECT_GT(above, 0.0);
}

// A JVP along the word embeddings and the word-embedding gradient are adjoint:
// <dL/de, t> = dL/d(alpha) of L(e + alpha t), computed through the logits' tangent.
TEST(GradientFlow, ForwardAndReverseModesAreAdjoint) {
  auto& g = grad_golden("grad_classifier");
  const auto& m = *g.model;
  model::TapeOptions topt;
  topt.classifier_logits = true;
  model::ForwardTape tape;
  const auto fwd = model::forward_with_tape(m, g.inputs, {}, topt, tape);
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  std::vector<core::Tensor> tangents;
  std::vector<model::OutputGrad> seeds(g.inputs.size());
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    core::Tensor t(g.inputs[b].word_embeddings.shape);
    for (auto& v : t.data) v = dist(rng);
    tangents.push_back(std::move(t));
    seeds[b].classifier_logits = core::Tensor({m.config().num_labels});
    for (auto& v : seeds[b].classifier_logits.data) v = dist(rng);
  }
  model::GradRequest req;
  req.word_embeddings = true;
  const auto back = model::backward(m, tape, seeds, req);
  const auto tan = model::jvp(m, tape, tangents, model::SiteSet(m.layers()));
  for (std::size_t b = 0; b < g.inputs.size(); ++b) {
    double lhs = 0, rhs = 0;
    for (std::size_t i = 0; i < tangents[b].data.size(); ++i) lhs += double(back.word_embedding_grads[b].data[i]) * tangents[b].data[i];
    for (std::size_t k = 0; k < seeds[b].classifier_logits.data.size(); ++k)
      rhs += double(seeds[b].classifier_logits.data[k]) * tan.classifier_logits[b].data[k];
    EXPECT_NEAR(lhs, rhs, 1e-4 * (std::abs(rhs) + 1e-3)) << "input " << b;
  }
}

// Finite differences through the whole model for one parameter of every kind, in float64-free
// central differences (step 1e-2 on sharp weights; tolerance 2% relative).
TEST(GradientFlow, FiniteDifferencesPerParameterKind) {
  model::GeneratorOptions o;
  o.layers = 2;
  o.hidden = 16;
  o.heads = 2;
  o.intermediate = 24;
  o.labels = 2;
  o.init_std = 0.3;
  o.bias_std = 0.1;
  o.norm_std = 0.1;
  const auto config = model::generator_config(o, 40);
  auto params = model::random_parameters(config, o);
  std::vector<model::ModelInput> inputs(2);
  inputs[0].ids = {2, 7, 9, 11, 3};
  inputs[1].ids = {2, 8, 3, 12, 13, 3};
  inputs[1].type_ids = {0, 0, 0, 1, 1, 1};
  auto loss_of = [&](const std::map<std::string, core::Tensor>& ps, model::BackwardResult* grads) {
    model::Model m(config, model::Weights::from_tensors(config, ps), std::nullopt);
    model::TapeOptions topt;
    topt.classifier_logits = true;
    model::ForwardTape tape;
    const auto fwd = model::forward_with_tape(m, inputs, {}, topt, tape);
    double loss = 0;
    std::vector<model::OutputGrad> seeds(inputs.size());
    for (std::size_t b = 0; b < inputs.size(); ++b) {
      auto lg = model::class_cross_entropy(fwd[b].classifier_logits, static_cast<std::int32_t>(b));
      loss += lg.loss;
      seeds[b].classifier_logits = lg.grad;
    }
    if (grads) {
      model::GradRequest req;
      req.params = true;
      *grads = model::backward(m, tape, seeds, req);
    }
    return loss;
  };
  model::BackwardResult grads;
  loss_of(params, &grads);
  for (const std::string name : {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                                 "bert.embeddings.LayerNorm.weight", "bert.encoder.layer.0.attention.self.query.weight",
                                 "bert.encoder.layer.0.attention.self.key.bias", "bert.encoder.layer.1.attention.self.value.weight",
                                 "bert.encoder.layer.0.attention.output.dense.weight", "bert.encoder.layer.1.attention.output.LayerNorm.bias",
                                 "bert.encoder.layer.0.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
                                 "bert.pooler.dense.weight", "classifier.weight"}) {
    const auto& g = grads.param_grads.at(name);
    // The coordinate with the largest gradient is the best conditioned one.
    std::size_t k = 0;
    for (std::size_t i = 0; i < g.data.size(); ++i)
      if (std::abs(g.data[i]) > std::abs(g.data[k])) k = i;
    const float step = 1e-2f;
    auto plus = params, minus = params;
    plus.at(name).data[k] += step;
    minus.at(name).data[k] -= step;
    const double fd = (loss_of(plus, nullptr) - loss_of(minus, nullptr)) / (2.0 * step);
    EXPECT_NEAR(g.data[k], fd, 0.02 * std::abs(fd) + 1e-4) << name;
  }
}

TEST(Kernel, ActivationDerivativesMatchFiniteDifferences) {
  for (auto act : {core::Activation::gelu_erf, core::Activation::gelu_tanh, core::Activation::silu,
                   core::Activation::gelu_quick, core::Activation::relu}) {
    for (double x : {-6.0, -2.5, -1.0, -0.3, 0.2, 0.9, 1.7, 3.3, 7.0}) {
      const double h = 1e-4;
      float a = static_cast<float>(x + h), b = static_cast<float>(x - h);
      double fa = a, fb = b;
      std::vector<float> va{a}, vb{b};
      core::reference::activate(act, va.data(), 1);
      core::reference::activate(act, vb.data(), 1);
      fa = va[0];
      fb = vb[0];
      const float pre = static_cast<float>(x), dy = 1.0f;
      float dx = 0;
      core::activation_grad(act, &pre, &dy, &dx, 1);
      EXPECT_NEAR(dx, (fa - fb) / (2 * h), 3e-3) << static_cast<int>(act) << " at " << x;
    }
  }
}

// ELECTRA's embed.norm site (the embeddings before embeddings_project, [tok, E]) in all three
// passes: embed.out = embed.norm W^T + b forward, dL/d(embed.norm) = dL/d(embed.out) W backward,
// t(embed.out) = t(embed.norm) W^T in forward mode.
TEST(ElectraProjection, EmbedNormSiteThroughTheProjection) {
  auto& g = grad_golden("electra_generator");
  const auto& m = *g.model;
  const auto& w = m.params().mapping_w;
  const auto& bias = m.params().mapping_b;
  const auto h = m.config().hidden_size, e = m.config().embedding_dim();
  ASSERT_NE(h, e);
  model::RunOptions run;
  run.record = model::SiteSet::parse("embed.norm,embed.out", m.layers());
  model::TapeOptions topt;
  topt.mlm_logits = true;
  model::ForwardTape tape;
  const auto fwd = model::forward_with_tape(m, std::span(g.inputs.data(), 1), run, topt, tape);
  const auto& norm = *fwd[0].trace.find(model::Site::embed_norm);
  const auto& out = *fwd[0].trace.find(model::Site::embed_out);
  const auto t = static_cast<std::int64_t>(g.inputs[0].ids.size());
  ASSERT_EQ(norm.shape, (core::Shape{t, e}));
  // out[i] = W norm[i] + b; d_norm[i] = W^T d_out[i]: the same products in double.
  auto project = [&](const float* x, bool with_bias, std::int64_t i, std::int64_t j) {
    double s = with_bias ? bias.data[j] : 0.0;
    for (std::int64_t k = 0; k < e; ++k) s += static_cast<double>(w.data[j * e + k]) * x[i * e + k];
    return s;
  };
  double worst = 0;
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = 0; j < h; ++j) worst = std::max(worst, std::abs(out.data[i * h + j] - project(norm.ptr(), true, i, j)));
  EXPECT_LE(worst, 1e-4);
  std::vector<model::OutputGrad> seeds(1);
  seeds[0].mlm_logits = core::Tensor(fwd[0].mlm_logits.shape, 0.01f);
  model::GradRequest req;
  req.sites = model::SiteSet::parse("embed.norm,embed.out", m.layers());
  const auto back = model::backward(m, tape, seeds, req);
  const auto& dnorm = *back.site_grads[0].find(model::Site::embed_norm);
  const auto& dout = *back.site_grads[0].find(model::Site::embed_out);
  ASSERT_EQ(dnorm.shape, (core::Shape{t, e}));
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t k = 0; k < e; ++k) {
      double s = 0;
      for (std::int64_t j = 0; j < h; ++j) s += static_cast<double>(w.data[j * e + k]) * dout.data[i * h + j];
      diff = std::max(diff, std::abs(dnorm.data[i * e + k] - s));
      scale = std::max(scale, std::abs(s));
    }
  EXPECT_LE(diff, 1e-5 * scale);
  std::vector<core::Tensor> tangents{g.inputs[0].word_embeddings};
  const auto fm = model::jvp(m, tape, tangents, req.sites);
  const auto& tnorm = *fm.site_tangents[0].find(model::Site::embed_norm);
  const auto& tout = *fm.site_tangents[0].find(model::Site::embed_out);
  ASSERT_EQ(tnorm.shape, (core::Shape{t, e}));
  worst = 0;
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = 0; j < h; ++j) worst = std::max(worst, std::abs(tout.data[i * h + j] - project(tnorm.ptr(), false, i, j)));
  EXPECT_LE(worst, 1e-4);
}
