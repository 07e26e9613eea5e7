#include "model/optimizer.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "io/error.hpp"
#include "io/safetensors.hpp"

namespace bertscope::model {

double learning_rate(const AdamWOptions& o, std::int64_t step) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  if (o.total_steps <= 0) return o.lr;
  const double left = static_cast<double>(o.total_steps - step) / static_cast<double>(std::max<std::int64_t>(1, o.total_steps - o.warmup_steps));
  return o.lr * std::max(0.0, left);
}

bool has_weight_decay(const std::string& name) {
  return !(name.ends_with(".bias") || name.find("LayerNorm") != std::string::npos ||
           name.find("layer_norm") != std::string::npos);  // RoBERTa's lm_head.layer_norm, DistilBERT's norms
}

AdamW::AdamW(AdamWOptions options, const std::map<std::string, core::Tensor>& params) : options_(options) {
  for (const auto& [name, t] : params) {
    m_.emplace(name, core::Tensor(t.shape));
    v_.emplace(name, core::Tensor(t.shape));
  }
}

StepInfo AdamW::step(std::map<std::string, core::Tensor>& params, const std::map<std::string, core::Tensor>& grads) {
  StepInfo info;
  double sq = 0;
  for (const auto& [name, g] : grads)
    for (float v : g.data) sq += static_cast<double>(v) * v;
  info.grad_norm = std::sqrt(sq);
  const double clip = options_.clip_norm > 0 && info.grad_norm > options_.clip_norm ? options_.clip_norm / info.grad_norm : 1.0;
  info.lr = learning_rate(options_, step_);
  ++step_;
  const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  for (const auto& [name, g] : grads) {
    auto pit = params.find(name);
    if (pit == params.end()) fail(ErrorKind::internal, "AdamW: gradient for unknown parameter {}", name);
    auto& w = pit->second.data;
    auto& m = m_.at(name).data;
    auto& v = v_.at(name).data;
    const float decay = has_weight_decay(name) ? static_cast<float>(info.lr * options_.weight_decay) : 0.0f;
    const float step_size = static_cast<float>(info.lr / bc1);
    const float inv_bc2 = static_cast<float>(1.0 / bc2);
    const float eps = static_cast<float>(options_.eps), c = static_cast<float>(clip);
    const auto n = static_cast<std::int64_t>(w.size());
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) {
      const float gi = g.data[static_cast<std::size_t>(i)] * c;
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      w[i] -= decay * w[i];  // decoupled weight decay
      w[i] -= step_size * m[i] / (std::sqrt(v[i] * inv_bc2) + eps);
    }
  }
  return info;
}

void AdamW::save(const std::filesystem::path& path) const {
  std::vector<io::TensorToWrite> tensors;
  for (const auto* moments : {&m_, &v_})
    for (const auto& [name, t] : *moments)
      tensors.push_back({(moments == &m_ ? "m." : "v.") + name, io::DType::f32, t.shape,
                         std::as_bytes(std::span(t.data.data(), t.data.size()))});
  io::write_safetensors(path, tensors, {{"step", std::to_string(step_)}, {"format", "bertscope-adamw"}});
}

void AdamW::load(const std::filesystem::path& path) {
  io::SafetensorsFile file(path);
  const auto& meta = file.metadata();
  auto it = meta.find("step");
  if (it == meta.end()) fail(ErrorKind::format, "{}: no step count in the optimizer state", path.string());
  step_ = std::stoll(it->second);
  for (auto* moments : {&m_, &v_})
    for (auto& [name, t] : *moments) {
      const auto key = (moments == &m_ ? "m." : "v.") + name;
      if (!file.contains(key)) fail(ErrorKind::format, "{}: no optimizer state for {}", path.string(), name);
      const auto& rec = file.get(key);
      if (rec.dtype != io::DType::f32 || rec.shape != t.shape)
        fail(ErrorKind::format, "{}: optimizer state {} does not match the model", path.string(), key);
      std::memcpy(t.data.data(), rec.data, rec.nbytes);
    }
}

}  // namespace bertscope::model
