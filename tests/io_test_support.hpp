// Helpers shared by the io tests: scratch directories, raw file writing, error capture and
// locating a Python interpreter with NumPy for the independent cross-checks.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/error.hpp"
#include "test_util.hpp"

namespace bertscope::io::testing {

using bertscope::test::TempDir;

template <typename T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

// Writes bytes as given, bypassing the code under test.
inline void write_raw(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write test file " + path.string());
}

inline std::string read_raw(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Substring and prefix checks with readable failures (the suite links gtest, not gmock).
inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

inline ::testing::AssertionResult StartsWith(const std::string& text, const std::string& prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not start with \"" << prefix << "\"";
}

// Runs `f`, expects a bertscope::Error of `kind`, and returns its message (empty on failure).
// Every message must be a single line.
template <typename F>
std::string error_of(ErrorKind kind, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message spans lines: " << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected bertscope::Error, got " << typeid(e).name() << ": " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected an error, none was thrown";
  return "";
}

// A python3 that can import numpy ("python3" on PATH first, then Debian's), or nothing.
inline std::optional<std::string> python_with_numpy() {
  static const std::optional<std::string> found = []() -> std::optional<std::string> {
    for (const char* candidate : {"python3", "/usr/bin/python3"}) {
      std::string probe = std::string(candidate) + " -c 'import numpy' >/dev/null 2>&1";
      if (std::system(probe.c_str()) == 0) return std::string(candidate);
    }
    return std::nullopt;
  }();
  return found;
}

struct CommandResult {
  int status;
  std::string output;  // stdout and stderr together
};

// Runs a Python script with the interpreter found above; the script is written to a file so
// no shell quoting is involved.
inline CommandResult run_python(const std::string& python, const std::filesystem::path& script) {
  std::string command = python + " '" + script.string() + "' 2>&1";
  CommandResult result{-1, ""};
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  result.status = ::pclose(pipe);
  return result;
}

}  // namespace bertscope::io::testing
