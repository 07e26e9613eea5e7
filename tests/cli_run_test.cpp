// `bertscope run --input`: streamed, length-bucketed batches write one trace per input, in
// input order, equal to running each input alone.
#include <gtest/gtest.h>

#include <fstream>

#include <fmt/format.h>

#include "io/npz.hpp"
#include "test_util.hpp"

using bertscope::test::TempDir;

TEST(CliRun, BucketedCorpusRunMatchesSingleRuns) {
  TempDir dir("run");
  const auto model = dir / "model";
  auto r = bertscope::test::run_command(fmt::format(
      "{} make-model --layers 2 --hidden 32 --heads 2 --intermediate 40 --seed 3 --init-std 0.2 --vocab {} --out {}",
      bertscope::test::cli(), (bertscope::test::data_dir() / "tiny-vocab.txt").string(), model.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const std::vector<std::string> lines{"the man was in the city", "the world", "he said that the state had been there for the time",
                                       "the people\tthe city", "a", "the man was there and the people were in the city with the world",
                                       "she"};
  {
    std::ofstream out(dir / "in.txt");
    for (const auto& l : lines) out << l << "\n";
  }
  r = bertscope::test::run_command(fmt::format("{} run --model {} --input {} --out {} --batch-size 3", bertscope::test::cli(),
                                               model.string(), (dir / "in.txt").string(), (dir / "traces").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto tab = lines[i].find('\t');
    const auto text_args = tab == std::string::npos
                               ? fmt::format("--text '{}'", lines[i])
                               : fmt::format("--text '{}' --text-pair '{}'", lines[i].substr(0, tab), lines[i].substr(tab + 1));
    const auto single = dir / fmt::format("single{}.npz", i);
    r = bertscope::test::run_command(fmt::format("{} run --model {} {} --out {}", bertscope::test::cli(), model.string(),
                                                 text_args, single.string()));
    ASSERT_EQ(r.status, 0) << r.output;
    bertscope::io::NpzReader a(dir / "traces" / fmt::format("{:06d}.npz", i)), b(single);
    EXPECT_EQ(a.read("input_ids").to_i64(), b.read("input_ids").to_i64()) << "input " << i;
    EXPECT_EQ(a.read("text").to_strings(), b.read("text").to_strings()) << "input " << i;
    const auto x = a.read("attentions").to_f32(), y = b.read("attentions").to_f32();
    ASSERT_EQ(x.size(), y.size());
    for (std::size_t k = 0; k < x.size(); ++k) ASSERT_NEAR(x[k], y[k], 1e-5) << "input " << i;
    const auto hx = a.read("hidden_states").to_f32(), hy = b.read("hidden_states").to_f32();
    for (std::size_t k = 0; k < hx.size(); ++k) ASSERT_NEAR(hx[k], hy[k], 1e-4) << "input " << i;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "traces" / fmt::format("{:06d}.npz", lines.size())));
}
