#include <charconv>
#include <malloc.h>
#include <memory>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/syntax.hpp"
#include "cli/commands.hpp"
#include "cli/inputs.hpp"
#include "cli/progress.hpp"
#include "dist/processes.hpp"
#include "dist/runner.hpp"
#include "io/conllu.hpp"
#include "io/error.hpp"
#include "io/npz.hpp"
#include "io/staged_folder.hpp"
#include "model/model.hpp"
#include "model/trace_file.hpp"

namespace bertscope::cli {

namespace {

// "L:H" (0-based layer and head).
std::pair<std::int64_t, std::int64_t> parse_head(const std::string& s, const char* option) {
  const auto colon = s.find(':');
  std::int64_t l = -1, h = -1;
  bool ok = colon != std::string::npos;
  if (ok) {
    auto r1 = std::from_chars(s.data(), s.data() + colon, l);
    auto r2 = std::from_chars(s.data() + colon + 1, s.data() + s.size(), h);
    ok = r1.ec == std::errc() && r1.ptr == s.data() + colon && r2.ec == std::errc() && r2.ptr == s.data() + s.size();
  }
  if (!ok) fail(ErrorKind::input, "{} \"{}\": expected LAYER:HEAD with 0-based numbers, e.g. 3:0", option, s);
  return {l, h};
}

// A CoNLL-U file as inputs: each sentence's syntactic words, tokenized word by word, so that the
// traces' word_ids index the CoNLL-U words (what the syntax analyses need to read them back).
EncodedFile encode_conllu_file(const TokenizerModel& tm, const std::string& path, bool truncate) {
  EncodedFile f;
  for (const auto& sentence : io::read_conllu(path)) {
    const auto in = analysis::syntax::conllu_input(sentence);
    const auto where = fmt::format("{}:{}", path, sentence.line);
    model::Encoding e;
    try {
      e = tm.tokenizer.encode_words(in.words, model::EncodeOptions{tm.max_length, truncate});
    } catch (const Error& err) {
      throw Error(err.kind(), fmt::format("{}: {}", where, err.what()));
    }
    if (e.num_truncated > 0)
      fmt::print(stderr, "bertscope: warning: {}: truncated to {} tokens ({} removed)\n", where, e.size(), e.num_truncated);
    io::TextInput text;
    text.text = sentence.text.empty() ? fmt::format("{}", fmt::join(in.words, " ")) : sentence.text;
    text.line = sentence.line;
    f.inputs.push_back(std::move(text));
    f.encodings.push_back(std::move(e));
  }
  return f;
}

}  // namespace

namespace {

void add_run_command(CLI::App& app) {
  struct Args {
    std::string model, text, input, out, record;
    std::optional<std::string> pair;
    std::vector<std::string> mask_heads, uniform_heads, replace;
    std::vector<std::int64_t> skip_layers;
    float mask_scale = 0.0f;
    int batch = 8, threads = 0;
    bool truncate = false, no_logits = false, python = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run the encoder and save every recorded internal as NumPy .npz: input_ids, token_type_ids, tokens, word_ids, "
      "offsets, attentions [layers, heads, T, T], hidden_states [layers+1, T, hidden], logits when the model has a "
      "head, plus any --record sites.");
  cmd->add_option("--model", args->model, "Hugging Face model folder")->required();
  auto* text = cmd->add_option("--text", args->text, "Text to run");
  cmd->add_option("--text-pair", args->pair, "Second segment of a sentence pair")->needs(text);
  auto* input = cmd->add_option("--input", args->input,
                                 "File with one text per line (a tab separates a pair), or a CoNLL-U treebank (*.conllu: "
                                 "one input per sentence, word_ids indexing its words, as `analyze syntax --traces` needs)");
  text->excludes(input);
  cmd->add_option("--out", args->out, "Output .npz (with --text) or folder of 000000.npz, ... (with --input)")->required();
  cmd->add_option("--record", args->record,
                  "Extra sites to record, comma-separated: attn.scores, attn.context, attn.out, resid_mid, ffn.act, "
                  "ffn.out, attn.query/key/value, pooler.out, layer.{l}.<site>, all");
  cmd->add_option("--batch-size", args->batch, "Inputs per forward pass with --input")->check(CLI::PositiveNumber);
  cmd->add_flag("--truncate", args->truncate, "Truncate over-long input (longest segment first) instead of failing");
  cmd->add_flag("--no-logits", args->no_logits, "Do not compute or save the task head's logits");
  cmd->add_flag("--python-tokenizer", args->python, "Tokenize like the old Python BertTokenizer");
  cmd->add_option("--mask-head", args->mask_heads, "Scale head L:H's attention by --mask-scale (head_mask); repeatable");
  cmd->add_option("--mask-scale", args->mask_scale, "Scale for --mask-head (default 0: remove the head)");
  cmd->add_option("--uniform-head", args->uniform_heads, "Give head L:H uniform attention over the input; repeatable");
  cmd->add_option("--replace-attention", args->replace,
                  "L:H=FILE.npy: use this [T, T] float matrix as head L:H's attention (with --text); repeatable");
  cmd->add_option("--skip-layer", args->skip_layers, "Replace layer L by the identity; repeatable");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args, text, input] {
    if (text->count() == 0 && input->count() == 0) throw CLI::RequiredError("--text or --input");
    apply_threads(args->threads);
    const auto flavor = args->python ? std::optional(model::TokenizerFlavor::python) : std::nullopt;
    const auto m = model::Model::load(args->model, flavor);
    const auto tm = tokenizer_of(m);
    const auto& c = m.config();

    model::RunOptions opt;
    opt.record = model::SiteSet(c.num_hidden_layers);
    opt.record.add(model::Site::attn_probs);
    opt.record.add(model::Site::embed_out);
    opt.record.add(model::Site::layer_out);
    if (!args->record.empty()) opt.record.add(model::SiteSet::parse(args->record, c.num_hidden_layers));
    auto kind = c.head_kind();
    if (!args->no_logits) {
      if (kind == model::HeadKind::masked_lm && m.params().has_mlm_head()) opt.mlm_logits = true;
      else if ((kind == model::HeadKind::sequence_classification || kind == model::HeadKind::token_classification ||
                kind == model::HeadKind::replaced_token_detection) &&
               m.params().has_classifier())
        opt.classifier_logits = true;
      else kind = model::HeadKind::none;
    } else {
      kind = model::HeadKind::none;
    }
    if (!args->mask_heads.empty()) {
      opt.head_mask = core::Tensor({c.num_hidden_layers, c.num_attention_heads}, 1.0f);
      for (const auto& s : args->mask_heads) {
        auto [l, h] = parse_head(s, "--mask-head");
        if (l < 0 || l >= c.num_hidden_layers || h < 0 || h >= c.num_attention_heads)
          fail(ErrorKind::input, "--mask-head {}: the model has {} layers x {} heads", s, c.num_hidden_layers,
               c.num_attention_heads);
        opt.head_mask.data[static_cast<std::size_t>(l * c.num_attention_heads + h)] = args->mask_scale;
      }
    }
    for (const auto& s : args->uniform_heads) opt.uniform_heads.insert(parse_head(s, "--uniform-head"));
    opt.skip_layers.insert(args->skip_layers.begin(), args->skip_layers.end());
    if (!args->replace.empty() && input->count())
      fail(ErrorKind::input, "--replace-attention works with --text (one input), not --input");

    if (text->count()) {
      const auto enc = encode_checked(tm, args->text, args->pair, args->truncate, "--text");
      auto in = model::ModelInput::from_encoding(enc);
      for (const auto& s : args->replace) {
        const auto eq = s.find('=');
        if (eq == std::string::npos) fail(ErrorKind::input, "--replace-attention \"{}\": expected L:H=FILE.npy", s);
        auto [l, h] = parse_head(s.substr(0, eq), "--replace-attention");
        const auto file = s.substr(eq + 1);
        const auto arr = io::read_npy(file);
        model::AttentionOverride o{l, h, core::Tensor(arr.shape)};
        const auto values = arr.to_f32();
        std::copy(values.begin(), values.end(), o.probs.data.begin());
        if (arr.shape != core::Shape{static_cast<std::int64_t>(enc.size()), static_cast<std::int64_t>(enc.size())})
          fail(ErrorKind::input, "{}: attention for head {}:{} has shape {}, the input has {} tokens", file, l, h,
               core::shape_string(arr.shape), enc.size());
        in.attention_overrides.push_back(std::move(o));
      }
      const auto results = m.forward(std::span(&in, 1), opt);
      std::vector<std::string> texts{args->text};
      if (args->pair) texts.push_back(*args->pair);
      model::write_trace_file(args->out, {&enc, &in, &results[0], texts, kind}, c.num_hidden_layers);
      fmt::print("wrote {} ({} tokens)\n", args->out, enc.size());
      return;
    }

    // The folder appears whole or not at all; a killed run resumes where it stopped when run
    // again with the same arguments on the same (unchanged) input file.
    std::error_code input_ec;
    const auto input_size = std::filesystem::file_size(args->input, input_ec);
    const auto input_time = std::filesystem::last_write_time(args->input, input_ec).time_since_epoch().count();
    const auto manifest = fmt::format(
        "bertscope run\nmodel {}\ninput {} ({} bytes, modified {})\nrecord {}\ntruncate {} no-logits {} python {}\n"
        "mask {} x {}\nuniform {}\nskip {}\n",
        std::filesystem::absolute(args->model).string(), std::filesystem::absolute(args->input).string(), input_size,
        input_time, args->record, args->truncate, args->no_logits, args->python, fmt::join(args->mask_heads, ","),
        args->mask_scale, fmt::join(args->uniform_heads, ","), fmt::join(args->skip_layers, ","));
    // Under mpirun, process 0 holds the staged folder and every process writes the traces of the
    // batches it takes into it (several machines need a shared folder); the hand-out of each
    // window's batches starts with all processes together, after process 0 made the folder.
    std::optional<io::StagedFolder> staged;
    if (dist::writer()) staged.emplace(args->out, manifest);
    const auto staging = io::StagedFolder::staging_path(args->out);
    const auto batch_size = static_cast<std::size_t>(args->batch);
    std::size_t written = 0, windows = 0;
    std::unique_ptr<Progress> progress;
    dist::Runner runner;  // no checkpoint: the trace files already written are run's own
    // Length bucketing: within a window of inputs, batches are formed from inputs of similar
    // length, so the batched attention products see equal lengths; packed batches waste no
    // work on padding either way. Traces are written by input number, whatever the order.
    auto trace_path = [&](std::size_t index) { return staging / fmt::format("{:06d}.npz", index); };
    auto run_window = [&](std::vector<EncodedInput>& all) {
      // Inputs whose trace a killed run already wrote (each file is written atomically) are done.
      // Every process sees the same files here: the window's hand-out has not started.
      std::vector<EncodedInput> items;
      for (auto& item : all)
        if (!std::filesystem::exists(trace_path(item.index))) items.push_back(std::move(item));
      written += all.size() - items.size();
      if (progress) progress->advance(static_cast<std::int64_t>(all.size() - items.size()));
      std::vector<std::size_t> order(items.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](auto a, auto b) { return items[a].encoding.size() < items[b].encoding.size(); });
      const auto batches = (order.size() + batch_size - 1) / batch_size;
      std::size_t shown = 0;  // of this window's inputs
      runner.map(
          fmt::format("window-{}", windows++), batches, {.max_chunk = 1, .costliest_last = true},
          [&](std::size_t b) {
            const auto start = b * batch_size, end = std::min(order.size(), start + batch_size);
            std::vector<model::ModelInput> batch;
            for (auto i = start; i < end; ++i) batch.push_back(model::ModelInput::from_encoding(items[order[i]].encoding));
            const auto results = m.forward(batch, opt);
            for (auto i = start; i < end; ++i) {
              const auto& item = items[order[i]];
              std::vector<std::string> texts{item.input.text};
              if (item.input.pair) texts.push_back(*item.input.pair);
              model::write_trace_file(trace_path(item.index),
                                      {&item.encoding, &batch[i - start], &results[i - start], texts, kind},
                                      c.num_hidden_layers);
            }
            return std::string();
          },
          [&](std::size_t k) {
            // k more batches done; only the last batch of the order may be short.
            const auto now = std::min(order.size(), shown + k * batch_size);
            if (progress) progress->advance(static_cast<std::int64_t>(now - shown));
            shown = now;
          });
      written += order.size();
      // main() keeps freed memory for reuse (no page faults per batch); once per window, give
      // back what fragmentation left unused so the peak does not creep with the corpus.
      ::malloc_trim(0);
    };
    if (args->input.ends_with(".conllu")) {
      auto file = encode_conllu_file(tm, args->input, args->truncate);
      progress = std::make_unique<Progress>("run", static_cast<std::int64_t>(file.encodings.size()));
      std::vector<EncodedInput> items;
      for (std::size_t i = 0; i < file.encodings.size(); ++i)
        items.push_back({i, std::move(file.inputs[i]), std::move(file.encodings[i])});
      run_window(items);
    } else {
      const auto total = validate_text_file(tm, args->input, args->truncate);
      progress = std::make_unique<Progress>("run", static_cast<std::int64_t>(total));
      for_each_window(tm, args->input, args->truncate, 32 * batch_size, run_window);
    }
    if (progress) progress->finish();
    if (!dist::writer()) return;
    staged->commit();
    fmt::print("wrote {} trace files to {}\n", written, args->out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 30, add_run_command);

}  // namespace bertscope::cli
