// model.safetensors.index.json (sharded checkpoints): model::Weights::load on a folder that holds
// the input as the index and two small valid shards (shard-1.safetensors with the embeddings of a
// one-layer BERT, shard-2.safetensors with one tensor), so that the index's weight_map, its file
// names and its tensor names are checked against real files.
#include <cstring>

#include "fuzz_util.hpp"
#include "io/safetensors.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace {
const bertscope::model::ModelConfig& tiny_config() {
  static const auto* config = new bertscope::model::ModelConfig(bertscope::model::parse_config(
      nlohmann::json::parse(R"({"model_type": "bert", "hidden_size": 4, "num_hidden_layers": 1,
        "num_attention_heads": 1, "intermediate_size": 8, "vocab_size": 5, "max_position_embeddings": 6,
        "type_vocab_size": 1})"),
      "fuzz config.json"));
  return *config;
}

void write_shards() {
  static bool done = false;
  if (done) return;
  done = true;
  using bertscope::io::DType;
  static const std::vector<float> zeros(64, 0.0f);
  const auto bytes = [](std::size_t n) { return std::as_bytes(std::span<const float>(zeros.data(), n)); };
  const auto dir = bertscope::fuzz::scratch_dir();
  bertscope::io::write_safetensors(dir / "shard-1.safetensors",
                                   {{"bert.embeddings.word_embeddings.weight", DType::f32, {5, 4}, bytes(20)},
                                    {"bert.embeddings.position_embeddings.weight", DType::f32, {6, 4}, bytes(24)}});
  bertscope::io::write_safetensors(dir / "shard-2.safetensors",
                                   {{"bert.embeddings.LayerNorm.weight", DType::f32, {4}, bytes(4)}});
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  write_shards();
  const auto path = bertscope::fuzz::write_input(data, size, "model.safetensors.index.json");
  bertscope::fuzz::expect_error_or_success(
      [&] { (void)bertscope::model::Weights::load(path.parent_path(), tiny_config()); });
  return 0;
}
