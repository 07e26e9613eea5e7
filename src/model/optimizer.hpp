// AdamW as BERT trains with it: bias-corrected Adam moments, decoupled weight decay (not on
// biases or LayerNorm weights), global gradient-norm clipping, and a learning rate that warms
// up linearly and then decays linearly to zero.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "core/tensor.hpp"

namespace bertscope::model {

struct AdamWOptions {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-6;
  double weight_decay = 0.01;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;  // 0: constant rate after warm-up
  double clip_norm = 1.0;        // 0: no clipping
};

double learning_rate(const AdamWOptions& options, std::int64_t step);  // step counts from 0
bool has_weight_decay(const std::string& name);  // false for biases and LayerNorm parameters

struct StepInfo {
  double grad_norm = 0;  // before clipping
  double lr = 0;
};

class AdamW {
 public:
  AdamW(AdamWOptions options, const std::map<std::string, core::Tensor>& params);

  // One update of every parameter that has a gradient.
  StepInfo step(std::map<std::string, core::Tensor>& params, const std::map<std::string, core::Tensor>& grads);
  std::int64_t steps_done() const { return step_; }
  const AdamWOptions& options() const { return options_; }

  // The moments and step count, as a safetensors file (float32, exact), so training resumes
  // exactly where it stopped.
  void save(const std::filesystem::path& path) const;
  void load(const std::filesystem::path& path);

 private:
  AdamWOptions options_;
  std::int64_t step_ = 0;
  std::map<std::string, core::Tensor> m_, v_;
};

}  // namespace bertscope::model
