// Shared by the libFuzzer harnesses (fuzz/fuzz_<parser>.cpp, docs/fuzzing.md).
//
// Each harness hands the input to the parser the program uses. bertscope::Error is the expected
// answer to a malformed file and is caught; anything else (a crash, a sanitizer report, a
// std::bad_alloc from a lying size, a nlohmann::json or standard-library exception escaping the
// parser) is a bug and reaches libFuzzer, which reports it and writes the reproducer.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>

#include "bertscope/error.hpp"

namespace bertscope::fuzz {

// A file of this process under /dev/shm (or $TMPDIR when /dev/shm is missing) that holds the
// current input, for parsers that take a path. `name` is its last component, so a harness can
// choose the extension (or the file name a folder reader looks for).
inline const std::filesystem::path& scratch_dir() {
  // Never destroyed: the atexit handler that removes the folder runs after static destructors.
  static const std::filesystem::path& dir = *new std::filesystem::path([] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm")
                                 : std::getenv("TMPDIR")             ? std::filesystem::path(std::getenv("TMPDIR"))
                                                                     : std::filesystem::path("/tmp");
    auto d = base / ("bertscope-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }());
  return dir;
}

inline std::filesystem::path write_input(const std::uint8_t* data, std::size_t size, const std::string& name) {
  auto path = scratch_dir() / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Writes fuzz/companions/`name` (the fixed half of a tokenizer folder, written by
// fuzz/make_corpus.py) into the scratch folder as `as`. The companion is read once per process
// and written like an input: std::filesystem::copy_file's kernel copy can fail with EINTR when
// libFuzzer's timer signal arrives, which is the harness's failure, not the parser's.
inline void put_companion(const std::string& name, const std::string& as) {
#ifdef BERTSCOPE_FUZZ_COMPANIONS
  static auto& cache = *new std::map<std::string, std::string>();
  auto it = cache.find(name);
  if (it == cache.end()) {
    std::ifstream in(std::filesystem::path(BERTSCOPE_FUZZ_COMPANIONS) / name, std::ios::binary);
    if (!in) std::abort();
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    it = cache.emplace(name, std::move(bytes)).first;
  }
  write_input(reinterpret_cast<const std::uint8_t*>(it->second.data()), it->second.size(), as);
#else
  (void)name, (void)as;
  std::abort();
#endif
}

// Removes scratch_dir()/`name` (a file another input left there).
inline void remove_input(const std::string& name) {
  std::error_code ec;
  std::filesystem::remove(scratch_dir() / name, ec);
}

// Runs `parse`; a bertscope::Error is an expected outcome, its message must not be empty.
template <typename F>
void expect_error_or_success(F&& parse) {
  try {
    parse();
  } catch (const bertscope::Error& e) {
    if (std::string_view(e.what()).empty()) std::abort();
  }
}

}  // namespace bertscope::fuzz
