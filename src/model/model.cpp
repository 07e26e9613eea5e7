#include "model/model.hpp"

#include <algorithm>

#include "io/error.hpp"
#include "model/encoder.hpp"

namespace bertscope::model {

ModelInput ModelInput::from_encoding(const Encoding& encoding) {
  ModelInput in;
  in.ids = encoding.ids;
  in.type_ids = encoding.type_ids;
  return in;
}

Model::Model(ModelConfig config, Weights weights, std::optional<Tokenizer> tokenizer, std::filesystem::path dir)
    : config_(std::move(config)), weights_(std::move(weights)), tokenizer_(std::move(tokenizer)), dir_(std::move(dir)),
      caches_(std::make_shared<Caches>()) {}

Model Model::load(const std::filesystem::path& dir, std::optional<TokenizerFlavor> flavor) {
  if (!std::filesystem::is_directory(dir)) fail(ErrorKind::io, "{}: no such model folder", dir.string());
  auto config = load_config(dir / "config.json");
  auto weights = Weights::load(dir, config);
  std::optional<Tokenizer> tokenizer;
  if (Tokenizer::folder_has_tokenizer(dir)) {
    tokenizer = Tokenizer::from_folder(dir, flavor);
    tokenizer->check_vocab_size(config.vocab_size, dir);
  }
  return Model(std::move(config), std::move(weights), std::move(tokenizer), dir);
}

std::size_t Model::packed_weight_bytes() const {
  std::lock_guard<std::mutex> lock(caches_->derived_mutex);
  std::size_t bytes = 0;
  for (const auto* map : {&caches_->packed, &caches_->packed_bf16})
    for (const auto& [_, w] : *map) bytes += w->packed_bytes();
  return bytes;
}

const Tokenizer& Model::tokenizer() const {
  if (!tokenizer_) fail(ErrorKind::model, "{}: the model folder has no vocab.txt or tokenizer.json", dir_.string());
  return *tokenizer_;
}

std::size_t Model::max_length() const {
  auto limit = static_cast<std::size_t>(config_.max_tokens());
  if (tokenizer_ && tokenizer_->settings().model_max_length > 0)
    limit = std::min(limit, tokenizer_->settings().model_max_length);
  return limit;
}

Encoding Model::encode(std::string_view text, std::optional<std::string_view> pair, bool truncate) const {
  return tokenizer().encode(text, pair, EncodeOptions{max_length(), truncate});
}

std::vector<ForwardResult> Model::forward(std::span<const ModelInput> inputs, const RunOptions& options) const {
  return Encoder::run(*this, inputs, options, nullptr, nullptr);
}

}  // namespace bertscope::model
