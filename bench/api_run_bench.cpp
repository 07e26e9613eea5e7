// Tokens per second of Model::run through the public C++ API, for comparison with the Python
// package (bench/python_run.sh): api_run_bench MODEL [batch tokens repeats record]
// Inputs are [CLS] + fixed ids + [SEP]; prints one JSON line per repeat.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <bertscope/bertscope.hpp>

int main(int argc, char** argv) {
  bertscope::init(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: api_run_bench MODEL [batch tokens repeats record]\n");
    return 2;
  }
  const int batch = argc > 2 ? std::atoi(argv[2]) : 8, tokens = argc > 3 ? std::atoi(argv[3]) : 128;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  const std::string record = argc > 5 ? argv[5] : "attn.probs";
  const auto model = bertscope::Model::load(argv[1]);
  const auto vocab = model.info().vocab;
  std::vector<bertscope::Input> inputs(static_cast<std::size_t>(batch));
  for (int b = 0; b < batch; ++b) {
    auto& e = inputs[static_cast<std::size_t>(b)].encoding;
    for (int i = 0; i < tokens; ++i) {
      const auto id = i == 0 ? 101 : i == tokens - 1 ? 102 : static_cast<int>((1000 + 7 * i + 13 * b) % vocab);
      e.ids.push_back(id);
      e.type_ids.push_back(0);
    }
  }
  const bertscope::RunOptions options{.record = record, .batch_size = static_cast<std::size_t>(batch)};
  model.run(inputs, options);  // warm-up
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = model.run(inputs, options);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"seconds\": %.6f, \"tokens_per_second\": %.1f}\n", s, batch * tokens / s);
  }
}
