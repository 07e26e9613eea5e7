// Helpers shared by the test files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include "io/error.hpp"

namespace bertscope::test {

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "tmp") {
    path_ = std::filesystem::temp_directory_path() /
            ("bertscope-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // File names in the folder, sorted; catches stray temporary files.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path path_;
};

// Runs a shell command; returns its exit status and captures stdout+stderr.
struct CommandResult {
  int status;
  std::string output;
};
inline CommandResult run_command(const std::string& command) {
  CommandResult r{-1, {}};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string cli() { return BERTSCOPE_CLI; }

// The message of the bertscope::Error that `fn` throws, or "" when it throws none.
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A random-weight model folder `dir`/`name` made by `bertscope make-model ARGS` (a test failure
// when the command fails); returns its path.
inline std::string make_model(const TempDir& dir, const std::string& name, const std::string& args) {
  const auto out = (dir / name).string();
  const auto r = run_command(cli() + " make-model --out " + out + " " + args);
  EXPECT_EQ(r.status, 0) << r.output;
  return out;
}
inline std::filesystem::path data_dir() { return BERTSCOPE_TEST_DATA; }
inline std::string uncased_vocab() { return (data_dir() / "bert-base-uncased" / "vocab.txt").string(); }
inline std::filesystem::path golden_dir() { return BERTSCOPE_GOLDEN_DIR; }

inline std::uint64_t fnv1a64_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::istreambuf_iterator<char> it(in), end; it != end; ++it) {
    h ^= static_cast<unsigned char>(*it);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace bertscope::test
