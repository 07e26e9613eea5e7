#include "model/generator.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/files.hpp"
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

std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::int32_t exp = static_cast<std::int32_t>((x >> 23) & 0xffu) - 127 + 15;
  std::uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xffu) == 0xffu) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {  // subnormal or zero, round to nearest even
    if (exp < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    std::uint32_t half = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = sign | (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // carries into the exponent correctly
  return static_cast<std::uint16_t>(half);
}

std::uint16_t float_to_bf16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  const std::uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>((x + rounding) >> 16);
}

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
  nlohmann::json j{{"model_type", "bert"},
                   {"vocab_size", vocab_size},
                   {"hidden_size", o.hidden},
                   {"num_hidden_layers", o.layers},
                   {"num_attention_heads", o.heads},
                   {"intermediate_size", o.intermediate},
                   {"hidden_act", o.hidden_act},
                   {"max_position_embeddings", o.max_positions},
                   {"type_vocab_size", o.type_vocab},
                   {"initializer_range", o.init_std},
                   {"layer_norm_eps", 1e-12},
                   {"pad_token_id", 0}};
  if (o.labels > 0) {
    j["architectures"] = {"BertForSequenceClassification"};
    nlohmann::json id2label = nlohmann::json::object();
    for (std::int64_t i = 0; i < o.labels; ++i) id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
    j["id2label"] = id2label;
  } else {
    j["architectures"] = {"BertForMaskedLM"};
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
    const bool is_norm = spec.name.find("LayerNorm") != std::string::npos;
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
    // transformers zeroes the padding row of the word embeddings at initialisation.
    if (spec.name == "bert.embeddings.word_embeddings.weight")
      std::fill(t.data.begin() + config.pad_token_id * config.hidden_size,
                t.data.begin() + (config.pad_token_id + 1) * config.hidden_size, 0.0f);
    out.emplace(spec.name, std::move(t));
  }
  return out;
}

void save_model_files(const ModelConfig& config, const std::map<std::string, core::Tensor>& params,
                      const std::filesystem::path& dir, io::DType dtype) {
  std::vector<std::vector<std::byte>> storage;
  std::vector<io::TensorToWrite> tensors;
  const bool tied = !params.count("cls.predictions.decoder.weight");
  for (const auto& [name, t] : params) {
    if (name == "cls.predictions.decoder.weight" && tied) continue;
    auto& bytes = storage.emplace_back();
    if (dtype == io::DType::f32) {
      bytes.resize(t.data.size() * 4);
      std::memcpy(bytes.data(), t.ptr(), bytes.size());
    } else if (dtype == io::DType::f16 || dtype == io::DType::bf16) {
      bytes.resize(t.data.size() * 2);
      for (std::size_t i = 0; i < t.data.size(); ++i) {
        const std::uint16_t h = dtype == io::DType::f16 ? float_to_half(t.data[i]) : float_to_bf16(t.data[i]);
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

void make_model(const GeneratorOptions& o, const std::filesystem::path& out) {
  if (o.layers < 1 || o.hidden < 1 || o.heads < 1 || o.intermediate < 1)
    fail(ErrorKind::input, "make-model: layers, hidden, heads and intermediate must be positive");
  if (o.hidden % o.heads != 0)
    fail(ErrorKind::input, "make-model: hidden {} is not a multiple of heads {}", o.hidden, o.heads);
  const auto vocab_text = io::read_file(o.vocab);
  std::vector<std::string> vocab;
  for (std::size_t start = 0; start < vocab_text.size();) {
    auto end = vocab_text.find('\n', start);
    if (end == std::string::npos) end = vocab_text.size();
    auto tok = vocab_text.substr(start, end - start);
    if (!tok.empty() && tok.back() == '\r') tok.pop_back();
    vocab.push_back(tok);
    start = end + 1;
  }
  if (vocab.empty()) fail(ErrorKind::input, "{}: the vocabulary is empty", o.vocab.string());
  if (std::filesystem::exists(out) && !std::filesystem::is_empty(out))
    fail(ErrorKind::io, "{}: already exists and is not empty", out.string());

  const auto config = generator_config(o, static_cast<std::int64_t>(vocab.size()));
  const auto params = random_parameters(config, o);
  // Build in a temporary folder beside the target, then rename: no half-written model folder.
  auto tmp = out;
  tmp += ".tmp-make-model";
  std::filesystem::remove_all(tmp);
  try {
    save_model_files(config, params, tmp, o.dtype);
    io::write_file_atomic(tmp / "vocab.txt", vocab_text);
    const bool lowercase = o.lowercase.value_or(!vocab_has_upper_case(vocab));
    nlohmann::json tok{{"do_lower_case", lowercase},
                       {"model_max_length", o.max_positions},
                       {"tokenizer_class", "BertTokenizer"},
                       {"unk_token", "[UNK]"},
                       {"sep_token", "[SEP]"},
                       {"pad_token", "[PAD]"},
                       {"cls_token", "[CLS]"},
                       {"mask_token", "[MASK]"}};
    io::write_file_atomic(tmp / "tokenizer_config.json", tok.dump(2) + "\n");
    if (std::filesystem::exists(out)) std::filesystem::remove(out);
    std::filesystem::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace bertscope::model
