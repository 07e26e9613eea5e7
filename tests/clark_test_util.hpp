// Helpers shared by the clark_*_test.cpp files: synthetic encodings, trace files written by hand
// (the way another framework would save attention), and small random models.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "core/tensor.hpp"
#include "io/files.hpp"
#include "io/npz.hpp"
#include "model/tokenizer.hpp"
#include "test_util.hpp"

namespace bertscope::test::clark {

// "[CLS] w0 w1 ... [SEP]" with one token per word unless `pieces` says how many tokens each word has.
inline model::Encoding word_encoding(std::size_t words, const std::vector<int>& pieces = {}) {
  model::Encoding e;
  auto add = [&](const std::string& tok, std::int32_t word) {
    e.ids.push_back(static_cast<std::int32_t>(e.ids.size()) + 1);
    e.tokens.push_back(tok);
    e.type_ids.push_back(0);
    e.word_ids.push_back(word);
    e.sequence_ids.push_back(word < 0 ? -1 : 0);
    e.char_offsets.emplace_back(0, 0);
    e.byte_offsets.emplace_back(0, 0);
  };
  add("[CLS]", -1);
  for (std::size_t w = 0; w < words; ++w) {
    const int n = pieces.empty() ? 1 : pieces[w];
    for (int p = 0; p < n; ++p) add(p == 0 ? fmt::format("w{}", w) : fmt::format("##p{}", p), static_cast<std::int32_t>(w));
  }
  add("[SEP]", -1);
  return e;
}

// Writes a trace .npz with the arrays analyses read (input_ids, tokens, word_ids, attentions,
// and text when given), as any framework could.
inline void write_trace(const std::filesystem::path& path, const model::Encoding& e, const core::Tensor& attentions,
                        const std::vector<std::string>& text = {}) {
  io::NpzWriter npz(path);
  const std::vector<std::int64_t> shape{static_cast<std::int64_t>(e.size())};
  npz.add_i64("input_ids", shape, std::vector<std::int64_t>(e.ids.begin(), e.ids.end()));
  npz.add_strings("tokens", shape, e.tokens);
  npz.add_i64("word_ids", shape, std::vector<std::int64_t>(e.word_ids.begin(), e.word_ids.end()));
  npz.add_i64("token_type_ids", shape, std::vector<std::int64_t>(e.type_ids.begin(), e.type_ids.end()));
  const std::vector<std::int64_t> text_shape{static_cast<std::int64_t>(text.size())};
  if (!text.empty()) npz.add_strings("text", text_shape, text);
  npz.add_f32("attentions", attentions.shape, attentions.span());
  npz.commit();
}

// Sets row `q` of head (l, h) in [layers, heads, T, T] to a one-hot on `k` (or spreads it over `ks`).
inline void point(core::Tensor& att, std::int64_t l, std::int64_t h, std::int64_t q, const std::vector<std::int64_t>& ks) {
  const auto t = att.dim(2);
  float* row = att.ptr() + ((l * att.dim(1) + h) * t + q) * t;
  std::fill(row, row + t, 0.0f);
  for (auto k : ks) row[k] += 1.0f / static_cast<float>(ks.size());
}

inline void uniform(core::Tensor& att, std::int64_t l, std::int64_t h) {
  const auto t = att.dim(2);
  float* m = att.ptr() + (l * att.dim(1) + h) * t * t;
  std::fill(m, m + t * t, 1.0f / static_cast<float>(t));
}

// A small random masked-LM model with the bert-base-uncased vocabulary (so real English words are
// single word pieces) and sharp attention; `extra` adds make-model options.
inline std::filesystem::path make_model(const TempDir& dir, const std::string& extra = "", const std::string& name = "model") {
  const auto out = dir / name;
  const auto r = run_command(fmt::format(
      "{} make-model --layers 2 --hidden 32 --heads 4 --intermediate 48 --seed 3 --init-std 0.2 --bias-std 0.1 "
      "--vocab {} --out {} {}",
      cli(), (data_dir() / "bert-base-uncased" / "vocab.txt").string(), out.string(), extra));
  EXPECT_EQ(r.status, 0) << r.output;
  return out;
}

inline std::filesystem::path clark_data(const std::string& name) { return data_dir() / "clark" / name; }

// Runs the CLI and parses --out.
inline nlohmann::json run_json(const std::string& args, const std::filesystem::path& out, std::string* printed = nullptr) {
  const auto r = run_command(cli() + " " + args + " --out " + out.string());
  EXPECT_EQ(r.status, 0) << args << "\n" << r.output;
  if (printed) *printed = r.output;
  if (r.status != 0) return nullptr;
  return nlohmann::json::parse(io::read_file(out));
}

// Runs the CLI expecting one error line that mentions every string of `must_mention`.
inline void expect_error(const std::string& args, const std::vector<std::string>& must_mention) {
  const auto r = run_command(cli() + " " + args);
  EXPECT_NE(r.status, 0) << r.output;
  std::string text = r.output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 0) << "expected one error line, got:\n" << r.output;
  EXPECT_TRUE(text.starts_with("bertscope: error: ")) << r.output;
  for (const auto& s : must_mention) EXPECT_NE(text.find(s), std::string::npos) << "no '" << s << "' in: " << text;
}

}  // namespace bertscope::test::clark
