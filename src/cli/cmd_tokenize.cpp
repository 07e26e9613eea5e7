#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/inputs.hpp"
#include "model/model.hpp"

namespace bertscope::cli {

namespace {

nlohmann::json encoding_json(const model::Encoding& e) {
  nlohmann::json offsets = nlohmann::json::array();
  for (const auto& [b, end] : e.char_offsets) offsets.push_back({b, end});
  nlohmann::json roles = nlohmann::json::array();
  for (auto r : e.roles) roles.push_back(tokenizer::role_name(r));
  return {{"tokens", e.tokens}, {"ids", e.ids},         {"type_ids", e.type_ids}, {"word_ids", e.word_ids},
          {"roles", roles},     {"offsets", offsets}, {"truncated", e.num_truncated}};
}

void print_table(const model::Encoding& e) {
  fmt::print("{:>5}  {:<20} {:>7} {:>5} {:>5}  {}\n", "pos", "token", "id", "type", "word", "chars");
  for (std::size_t i = 0; i < e.size(); ++i) {
    const auto word = e.word_ids[i] < 0 ? std::string("-") : std::to_string(e.word_ids[i]);
    const auto span = e.sequence_ids[i] < 0 ? std::string("-")
                                             : fmt::format("{}..{}", e.char_offsets[i].first, e.char_offsets[i].second);
    fmt::print("{:>5}  {:<20} {:>7} {:>5} {:>5}  {}\n", i, e.tokens[i], e.ids[i], e.type_ids[i], word, span);
  }
}

}  // namespace

namespace {

void add_tokenize_command(CLI::App& app) {
  struct Args {
    std::string model, text, input, format;
    std::optional<std::string> pair;
    bool truncate = false, python = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "Tokenize like the model's Hugging Face tokenizer: tokens, ids, word ids, token types, character spans.");
  cmd->add_option("--model", args->model, "Model folder (vocab.txt or tokenizer.json)")->required();
  auto* text = cmd->add_option("--text", args->text, "Text to tokenize");
  cmd->add_option("--text-pair", args->pair, "Second segment of a sentence pair")->needs(text);
  auto* input = cmd->add_option("--input", args->input, "File with one text per line (a tab separates a pair)");
  text->excludes(input);
  cmd->add_option("--format", args->format,
                  "Output: table (default for --text), ids (one line of ids per input, default for --input), "
                  "tokens, json (one JSON object per input)")
      ->check(CLI::IsMember({"table", "ids", "tokens", "json"}));
  cmd->add_flag("--truncate", args->truncate, "Truncate over-long input (longest segment first) instead of failing");
  cmd->add_flag("--python-tokenizer", args->python,
                "Behave like the old Python BertTokenizer (NFC first, drops unassigned code points)");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args, text, input] {
    if (text->count() == 0 && input->count() == 0) throw CLI::RequiredError("--text or --input");
    const auto flavor = args->python ? std::optional(model::TokenizerFlavor::python) : std::nullopt;
    const auto tokenizer_model = load_tokenizer_only(args->model, flavor);
    std::vector<model::Encoding> encodings;
    if (input->count()) {
      encodings = encode_file(tokenizer_model, args->input, args->truncate).encodings;
    } else {
      encodings.push_back(encode_checked(tokenizer_model, args->text, args->pair, args->truncate, "--text"));
    }
    const auto format = !args->format.empty() ? args->format : input->count() ? "ids" : "table";
    std::string out;
    for (const auto& e : encodings) {
      if (format == "ids") {
        out += fmt::format("{}\n", fmt::join(e.ids, " "));
      } else if (format == "tokens") {
        out += fmt::format("{}\n", fmt::join(e.tokens, " "));
      } else if (format == "json") {
        out += encoding_json(e).dump() + "\n";
      } else {
        std::fflush(stdout);
        print_table(e);
      }
    }
    fmt::print("{}", out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 20, add_tokenize_command);

}  // namespace bertscope::cli
