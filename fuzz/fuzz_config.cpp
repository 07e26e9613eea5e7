// config.json of every family: model::load_config (io::read_json, then parse_config, which
// dispatches on model_type to the family's keys in model/arch), then the config is written
// back with config_to_json as a model folder's config is when saved.
#include "fuzz_util.hpp"
#include "model/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = bertscope::fuzz::write_input(data, size, "config.json");
  bertscope::fuzz::expect_error_or_success([&] {
    const auto config = bertscope::model::load_config(path);
    (void)bertscope::model::config_to_json(config).dump();
  });
  return 0;
}
