// Loading real-checkpoint layouts: name variants, tied decoder, dtypes, shards, memory mapping.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/safetensors.hpp"
#include "model/generator.hpp"
#include "model/autodiff.hpp"
#include "model/model.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;
namespace fs = std::filesystem;

namespace {

fs::path make(const TempDir& dir, const std::string& name, const std::string& extra) {
  const auto out = dir / name;
  const auto r = test::run_command(fmt::format(
      "{} make-model --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 5 --init-std 0.2 --bias-std 0.1 "
      "--vocab {} --out {} {}",
      test::cli(), (test::data_dir() / "tiny-vocab.txt").string(), out.string(), extra));
  EXPECT_EQ(r.status, 0) << r.output;
  return out;
}

// Rewrites model.safetensors with renamed tensors (rename returns "" to drop a tensor).
void rewrite(const fs::path& model, const std::function<std::string(const std::string&)>& rename,
             std::vector<std::pair<std::string, core::Tensor>> extra = {}) {
  std::vector<std::string> names;
  std::vector<std::vector<std::byte>> storage;
  std::vector<io::TensorToWrite> tensors;
  {
    io::SafetensorsFile file(model / "model.safetensors");
    for (const auto& name : file.names()) {
      const auto& rec = file.get(name);
      const auto new_name = rename(name);
      if (new_name.empty()) continue;
      storage.emplace_back(rec.data, rec.data + rec.nbytes);
      tensors.push_back({new_name, rec.dtype, rec.shape, {}});
    }
  }
  for (auto& [name, t] : extra) {
    storage.emplace_back(reinterpret_cast<const std::byte*>(t.ptr()),
                         reinterpret_cast<const std::byte*>(t.ptr() + t.size()));
    tensors.push_back({name, io::DType::f32, t.shape, {}});
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].bytes = storage[i];
  io::write_safetensors(model / "model.safetensors", tensors);
}

std::vector<model::ForwardResult> run(const model::Model& m, bool logits = true) {
  std::vector<model::ModelInput> in(2);
  in[0].ids = {2, 40, 41, 42, 3};
  in[1].ids = {2, 50, 3, 60, 61, 3};
  in[1].type_ids = {0, 0, 0, 1, 1, 1};
  model::RunOptions opt;
  opt.record = model::SiteSet::parse("attn.probs", m.layers());
  opt.mlm_logits = logits && m.params().has_mlm_head();
  return m.forward(in, opt);
}

double max_diff(const core::Tensor& a, const core::Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double d = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i) d = std::max(d, std::abs(double(a.data[i]) - b.data[i]));
  return d;
}

}  // namespace

TEST(ModelLoading, F32IsMappedWithoutCopy) {
  TempDir dir("load");
  const auto m = model::Model::load(make(dir, "m", ""));
  EXPECT_EQ(m.weights().converted_bytes(), 0);
  EXPECT_EQ(m.weights().mapped_bytes(), m.weights().parameter_count() * 4);
  EXPECT_TRUE(m.params().has_mlm_head());
  EXPECT_EQ(m.params().mlm_decoder_w.data, m.params().word_emb.data) << "decoder must be tied";
  EXPECT_FALSE(m.params().has_pooler());
}

TEST(ModelLoading, NameVariantsGiveIdenticalResults) {
  TempDir dir("load");
  const auto base_dir = make(dir, "base", "");
  const auto ref = run(model::Model::load(base_dir));
  const auto variant = make(dir, "variant", "");
  // No "bert." prefix and TF-style LayerNorm gamma/beta, MLM bias under the decoder's name.
  rewrite(variant, [](const std::string& n) {
    std::string s = n.starts_with("bert.") ? n.substr(5) : n;
    if (s.ends_with("LayerNorm.weight")) s = s.substr(0, s.size() - 6) + "gamma";
    if (s.ends_with("LayerNorm.bias")) s = s.substr(0, s.size() - 4) + "beta";
    if (s == "cls.predictions.bias") s = "cls.predictions.decoder.bias";
    return s;
  });
  const auto out = run(model::Model::load(variant));
  for (std::size_t b = 0; b < ref.size(); ++b) {
    EXPECT_EQ(max_diff(ref[b].last_hidden, out[b].last_hidden), 0.0);
    EXPECT_EQ(max_diff(ref[b].mlm_logits, out[b].mlm_logits), 0.0);
  }
}

TEST(ModelLoading, UntiedDecoderIsUsed) {
  TempDir dir("load");
  const auto path = make(dir, "m", "");
  const auto ref = run(model::Model::load(path));
  const auto cfg = model::load_config(path / "config.json");
  core::Tensor decoder({cfg.vocab_size, cfg.hidden_size}, 0.0f);
  rewrite(path, [](const std::string& n) { return n; }, {{"cls.predictions.decoder.weight", decoder}});
  const auto m = model::Model::load(path);
  EXPECT_NE(m.params().mlm_decoder_w.data, m.params().word_emb.data);
  const auto out = run(m);
  // A zero decoder leaves only the bias: every position's logits equal cls.predictions.bias.
  const auto& bias = m.params().mlm_decoder_b;
  for (std::int64_t v = 0; v < cfg.vocab_size; ++v) EXPECT_EQ(out[0].mlm_logits.data[v], bias.data[v]);
  EXPECT_GT(max_diff(ref[0].mlm_logits, out[0].mlm_logits), 0.0);
}

TEST(ModelLoading, HalfPrecisionCheckpointsConvert) {
  TempDir dir("load");
  const auto ref = run(model::Model::load(make(dir, "f32", "")));
  for (const char* dtype : {"f16", "bf16"}) {
    const auto m = model::Model::load(make(dir, dtype, std::string("--dtype ") + dtype));
    EXPECT_GT(m.weights().converted_bytes(), 0);
    const auto out = run(m);
    // Rounding the weights to 16 bits moves the outputs a little, never a lot.
    EXPECT_LT(max_diff(ref[0].last_hidden, out[0].last_hidden), std::string(dtype) == "f16" ? 0.05 : 0.3) << dtype;
    EXPECT_GT(max_diff(ref[0].last_hidden, out[0].last_hidden), 0.0) << dtype;
  }
}

TEST(ModelLoading, ShardedCheckpoint) {
  TempDir dir("load");
  const auto path = make(dir, "m", "");
  const auto ref = run(model::Model::load(path));
  std::vector<std::string> first, second;
  nlohmann::json map = nlohmann::json::object();
  {
    io::SafetensorsFile file(path / "model.safetensors");
    std::vector<std::vector<std::byte>> storage[2];
    std::vector<io::TensorToWrite> tensors[2];
    int i = 0;
    for (const auto& name : file.names()) {
      const int shard = (i++ % 2);
      const auto& rec = file.get(name);
      storage[shard].emplace_back(rec.data, rec.data + rec.nbytes);
      tensors[shard].push_back({name, rec.dtype, rec.shape, {}});
      map[name] = fmt::format("model-0000{}-of-00002.safetensors", shard + 1);
    }
    for (int s = 0; s < 2; ++s) {
      for (std::size_t k = 0; k < tensors[s].size(); ++k) tensors[s][k].bytes = storage[s][k];
      io::write_safetensors(path / fmt::format("model-0000{}-of-00002.safetensors", s + 1), tensors[s]);
    }
  }
  fs::remove(path / "model.safetensors");
  std::ofstream(path / "model.safetensors.index.json") << nlohmann::json{{"metadata", {}}, {"weight_map", map}}.dump();
  const auto out = run(model::Model::load(path));
  EXPECT_EQ(max_diff(ref[1].last_hidden, out[1].last_hidden), 0.0);
}

TEST(ModelLoading, SequenceClassifierHasPoolerAndLabels) {
  TempDir dir("load");
  const auto m = model::Model::load(make(dir, "clf", "--labels 3"));
  EXPECT_TRUE(m.params().has_pooler());
  EXPECT_TRUE(m.params().has_classifier());
  EXPECT_FALSE(m.params().has_mlm_head());
  EXPECT_EQ(m.config().num_labels, 3);
  std::vector<model::ModelInput> in(1);
  in[0].ids = {2, 40, 41, 3};
  model::RunOptions opt;
  opt.classifier_logits = true;
  const auto out = m.forward(in, opt);
  EXPECT_EQ(out[0].classifier_logits.shape, (core::Shape{3}));
  opt.mlm_logits = true;
  EXPECT_THROW(m.forward(in, opt), Error);
}

TEST(ModelLoading, InterventionsChangeWhatTheyShould) {
  TempDir dir("load");
  const auto m = model::Model::load(make(dir, "m", ""));
  std::vector<model::ModelInput> in(1);
  in[0].ids = {2, 40, 41, 42, 43, 3};
  model::RunOptions opt;
  opt.record = model::SiteSet::parse("attn.probs,attn.context,hidden", m.layers());
  const auto base = m.forward(in, opt);

  auto uniform = opt;
  uniform.uniform_heads.insert({1, 2});
  const auto u = m.forward(in, uniform);
  const auto& probs = *u[0].trace.find(model::Site::attn_probs, 1);
  for (std::int64_t i = 0; i < 36; ++i) EXPECT_FLOAT_EQ(probs.data[2 * 36 + i], 1.0f / 6);
  EXPECT_EQ(max_diff(*base[0].trace.find(model::Site::layer_out, 0), *u[0].trace.find(model::Site::layer_out, 0)), 0.0);

  auto masked = opt;
  masked.head_mask = core::Tensor({2, 3}, 1.0f);
  masked.head_mask.data[3] = 0.0f;  // layer 1, head 0
  const auto mk = m.forward(in, masked);
  const auto& ctx = *mk[0].trace.find(model::Site::attn_context, 1);
  for (std::int64_t i = 0; i < 6 * 16; ++i) EXPECT_EQ(ctx.data[i], 0.0f);

  auto skipped = opt;
  skipped.skip_layers.insert(1);
  const auto sk = m.forward(in, skipped);
  EXPECT_EQ(max_diff(*sk[0].trace.find(model::Site::layer_out, 0), sk[0].last_hidden), 0.0);

  auto replaced_in = in;
  model::AttentionOverride o{0, 1, core::Tensor({6, 6}, 0.0f)};
  for (int i = 0; i < 6; ++i) o.probs.data[i * 6 + std::max(0, i - 1)] = 1.0f;  // previous-token head
  replaced_in[0].attention_overrides.push_back(o);
  const auto rp = m.forward(replaced_in, opt);
  EXPECT_EQ(max_diff(*rp[0].trace.find(model::Site::attn_probs, 0), *base[0].trace.find(model::Site::attn_probs, 0)) > 0,
            true);
  const auto& rprobs = *rp[0].trace.find(model::Site::attn_probs, 0);
  for (int i = 0; i < 36; ++i) EXPECT_EQ(rprobs.data[36 + i], o.probs.data[i]);
}

// Families (model/arch/): an unknown model_type is one error naming the file and the
// supported types; RoBERTa checkpoints load under every name variant of their weight table and
// report every missing tensor at once; positions count from padding_idx + 1.
TEST(ModelFamilies, UnknownModelTypeListsSupportedOnes) {
  TempDir dir("family");
  const auto model = make(dir, "m", "");
  auto config = io::read_json(model / "config.json");
  config["model_type"] = "longformer";
  io::write_file_atomic(model / "config.json", config.dump());
  try {
    (void)model::Model::load(model);
    FAIL() << "loaded a longformer config";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("config.json"), std::string::npos) << message;
    EXPECT_NE(message.find("\"longformer\""), std::string::npos) << message;
    EXPECT_NE(message.find("bert, roberta, xlm-roberta"), std::string::npos) << message;
    EXPECT_NE(message.find("deberta-v2"), std::string::npos) << message;
  }
}

TEST(ModelFamilies, RobertaPositionIdsFollowPaddingIdx) {
  model::GeneratorOptions o;
  o.family = "roberta";
  const auto c = model::generator_config(o, 50);
  EXPECT_EQ(c.pad_token_id, 1);
  EXPECT_EQ(c.max_position_embeddings, 514);
  EXPECT_EQ(c.max_tokens(), 512);
  EXPECT_EQ(c.type_vocab_size, 1);
  // transformers: cumsum(ids != pad) * (ids != pad) + pad; a token equal to pad gets pad.
  EXPECT_EQ(c.position_ids({0, 7, 1, 9, 2}), (std::vector<std::int32_t>{2, 3, 1, 4, 5}));
  o.family = "bert";
  EXPECT_EQ(model::generator_config(o, 50).position_ids({0, 7, 1}), (std::vector<std::int32_t>{0, 1, 2}));
}

TEST(ModelFamilies, RobertaNameVariantsAndMissingTensors) {
  TempDir dir("roberta");
  const auto make_roberta = [&](const std::string& name) {
    const auto out = dir / name;
    const auto r = test::run_command(fmt::format(
        "{} make-model --family roberta --vocab-size 70 --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
        "--init-std 0.2 --bias-std 0.1 --out {}",
        test::cli(), out.string()));
    EXPECT_EQ(r.status, 0) << r.output;
    return out;
  };
  const auto canonical = make_roberta("canonical"), variant = make_roberta("variant"), broken = make_roberta("broken");
  EXPECT_EQ(io::read_json(canonical / "config.json")["architectures"][0], "RobertaForMaskedLM");
  // A RobertaModel saved alone has no prefix; older files spell the LM bias lm_head.decoder.bias.
  rewrite(variant, [](const std::string& n) {
    if (n == "lm_head.bias") return std::string("lm_head.decoder.bias");
    return n.starts_with("roberta.") ? n.substr(8) : n;
  });
  std::vector<model::ModelInput> in(1);
  in[0].ids = {0, 40, 41, 2, 2, 60, 1, 61, 2};  // <s> A </s></s> B </s>, one token equal to padding_idx
  model::RunOptions opt;
  opt.mlm_logits = true;
  const auto a = model::Model::load(canonical).forward(in, opt), b = model::Model::load(variant).forward(in, opt);
  EXPECT_EQ(max_diff(a[0].mlm_logits, b[0].mlm_logits), 0.0);
  EXPECT_GT(max_diff(a[0].mlm_logits, core::Tensor(a[0].mlm_logits.shape)), 0.1);
  rewrite(broken, [](const std::string& n) {
    return n == "lm_head.layer_norm.weight" || n == "roberta.encoder.layer.1.output.dense.bias" ? std::string() : n;
  });
  try {
    (void)model::Model::load(broken);
    FAIL() << "loaded a checkpoint with missing tensors";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("2 tensor problems"), std::string::npos) << message;
    EXPECT_NE(message.find("missing lm_head.layer_norm.weight"), std::string::npos) << message;
    EXPECT_NE(message.find("missing roberta.encoder.layer.1.output.dense.bias"), std::string::npos) << message;
  }
}

// DistilBERT: its own config keys in and out, eps fixed at 1e-12, no token types (type ids are
// ignored), a DistilBertModel saved alone loads without the prefix, and bad configs are one line.
TEST(ModelFamilies, DistilBertConfigKeysAndNames) {
  TempDir dir("distilbert");
  const auto out = dir / "canonical";
  const auto r = test::run_command(fmt::format(
      "{} make-model --family distilbert --vocab-size 70 --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
      "--init-std 0.2 --bias-std 0.1 --sinusoidal-positions --out {}",
      test::cli(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  auto config = io::read_json(out / "config.json");
  EXPECT_EQ(config["architectures"][0], "DistilBertForMaskedLM");
  for (const char* key : {"dim", "n_layers", "n_heads", "hidden_dim", "activation", "sinusoidal_pos_embds"})
    EXPECT_TRUE(config.contains(key)) << key;
  for (const char* key : {"hidden_size", "num_hidden_layers", "type_vocab_size", "layer_norm_eps"})
    EXPECT_FALSE(config.contains(key)) << key;
  EXPECT_EQ(config["dim"], 48);
  EXPECT_EQ(config["sinusoidal_pos_embds"], true);
  config["layer_norm_eps"] = 0.5;  // DistilBERT ignores it
  io::write_file_atomic(out / "config.json", config.dump());
  const auto m = model::Model::load(out);
  EXPECT_EQ(m.config().layer_norm_eps, 1e-12);
  EXPECT_EQ(m.config().hidden_size, 48);
  EXPECT_FALSE(m.config().has_token_types());
  EXPECT_FALSE(m.params().type_emb.present());
  EXPECT_TRUE(m.config().sinusoidal_positions);
  // The stored table is transformers' sinusoid: sin(p / 10000^(2 floor(j/2)/dim)) on even columns.
  EXPECT_FLOAT_EQ(m.params().pos_emb.data[3 * 48 + 4], static_cast<float>(std::sin(3.0 / std::pow(10000.0, 4.0 / 48))));
  EXPECT_FLOAT_EQ(m.params().pos_emb.data[3 * 48 + 5], static_cast<float>(std::cos(3.0 / std::pow(10000.0, 4.0 / 48))));
  std::vector<model::ModelInput> in(2);
  in[0].ids = {2, 40, 41, 3, 60, 61, 3};  // [CLS] A [SEP] B [SEP]
  in[1] = in[0];
  in[1].type_ids = {0, 0, 0, 0, 1, 1, 1};  // a BERT-style pair's type ids change nothing
  model::RunOptions opt;
  opt.mlm_logits = true;
  const auto a = m.forward(in, opt);
  EXPECT_EQ(max_diff(a[0].mlm_logits, a[1].mlm_logits), 0.0);
  // A DistilBertModel's tensors saved without the "distilbert." prefix.
  const auto variant = dir / "variant";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", out.string(), variant.string())).status, 0);
  rewrite(variant, [](const std::string& n) { return n.starts_with("distilbert.") ? n.substr(11) : n; });
  const auto b = model::Model::load(variant).forward(in, opt);
  EXPECT_EQ(max_diff(a[0].mlm_logits, b[0].mlm_logits), 0.0);
  config["n_heads"] = 5;
  io::write_file_atomic(out / "config.json", config.dump());
  try {
    (void)model::Model::load(out);
    FAIL() << "loaded dim 48 with 5 heads";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("dim 48 is not a multiple of n_heads 5"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const auto bad = test::run_command(fmt::format(
      "{} make-model --family distilbert --vocab-size 70 --layers 1 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
      "--type-vocab 2 --out {}",
      test::cli(), (dir / "bad").string()));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("DistilBERT has no token type embeddings"), std::string::npos) << bad.output;
}

// ALBERT: its keys in and out, embeddings in embedding_size mapped to hidden, each group's
// tensors shared by every layer that runs them (one storage, counted once), the inner layers run
// as layers of their own, an AlbertModel saved alone and an unused SOP head load, and a config
// whose groups do not divide the layers is one line naming config.json and the keys.
TEST(ModelFamilies, AlbertSharedLayersAndNames) {
  TempDir dir("albert");
  const auto out = dir / "canonical";
  const auto r = test::run_command(fmt::format(
      "{} make-model --family albert --vocab-size 70 --layers 4 --hidden 48 --heads 3 --intermediate 64 "
      "--embedding-size 24 --hidden-groups 2 --inner-group-num 2 --seed 5 --init-std 0.2 --bias-std 0.1 --out {}",
      test::cli(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  auto config = io::read_json(out / "config.json");
  EXPECT_EQ(config["architectures"][0], "AlbertForMaskedLM");
  EXPECT_EQ(config["num_hidden_layers"], 4);
  EXPECT_EQ(config["embedding_size"], 24);
  EXPECT_EQ(config["num_hidden_groups"], 2);
  EXPECT_EQ(config["inner_group_num"], 2);
  {
    io::SafetensorsFile file(out / "model.safetensors");
    for (const char* name : {"albert.encoder.embedding_hidden_mapping_in.weight",
                             "albert.encoder.albert_layer_groups.1.albert_layers.1.ffn_output.weight",
                             "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.bias",
                             "predictions.dense.weight", "predictions.bias"})
      EXPECT_TRUE(file.contains(name)) << name;
    EXPECT_FALSE(file.contains("albert.encoder.albert_layer_groups.2.albert_layers.0.ffn.weight"));
    EXPECT_EQ(file.get("albert.embeddings.word_embeddings.weight").shape, (core::Shape{70, 24}));
    EXPECT_EQ(file.get("predictions.dense.weight").shape, (core::Shape{24, 48}));
  }
  const auto m = model::Model::load(out);
  EXPECT_EQ(m.layers(), 8);  // 4 config layers x 2 inner layers
  const auto& layers = m.params().layers;
  // Config layer i runs group i / 2; run layer 2 i + k is its inner layer k.
  EXPECT_EQ(layers[0].query_w.data, layers[2].query_w.data);
  EXPECT_EQ(layers[1].ffn_out_w.data, layers[3].ffn_out_w.data);
  EXPECT_EQ(layers[4].query_w.data, layers[6].query_w.data);
  EXPECT_NE(layers[0].query_w.data, layers[1].query_w.data);
  EXPECT_NE(layers[0].query_w.data, layers[4].query_w.data);
  const std::int64_t h = 48, e = 24, inter = 64, v = 70;
  const std::int64_t layer_params = 4 * (h * h + h) + 2 * 2 * h + (inter * h + inter) + (h * inter + h);
  const std::int64_t expected = (v + 512 + 2) * e + 2 * e + (h * e + h) + 4 * layer_params + (e * h + e) + 2 * e + v;
  EXPECT_EQ(m.weights().parameter_count(), expected);
  const auto a = run(m);
  EXPECT_EQ(a[0].mlm_logits.shape, (core::Shape{5, 70}));
  // An AlbertModel's tensors saved without the "albert." prefix, with an SOP head beside them.
  const auto variant = dir / "variant";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", out.string(), variant.string())).status, 0);
  std::vector<std::pair<std::string, core::Tensor>> sop;
  sop.emplace_back("sop_classifier.classifier.weight", core::Tensor({2, h}, 0.5f));
  sop.emplace_back("sop_classifier.classifier.bias", core::Tensor({2}, 0.0f));
  rewrite(variant, [](const std::string& n) { return n.starts_with("albert.") ? n.substr(7) : n; }, std::move(sop));
  const auto mv = model::Model::load(variant);
  const auto b = run(mv);
  EXPECT_EQ(max_diff(a[0].mlm_logits, b[0].mlm_logits), 0.0);
  EXPECT_EQ(mv.weights().unused_tensors(),
            (std::vector<std::string>{"sop_classifier.classifier.bias", "sop_classifier.classifier.weight"}));
  config["num_hidden_groups"] = 3;
  io::write_file_atomic(out / "config.json", config.dump());
  try {
    (void)model::Model::load(out);
    FAIL() << "loaded 4 layers in 3 groups";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("config.json: num_hidden_layers 4 is not a multiple of num_hidden_groups 3"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  config["num_hidden_groups"] = 2;
  config["inner_group_num"] = 0;
  io::write_file_atomic(out / "config.json", config.dump());
  try {
    (void)model::Model::load(out);
    FAIL() << "loaded inner_group_num 0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"inner_group_num\" must be at least 1"), std::string::npos) << e.what();
  }
  const auto bad_out = dir / "bad";
  const auto bad = test::run_command(fmt::format(
      "{} make-model --family albert --vocab-size 70 --layers 3 --hidden 48 --heads 3 --intermediate 64 "
      "--hidden-groups 2 --seed 5 --out {}",
      test::cli(), bad_out.string()));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("num_hidden_layers 3 is not a multiple of num_hidden_groups 2"), std::string::npos)
      << bad.output;
  EXPECT_FALSE(fs::exists(bad_out));
  const auto wrong_family = test::run_command(fmt::format(
      "{} make-model --family bert --vocab-size 70 --layers 2 --hidden 48 --heads 3 --intermediate 64 "
      "--embedding-size 24 --seed 5 --out {}",
      test::cli(), (dir / "bert").string()));
  EXPECT_NE(wrong_family.status, 0);
  EXPECT_NE(wrong_family.output.find("ALBERT's options"), std::string::npos) << wrong_family.output;
}

// DeBERTa-v2/v3: the v3-style tensor table (no absolute positions, no token types, shared keys:
// no pos_*_proj, rel_embeddings [2 * buckets, hidden] and its LayerNorm), pos_att_type as a list
// or a "p2c|c2p" string, max_relative_positions -1, the non-legacy MLM head spelling, and bad
// configs refused in one line before anything is written.
TEST(ModelFamilies, DebertaConfigAndTensorTable) {
  TempDir dir("deberta");
  const auto out = dir / "v3";
  const auto r = test::run_command(fmt::format(
      "{} make-model --family deberta-v2 --vocab-size 70 --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
      "--position-buckets 8 --init-std 0.2 --bias-std 0.1 --out {}",
      test::cli(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  auto config = io::read_json(out / "config.json");
  EXPECT_EQ(config["architectures"][0], "DebertaV2ForMaskedLM");
  EXPECT_EQ(config["relative_attention"], true);
  EXPECT_EQ(config["position_biased_input"], false);
  EXPECT_EQ(config["share_att_key"], true);
  EXPECT_EQ(config["type_vocab_size"], 0);
  EXPECT_EQ(config["layer_norm_eps"], 1e-7);
  const auto m = model::Model::load(out);
  const auto& c = m.config();
  EXPECT_EQ(c.relative.max_relative_positions, 512);  // -1: max_position_embeddings
  EXPECT_EQ(c.relative.span(), 8);
  EXPECT_TRUE(c.relative.c2p && c.relative.p2c);
  EXPECT_EQ(c.relative.scale_factor, 3);
  EXPECT_FALSE(m.params().pos_emb.present());
  EXPECT_FALSE(m.params().type_emb.present());
  EXPECT_EQ(m.params().rel_emb.shape, (core::Shape{16, 48}));
  EXPECT_TRUE(m.params().rel_norm_g.present());
  EXPECT_FALSE(m.params().layers[0].pos_key_w.present());
  std::vector<model::ModelInput> in(1);
  in[0].ids = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 2};
  model::RunOptions opt;
  opt.mlm_logits = true;
  const auto a = m.forward(in, opt);
  // pos_att_type as a list, in another order: the same model.
  config["pos_att_type"] = {"c2p", "p2c"};
  io::write_file_atomic(out / "config.json", config.dump());
  EXPECT_EQ(max_diff(a[0].mlm_logits, model::Model::load(out).forward(in, opt)[0].mlm_logits), 0.0);
  // The non-legacy head: lm_predictions.lm_head.{dense, LayerNorm, bias}, decoder = word table.
  const auto modern = dir / "modern";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", out.string(), modern.string())).status, 0);
  rewrite(modern, [](const std::string& n) {
    if (n.starts_with("cls.predictions.transform.")) return "lm_predictions.lm_head." + n.substr(26);
    if (n == "cls.predictions.bias") return std::string("lm_predictions.lm_head.bias");
    return n;
  });
  auto modern_config = config;
  modern_config["legacy"] = false;
  io::write_file_atomic(modern / "config.json", modern_config.dump());
  const auto b = model::Model::load(modern);
  EXPECT_EQ(b.params().mlm_decoder_w.data, b.params().word_emb.data);
  EXPECT_EQ(max_diff(a[0].mlm_logits, b.forward(in, opt)[0].mlm_logits), 0.0);
  // An unknown pos_att_type entry: one line naming config.json and the value.
  config["pos_att_type"] = "p2c|c2x";
  io::write_file_atomic(out / "config.json", config.dump());
  try {
    (void)model::Model::load(out);
    FAIL() << "loaded pos_att_type p2c|c2x";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((out / "config.json").string()), std::string::npos) << message;
    EXPECT_NE(message.find("\"c2x\""), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const auto bad = dir / "bad";
  const auto refused = test::run_command(fmt::format(
      "{} make-model --family deberta-v2 --vocab-size 70 --layers 1 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
      "--pos-att-type p2c,c2p --out {}",
      test::cli(), bad.string()));
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("pos_att_type has \"p2c,c2p\""), std::string::npos) << refused.output;
  EXPECT_FALSE(std::filesystem::exists(bad / "config.json"));
  // v2-style: own positional projections, no buckets, absolute positions; the ConvLayer is refused.
  const auto v2 = dir / "v2";
  ASSERT_EQ(test::run_command(fmt::format(
                "{} make-model --family deberta-v2 --vocab-size 70 --layers 1 --hidden 48 --heads 3 --intermediate 64 "
                "--seed 5 --position-buckets 0 --share-att-key false --position-biased-input --out {}",
                test::cli(), v2.string()))
                .status,
            0);
  const auto v2m = model::Model::load(v2);
  EXPECT_TRUE(v2m.params().pos_emb.present());
  EXPECT_TRUE(v2m.params().layers[0].pos_key_w.present() && v2m.params().layers[0].pos_query_w.present());
  EXPECT_EQ(v2m.params().rel_emb.shape, (core::Shape{1024, 48}));
  auto v2_config = io::read_json(v2 / "config.json");
  v2_config["conv_kernel_size"] = 3;
  io::write_file_atomic(v2 / "config.json", v2_config.dump());
  try {
    (void)model::Model::load(v2);
    FAIL() << "loaded a ConvLayer config";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv_kernel_size"), std::string::npos) << e.what();
  }
}

// ELECTRA: embedding_size in and out, ElectraConfig's defaults, embeddings_project only where the
// widths differ, the generator and discriminator heads by their architectures, an ElectraModel
// saved alone, and a mis-shaped embeddings_project reported in one line naming file and tensor.
TEST(ModelFamilies, ElectraEmbeddingProjectionHeadsAndNames) {
  TempDir dir("electra");
  const auto make = [&](const std::string& name, const std::string& extra) {
    const auto out = dir / name;
    const auto r = test::run_command(fmt::format(
        "{} make-model --family electra --vocab-size 70 --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
        "--init-std 0.2 --bias-std 0.1 {} --out {}",
        test::cli(), extra, out.string()));
    EXPECT_EQ(r.status, 0) << r.output;
    return out;
  };
  const auto generator = make("generator", "--embedding-size 24");
  auto config = io::read_json(generator / "config.json");
  EXPECT_EQ(config["architectures"][0], "ElectraForMaskedLM");
  EXPECT_EQ(config["embedding_size"], 24);
  const auto g = model::Model::load(generator);
  EXPECT_EQ(g.config().embedding_dim(), 24);
  EXPECT_EQ(g.params().word_emb.shape, (core::Shape{70, 24}));
  EXPECT_EQ(g.params().mapping_w.shape, (core::Shape{48, 24}));
  EXPECT_EQ(g.params().mlm_dense_w.shape, (core::Shape{24, 48}));
  EXPECT_EQ(g.params().mlm_decoder_w.data, g.params().word_emb.data);  // generator_lm_head tied
  std::vector<model::ModelInput> in(1);
  in[0].ids = {2, 40, 41, 3, 60, 61, 3};
  in[0].type_ids = {0, 0, 0, 0, 1, 1, 1};
  model::RunOptions opt;
  opt.mlm_logits = true;
  opt.record = model::SiteSet::parse("hidden", g.layers());
  const auto a = g.forward(in, opt);
  EXPECT_EQ(a[0].mlm_logits.shape, (core::Shape{7, 70}));
  EXPECT_EQ(a[0].trace.find(model::Site::embed_out)->shape, (core::Shape{7, 48}));  // after the projection

  // The discriminator: one replaced-token logit per token; the default embedding size is half the hidden size.
  const auto disc = make("discriminator", "--discriminator");
  EXPECT_EQ(io::read_json(disc / "config.json")["architectures"][0], "ElectraForPreTraining");
  const auto d = model::Model::load(disc);
  EXPECT_EQ(d.config().head_kind(), model::HeadKind::replaced_token_detection);
  EXPECT_EQ(d.config().embedding_dim(), 24);
  model::RunOptions cls;
  cls.classifier_logits = true;
  EXPECT_EQ(d.forward(in, cls)[0].classifier_logits.shape, (core::Shape{7}));

  // embedding_size = hidden_size: no embeddings_project (unlike ALBERT, whose mapping is always there).
  const auto square = make("square", "--embedding-size 48 --labels 2");
  const auto sq = model::Model::load(square);
  EXPECT_FALSE(sq.config().has_embedding_mapping());
  EXPECT_FALSE(sq.params().has_embedding_mapping());
  EXPECT_EQ(sq.config().embedding_dim(), 48);
  EXPECT_EQ(sq.config().pooler_activation, model::PoolerActivation::gelu);
  EXPECT_EQ(sq.forward(in, cls)[0].classifier_logits.shape, (core::Shape{2}));

  // An ElectraModel saved alone: no prefix, no head; same hidden states.
  const auto bare = dir / "bare";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", generator.string(), bare.string())).status, 0);
  rewrite(bare, [](const std::string& n) {
    return n.starts_with("electra.") ? n.substr(8) : std::string();
  });
  config["architectures"] = {"ElectraModel"};
  io::write_file_atomic(bare / "config.json", config.dump());
  const auto b = model::Model::load(bare);
  EXPECT_FALSE(b.params().has_mlm_head());
  model::RunOptions plain;
  EXPECT_EQ(max_diff(b.forward(in, plain)[0].last_hidden, a[0].last_hidden), 0.0);

  // ElectraConfig's defaults fill the keys a config leaves out.
  auto sparse = config;
  for (const char* key : {"embedding_size", "hidden_size", "num_attention_heads", "intermediate_size"}) sparse.erase(key);
  const auto defaults = model::parse_config(sparse, "sparse config");
  EXPECT_EQ(defaults.embedding_dim(), 128);
  EXPECT_EQ(defaults.hidden_size, 256);
  EXPECT_EQ(defaults.num_attention_heads, 4);
  EXPECT_EQ(defaults.intermediate_size, 1024);

  // A mis-shaped embeddings_project: one line naming the file and the tensor.
  const auto broken = dir / "broken";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", generator.string(), broken.string())).status, 0);
  rewrite(broken, [](const std::string& n) { return n == "electra.embeddings_project.weight" ? std::string() : n; },
          {{"electra.embeddings_project.weight", core::Tensor({48, 25})}});
  try {
    (void)model::Model::load(broken);
    FAIL() << "loaded a [48, 25] embeddings_project for embedding_size 24";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("electra.embeddings_project.weight in model.safetensors has shape [48, 25] but config.json "
                           "implies [48, 24]"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const auto bad = test::run_command(fmt::format(
      "{} make-model --family bert --vocab-size 70 --layers 1 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
      "--embedding-size 24 --out {}",
      test::cli(), (dir / "bad").string()));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("ELECTRA's options"), std::string::npos) << bad.output;
  const auto bad_disc = test::run_command(fmt::format(
      "{} make-model --family albert --vocab-size 70 --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 5 "
      "--discriminator --out {}",
      test::cli(), (dir / "bad_disc").string()));
  EXPECT_NE(bad_disc.status, 0);
  EXPECT_NE(bad_disc.output.find("ELECTRA's options"), std::string::npos) << bad_disc.output;
}

// ModernBERT: its config keys, the fused Wqkv as three views, no attn_norm in layer 0, zero
// biases that are not parameters, transformers 5's rope_parameters equal to the legacy thetas,
// a ModernBertModel saved alone, and one-line refusals: an unknown layer type, a rope type other
// than "default", a mis-shaped Wqkv, an input longer than max_position_embeddings (nothing written).
TEST(ModelFamilies, ModernbertConfigViewsAndRefusals) {
  TempDir dir("modernbert");
  const auto out = dir / "mlm";
  const auto r = test::run_command(fmt::format(
      "{} make-model --family modernbert --vocab-size 70 --layers 4 --hidden 48 --heads 3 --intermediate 40 --seed 5 "
      "--local-attention 4 --max-positions 16 --init-std 0.2 --out {}",
      test::cli(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  auto config = io::read_json(out / "config.json");
  EXPECT_EQ(config["architectures"][0], "ModernBertForMaskedLM");
  EXPECT_EQ(config["hidden_activation"], "gelu");
  EXPECT_EQ(config["norm_eps"], 1e-5);
  EXPECT_FALSE(config.contains("type_vocab_size"));
  EXPECT_EQ(config["layer_types"], (nlohmann::json{"full_attention", "sliding_attention", "sliding_attention", "full_attention"}));
  EXPECT_EQ(config["rope_parameters"]["sliding_attention"]["rope_theta"], 10000.0);
  const auto m = model::Model::load(out);
  const auto& c = m.config();
  EXPECT_TRUE(c.sliding(1) && c.sliding(2) && !c.sliding(0) && !c.sliding(3));
  EXPECT_EQ(c.window_half(1), 2);
  EXPECT_EQ(c.rope_theta(0), 160000.0);
  EXPECT_EQ(c.rope_theta(1), 10000.0);
  const auto& p = m.params();
  EXPECT_FALSE(p.layers[0].attn_norm_g.present());
  EXPECT_TRUE(p.layers[1].attn_norm_g.present());
  EXPECT_EQ(p.layers[2].query_w.data, p.layers[2].qkv_w.data);
  EXPECT_EQ(p.layers[2].value_w.data, p.layers[2].qkv_w.data + 2 * 48 * 48);
  ASSERT_TRUE(p.layers[2].query_b.present());  // a zero bias: the config says attention_bias false
  EXPECT_EQ(p.layers[2].query_b.data[0], 0.0f);
  std::int64_t stored = 0;
  {
    io::SafetensorsFile file(out / "model.safetensors");
    for (const auto& name : file.names()) stored += core::numel(file.get(name).shape);
  }
  EXPECT_EQ(m.weights().parameter_count(), stored);  // zero biases are not parameters
  std::vector<model::ModelInput> in(1);
  in[0].ids = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 2};
  model::RunOptions opt;
  opt.mlm_logits = true;
  opt.record = model::SiteSet::parse("hidden", m.layers());
  const auto a = m.forward(in, opt);

  // The legacy keys (global_attn_every_n_layers, global/local_rope_theta) give the same model.
  auto legacy = config;
  legacy.erase("layer_types");
  legacy.erase("rope_parameters");
  legacy["global_attn_every_n_layers"] = 3;
  io::write_file_atomic(out / "config.json", legacy.dump());
  EXPECT_EQ(max_diff(a[0].mlm_logits, model::Model::load(out).forward(in, opt)[0].mlm_logits), 0.0);
  io::write_file_atomic(out / "config.json", config.dump());

  // A ModernBertModel saved alone: no "model." prefix, no head.
  const auto bare = dir / "bare";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", out.string(), bare.string())).status, 0);
  rewrite(bare, [](const std::string& n) {
    if (n.starts_with("head.") || n.starts_with("decoder.")) return std::string();
    return n.starts_with("model.") ? n.substr(6) : n;
  });
  auto bare_config = config;
  bare_config["architectures"] = {"ModernBertModel"};
  io::write_file_atomic(bare / "config.json", bare_config.dump());
  model::RunOptions hidden_only;
  hidden_only.record = opt.record;
  EXPECT_EQ(max_diff(a[0].last_hidden, model::Model::load(bare).forward(in, hidden_only)[0].last_hidden), 0.0);

  auto refuses = [&](const fs::path& folder, const std::string& what) {
    try {
      (void)model::Model::load(folder);
      ADD_FAILURE() << "loaded " << what;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(what), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  };
  auto bad = config;
  bad["layer_types"][1] = "chunked_attention";
  io::write_file_atomic(out / "config.json", bad.dump());
  refuses(out, "layer_types[1] is \"chunked_attention\"");
  bad = config;
  bad["rope_parameters"]["full_attention"]["rope_type"] = "yarn";
  io::write_file_atomic(out / "config.json", bad.dump());
  refuses(out, "rope_type \"yarn\" is not supported");
  io::write_file_atomic(out / "config.json", config.dump());
  const auto wrong = dir / "wrong";
  ASSERT_EQ(test::run_command(fmt::format("cp -r {} {}", out.string(), wrong.string())).status, 0);
  rewrite(wrong, [](const std::string& n) { return n == "model.layers.1.attn.Wqkv.weight" ? std::string() : n; },
          {{"model.layers.1.attn.Wqkv.weight", core::Tensor({96, 48})}});
  refuses(wrong, "model.layers.1.attn.Wqkv.weight in model.safetensors has shape [96, 48] but config.json implies [144, 48]");

  // An input longer than max_position_embeddings: one line, no trace written.
  const auto small = dir / "small";
  ASSERT_EQ(test::run_command(fmt::format("{} make-model --family modernbert --tokenizer {} --layers 1 --hidden 24 "
                                          "--heads 2 --intermediate 16 --seed 5 --max-positions 16 --out {}",
                                          test::cli(), (test::data_dir() / "tokenizers" / "modernbert-bpe").string(),
                                          small.string()))
                .status,
            0);
  const auto trace = dir / "trace.npz";
  const auto too_long = test::run_command(
      fmt::format("{} run --model {} --text '{}' --out {}", test::cli(), small.string(),
                  "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen",
                  trace.string()));
  EXPECT_NE(too_long.status, 0);
  EXPECT_NE(too_long.output.find("over the limit of 16"), std::string::npos) << too_long.output;
  EXPECT_EQ(std::count(too_long.output.begin(), too_long.output.end(), '\n'), 1) << too_long.output;
  EXPECT_FALSE(fs::exists(trace));
}

// Found by fuzz/fuzz_config: writing back a config.json whose "torch_dtype" (or another key
// config_to_json writes) holds a value of another JSON type threw a nlohmann type_error; it is
// now one Error(model).
TEST(ModelFamilies, FuzzConfigKeyOfTheWrongTypeIsAnErrorWhenWrittenBack) {
  const auto j = nlohmann::json::parse(R"({"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "torch_dtype": 2})");
  const auto config = model::parse_config(j, "fuzz/config.json");
  try {
    (void)model::config_to_json(config);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(ErrorKind::model)) << e.what();
    EXPECT_NE(std::string(e.what()).find("a key has a value of the wrong type"), std::string::npos) << e.what();
  }
}

// Found by fuzz/fuzz_config: a family key read without a type check ("pooler_hidden_act": 4 in a
// DeBERTa config) escaped parse_config as a nlohmann type_error; it is one Error naming the file.
TEST(ModelFamilies, FuzzConfigKeyOfTheWrongTypeIsAnErrorWhenParsed) {
  const auto j = nlohmann::json::parse(R"({"model_type": "deberta-v2", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "pooler_hidden_act": 4})");
  try {
    (void)model::parse_config(j, "fuzz/config.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(ErrorKind::model)) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("fuzz/config.json: a key has a value of the wrong type", 0), 0u) << e.what();
  }
}

// Packed weights (core::PackedWeight, on by default for untaped passes of a loaded model) give the
// forward as the stored weights do, and a packed weight's released source pages (dropped from the
// mapping once packed) read back unchanged: gradients after a packed pass equal those of a model
// that never packed.
TEST(ModelLoading, PackedWeightsGiveTheStoredForwardAndKeepTheMappingReadable) {
  TempDir dir("packed");
  const auto path = bertscope::test::make_model(dir, "m",
                                                "--layers 2 --hidden 64 --heads 4 --intermediate 256 --seed 3 --vocab " +
                                                    bertscope::test::uncased_vocab());
  auto packed = model::Model::load(path);
  auto stored = model::Model::load(path);
  stored.set_prepack(false);
  std::vector<model::ModelInput> inputs(2);
  for (std::size_t b = 0; b < inputs.size(); ++b)
    for (int i = 0; i < 9 + 4 * static_cast<int>(b); ++i) inputs[b].ids.push_back(1000 + 37 * i + 5 * static_cast<int>(b));
  model::RunOptions run;
  run.record = model::SiteSet(packed.layers());
  run.record.add(model::Site::attn_probs);
  const auto a = packed.forward(inputs, run), s = stored.forward(inputs, run);
  EXPECT_EQ(stored.packed_weight_bytes(), 0u);
  for (std::size_t b = 0; b < inputs.size(); ++b) {
    ASSERT_EQ(a[b].last_hidden.data.size(), s[b].last_hidden.data.size());
    for (std::size_t i = 0; i < s[b].last_hidden.data.size(); ++i)
      ASSERT_NEAR(a[b].last_hidden.data[i], s[b].last_hidden.data[i], 1e-5) << "input " << b << " value " << i;
  }
  // Taped passes read the weights as stored, in both models: equal gradients, bit for bit.
  auto grads = [&](const model::Model& m) {
    model::ForwardTape tape;
    const auto out = model::forward_with_tape(m, inputs, {}, {}, tape);
    std::vector<model::OutputGrad> seeds(out.size());
    for (std::size_t b = 0; b < out.size(); ++b) {
      seeds[b].last_hidden = out[b].last_hidden;  // d(0.5 |h|^2)/dh = h
    }
    model::GradRequest request;
    request.params = true;
    return model::backward(m, tape, seeds, request).param_grads;
  };
  const auto ga = grads(packed), gs = grads(stored);
  ASSERT_EQ(ga.size(), gs.size());
  for (const auto& [name, g] : gs) EXPECT_EQ(ga.at(name).data, g.data) << name;
}
