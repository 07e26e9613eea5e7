#include "model/generator.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/float16.hpp"
#include "io/files.hpp"
#include "model/arch/family.hpp"
#include "model/weights.hpp"

namespace bertscope::model {

namespace {

// Box-Muller over mt19937_64 so the same seed gives the same weights with every standard
// library (std::normal_distribution is implementation-defined).
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : rng_(seed) {}
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0.0;
    while (u1 <= 0.0) u1 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 rng_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

bool vocab_has_upper_case(const std::vector<std::string>& vocab) {
  for (const auto& tok : vocab) {
    if (tok.size() > 2 && tok.front() == '[' && tok.back() == ']') continue;  // [CLS], [unused0], ...
    for (unsigned char ch : tok)
      if (ch >= 'A' && ch <= 'Z') return true;
  }
  return false;
}

}  // namespace

ModelConfig generator_config(const GeneratorOptions& o, std::int64_t vocab_size) {
  const auto& family = arch::family(o.family, "make-model --family");
  const bool bert = family.model_type == "bert" || family.model_type == "electra";  // two token types
  // RoBERTa's defaults as its published configs set them (positions after padding_idx 1).
  const bool albert = family.model_type == "albert";
  const bool deberta = family.model_type == "deberta-v2";
  const bool modernbert = family.model_type == "modernbert";
  const bool bert_like = bert || family.model_type == "distilbert" || albert || deberta || modernbert;
  const auto key = [&](const char* common) { return family.key(common); };
  nlohmann::json j{{"model_type", family.model_type},
                   {key("vocab_size"), vocab_size},
                   {key("hidden_size"), o.hidden},
                   {key("num_hidden_layers"), o.layers},
                   {key("num_attention_heads"), o.heads},
                   {key("intermediate_size"), o.intermediate},
                   {key("hidden_act"), o.hidden_act},
                   {key("max_position_embeddings"), o.max_positions > 0 ? o.max_positions : modernbert ? 8192 : bert_like ? 512 : 514},
                   {key("type_vocab_size"), o.type_vocab > 0 ? o.type_vocab : bert || albert ? 2 : deberta || modernbert ? 0 : 1},
                   {key("initializer_range"), o.init_std},
                   {key("layer_norm_eps"), deberta ? 1e-7 : modernbert ? 1e-5 : bert_like ? 1e-12 : 1e-5},
                   {key("pad_token_id"), family.default_pad_token_id}};
  if (o.sinusoidal_positions) {
    if (family.model_type != "distilbert")
      fail(ErrorKind::input, "--sinusoidal-positions is DistilBERT's option (sinusoidal_pos_embds), not {}'s",
           family.model_type);
    j["sinusoidal_pos_embds"] = true;
  }
  if (deberta) {
    const auto& d = o.deberta;
    j["relative_attention"] = true;
    j["position_buckets"] = d.position_buckets;
    j["max_relative_positions"] = d.max_relative_positions;
    j["pos_att_type"] = d.pos_att_type;
    j["share_att_key"] = d.share_att_key;
    j["norm_rel_ebd"] = d.norm_rel_ebd;
    j["position_biased_input"] = d.position_biased_input;
  }
  if (modernbert) {
    if (o.type_vocab > 0) fail(ErrorKind::input, "ModernBERT has no token type embeddings; drop --type-vocab");
    j.erase(key("type_vocab_size"));
    const auto& m = o.modernbert;
    j["local_attention"] = m.local_attention;
    j["global_attn_every_n_layers"] = m.global_every;
    j["global_rope_theta"] = m.global_theta;
    j["local_rope_theta"] = m.local_theta;
    j["classifier_pooling"] = m.pooling;
    j["classifier_activation"] = "gelu";
    for (const char* k : {"norm_bias", "attention_bias", "mlp_bias", "classifier_bias"}) j[k] = m.biases;
    j["decoder_bias"] = true;
    // ModernBERT's specials (OLMo's vocabulary: [CLS] 50281, [SEP] 50282, [PAD] 50283, [MASK]
    // 50284) where the vocabulary reaches them, else BERT's low ids.
    const bool full = vocab_size > 50284;
    j[key("pad_token_id")] = full ? 50283 : 0;
    j["cls_token_id"] = j["bos_token_id"] = full ? 50281 : 1;
    j["sep_token_id"] = j["eos_token_id"] = full ? 50282 : 2;
  }
  if (o.type_vocab > 0 && family.model_type == "distilbert")
    fail(ErrorKind::input, "DistilBERT has no token type embeddings; drop --type-vocab");
  const bool electra = family.model_type == "electra";
  if (albert) {
    // Sharing exercised by default: embeddings narrower than the hidden states, two groups of
    // layers where the layer count allows.
    j["embedding_size"] = o.embedding_size > 0 ? o.embedding_size : std::max<std::int64_t>(1, o.hidden / 2);
    j["num_hidden_groups"] = o.hidden_groups > 0 ? o.hidden_groups : o.layers % 2 == 0 ? 2 : 1;
    j["inner_group_num"] = o.inner_group_num > 0 ? o.inner_group_num : 1;
    j["bos_token_id"] = 2;
    j["eos_token_id"] = 3;
  } else if (electra) {
    // Half the hidden size by default, so the embeddings_project layer is there (as in
    // electra-small: 128 -> 256).
    if (o.hidden_groups > 0 || o.inner_group_num > 0)
      fail(ErrorKind::input, "--hidden-groups and --inner-group-num are ALBERT's options, not {}'s", family.model_type);
    j["embedding_size"] = o.embedding_size > 0 ? o.embedding_size : std::max<std::int64_t>(1, o.hidden / 2);
  } else if (o.embedding_size > 0 || o.hidden_groups > 0 || o.inner_group_num > 0) {
    fail(ErrorKind::input, "--embedding-size (ALBERT's and ELECTRA's options), --hidden-groups and --inner-group-num "
         "(ALBERT's options) are not {}'s", family.model_type);
  }
  if (o.discriminator && !electra)
    fail(ErrorKind::input, "--discriminator is one of ELECTRA's options, not {}'s", family.model_type);
  if (o.discriminator && o.labels > 0) fail(ErrorKind::input, "--discriminator and --labels exclude each other");
  if (!bert_like) {
    j["bos_token_id"] = 0;
    j["eos_token_id"] = 2;
  }
  const std::string prefix(family.class_prefix);
  if (o.labels > 0) {
    j["architectures"] = {prefix + "ForSequenceClassification"};
    nlohmann::json id2label = nlohmann::json::object();
    for (std::int64_t i = 0; i < o.labels; ++i) id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
    j["id2label"] = id2label;
  } else if (o.discriminator) {
    j["architectures"] = {prefix + "ForPreTraining"};  // ElectraForPreTraining: replaced-token detection
  } else {
    j["architectures"] = {prefix + "ForMaskedLM"};
  }
  return parse_config(j, "generated config");
}

std::map<std::string, core::Tensor> random_parameters(const ModelConfig& config, const GeneratorOptions& o) {
  Normal normal(o.seed);
  std::map<std::string, core::Tensor> out;
  for (const auto& spec : param_table(config)) {
    const bool mlm = config.head_kind() == HeadKind::masked_lm;
    if (spec.group == ParamGroup::pooler && mlm) continue;  // BertForMaskedLM has no pooler
    if (spec.group == ParamGroup::mlm_head && !mlm) continue;
    if (spec.group == ParamGroup::classifier && mlm) continue;
    if (spec.optional_in_group) continue;  // the tied decoder is not stored
    core::Tensor t(spec.shape);
    const bool is_norm = spec.name.find("LayerNorm") != std::string::npos || spec.name.find("layer_norm") != std::string::npos ||
                         spec.name.ends_with("norm.weight") || spec.name.ends_with("norm.bias");  // ModernBERT's *norm
    const bool is_bias = spec.name.ends_with(".bias");
    for (auto& value : t.data) {
      if (is_norm) {
        value = static_cast<float>((is_bias ? 0.0 : 1.0) + o.norm_std * normal.next());
      } else if (is_bias) {
        value = static_cast<float>(o.bias_std * normal.next());
      } else {
        value = static_cast<float>(o.init_std * normal.next());
      }
    }
    // transformers zeroes the padding row of the word embeddings at initialisation (and of the
    // position embeddings where positions count from padding_idx, as RoBERTa's do).
    const bool padded_positions = config.position_scheme == PositionScheme::after_padding &&
                                  spec.name.ends_with("embeddings.position_embeddings.weight");
    if (spec.name.ends_with("embeddings.word_embeddings.weight") || spec.name.ends_with("embeddings.tok_embeddings.weight") ||
        padded_positions)
      std::fill(t.data.begin() + config.pad_token_id * config.embedding_dim(),
                t.data.begin() + (config.pad_token_id + 1) * config.embedding_dim(), 0.0f);
    if (config.sinusoidal_positions && spec.name.ends_with("embeddings.position_embeddings.weight"))
    {
      const auto table = sinusoidal_position_table(config.max_position_embeddings, config.embedding_dim());
      std::copy(table.begin(), table.end(), t.data.begin());
    }
    out.emplace(spec.name, std::move(t));
  }
  return out;
}

void save_model_files(const ModelConfig& config, const std::map<std::string, core::Tensor>& params,
                      const std::filesystem::path& dir, io::DType dtype) {
  std::vector<std::vector<std::byte>> storage;
  std::vector<io::TensorToWrite> tensors;
  for (const auto& [name, t] : params) {
    auto& bytes = storage.emplace_back();
    if (dtype == io::DType::f32) {
      bytes.resize(t.data.size() * 4);
      std::memcpy(bytes.data(), t.ptr(), bytes.size());
    } else if (dtype == io::DType::f16 || dtype == io::DType::bf16) {
      bytes.resize(t.data.size() * 2);
      for (std::size_t i = 0; i < t.data.size(); ++i) {
        const std::uint16_t h = dtype == io::DType::f16 ? io::float_to_half(t.data[i]) : io::float_to_bf16(t.data[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    } else {
      fail(ErrorKind::input, "model weights can be written as F32, F16 or BF16, not {}", io::dtype_name(dtype));
    }
    tensors.push_back({name, dtype, t.shape, bytes});
  }
  std::filesystem::create_directories(dir);
  auto json = config_to_json(config);
  json["torch_dtype"] = dtype == io::DType::f32 ? "float32" : dtype == io::DType::f16 ? "float16" : "bfloat16";
  io::write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  io::write_file_atomic(dir / "config.json", json.dump(2) + "\n");
}

namespace {

std::vector<std::string> read_vocab_lines(const std::string& text) {
  std::vector<std::string> vocab;
  for (std::size_t start = 0; start < text.size();) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto tok = text.substr(start, end - start);
    if (!tok.empty() && tok.back() == '\r') tok.pop_back();
    vocab.push_back(tok);
    start = end + 1;
  }
  return vocab;
}

// The tokenizer files a model folder may carry, copied as they are.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json",        "tokenizer_config.json", "special_tokens_map.json",
                                           "vocab.json",            "merges.txt",            "vocab.txt",
                                           "sentencepiece.bpe.model", "spiece.model"};

// The number of ids a tokenizer folder uses: the largest id of tokenizer.json's model vocabulary
// and added tokens, or of vocab.json, plus one.
std::int64_t tokenizer_vocab_size(const std::filesystem::path& dir) {
  std::int64_t size = 0;
  auto note = [&](std::int64_t id) { size = std::max(size, id + 1); };
  if (std::filesystem::exists(dir / "tokenizer.json")) {
    const auto j = io::read_json(dir / "tokenizer.json");
    if (j.contains("model") && j["model"].contains("vocab")) {
      const auto& v = j["model"]["vocab"];
      if (v.is_object())
        for (const auto& [piece, id] : v.items())
          if (id.is_number_integer()) note(id.get<std::int64_t>());
      if (v.is_array()) note(static_cast<std::int64_t>(v.size()) - 1);  // Unigram: [piece, score] by id
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array())
      for (const auto& t : j["added_tokens"])
        if (t.contains("id") && t["id"].is_number_integer()) note(t["id"].get<std::int64_t>());
  } else if (std::filesystem::exists(dir / "vocab.json")) {
    const auto vocab = io::read_json(dir / "vocab.json");  // items() must not outlive the document
    for (const auto& [piece, id] : vocab.items())
      if (id.is_number_integer()) note(id.get<std::int64_t>());
  } else if (std::filesystem::exists(dir / "vocab.txt")) {
    size = static_cast<std::int64_t>(read_vocab_lines(io::read_file(dir / "vocab.txt")).size());
  }
  if (size == 0)
    fail(ErrorKind::input, "{}: no tokenizer.json, vocab.json or vocab.txt with token ids to size the model by",
         dir.string());
  return size;
}

// ModernBERT's config names its special tokens' ids (cls, sep, pad, bos, eos): those of the
// tokenizer folder's added tokens [CLS], [SEP], [PAD] where it has them.
void use_tokenizer_specials(ModelConfig& config, const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / "tokenizer.json")) return;
  const auto j = io::read_json(dir / "tokenizer.json");
  if (!j.contains("added_tokens") || !j["added_tokens"].is_array()) return;
  auto id_of = [&](const char* content) -> std::optional<std::int64_t> {
    for (const auto& t : j["added_tokens"])
      if (t.value("content", std::string()) == content && t.contains("id") && t["id"].is_number_integer())
        return t["id"].get<std::int64_t>();
    return std::nullopt;
  };
  nlohmann::json raw = config.raw;
  if (const auto cls = id_of("[CLS]")) raw["cls_token_id"] = raw["bos_token_id"] = *cls;
  if (const auto sep = id_of("[SEP]")) raw["sep_token_id"] = raw["eos_token_id"] = *sep;
  if (const auto pad = id_of("[PAD]")) raw["pad_token_id"] = *pad;
  config = parse_config(raw, "generated config");
}

}  // namespace

void make_model(const GeneratorOptions& o, const std::filesystem::path& out) {
  if (o.layers < 1 || o.hidden < 1 || o.heads < 1 || o.intermediate < 1)
    fail(ErrorKind::input, "make-model: layers, hidden, heads and intermediate must be positive");
  if (o.hidden % o.heads != 0)
    fail(ErrorKind::input, "make-model: hidden {} is not a multiple of heads {}", o.hidden, o.heads);
  const int sources = !o.vocab.empty() + !o.tokenizer.empty() + (o.vocab_size > 0);
  if (sources != 1)
    fail(ErrorKind::input, "make-model: give exactly one of a vocab.txt, a tokenizer folder or a vocabulary size");
  std::string vocab_text;
  std::int64_t vocab_size = o.vocab_size;
  std::vector<std::string> vocab;
  if (!o.vocab.empty()) {
    vocab_text = io::read_file(o.vocab);
    vocab = read_vocab_lines(vocab_text);
    if (vocab.empty()) fail(ErrorKind::input, "{}: the vocabulary is empty", o.vocab.string());
    vocab_size = static_cast<std::int64_t>(vocab.size());
  }
  if (!o.tokenizer.empty()) {
    if (!std::filesystem::is_directory(o.tokenizer))
      fail(ErrorKind::io, "{}: no such tokenizer folder", o.tokenizer.string());
    vocab_size = tokenizer_vocab_size(o.tokenizer);
  }
  if (std::filesystem::exists(out) && !std::filesystem::is_empty(out))
    fail(ErrorKind::io, "{}: already exists and is not empty", out.string());

  auto config = generator_config(o, vocab_size);
  if (config.model_type == "modernbert" && !o.tokenizer.empty()) use_tokenizer_specials(config, o.tokenizer);
  const auto params = random_parameters(config, o);
  // Build in a temporary folder beside the target, then rename: no half-written model folder.
  auto tmp = out;
  tmp += ".tmp-make-model";
  std::filesystem::remove_all(tmp);
  try {
    save_model_files(config, params, tmp, o.dtype);
    if (!o.vocab.empty()) {
      io::write_file_atomic(tmp / "vocab.txt", vocab_text);
      const bool lowercase = o.lowercase.value_or(!vocab_has_upper_case(vocab));
      nlohmann::json tok{{"do_lower_case", lowercase},
                         {"model_max_length", config.max_tokens()},
                         {"tokenizer_class", arch::wordpiece_tokenizer_class(config)},
                         {"unk_token", "[UNK]"},
                         {"sep_token", "[SEP]"},
                         {"pad_token", "[PAD]"},
                         {"cls_token", "[CLS]"},
                         {"mask_token", "[MASK]"}};
      io::write_file_atomic(tmp / "tokenizer_config.json", tok.dump(2) + "\n");
    }
    for (const char* name : kTokenizerFiles)
      if (!o.tokenizer.empty() && std::filesystem::exists(o.tokenizer / name))
        io::write_file_atomic(tmp / name, io::read_file(o.tokenizer / name));
    if (std::filesystem::exists(out)) std::filesystem::remove(out);
    std::filesystem::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace bertscope::model
