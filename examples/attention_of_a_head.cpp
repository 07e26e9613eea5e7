// Prints one attention head's matrix for a sentence, with its tokens, using only the public API.
//
//   attention_of_a_head MODEL_FOLDER [SENTENCE] [LAYER] [HEAD]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <bertscope/bertscope.hpp>

int main(int argc, char** argv) {
  bertscope::init(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_FOLDER [SENTENCE] [LAYER] [HEAD]\n", argv[0]);
    return 2;
  }
  const std::string sentence = argc > 2 ? argv[2] : "The keys to the cabinet are on the table.";
  const long layer = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 0;
  const long head = argc > 4 ? std::strtol(argv[4], nullptr, 10) : 0;
  try {
    const auto model = bertscope::Model::load(argv[1]);
    const auto info = model.info();
    if (layer < 0 || layer >= info.layers || head < 0 || head >= info.heads) {
      std::fprintf(stderr, "layer %ld head %ld: the model has %lld layers of %lld heads\n", layer, head,
                   static_cast<long long>(info.layers), static_cast<long long>(info.heads));
      return 2;
    }
    const auto encoding = model.encode(sentence);
    bertscope::RunOptions options;
    const std::string site = "layer." + std::to_string(layer) + ".attn.probs";
    options.record = site;
    const auto output = model.run(encoding, options);
    const auto& probs = output.site(site);  // [head, query, key]
    const auto tokens = static_cast<long>(encoding.size());
    std::printf("%s %s layer %ld head %ld (0-based), %ld tokens: row = query, column = key\n", info.family.c_str(),
                info.folder.c_str(), layer, head, tokens);
    std::printf("%12s", "");
    for (long k = 0; k < tokens; ++k) std::printf(" %6.6s", encoding.tokens[static_cast<std::size_t>(k)].c_str());
    std::printf("\n");
    const float* rows = probs.data() + head * tokens * tokens;
    for (long q = 0; q < tokens; ++q) {
      std::printf("%12.12s", encoding.tokens[static_cast<std::size_t>(q)].c_str());
      for (long k = 0; k < tokens; ++k) std::printf(" %6.3f", rows[q * tokens + k]);
      std::printf("\n");
    }
  } catch (const bertscope::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
