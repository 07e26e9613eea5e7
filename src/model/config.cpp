#include "model/config.hpp"

#include <cmath>

#include "io/error.hpp"
#include "io/files.hpp"
#include "model/arch/family.hpp"

namespace bertscope::model {

std::int64_t config_int(const nlohmann::json& j, const char* key, std::int64_t fallback, const std::string& src,
                        std::int64_t min_value) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const auto& v = j[key];
  if (!v.is_number_integer())
    fail(ErrorKind::model, "{}: \"{}\" must be an integer, found {}", src, key, v.dump());
  const auto value = v.get<std::int64_t>();
  if (value < min_value) fail(ErrorKind::model, "{}: \"{}\" must be at least {}, found {}", src, key, min_value, value);
  return value;
}

double config_double(const nlohmann::json& j, const char* key, double fallback, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) fail(ErrorKind::model, "{}: \"{}\" must be a number, found {}", src, key, j[key].dump());
  return j[key].get<double>();
}

std::string config_string(const nlohmann::json& j, const char* key, const std::string& fallback, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string()) fail(ErrorKind::model, "{}: \"{}\" must be a string, found {}", src, key, j[key].dump());
  return j[key].get<std::string>();
}

bool config_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) fail(ErrorKind::model, "{}: \"{}\" must be true or false, found {}", src, key, j[key].dump());
  return j[key].get<bool>();
}

namespace {

core::Activation activation_named(const std::string& name) {
  if (name == "gelu" || name == "gelu_python") return core::Activation::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return core::Activation::gelu_tanh;
  if (name == "relu") return core::Activation::relu;
  if (name == "silu" || name == "swish") return core::Activation::silu;
  if (name == "quick_gelu") return core::Activation::gelu_quick;
  fail(ErrorKind::model, "unsupported hidden_act \"{}\"", name);
}

}  // namespace

core::Activation ModelConfig::activation() const { return activation_named(hidden_act); }
core::Activation ModelConfig::mlm_activation() const { return activation_named(mlm_hidden_act); }

std::int64_t ModelConfig::shared_layer(std::int64_t layer) const {
  if (!shares_layers) return layer;
  const auto per_group = config_layers() / num_hidden_groups;
  const auto group = (layer / inner_group_num) / per_group, inner = layer % inner_group_num;
  return group * per_group * inner_group_num + inner;
}

std::int64_t ModelConfig::max_tokens() const {
  return position_scheme == PositionScheme::after_padding ? max_position_embeddings - pad_token_id - 1
                                                          : max_position_embeddings;
}

std::vector<std::int32_t> ModelConfig::position_ids(const std::vector<std::int32_t>& ids) const {
  std::vector<std::int32_t> pos(ids.size());
  std::int32_t real = 0;
  const auto pad = static_cast<std::int32_t>(pad_token_id);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (position_scheme == PositionScheme::from_zero)
      pos[i] = static_cast<std::int32_t>(i);
    else
      pos[i] = ids[i] == pad ? pad : pad + ++real;
  }
  return pos;
}

HeadKind ModelConfig::head_kind() const {
  if (architectures.empty()) return HeadKind::masked_lm;
  const auto& a = architectures.front();
  if (a == "ElectraForPreTraining") return HeadKind::replaced_token_detection;
  if (a.ends_with("ForSequenceClassification")) return HeadKind::sequence_classification;
  if (a.ends_with("ForTokenClassification")) return HeadKind::token_classification;
  if (a.ends_with("Model") && !a.ends_with("LMHeadModel")) return HeadKind::none;
  return HeadKind::masked_lm;  // ...ForMaskedLM, BertForPreTraining, BertLMHeadModel, ...
}

std::string ModelConfig::label(std::int64_t id) const {
  auto it = id2label.find(id);
  return it != id2label.end() ? it->second : "LABEL_" + std::to_string(id);
}

namespace {
ModelConfig parse_config_unchecked(const nlohmann::json& j, const std::string& src) {
  if (!j.is_object()) fail(ErrorKind::model, "{}: expected a JSON object", src);
  ModelConfig c;
  c.raw = j;
  c.model_type = config_string(j, "model_type", "bert", src);
  const auto& family = arch::family(c.model_type, src);
  c.pad_token_id = family.default_pad_token_id;
  if (family.defaults) family.defaults(c);
  // Each shared key as the family spells it (DistilBERT: dim, n_layers, n_heads, ...).
  const auto key = [&](const char* common) { return family.key(common); };
  c.vocab_size = config_int(j, key("vocab_size").c_str(), c.vocab_size, src, 1);
  c.hidden_size = config_int(j, key("hidden_size").c_str(), c.hidden_size, src, 1);
  c.num_hidden_layers = config_int(j, key("num_hidden_layers").c_str(), c.num_hidden_layers, src, 1);
  c.num_attention_heads = config_int(j, key("num_attention_heads").c_str(), c.num_attention_heads, src, 1);
  c.intermediate_size = config_int(j, key("intermediate_size").c_str(), c.intermediate_size, src, 1);
  c.max_position_embeddings = config_int(j, key("max_position_embeddings").c_str(), c.max_position_embeddings, src, 1);
  c.type_vocab_size = config_int(j, key("type_vocab_size").c_str(), c.type_vocab_size, src, 0);
  c.pad_token_id = config_int(j, key("pad_token_id").c_str(), c.pad_token_id, src, 0);
  c.layer_norm_eps = config_double(j, key("layer_norm_eps").c_str(), c.layer_norm_eps, src);
  c.initializer_range = config_double(j, key("initializer_range").c_str(), c.initializer_range, src);
  c.hidden_act = config_string(j, key("hidden_act").c_str(), c.hidden_act, src);
  if (j.contains("sinusoidal_pos_embds") && !j["sinusoidal_pos_embds"].is_null()) {
    if (!j["sinusoidal_pos_embds"].is_boolean())
      fail(ErrorKind::model, "{}: \"sinusoidal_pos_embds\" must be true or false, found {}", src,
           j["sinusoidal_pos_embds"].dump());
    c.sinusoidal_positions = j["sinusoidal_pos_embds"].get<bool>();
  }
  // A family's own keys are checked in configure, which knows no file: its errors say
  // "config.json: ..."; they name the file read.
  try {
    family.configure(c);
  } catch (const Error& e) {
    const std::string message = e.what(), generic = "config.json: ";
    if (!message.starts_with(generic)) throw;
    throw Error(e.kind(), src + ": " + message.substr(generic.size()));
  }
  if (family.read_own_keys) family.read_own_keys(c, src);
  c.problem_type = config_string(j, "problem_type", "", src);
  if (c.hidden_size % c.num_attention_heads != 0)
    fail(ErrorKind::model, "{}: {} {} is not a multiple of {} {}", src, family.key("hidden_size"), c.hidden_size,
         family.key("num_attention_heads"), c.num_attention_heads);
  if (!(c.layer_norm_eps > 0)) fail(ErrorKind::model, "{}: layer_norm_eps must be positive", src);
  try {
    (void)c.activation();
    (void)c.mlm_activation();
  } catch (const Error& e) {
    fail(ErrorKind::model, "{}: {}", src, e.what());
  }
  const auto pos_type = config_string(j, "position_embedding_type", "absolute", src);
  if (pos_type != "absolute")
    fail(ErrorKind::model, "{}: position_embedding_type \"{}\" is not supported (only \"absolute\")", src, pos_type);
  if (c.max_tokens() < 1)
    fail(ErrorKind::model, "{}: max_position_embeddings {} leaves no position for a token after padding_idx {}", src,
         c.max_position_embeddings, c.pad_token_id);
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (const auto& a : j["architectures"]) {
      if (!a.is_string()) fail(ErrorKind::model, "{}: \"architectures\" must list strings", src);
      c.architectures.push_back(a.get<std::string>());
    }
  }
  if (j.contains("id2label") && j["id2label"].is_object()) {
    for (const auto& [key, value] : j["id2label"].items()) {
      std::int64_t id = 0;
      try {
        std::size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        fail(ErrorKind::model, "{}: id2label key \"{}\" is not an integer", src, key);
      }
      if (!value.is_string()) fail(ErrorKind::model, "{}: id2label[{}] must be a string", src, key);
      c.id2label[id] = value.get<std::string>();
    }
    c.num_labels = static_cast<std::int64_t>(c.id2label.size());
  }
  c.num_labels = config_int(j, "num_labels", c.num_labels, src, 1);
  return c;
}
}  // namespace

ModelConfig parse_config(const nlohmann::json& j, const std::string& src) {
  // A key a family reads with its JSON type unchecked (e.g. "pooler_hidden_act": 4) is a
  // malformed config like any other: one Error naming the file, not a nlohmann exception.
  try {
    return parse_config_unchecked(j, src);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::model, "{}: a key has a value of the wrong type: {}", src, e.what());
  }
}

std::vector<float> sinusoidal_position_table(std::int64_t positions, std::int64_t dim) {
  std::vector<float> table(static_cast<std::size_t>(positions * dim));
  for (std::int64_t p = 0; p < positions; ++p)
    for (std::int64_t j = 0; j < dim; ++j) {
      const double angle = static_cast<double>(p) / std::pow(10000.0, static_cast<double>(2 * (j / 2)) / static_cast<double>(dim));
      table[static_cast<std::size_t>(p * dim + j)] = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return table;
}

ModelConfig load_config(const std::filesystem::path& config_json) {
  return parse_config(io::read_json(config_json), config_json.string());
}

namespace {
nlohmann::json config_to_json_unchecked(const ModelConfig& c) {
  nlohmann::json j = c.raw.is_object() ? c.raw : nlohmann::json::object();
  const auto& family = arch::family(c);
  const auto key = [&](const char* common) { return family.key(common); };
  j["architectures"] = c.architectures;
  j["attention_probs_dropout_prob"] = j.value("attention_probs_dropout_prob", 0.1);
  j["classifier_dropout"] = j.value("classifier_dropout", nlohmann::json());
  j[key("hidden_act")] = c.hidden_act;
  j["hidden_dropout_prob"] = j.value("hidden_dropout_prob", 0.1);
  j[key("hidden_size")] = c.hidden_size;
  j[key("initializer_range")] = c.initializer_range;
  j[key("intermediate_size")] = c.intermediate_size;
  j[key("layer_norm_eps")] = c.layer_norm_eps;
  j[key("max_position_embeddings")] = c.max_position_embeddings;
  j["model_type"] = c.model_type;
  j[key("num_attention_heads")] = c.num_attention_heads;
  j[key("num_hidden_layers")] = c.num_hidden_layers;
  j[key("pad_token_id")] = c.pad_token_id;
  j["position_embedding_type"] = "absolute";
  j[key("type_vocab_size")] = c.type_vocab_size;
  j["use_cache"] = true;
  j[key("vocab_size")] = c.vocab_size;
  j["torch_dtype"] = j.value("torch_dtype", "float32");
  if (!c.id2label.empty()) {
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (const auto& [id, name] : c.id2label) {
      id2label[std::to_string(id)] = name;
      label2id[name] = id;
    }
    j["id2label"] = id2label;
    j["label2id"] = label2id;
  }
  if (!c.problem_type.empty()) j["problem_type"] = c.problem_type;
  family.write_config(c, j);
  return j;
}
}  // namespace

nlohmann::json config_to_json(const ModelConfig& c) {
  // The loaded config.json is written back with its other keys; one of the keys written here
  // that holds a value of another JSON type (e.g. "torch_dtype": 2) is reported, not thrown as a
  // nlohmann exception.
  try {
    return config_to_json_unchecked(c);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::model, "config.json of this {} model: a key has a value of the wrong type: {}", c.model_type,
         e.what());
  }
}

}  // namespace bertscope::model
