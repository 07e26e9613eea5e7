// Bad input never crashes and never loses data: each case gives one clear error line naming
// the file (and tensor or line), a non-zero exit, and no partial output file.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/files.hpp"
#include "test_util.hpp"

using bertscope::test::TempDir;
namespace fs = std::filesystem;

namespace {

fs::path make_small_model(const TempDir& dir, const std::string& extra = "") {
  const auto out = dir / "model";
  const auto r = bertscope::test::run_command(fmt::format(
      "{} make-model --layers 2 --hidden 32 --heads 2 --intermediate 40 --seed 1 --vocab {} --out {} {}",
      bertscope::test::cli(), (bertscope::test::data_dir() / "tiny-vocab.txt").string(), out.string(), extra));
  EXPECT_EQ(r.status, 0) << r.output;
  return out;
}

// Runs `bertscope run` into dir/out.npz and checks the failure contract.
void expect_clean_failure(const std::string& args, const fs::path& out, const std::vector<std::string>& must_mention) {
  const auto r = bertscope::test::run_command(bertscope::test::cli() + " " + args);
  EXPECT_NE(r.status, 0) << r.output;
  std::string text = r.output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 0) << "expected one error line, got:\n" << r.output;
  EXPECT_TRUE(text.starts_with("bertscope: error: ")) << r.output;
  for (const auto& word : must_mention) EXPECT_NE(text.find(word), std::string::npos) << "no '" << word << "' in: " << text;
  EXPECT_FALSE(fs::exists(out)) << "partial output left behind: " << out;
  if (fs::is_directory(out.parent_path())) {
    for (const auto& entry : fs::directory_iterator(out.parent_path())) {
      EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "temporary file left: " << entry.path();
    }
  }
}

// Rewrites a safetensors file's JSON header with `edit` applied; the data buffer is kept.
void edit_header(const fs::path& file, const std::function<void(nlohmann::json&)>& edit) {
  auto bytes = bertscope::io::read_file(file);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  edit(header);
  auto text = header.dump();
  while (text.size() % 8) text += ' ';
  std::uint64_t m = text.size();
  std::string out(reinterpret_cast<const char*>(&m), 8);
  out += text + bytes.substr(8 + n);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << out;
}

std::string run_args(const fs::path& model, const fs::path& out, const std::string& text = "the cat sat on the mat") {
  return fmt::format("run --model {} --text '{}' --out {}", model.string(), text, out.string());
}

}  // namespace

TEST(CliBadInput, MissingConfig) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  fs::remove(model / "config.json");
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"config.json"});
}

TEST(CliBadInput, MissingWeights) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  fs::remove(model / "model.safetensors");
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors"});
}

TEST(CliBadInput, MissingModelFolder) {
  TempDir dir("bad");
  expect_clean_failure(run_args(dir / "nowhere", dir / "out.npz"), dir / "out.npz", {"nowhere"});
}

TEST(CliBadInput, TruncatedSafetensors) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  const auto size = fs::file_size(model / "model.safetensors");
  fs::resize_file(model / "model.safetensors", size / 2);
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors"});
}

TEST(CliBadInput, TruncatedInsideHeader) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  fs::resize_file(model / "model.safetensors", 100);
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors"});
}

TEST(CliBadInput, HeaderOffsetsLie) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  const std::string tensor = "bert.encoder.layer.1.output.dense.weight";
  edit_header(model / "model.safetensors", [&](nlohmann::json& h) {
    auto& off = h[tensor]["data_offsets"];
    off[1] = off[1].get<std::int64_t>() + 4000000;
  });
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors", tensor});
}

TEST(CliBadInput, HeaderSizeDisagreesWithShape) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  const std::string tensor = "bert.embeddings.LayerNorm.bias";
  edit_header(model / "model.safetensors", [&](nlohmann::json& h) { h[tensor]["shape"] = {33}; });
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors", tensor});
}

TEST(CliBadInput, UnknownDtype) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  const std::string victim = "bert.encoder.layer.0.attention.self.key.weight";
  edit_header(model / "model.safetensors", [&](nlohmann::json& h) { h[victim]["dtype"] = "F12"; });
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors", victim, "F12"});
}

TEST(CliBadInput, TensorShapeContradictsConfig) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  auto config = bertscope::io::read_json(model / "config.json");
  config["intermediate_size"] = 41;
  std::ofstream(model / "config.json") << config.dump(2);
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz",
                       {"model.safetensors", "bert.encoder.layer.0.intermediate.dense.weight", "config.json"});
}

TEST(CliBadInput, MissingTensorsReportedAtOnce) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  edit_header(model / "model.safetensors", [&](nlohmann::json& h) {
    // Renaming keeps the buffer valid and makes two tensors go missing.
    h["x.renamed.a"] = h["bert.encoder.layer.0.output.dense.bias"];
    h.erase("bert.encoder.layer.0.output.dense.bias");
    h["x.renamed.b"] = h["bert.encoder.layer.1.attention.self.query.weight"];
    h.erase("bert.encoder.layer.1.attention.self.query.weight");
  });
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz",
                       {"2 tensor problems", "bert.encoder.layer.0.output.dense.bias",
                        "bert.encoder.layer.1.attention.self.query.weight"});
}

TEST(CliBadInput, RandomBytesInsteadOfWeights) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  std::string junk(5000, '\0');
  std::uint32_t x = 12345;
  for (auto& c : junk) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
  std::ofstream(model / "model.safetensors", std::ios::binary | std::ios::trunc) << junk;
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"model.safetensors"});
}

TEST(CliBadInput, CorruptConfigJson) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  std::ofstream(model / "config.json", std::ios::trunc) << "{\"hidden_size\": 32,";
  expect_clean_failure(run_args(model, dir / "out.npz"), dir / "out.npz", {"config.json"});
}

TEST(CliBadInput, NonUtf8InputLine) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  std::ofstream(dir / "in.txt", std::ios::binary) << "the cat\nthe dog\nbad \xff\xfe byte\n";
  const auto out = dir / "traces";
  expect_clean_failure(fmt::format("run --model {} --input {} --out {}", model.string(), (dir / "in.txt").string(),
                                   out.string()),
                       out / "000000.npz", {"in.txt:3", "UTF-8"});
  EXPECT_FALSE(fs::exists(out / "000000.npz"));
}

TEST(CliBadInput, NonUtf8Text) {
  TempDir dir("bad");
  const auto model = make_small_model(dir);
  expect_clean_failure(run_args(model, dir / "out.npz", "caf\xe9"), dir / "out.npz", {"UTF-8"});
}

TEST(CliBadInput, TooLongWithoutTruncate) {
  TempDir dir("bad");
  const auto model = make_small_model(dir, "--max-positions 16");
  std::string text;
  for (int i = 0; i < 30; ++i) text += "the ";
  expect_clean_failure(run_args(model, dir / "out.npz", text), dir / "out.npz", {"32", "16", "--truncate"});
  const auto ok = bertscope::test::run_command(bertscope::test::cli() + " " + run_args(model, dir / "out.npz", text) +
                                               " --truncate");
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_NE(ok.output.find("warning"), std::string::npos) << ok.output;
  EXPECT_TRUE(fs::exists(dir / "out.npz"));
}

TEST(CliBadInput, ServeBeyondLoopbackNeedsAllowRemote) {
  bertscope::test::TempDir dir("bad-serve");
  expect_clean_failure(fmt::format("serve --host 0.0.0.0 --port 0 --results {}", dir.path().string()), dir / "none",
                       {"0.0.0.0", "--allow-remote"});
}
