// tokenizer_config.json beside a tokenizer: model::Tokenizer::from_folder on a folder with the
// input as tokenizer_config.json and one fixed tokenizer of fuzz/companions/, so that the config's
// special tokens, normaliser flags, model_max_length, added_tokens_decoder and the per-family keys
// (add_prefix_space, do_lower_case, keep_accents) are read as each kind of folder reads them;
// then a fixed text is encoded. First byte % 4: vocab.txt (BERT), tokenizer.json (the fuzz
// vocab.txt's tokens as a WordPiece tokenizer.json), vocab.json + merges.txt (RoBERTa),
// spiece.model (ALBERT). special_tokens_map.json is not read by bertscope (only copied).
#include <nlohmann/json.hpp>

#include "fuzz_util.hpp"
#include "model/tokenizer.hpp"

namespace {
constexpr const char* kFolderFiles[] = {"vocab.txt", "tokenizer.json", "vocab.json", "merges.txt", "spiece.model"};

void write_tokenizer_json() {
  // The companion vocab.txt as a BERT tokenizer.json (WordPiece, BertNormalizer, TemplateProcessing).
  std::string vocab = "{";
  std::FILE* f = std::fopen(BERTSCOPE_FUZZ_COMPANIONS "/vocab.txt", "rb");
  if (!f) std::abort();
  char line[256];
  int id = 0;
  while (std::fgets(line, sizeof line, f)) {
    std::string t(line);
    if (!t.empty() && t.back() == '\n') t.pop_back();
    vocab += (id ? "," : "") + nlohmann::json(t).dump() + ":" + std::to_string(id);
    ++id;
  }
  std::fclose(f);
  vocab += "}";
  const std::string doc = R"({"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
    "normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},
    "pre_tokenizer":{"type":"BertPreTokenizer"},
    "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
      "pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],
      "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}},
    "decoder":{"type":"WordPiece","prefix":"##","cleanup":true},
    "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,"vocab":)" +
                          vocab + "}}";
  const auto& d = reinterpret_cast<const std::uint8_t*>(doc.data());
  (void)bertscope::fuzz::write_input(d, doc.size(), "tokenizer.json");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  for (const char* name : kFolderFiles) bertscope::fuzz::remove_input(name);
  switch (data[0] % 4) {
    case 0: bertscope::fuzz::put_companion("vocab.txt", "vocab.txt"); break;
    case 1: write_tokenizer_json(); break;
    case 2:
      bertscope::fuzz::put_companion("vocab.json", "vocab.json");
      bertscope::fuzz::put_companion("merges.txt", "merges.txt");
      break;
    default: bertscope::fuzz::put_companion("spiece.model", "spiece.model"); break;
  }
  const auto path = bertscope::fuzz::write_input(data + 1, size - 1, "tokenizer_config.json");
  bertscope::fuzz::expect_error_or_success([&] {
    const auto tok = bertscope::model::Tokenizer::from_folder(path.parent_path());
    bertscope::fuzz::expect_error_or_success([&] {
      const auto enc = tok.encode("Hello, wörld! The cat's 12 naïve 你好 [MASK] <mask> <new>", std::string_view("a pair"));
      for (auto id : enc.ids) (void)tok.token(id);
    });
  });
  return 0;
}
