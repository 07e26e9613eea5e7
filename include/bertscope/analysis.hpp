// Every analysis method, run in-process, returning its result document: the same JSON document
// (`method`, `model`, `data`, `params`, `results`) the CLI writes for the same inputs and options.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "bertscope/model.hpp"
#include "bertscope/view.hpp"

namespace bertscope {

// A method's options by the CLI's flag names without the leading dashes, '-' written '_'
// (`--no-layers` is "no_layers", `--batch-size` is "batch_size"), with the CLI's defaults for
// every option not given. Flags take bool, counts int64, numbers double (or int64), text a
// string: options the CLI repeats (punct_tokens) a space-separated string, options it reads as a
// comma-separated list (label_names, exclude, sources) the same comma-separated string. An
// unknown name or a value of the wrong type is an Error(input) naming the option and method.
using OptionValue = std::variant<bool, std::int64_t, double, std::string>;
using Options = std::map<std::string, OptionValue>;

// Called as work advances: items done of the total (inputs, examples).
using ProgressCallback = std::function<void(std::size_t done, std::size_t total)>;

class Document {
 public:
  Document();
  ~Document();
  Document(const Document&);
  Document& operator=(const Document&);
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;

  const std::string& method() const;
  std::string json(int indent = -1) const;  // the whole document; indent >= 0 pretty-prints
  const std::string& table() const;         // the readable summary the CLI prints
  // Writes the document as the CLI's --out does: to a temporary file beside `path`, then renamed.
  void save(const std::string& path) const;

  struct Impl;
  explicit Document(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// The methods analyze() runs, by name.
std::vector<std::string> analysis_methods();

// Runs `method` with the model on the data files (one file for most methods; several
// agreement files for influence). Methods that read attention alone (surface, syntax, ...)
// also run on traces with analyze_traces.
Document analyze(const Model& model, const std::string& method, const std::vector<std::string>& data,
                 const Options& options = {}, const ProgressCallback& progress = {});

// Compares the attention of two models of the same shape and vocabulary on the same inputs
// (`bertscope compare`; options as its flags: pad_to, task options, batch_size, truncate).
Document compare(const Model& a, const Model& b, const std::string& data, const Options& options = {},
                 const ProgressCallback& progress = {});

// Runs `method` on a folder of trace files (000000.npz ... as `bertscope run --input` writes).
Document analyze_traces(const std::string& traces_folder, const std::string& method, const std::vector<std::string>& data,
                        const Options& options = {}, const ProgressCallback& progress = {});

// Runs `method` on attention computed elsewhere and held in memory: inputs[i] is data input i
// (its encoding: tokens, word ids and roles, which analyses read instead of token strings; its
// [layers, heads, T, T] maps). Methods as analyze_traces; probe is not (it reads a dev set).
Document analyze_attention(const std::vector<AttentionView>& inputs, const std::string& method,
                           const std::vector<std::string>& data, const Options& options = {},
                           const ProgressCallback& progress = {});

}  // namespace bertscope
