// dist::Runner in one process: results in item order, its checkpoint folder, resuming from it, and
// damaged or foreign checkpoints (tests/distributed.sh runs it under mpirun).
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "bertscope/error.hpp"
#include "dist/processes.hpp"
#include "dist/runner.hpp"

namespace {

namespace fs = std::filesystem;
using bertscope::dist::Checkpoint;
using bertscope::dist::Runner;

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("bertscope-dist-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string item(std::size_t i) { return "item " + std::to_string(i * i) + std::string(i % 5, '\0'); }

TEST(DistRunner, OneProcessComputesEveryItemInOrder) {
  EXPECT_EQ(bertscope::dist::size(), 1);
  EXPECT_TRUE(bertscope::dist::writer());
  Runner runner;
  std::size_t advanced = 0;
  const auto results = runner.map("stage", 37, {4}, item, [&](std::size_t k) { advanced += k; });
  ASSERT_EQ(results.size(), 37u);
  for (std::size_t i = 0; i < 37; ++i) EXPECT_EQ(results[i], item(i)) << i;
  EXPECT_EQ(advanced, 37u);
  EXPECT_TRUE(runner.map("empty", 0, {4}, item).empty());
}

TEST(DistRunner, CostliestLastHandsOutFromTheEndAndReturnsItemOrder) {
  Runner runner;
  std::vector<std::size_t> computed;
  const auto results = runner.map("sorted", 10, {.max_chunk = 3, .costliest_last = true}, [&](std::size_t i) {
    computed.push_back(i);
    return item(i);
  });
  // Guided sizes (what is left over twice the processes, at most 3) taken from the end; each
  // chunk runs in index order.
  EXPECT_EQ(computed, (std::vector<std::size_t>{7, 8, 9, 4, 5, 6, 2, 3, 1, 0}));
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(results[i], item(i)) << i;
}

TEST(DistRunner, AStoppedRunResumesFromItsCheckpointWithTheSameResults) {
  const auto dir = fresh_dir("resume");
  const Checkpoint checkpoint{dir / ".out.json.parts", false, "key 1"};
  {
    Runner runner(checkpoint);
    runner.map("first", 5, {2}, item);  // a whole stage done before the stop
    EXPECT_THROW(runner.map("second", 20, {3},
                            [](std::size_t i) -> std::string {
                              if (i == 13) throw std::runtime_error("stop at item 13");
                              return item(i);
                            }),
                 std::runtime_error);
  }
  ASSERT_TRUE(fs::exists(checkpoint.folder / "manifest.json"));
  // Resumed: the items done before the stop are not computed again.
  auto resumed = checkpoint;
  resumed.resume = true;
  Runner runner(resumed);
  std::size_t computed = 0;
  auto counting = [&](std::size_t i) {
    ++computed;
    return item(i);
  };
  const auto first = runner.map("first", 5, {2}, counting);
  EXPECT_EQ(computed, 0u);
  std::size_t advanced = 0;
  const auto second = runner.map("second", 20, {3}, counting, [&](std::size_t k) { advanced += k; });
  EXPECT_EQ(computed, 20u - (runner.reused() - 5));
  EXPECT_GE(runner.reused(), 5u + 12u);  // every item before 13 was written (chunks end at the failure)
  EXPECT_EQ(advanced, 20u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(first[i], item(i));
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(second[i], item(i)) << i;
  runner.finish();
  EXPECT_FALSE(fs::exists(checkpoint.folder));
  fs::remove_all(dir);
}

TEST(DistRunner, WithoutResumeAnOldCheckpointIsClearedNotReused) {
  const auto dir = fresh_dir("fresh");
  const Checkpoint checkpoint{dir / ".parts", false, "key"};
  { Runner(checkpoint).map("s", 4, {1}, item); }
  std::size_t computed = 0;
  Runner runner(checkpoint);
  runner.map("s", 4, {1}, [&](std::size_t i) {
    ++computed;
    return item(i);
  });
  EXPECT_EQ(computed, 4u);
  EXPECT_EQ(runner.reused(), 0u);
  fs::remove_all(dir);
}

TEST(DistRunner, ACheckpointOfOtherOptionsIsRefusedNamingTheFolder) {
  const auto dir = fresh_dir("key");
  { Runner(Checkpoint{dir / ".parts", false, "options A"}).map("s", 3, {1}, item); }
  try {
    Runner runner(Checkpoint{dir / ".parts", true, "options B"});
    FAIL() << "a checkpoint made with other options was accepted";
  } catch (const bertscope::Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / ".parts").string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("another model, data or options"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(DistRunner, ADamagedPartFileIsOneErrorNamingIt) {
  const auto dir = fresh_dir("damaged");
  const Checkpoint checkpoint{dir / ".parts", false, "k"};
  { Runner(checkpoint).map("s", 6, {2}, item); }
  // Truncate one part, and give another an item index past the stage's end.
  std::vector<fs::path> parts;
  for (const auto& e : fs::directory_iterator(checkpoint.folder / "s")) parts.push_back(e.path());
  std::sort(parts.begin(), parts.end());
  ASSERT_GE(parts.size(), 2u);
  const auto size = fs::file_size(parts[0]);
  fs::resize_file(parts[0], size - 3);
  auto resumed = checkpoint;
  resumed.resume = true;
  try {
    Runner(resumed).map("s", 6, {2}, item);
    FAIL() << "a truncated part file was read";
  } catch (const bertscope::Error& e) {
    EXPECT_NE(std::string(e.what()).find(parts[0].string()), std::string::npos) << e.what();
  }
  // The same file read as a stage of fewer items: its indices are out of range.
  fs::remove(parts[0]);
  try {
    Runner(resumed).map("s", 2, {2}, item);
    FAIL() << "an item index past the stage was accepted";
  } catch (const bertscope::Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(DistRunner, AFailureInAnItemIsThrownUnchanged) {
  Runner runner;
  try {
    runner.map("s", 4, {1}, [](std::size_t i) -> std::string {
      if (i == 2) throw bertscope::Error(bertscope::ErrorKind::input, "item 2 is bad");
      return item(i);
    });
    FAIL();
  } catch (const bertscope::Error& e) {
    EXPECT_STREQ(e.what(), "item 2 is bad");
  }
  EXPECT_THROW(runner.map("bad/name", 1, {1}, item), bertscope::Error);
}

}  // namespace
