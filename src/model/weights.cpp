#include "model/weights.hpp"

#include <bit>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/float16.hpp"
#include "io/safetensors.hpp"
#include "model/arch/family.hpp"

namespace bertscope::model {

namespace {

void convert_to_f32(const io::TensorRecord& rec, float* out) {
  const std::int64_t n = core::numel(rec.shape);
  const std::byte* p = rec.data;
  switch (rec.dtype) {
    case io::DType::f32:
      std::memcpy(out, p, static_cast<std::size_t>(n) * 4);
      break;
    case io::DType::f16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = io::half_to_float(h);
      }
      break;
    case io::DType::bf16:
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = io::bf16_to_float(h);
      }
      break;
    case io::DType::f64:
      for (std::int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    default:
      fail(ErrorKind::internal, "tensor {} is not a float tensor", rec.name);
  }
}

bool is_float_dtype(io::DType d) {
  return d == io::DType::f32 || d == io::DType::f16 || d == io::DType::bf16 || d == io::DType::f64;
}

// Points every run layer at the tensors of the layer whose weights it shares (ALBERT).
void share_layers(const ModelConfig& config, EncoderParams& p) {
  for (std::int64_t l = 0; l < config.num_hidden_layers; ++l)
    if (config.shared_layer(l) != l)
      p.layers[static_cast<std::size_t>(l)] = p.layers[static_cast<std::size_t>(config.shared_layer(l))];
}

struct Located {
  const io::SafetensorsFile* file;
  const io::TensorRecord* record;
};

}  // namespace

std::vector<ParamSpec> param_table(const ModelConfig& config) { return arch::family(config).param_table(config); }

std::vector<std::string> checkpoint_names(const ModelConfig& config, const std::string& canonical) {
  return arch::family(config).checkpoint_names(canonical);
}

std::string group_name(const ModelConfig& config, ParamGroup group) {
  for (const auto& spec : param_table(config))
    if (spec.group == group) return spec.name.substr(0, spec.name.rfind('.')) + ".*";
  return {};
}

Weights Weights::load(const std::filesystem::path& dir, const ModelConfig& config) {
  Weights w;
  const auto single = dir / "model.safetensors";
  const auto index = dir / "model.safetensors.index.json";
  std::map<std::string, Located> located;
  if (std::filesystem::exists(single)) {
    w.files_.push_back(std::make_shared<io::SafetensorsFile>(single));
  } else if (std::filesystem::exists(index)) {
    const auto j = io::read_json(index);
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail(ErrorKind::format, "{}: expected an object \"weight_map\"", index.string());
    std::map<std::string, std::shared_ptr<io::SafetensorsFile>> by_file;
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) fail(ErrorKind::format, "{}: weight_map[\"{}\"] must be a file name", index.string(), name);
      const auto fname = file.get<std::string>();
      if (fname.find('/') != std::string::npos || fname.find("..") != std::string::npos)
        fail(ErrorKind::format, "{}: weight_map[\"{}\"] names \"{}\", not a file in the model folder", index.string(),
             name, fname);
      auto& shard = by_file[fname];
      if (!shard) {
        shard = std::make_shared<io::SafetensorsFile>(dir / fname);
        w.files_.push_back(shard);
      }
      if (!shard->contains(name))
        fail(ErrorKind::format, "{}: tensor {} is listed in {} but that file does not contain it",
             (dir / fname).string(), name, index.filename().string());
      located[name] = {shard.get(), &shard->get(name)};
    }
  } else {
    const bool has_bin = std::filesystem::exists(dir / "pytorch_model.bin");
    fail(ErrorKind::io, "{}: no model.safetensors or model.safetensors.index.json{}", dir.string(),
         has_bin ? " (pytorch_model.bin is not read: convert it to safetensors, e.g. with transformers' save_pretrained)"
                 : "");
  }
  if (w.files_.size() == 1 && located.empty()) {
    for (const auto& name : w.files_[0]->names()) located[name] = {w.files_[0].get(), &w.files_[0]->get(name)};
  }

  w.params_.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  const auto table = param_table(config);
  std::vector<std::string> problems;
  std::set<std::string> used;
  // A head group counts as present when any of its required members is in the checkpoint.
  std::map<ParamGroup, bool> group_present{{ParamGroup::encoder, true}};
  std::map<std::string, std::string> found_name;
  for (const auto& spec : table) {
    for (const auto& candidate : checkpoint_names(config, spec.name)) {
      if (located.count(candidate)) {
        found_name[spec.name] = candidate;
        if (!spec.optional_in_group) group_present[spec.group] = true;
        break;
      }
    }
  }
  const auto config_name = (dir / "config.json").filename().string();
  for (const auto& spec : table) {
    if (!group_present[spec.group]) continue;
    auto it = found_name.find(spec.name);
    if (it == found_name.end()) {
      if (!spec.optional_in_group) problems.push_back(fmt::format("missing {}", spec.name));
      continue;
    }
    const auto& loc = located.at(it->second);
    const auto& rec = *loc.record;
    used.insert(it->second);
    const auto file_name = loc.file->path().filename().string();
    if (!is_float_dtype(rec.dtype)) {
      problems.push_back(fmt::format("{} in {} has dtype {}, expected a float type", rec.name, file_name,
                                     io::dtype_name(rec.dtype)));
      continue;
    }
    if (rec.shape != spec.shape) {
      problems.push_back(fmt::format("{} in {} has shape {} but {} implies {}", rec.name, file_name,
                                     core::shape_string(rec.shape), config_name, core::shape_string(spec.shape)));
      continue;
    }
    Param& slot = spec.slot(w.params_);
    slot.shape = spec.shape;
    const bool aligned = reinterpret_cast<std::uintptr_t>(rec.data) % alignof(float) == 0;
    if (rec.dtype == io::DType::f32 && aligned) {
      slot.data = reinterpret_cast<const float*>(rec.data);
      w.mapped_bytes_ += static_cast<std::int64_t>(rec.nbytes);
    } else {
      auto& buf = w.converted_.emplace_back(static_cast<std::size_t>(core::numel(rec.shape)));
      convert_to_f32(rec, buf.data());
      slot.data = buf.data();
    }
  }
  if (group_present[ParamGroup::classifier] && !config.per_token_head() &&
      !group_present[ParamGroup::pooler])
    problems.push_back(fmt::format("the classifier ({}) is present but the pooler ({}) it reads is missing",
                                   group_name(config, ParamGroup::classifier), group_name(config, ParamGroup::pooler)));
  if (!problems.empty()) {
    std::string where = w.files_.size() == 1 ? w.files_[0]->path().string() : index.string();
    std::string joined;
    for (std::size_t i = 0; i < problems.size(); ++i) joined += (i ? "; " : "") + problems[i];
    fail(ErrorKind::model, "{}: {} tensor problem{}: {}", where, problems.size(), problems.size() == 1 ? "" : "s",
         joined);
  }
  if (w.params_.has_mlm_head() && !w.params_.mlm_decoder_w.present()) w.params_.mlm_decoder_w = w.params_.word_emb;
  w.complete(config);
  for (const auto& [name, loc] : located)
    if (!used.count(name)) w.unused_.push_back(name);
  return w;
}

Weights Weights::from_tensors(const ModelConfig& config, std::map<std::string, core::Tensor> tensors) {
  Weights w;
  w.owned_ = std::move(tensors);
  w.params_.layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  std::vector<std::string> problems;
  std::map<ParamGroup, bool> group_present{{ParamGroup::encoder, true}};
  const auto table = param_table(config);
  for (const auto& spec : table)
    if (!spec.optional_in_group && w.owned_.count(spec.name)) group_present[spec.group] = true;
  for (const auto& spec : table) {
    if (!group_present[spec.group]) continue;
    auto it = w.owned_.find(spec.name);
    if (it == w.owned_.end()) {
      if (!spec.optional_in_group) problems.push_back("missing " + spec.name);
      continue;
    }
    if (it->second.shape != spec.shape) {
      problems.push_back(fmt::format("{} has shape {}, expected {}", spec.name, core::shape_string(it->second.shape),
                                     core::shape_string(spec.shape)));
      continue;
    }
    Param& slot = spec.slot(w.params_);
    slot.shape = spec.shape;
    slot.data = it->second.ptr();
  }
  if (!problems.empty()) {
    std::string joined;
    for (std::size_t i = 0; i < problems.size(); ++i) joined += (i ? "; " : "") + problems[i];
    fail(ErrorKind::model, "in-memory weights: {}", joined);
  }
  if (w.params_.has_mlm_head() && !w.params_.mlm_decoder_w.present()) w.params_.mlm_decoder_w = w.params_.word_emb;
  w.complete(config);
  return w;
}

void Weights::complete(const ModelConfig& config) {
  auto& p = params_;
  const auto h = config.hidden_size;
  for (auto& l : p.layers) {
    if (!l.qkv_w.present()) continue;
    // Wqkv's output features are [3][heads][head_dim]: row blocks q, k, v, each heads-major.
    l.query_w = {l.qkv_w.data, {h, h}};
    l.key_w = {l.qkv_w.data + h * h, {h, h}};
    l.value_w = {l.qkv_w.data + 2 * h * h, {h, h}};
    if (l.qkv_b.present()) {
      l.query_b = {l.qkv_b.data, {h}};
      l.key_b = {l.qkv_b.data + h, {h}};
      l.value_b = {l.qkv_b.data + 2 * h, {h}};
    }
  }
  auto zero_bias = [&](const Param& weight, Param& bias, std::int64_t n) {
    if (!weight.present() || bias.present()) return;
    auto& buf = converted_.emplace_back(static_cast<std::size_t>(n), 0.0f);
    bias = {buf.data(), {n}};
    synthesized_.insert(buf.data());
  };
  const auto rows = [](const Param& w) { return w.shape.empty() ? std::int64_t{0} : w.shape[0]; };
  for (auto& l : p.layers) {
    for (auto [w, b] : {std::pair{&l.query_w, &l.query_b}, {&l.key_w, &l.key_b}, {&l.value_w, &l.value_b},
                        {&l.attn_out_w, &l.attn_out_b}, {&l.ffn_in_w, &l.ffn_in_b}, {&l.ffn_out_w, &l.ffn_out_b},
                        {&l.attn_norm_g, &l.attn_norm_b}, {&l.out_norm_g, &l.out_norm_b}})
      zero_bias(*w, *b, rows(*w));
  }
  for (auto [w, b] : {std::pair{&p.emb_norm_g, &p.emb_norm_b}, {&p.final_norm_g, &p.final_norm_b}, {&p.pooler_w, &p.pooler_b},
                      {&p.pooler_norm_g, &p.pooler_norm_b}, {&p.mlm_dense_w, &p.mlm_dense_b}, {&p.mlm_norm_g, &p.mlm_norm_b},
                      {&p.mlm_decoder_w, &p.mlm_decoder_b}, {&p.classifier_w, &p.classifier_b}})
    zero_bias(*w, *b, rows(*w));
  share_layers(config, p);
}

std::int64_t Weights::parameter_count() const {
  std::set<const float*> seen;
  std::int64_t n = 0;
  auto count = [&](const Param& p) {
    if (p.present() && !synthesized_.count(p.data) && seen.insert(p.data).second) n += p.size();
  };
  const auto& p = params_;
  for (const Param* q : {&p.word_emb, &p.pos_emb, &p.type_emb, &p.emb_norm_g, &p.emb_norm_b, &p.mapping_w, &p.mapping_b, &p.pooler_w, &p.pooler_b,
                         &p.mlm_dense_w, &p.mlm_dense_b, &p.mlm_norm_g, &p.mlm_norm_b, &p.mlm_decoder_w,
                         &p.mlm_decoder_b, &p.classifier_w, &p.classifier_b, &p.rel_emb, &p.rel_norm_g, &p.rel_norm_b,
                         &p.rtd_dense_w, &p.rtd_dense_b, &p.final_norm_g, &p.final_norm_b, &p.pooler_norm_g,
                         &p.pooler_norm_b})
    count(*q);
  for (const auto& l : p.layers)
    for (const Param* q : {&l.query_w, &l.query_b, &l.key_w, &l.key_b, &l.value_w, &l.value_b, &l.attn_out_w,
                           &l.attn_out_b, &l.attn_norm_g, &l.attn_norm_b, &l.ffn_in_w, &l.ffn_in_b, &l.ffn_out_w,
                           &l.ffn_out_b, &l.out_norm_g, &l.out_norm_b, &l.pos_query_w, &l.pos_query_b, &l.pos_key_w,
                           &l.pos_key_b})
      count(*q);
  return n;
}

std::map<std::string, core::Tensor> Weights::to_tensors(const ModelConfig& config) const {
  std::map<std::string, core::Tensor> out;
  EncoderParams p = params_;
  for (const auto& spec : param_table(config)) {
    const Param& w = spec.slot(p);
    if (!w.present()) continue;
    if (spec.optional_in_group && w.data == params_.word_emb.data) continue;
    core::Tensor t = core::Tensor::uninitialized(spec.shape);
    std::copy_n(w.data, w.size(), t.data.begin());
    out.emplace(spec.name, std::move(t));
  }
  return out;
}

std::map<std::string, core::Tensor>& Weights::owned_tensors() {
  if (owned_.empty()) fail(ErrorKind::internal, "these weights are memory-mapped, not held in memory");
  return owned_;
}

std::int64_t Weights::mapped_bytes() const { return mapped_bytes_; }

bool Weights::mapped(const void* p) const {
  const auto* b = static_cast<const std::byte*>(p);
  for (const auto& f : files_) {
    const auto& m = f->mapping();
    if (m.data() && b >= m.data() && b < m.data() + m.size()) return true;
  }
  return false;
}

std::int64_t Weights::converted_bytes() const {
  std::int64_t n = 0;
  for (const auto& b : converted_)
    if (!synthesized_.count(b.data())) n += static_cast<std::int64_t>(b.size() * sizeof(float));
  return n;
}

}  // namespace bertscope::model
