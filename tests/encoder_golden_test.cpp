// Parity of the encoder with independent float64 references (tools/reference/bert_reference.py,
// Hugging Face BertModel semantics in PyTorch; roberta_reference.py, RobertaModel's). bertscope's float32 results must be as close to
// float64 as PyTorch's own float32 forward: at most 3x PyTorch's max error, and on
// default-initialised models never worse than 1e-5 (attention) and 1e-4 (hidden states).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/files.hpp"
#include "io/npz.hpp"
#include "model/generator.hpp"
#include "model/layers/relative_attention.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;

namespace {

struct Golden {
  nlohmann::json entry;
  std::shared_ptr<TempDir> dir;
  std::shared_ptr<model::Model> model;
  std::map<std::string, io::NpyArray> arrays;
};

// make_goldens.py records the make-model arguments of each golden model; the same recipe goes
// straight to the generator so this test needs only the model layer (the CBLAS flavour of CI
// builds nothing else).
model::GeneratorOptions generator_options(const nlohmann::json& args) {
  model::GeneratorOptions o;
  o.vocab = test::data_dir() / "tiny-vocab.txt";
  for (std::size_t i = 0; i < args.size(); i += 2) {
    if (args[i] == "--sinusoidal-positions" || args[i] == "--position-biased-input" ||
        args[i] == "--discriminator" || args[i] == "--biases") {  // flags without a value
      (args[i] == "--sinusoidal-positions"    ? o.sinusoidal_positions
       : args[i] == "--position-biased-input" ? o.deberta.position_biased_input
       : args[i] == "--biases"                ? o.modernbert.biases
                                              : o.discriminator) = true;
      --i;
      continue;
    }
    if (i + 1 == args.size()) throw std::runtime_error("encoder.json: make-model argument without a value");
    const auto key = args[i].get<std::string>(), value = args[i + 1].get<std::string>();
    if (key == "--family") o.family = value;
    else if (key == "--vocab-size") {
      o.vocab.clear();
      o.vocab_size = std::stoll(value);
    } else if (key == "--layers") o.layers = std::stoll(value);
    else if (key == "--hidden") o.hidden = std::stoll(value);
    else if (key == "--heads") o.heads = std::stoll(value);
    else if (key == "--intermediate") o.intermediate = std::stoll(value);
    else if (key == "--seed") o.seed = std::stoull(value);
    else if (key == "--labels") o.labels = std::stoll(value);
    else if (key == "--hidden-act") o.hidden_act = value;
    else if (key == "--embedding-size") o.embedding_size = std::stoll(value);
    else if (key == "--hidden-groups") o.hidden_groups = std::stoll(value);
    else if (key == "--inner-group-num") o.inner_group_num = std::stoll(value);
    else if (key == "--init-std") o.init_std = std::stod(value);
    else if (key == "--bias-std") o.bias_std = std::stod(value);
    else if (key == "--norm-std") o.norm_std = std::stod(value);
    else if (key == "--type-vocab") o.type_vocab = std::stoll(value);
    else if (key == "--position-buckets") o.deberta.position_buckets = std::stoll(value);
    else if (key == "--max-relative-positions") o.deberta.max_relative_positions = std::stoll(value);
    else if (key == "--share-att-key") o.deberta.share_att_key = value == "true";
    else if (key == "--pos-att-type") o.deberta.pos_att_type = value;
    else if (key == "--norm-rel-ebd") o.deberta.norm_rel_ebd = value;
    else if (key == "--local-attention") o.modernbert.local_attention = std::stoll(value);
    else if (key == "--global-every") o.modernbert.global_every = std::stoll(value);
    else if (key == "--global-rope-theta") o.modernbert.global_theta = std::stod(value);
    else if (key == "--local-rope-theta") o.modernbert.local_theta = std::stod(value);
    else if (key == "--classifier-pooling") o.modernbert.pooling = value;
    else if (key == "--dtype") o.dtype = value == "f16" ? io::DType::f16 : value == "bf16" ? io::DType::bf16 : io::DType::f32;
    else throw std::runtime_error("encoder.json: unknown make-model argument " + key);
  }
  return o;
}

// Makes each golden model once per test process with the same recipe the reference used.
Golden& golden(const std::string& name) {
  static std::map<std::string, Golden> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  for (const char* file : {"encoder.json", "roberta.json", "distilbert.json", "albert.json", "deberta.json",
                          "electra.json", "modernbert.json"}) {
    const auto summary = io::read_json(test::golden_dir() / file);
    for (const auto& entry : summary["models"]) {
      if (entry["name"] != name) continue;
      Golden g;
      g.entry = entry;
      g.dir = std::make_shared<TempDir>("golden");
      model::make_model(generator_options(entry["args"]), g.dir->path() / name);
      const auto fnv = fmt::format("{:016x}", test::fnv1a64_file(g.dir->path() / name / "model.safetensors"));
      EXPECT_EQ(fnv, entry["fnv1a64"].get<std::string>())
          << "make-model no longer produces the weights the goldens were made from; regenerate them with "
             "tools/reference/make_goldens.py";
      g.model = std::make_shared<model::Model>(model::Model::load(g.dir->path() / name));
      io::NpzReader npz(test::golden_dir() / (name + ".npz"));
      for (const auto& member : npz.names()) g.arrays.emplace(member, npz.read(member));
      return cache.emplace(name, std::move(g)).first->second;
    }
  }
  throw std::runtime_error("no golden model " + name);
}

std::vector<model::ModelInput> golden_inputs(const Golden& g) {
  const auto& ids = g.arrays.at("input_ids");
  const auto id = ids.to_i64(), types = g.arrays.at("token_type_ids").to_i64(), mask = g.arrays.at("attention_mask").to_i64();
  const auto b = ids.shape[0], t = ids.shape[1];
  std::vector<model::ModelInput> inputs(static_cast<std::size_t>(b));
  for (std::int64_t i = 0; i < b; ++i)
    for (std::int64_t j = 0; j < t; ++j)
      if (mask[i * t + j]) {
        inputs[i].ids.push_back(static_cast<std::int32_t>(id[i * t + j]));
        inputs[i].type_ids.push_back(static_cast<std::int32_t>(types[i * t + j]));
      }
  return inputs;
}

// The golden batch as it is stored: padded, with transformers' attention mask.
std::vector<model::ModelInput> padded_inputs(const Golden& g) {
  const auto& ids = g.arrays.at("input_ids");
  const auto id = ids.to_i64(), types = g.arrays.at("token_type_ids").to_i64(), mask = g.arrays.at("attention_mask").to_i64();
  const auto b = ids.shape[0], t = ids.shape[1];
  std::vector<model::ModelInput> inputs(static_cast<std::size_t>(b));
  for (std::int64_t i = 0; i < b; ++i)
    for (std::int64_t j = 0; j < t; ++j) {
      inputs[i].ids.push_back(static_cast<std::int32_t>(id[i * t + j]));
      inputs[i].type_ids.push_back(static_cast<std::int32_t>(types[i * t + j]));
      inputs[i].attention_mask.push_back(static_cast<std::uint8_t>(mask[i * t + j]));
    }
  return inputs;
}

model::RunOptions case_options(const model::Model& m, const nlohmann::json& iv) {
  model::RunOptions opt;
  opt.record = model::SiteSet::parse("attn.probs,hidden", m.layers());
  if (iv.contains("head_mask")) {
    opt.head_mask = core::Tensor({m.layers(), m.heads()});
    for (std::int64_t l = 0; l < m.layers(); ++l)
      for (std::int64_t h = 0; h < m.heads(); ++h) opt.head_mask.data[l * m.heads() + h] = iv["head_mask"][l][h].get<float>();
  }
  if (iv.contains("uniform_heads"))
    for (const auto& p : iv["uniform_heads"]) opt.uniform_heads.insert({p[0].get<std::int64_t>(), p[1].get<std::int64_t>()});
  if (iv.contains("skip_layers"))
    for (const auto& l : iv["skip_layers"]) opt.skip_layers.insert(l.get<std::int64_t>());
  return opt;
}

// Max |ours - expected| over real tokens: attentions [B, L, H, T, T] against per-input traces.
double attention_error(const std::vector<model::ForwardResult>& results, const io::NpyArray& expected, std::int64_t layers) {
  const auto e = expected.to_f64();
  const auto heads = expected.shape[2], t_pad = expected.shape[3];
  double worst = 0;
  for (std::size_t b = 0; b < results.size(); ++b)
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto& probs = *results[b].trace.find(model::Site::attn_probs, l);
      const auto t = probs.dim(1);
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t i = 0; i < t; ++i)
          for (std::int64_t j = 0; j < t; ++j) {
            const double ref = e[(((static_cast<std::int64_t>(b) * layers + l) * heads + h) * t_pad + i) * t_pad + j];
            worst = std::max(worst, std::abs(probs.data[(h * t + i) * t + j] - ref));
          }
    }
  return worst;
}

double hidden_error(const std::vector<model::ForwardResult>& results, const io::NpyArray& expected, std::int64_t layers) {
  const auto e = expected.to_f64();
  const auto t_pad = expected.shape[2], hidden = expected.shape[3];
  double worst = 0;
  for (std::size_t b = 0; b < results.size(); ++b)
    for (std::int64_t l = 0; l <= layers; ++l) {
      const auto& hs = l == 0 ? *results[b].trace.find(model::Site::embed_out)
                              : *results[b].trace.find(model::Site::layer_out, l - 1);
      for (std::int64_t i = 0; i < hs.dim(0); ++i)
        for (std::int64_t k = 0; k < hidden; ++k) {
          const double ref = e[((static_cast<std::int64_t>(b) * (layers + 1) + l) * t_pad + i) * hidden + k];
          worst = std::max(worst, std::abs(hs.data[i * hidden + k] - ref));
        }
    }
  return worst;
}

// Logits: [B, T, V] (MLM, real tokens only), [B, T] (replaced-token detection, real tokens only)
// or [B, labels].
double logits_error(const std::vector<model::ForwardResult>& results, const io::NpyArray& expected, model::HeadKind kind) {
  const auto e = expected.to_f64();
  const bool mlm = kind == model::HeadKind::masked_lm;
  double worst = 0;
  for (std::size_t b = 0; b < results.size(); ++b) {
    const auto& ours = mlm ? results[b].mlm_logits : results[b].classifier_logits;
    if (kind == model::HeadKind::replaced_token_detection) {
      const auto t_pad = expected.shape[1];
      for (std::int64_t i = 0; i < ours.dim(0); ++i)
        worst = std::max(worst, std::abs(ours.data[i] - e[static_cast<std::int64_t>(b) * t_pad + i]));
    } else if (mlm) {
      const auto t_pad = expected.shape[1], v = expected.shape[2];
      for (std::int64_t i = 0; i < ours.dim(0); ++i)
        for (std::int64_t k = 0; k < v; ++k)
          worst = std::max(worst, std::abs(ours.data[i * v + k] - e[(static_cast<std::int64_t>(b) * t_pad + i) * v + k]));
    } else {
      const auto labels = expected.shape[1];
      for (std::int64_t k = 0; k < labels; ++k)
        worst = std::max(worst, std::abs(ours.data[k] - e[static_cast<std::int64_t>(b) * labels + k]));
    }
  }
  return worst;
}

double allowed(const nlohmann::json& torch_errors, const char* key) {
  // A floor keeps a degenerate zero PyTorch error (e.g. exactly representable results) from
  // demanding bit-exactness.
  return std::max(3.0 * torch_errors[key].get<double>(), 1e-7);
}

void check_model(const std::string& name) {
  auto& g = golden(name);
  const auto& m = *g.model;
  const auto inputs = golden_inputs(g);
  for (const auto& [case_name, c] : g.entry["cases"].items()) {
    SCOPED_TRACE(name + " / " + case_name);
    auto opt = case_options(m, c["interventions"]);
    const bool mlm = m.config().head_kind() == model::HeadKind::masked_lm;
    if (case_name == "base") {
      opt.mlm_logits = mlm;
      opt.classifier_logits = !mlm;
    }
    const auto results = m.forward(inputs, opt);
    const auto& errs = c["torch_f32_max_error"];
    const double att = attention_error(results, g.arrays.at(case_name + ".attentions"), m.layers());
    const double hid = hidden_error(results, g.arrays.at(case_name + ".hidden_states"), m.layers());
    EXPECT_LE(att, allowed(errs, "attentions")) << "PyTorch float32: " << errs["attentions"];
    EXPECT_LE(hid, allowed(errs, "hidden_states")) << "PyTorch float32: " << errs["hidden_states"];
    if (g.entry["default_init"].get<bool>()) {
      EXPECT_LE(att, 1e-5);
      EXPECT_LE(hid, 1e-4);
    }
    if (case_name == "base") {
      const double lg = logits_error(results, g.arrays.at("base.logits"), m.config().head_kind());
      EXPECT_LE(lg, allowed(errs, "logits")) << "PyTorch float32: " << errs["logits"];
      ::testing::Test::RecordProperty("logits_error", fmt::format("{:.3g}", lg));
    }
    ::testing::Test::RecordProperty(case_name + "_attention_error", fmt::format("{:.3g}", att));
    ::testing::Test::RecordProperty(case_name + "_hidden_error", fmt::format("{:.3g}", hid));
  }
}

}  // namespace

TEST(EncoderGolden, SharpMlmWithInterventions) { check_model("sharp_mlm"); }
TEST(EncoderGolden, DefaultInitMlm) { check_model("default_mlm"); }
TEST(EncoderGolden, SharpClassifierF16GeluTanh) { check_model("sharp_classifier_f16"); }
TEST(EncoderGolden, SharpMlmBf16FiveHeads) { check_model("sharp_mlm_bf16"); }
// RoBERTa: positions after padding_idx (one real token equal to it), gelu_new layers under an
// exact-GELU LM head; XLM-R: the classification head (dense, tanh, out_proj) on <s>.
TEST(EncoderGolden, RobertaMlmPositionsAfterPadding) { check_model("roberta_mlm"); }
TEST(EncoderGolden, XlmRobertaClassifier) { check_model("xlmr_classifier"); }
// DistilBERT: its own names and keys, no token types, ReLU activation followed by the MLM head.
TEST(EncoderGolden, DistilBertMlmRelu) { check_model("distilbert_mlm"); }
// pre_classifier -> ReLU -> classifier, sinusoidal position table, a pair without token types.
TEST(EncoderGolden, DistilBertClassifierSinusoidal) { check_model("distilbert_classifier"); }
// ALBERT: embeddings 40 wide mapped to 96, two groups of two layers sharing their weights, gelu_new
// in the layers and the MLM head (dense 96 -> 40, LayerNorm 40, decoder tied).
TEST(EncoderGolden, AlbertMlmTwoGroups) { check_model("albert_mlm"); }
// One group, inner_group_num 2 (every config layer runs both inner layers: 4 run layers),
// embeddings wider than the hidden states, pooler + classifier, a pair with token types.
TEST(EncoderGolden, AlbertClassifierInnerGroups) { check_model("albert_classifier"); }
// DeBERTa-v3-style: shared keys, log-bucketed distances (the inputs reach the logarithmic range),
// c2p + p2c, no absolute positions or token types, LayerNorm'd relative embeddings, legacy MLM head.
TEST(EncoderGolden, DebertaV3Mlm) { check_model("deberta_v3_mlm"); }
// DeBERTa-v2-style: absolute positions and token types, distances clamped without buckets, own
// positional projections, ContextPooler (dense -> gelu) and classifier.
TEST(EncoderGolden, DebertaV2Classifier) { check_model("deberta_v2_classifier"); }

// The padded batch run as it is: padding zeroes the embeddings, and a padded query row (all its
// scores masked) attends uniformly, 1/T, as in transformers; real rows match the unpadded run.
TEST(EncoderGolden, DebertaPaddedRowsAreUniform) {
  for (const char* name : {"deberta_v3_mlm", "deberta_v2_classifier"}) {
    SCOPED_TRACE(name);
    auto& g = golden(name);
    const auto& m = *g.model;
    const auto t = g.arrays.at("input_ids").shape[1];
    const auto results = m.forward(padded_inputs(g), case_options(m, nlohmann::json::object()));
    const double err = attention_error(results, g.arrays.at("padded.attentions"), m.layers());
    EXPECT_LE(err, std::max(3.0 * g.entry["cases"]["base"]["padded_attentions_f32_error"].get<double>(), 1e-7));
    const auto& last = *results[2].trace.find(model::Site::attn_probs, m.layers() - 1);  // 7 real tokens of 19
    EXPECT_FLOAT_EQ(last.data[(0 * t + t - 1) * t + 0], 1.0f / static_cast<float>(t));
    EXPECT_FLOAT_EQ(last.data[(0 * t + 0) * t + t - 1], 0.0f);
  }
}

// ModernBERT: pre-norm layers with rotary positions; layers 1 and 2 attend within |i - j| <= 2
// (inputs of 7 to 19 tokens), 0 and 3 globally; GeGLU; the MLM head on the final norm.
TEST(EncoderGolden, ModernbertMlmSlidingWindow) { check_model("modernbert_mlm"); }
// Three layers, every optional bias, mean pooling into head.dense -> gelu -> head.norm -> classifier.
TEST(EncoderGolden, ModernbertClassifierMeanPooling) { check_model("modernbert_classifier"); }

// final_norm.in is the last layer's sum before the final norm (transformers 4.x's last
// hidden_states entry); layer.{L-1}.out is after it (5.x's); keys outside a sliding layer's
// window get exactly 0; the padded batch run as it is matches transformers, including rows
// that see no real key in their window (uniform 1/T); an input of 40 tokens, ten windows long,
// and one of 2,048 tokens, streamed and with its attention recorded.
TEST(EncoderGolden, ModernbertFinalNormWindowPaddingAndLongInput) {
  for (const char* name : {"modernbert_mlm", "modernbert_classifier"}) {
    SCOPED_TRACE(name);
    auto& g = golden(name);
    const auto& m = *g.model;
    const auto& c = m.config();
    auto opt = case_options(m, nlohmann::json::object());
    opt.record.add(model::Site::final_norm_in);
    const auto results = m.forward(golden_inputs(g), opt);
    const auto& errs = g.entry["cases"]["base"]["torch_f32_max_error"];
    const auto pre = g.arrays.at("base.pre_final_norm").to_f64();
    const auto t_pad = g.arrays.at("base.pre_final_norm").shape[1], hidden = c.hidden_size;
    double worst = 0;
    for (std::size_t b = 0; b < results.size(); ++b) {
      const auto& ours = *results[b].trace.find(model::Site::final_norm_in);
      for (std::int64_t i = 0; i < ours.dim(0); ++i)
        for (std::int64_t k = 0; k < hidden; ++k)
          worst = std::max(worst, std::abs(ours.data[i * hidden + k] - pre[(static_cast<std::int64_t>(b) * t_pad + i) * hidden + k]));
      for (std::int64_t l = 0; l < m.layers(); ++l) {
        const auto& probs = *results[b].trace.find(model::Site::attn_probs, l);
        const auto t = probs.dim(1), half = c.window_half(l);
        for (std::int64_t h = 0; h < m.heads(); ++h)
          for (std::int64_t i = 0; i < t; ++i)
            for (std::int64_t j = 0; j < t; ++j)
              if (half >= 0 && std::abs(i - j) > half) {
                ASSERT_EQ(probs.data[(h * t + i) * t + j], 0.0f) << l << " " << i << " " << j;
              }
      }
    }
    EXPECT_LE(worst, allowed(errs, "pre_final_norm"));
    EXPECT_TRUE(c.sliding(1) && !c.sliding(0));

    const auto as_is = m.forward(padded_inputs(g), case_options(m, nlohmann::json::object()));
    EXPECT_LE(attention_error(as_is, g.arrays.at("padded.attentions"), m.layers()),
              std::max(3.0 * g.entry["cases"]["base"]["padded_attentions_f32_error"].get<double>(), 1e-7));

    if (!g.entry.contains("long")) continue;
    const auto long_ids = g.arrays.at("long.input_ids").to_i64();
    model::ModelInput one;
    for (auto v : long_ids) one.ids.push_back(static_cast<std::int32_t>(v));
    ASSERT_EQ(one.ids.size(), 40u);
    auto long_opt = case_options(m, nlohmann::json::object());
    long_opt.mlm_logits = true;
    const auto long_run = m.forward(std::vector<model::ModelInput>{one}, long_opt);
    const auto& long_errs = g.entry["long"]["torch_f32_max_error"];
    EXPECT_LE(attention_error(long_run, g.arrays.at("long.attentions"), m.layers()), allowed(long_errs, "attentions"));
    EXPECT_LE(hidden_error(long_run, g.arrays.at("long.hidden_states"), m.layers()), allowed(long_errs, "hidden_states"));
    EXPECT_LE(logits_error(long_run, g.arrays.at("long.logits"), c.head_kind()), allowed(long_errs, "logits"));

    // 2,048 tokens: streamed (hidden states only recorded) and full (attention recorded) paths.
    const auto ids2048 = g.arrays.at("long2048.input_ids").to_i64();
    model::ModelInput big;
    for (auto v : ids2048) big.ids.push_back(static_cast<std::int32_t>(v));
    ASSERT_EQ(big.ids.size(), 2048u);
    const auto& errs2048 = g.entry["long2048"]["torch_f32_max_error"];
    model::RunOptions streamed;
    streamed.record = model::SiteSet::parse("hidden", m.layers());
    streamed.mlm_logits = true;
    const auto s2048 = m.forward(std::vector<model::ModelInput>{big}, streamed);
    EXPECT_LE(hidden_error(s2048, g.arrays.at("long2048.hidden_states"), m.layers()),
              allowed(errs2048, "hidden_states") + 1e-6);  // + the float32 storage of the golden
    EXPECT_LE(logits_error(s2048, g.arrays.at("long2048.logits"), c.head_kind()), allowed(errs2048, "logits") + 1e-6);
    model::RunOptions full;
    full.record = model::SiteSet::parse("attn.probs", m.layers());
    const auto f2048 = m.forward(std::vector<model::ModelInput>{big}, full);
    const auto rows = g.entry["long2048"]["attention_rows"].get<std::vector<std::int64_t>>();
    const auto expected = g.arrays.at("long2048.attention_rows").to_f64();  // [1, L, H, rows, T]
    const std::int64_t n = 2048, nr = static_cast<std::int64_t>(rows.size());
    double worst_row = 0;
    for (std::int64_t l = 0; l < m.layers(); ++l) {
      const auto& probs = f2048[0].trace.find(model::Site::attn_probs, l)->data;
      for (std::int64_t h = 0; h < m.heads(); ++h)
        for (std::int64_t r = 0; r < nr; ++r)
          for (std::int64_t j = 0; j < n; ++j)
            worst_row = std::max(worst_row, std::abs(probs[static_cast<std::size_t>((h * n + rows[static_cast<std::size_t>(r)]) * n + j)] -
                                             expected[static_cast<std::size_t>(((l * m.heads() + h) * nr + r) * n + j)]));
    }
    EXPECT_LE(worst_row, allowed(errs2048, "attentions") + 1e-7);
  }
}

// A run that records no attention streams it (query blocks against the keys each may see, no
// [heads, t, t] block held): the same hidden states and logits as the full path, padded rows
// with no key in their window included, for global, sliding and BERT layers.
TEST(EncoderGolden, StreamedAttentionEqualsTheFullPath) {
  for (const char* name : {"modernbert_mlm", "modernbert_classifier", "sharp_mlm", "roberta_mlm"}) {
    SCOPED_TRACE(name);
    auto& g = golden(name);
    const auto& m = *g.model;
    for (const auto& inputs : {golden_inputs(g), padded_inputs(g)}) {
      model::RunOptions full, streamed;
      full.record = model::SiteSet::parse("attn.probs,hidden", m.layers());
      streamed.record = model::SiteSet::parse("hidden", m.layers());
      const bool mlm = m.config().head_kind() == model::HeadKind::masked_lm;
      full.mlm_logits = streamed.mlm_logits = mlm;
      full.classifier_logits = streamed.classifier_logits = !mlm;
      const auto a = m.forward(inputs, full), s = m.forward(inputs, streamed);
      // Rounding differs (other summation orders), amplified by these sharp weights as PyTorch's
      // own float32 error is: the same allowance as the goldens.
      const auto& errs = g.entry["cases"]["base"]["torch_f32_max_error"];
      for (std::size_t i = 0; i < a.size(); ++i) {
        for (std::int64_t l = 0; l < m.layers(); ++l) {
          const auto& x = a[i].trace.find(model::Site::layer_out, l)->data;
          const auto& y = s[i].trace.find(model::Site::layer_out, l)->data;
          for (std::size_t k = 0; k < x.size(); ++k) ASSERT_NEAR(x[k], y[k], allowed(errs, "hidden_states")) << i << " " << l;
        }
        const auto& x = mlm ? a[i].mlm_logits.data : a[i].classifier_logits.data;
        const auto& y = mlm ? s[i].mlm_logits.data : s[i].classifier_logits.data;
        for (std::size_t k = 0; k < x.size(); ++k) ASSERT_NEAR(x[k], y[k], allowed(errs, "logits"));
      }
    }
  }
}

// The three score terms are recorded apart and sum to attn.scores.
TEST(EncoderGolden, DebertaScoreTermsSumToScores) {
  auto& g = golden("deberta_v3_mlm");
  const auto& m = *g.model;
  const auto inputs = golden_inputs(g);
  model::RunOptions opt;
  opt.record = model::SiteSet::parse("attn.scores,attn.scores.c2c,attn.scores.c2p,attn.scores.p2c", m.layers());
  const auto results = m.forward(inputs, opt);
  for (const auto& r : results)
    for (std::int64_t l = 0; l < m.layers(); ++l) {
      const auto& all = r.trace.find(model::Site::attn_scores, l)->data;
      const auto& c2c = r.trace.find(model::Site::attn_scores_c2c, l)->data;
      const auto& c2p = r.trace.find(model::Site::attn_scores_c2p, l)->data;
      const auto& p2c = r.trace.find(model::Site::attn_scores_p2c, l)->data;
      double position = 0;
      for (std::size_t i = 0; i < all.size(); ++i) {
        ASSERT_NEAR(all[i], (c2c[i] + c2p[i]) + p2c[i], 1e-5);
        position += std::abs(c2p[i]) + std::abs(p2c[i]);
      }
      EXPECT_GT(position, 0.0);
    }
}

// The C++ log buckets equal transformers' make_log_bucket_position (float32 torch ops) for every
// distance up to 512 at DeBERTa-v3's settings and odd ones (tools/reference/make_deberta_buckets.py).
TEST(EncoderGolden, DebertaLogBucketsMatchTorch) {
  const auto golden_tables = io::read_json(test::golden_dir() / "deberta_buckets.json");
  const auto first = golden_tables["distances"][0].get<std::int64_t>();
  for (const auto& table : golden_tables["tables"]) {
    const auto buckets = table["position_buckets"].get<std::int64_t>();
    const auto max_position = table["max_relative_positions"].get<std::int64_t>();
    const auto& expected = table["buckets"];
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const auto r = first + static_cast<std::int64_t>(i);
      ASSERT_EQ(model::layers::log_bucket_position(r, buckets, max_position), expected[i].get<std::int64_t>())
          << "distance " << r << ", " << buckets << " buckets up to " << max_position;
    }
  }
}

// ELECTRA: embeddings of embedding_size projected to hidden (hidden_states[0] after the
// projection), the generator head (gelu whatever hidden_act, LayerNorm and tied decoder of
// embedding_size) under gelu_new layers; a pair with token type 1.
TEST(EncoderGolden, ElectraGeneratorProjectedEmbeddings) { check_model("electra_generator"); }
// ElectraForPreTraining: dense -> hidden_act (gelu_new) -> dense_prediction, one logit per token.
TEST(EncoderGolden, ElectraDiscriminatorReplacedTokenLogits) { check_model("electra_discriminator"); }
// ElectraForSequenceClassification with embedding_size = hidden (no projection): dense -> gelu -> out_proj.
TEST(EncoderGolden, ElectraClassifierGeluHead) { check_model("electra_classifier"); }

// The comparison must be able to fail: one corrupted expected value is caught.
TEST(EncoderGolden, CorruptedGoldenValueIsCaught) {
  auto& g = golden("sharp_mlm");
  const auto& m = *g.model;
  const auto inputs = golden_inputs(g);
  const auto results = m.forward(inputs, case_options(m, nlohmann::json::object()));
  auto corrupted = g.arrays.at("base.attentions");
  auto values = corrupted.to_f64();
  values[5] += 1e-4;  // input 0, layer 0, head 0, query 0, key 5 (a real token)
  std::memcpy(corrupted.bytes.data(), values.data(), values.size() * sizeof(double));
  const auto& errs = g.entry["cases"]["base"]["torch_f32_max_error"];
  EXPECT_LE(attention_error(results, g.arrays.at("base.attentions"), m.layers()), allowed(errs, "attentions"));
  EXPECT_GT(attention_error(results, corrupted, m.layers()), allowed(errs, "attentions"));
}

// Packing a batch must not change results beyond float32 reordering: each input run alone
// matches the batched run.
TEST(EncoderGolden, BatchedEqualsOneByOne) {
  auto& g = golden("sharp_mlm");
  const auto& m = *g.model;
  const auto inputs = golden_inputs(g);
  const auto opt = case_options(m, nlohmann::json::object());
  const auto batched = m.forward(inputs, opt);
  for (std::size_t b = 0; b < inputs.size(); ++b) {
    const auto single = m.forward(std::span(&inputs[b], 1), opt);
    for (std::int64_t l = 0; l < m.layers(); ++l) {
      const auto& x = batched[b].trace.find(model::Site::layer_out, l)->data;
      const auto& y = single[0].trace.find(model::Site::layer_out, l)->data;
      ASSERT_EQ(x.size(), y.size());
      for (std::size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], 1e-5) << "input " << b << " layer " << l;
    }
  }
}
