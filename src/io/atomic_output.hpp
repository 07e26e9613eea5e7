// A file written beside its target and renamed onto it only when complete. Shared by every
// writer in io so that no reader ever sees a partial file and a failed write leaves the old
// file (if any) untouched.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>

namespace bertscope::io {

// Creates a new, uniquely named, empty file in the directory of `target` whose name starts
// with "." + target's file name and ends with `suffix`, opened for writing; returns its
// descriptor and sets `created` to its path. Throws Error(io) naming `target`.
int create_file_beside(const std::filesystem::path& target, std::string_view suffix,
                       std::filesystem::path& created);

// Flushes `path` to stable storage, renames it onto `target`, then flushes the directory.
// Throws Error(io) naming `target`; the caller removes `path` on failure.
void publish_file(const std::filesystem::path& path, const std::filesystem::path& target);

// Writes all of `bytes` to `fd`, retrying short writes; throws Error(io) naming `name`.
void write_all(int fd, std::span<const std::byte> bytes, const std::filesystem::path& name);

// Streams bytes into a temporary file beside `target`; commit() renames it onto `target`.
// Destroyed without commit() (an error, an exception), it removes the temporary file.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::filesystem::path target);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  void write(std::span<const std::byte> bytes);
  void write(std::string_view text);
  void commit();

  const std::filesystem::path& target() const { return target_; }

 private:
  void discard() noexcept;

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace bertscope::io
