#include "io/atomic_output.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "io/error.hpp"

namespace bertscope::io {
namespace {

std::uint64_t random_tag() {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t entropy = 0;
  // getrandom can fail (very old kernels, seccomp); the pid and counter still make the name
  // unique within this machine, and O_EXCL catches the rest.
  if (getrandom(&entropy, sizeof entropy, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof entropy)) {
    entropy = 0;
  }
  return entropy ^ (static_cast<std::uint64_t>(getpid()) << 32) ^ counter.fetch_add(1);
}

std::filesystem::path directory_of(const std::filesystem::path& target) {
  std::filesystem::path dir = target.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& target) {
  if (::rename(from.c_str(), target.c_str()) != 0) {
    fail(ErrorKind::io, "cannot write {}: {}", target.string(), errno_text(errno));
  }
  // Makes the rename itself durable. Some file systems refuse fsync on directories; the file
  // is in place either way, so that is not an error.
  int dir_fd = ::open(directory_of(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace

int create_file_beside(const std::filesystem::path& target, std::string_view suffix,
                       std::filesystem::path& created) {
  if (!target.has_filename()) fail(ErrorKind::io, "cannot write {}: not a file name", target.string());
  const std::filesystem::path dir = directory_of(target);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::filesystem::path candidate =
        dir / fmt::format(".{}.{:016x}{}", target.filename().string(), random_tag(), suffix);
    // 0666 lets the umask decide the final permissions, as for any newly created file.
    int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      created = std::move(candidate);
      return fd;
    }
    if (errno != EEXIST) {
      fail(ErrorKind::io, "cannot write {}: cannot create a temporary file in {}: {}", target.string(), dir.string(),
           errno_text(errno));
    }
  }
  fail(ErrorKind::io, "cannot write {}: no free temporary file name in {}", target.string(), dir.string());
}

void write_all(int fd, std::span<const std::byte> bytes, const std::filesystem::path& name) {
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    // Linux transfers at most about 2 GiB per call; larger requests come back short.
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::io, "cannot write {}: {}", name.string(), errno_text(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void publish_file(const std::filesystem::path& path, const std::filesystem::path& target) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, "cannot write {}: {}", target.string(), errno_text(errno));
  int sync_result = ::fsync(fd);
  int sync_errno = errno;
  ::close(fd);
  if (sync_result != 0) fail(ErrorKind::io, "cannot write {}: fsync failed: {}", target.string(), errno_text(sync_errno));
  rename_into_place(path, target);
}

AtomicOutput::AtomicOutput(std::filesystem::path target) : target_(std::move(target)) {
  fd_ = create_file_beside(target_, ".tmp", temp_);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) discard();
}

void AtomicOutput::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) {
    ::unlink(temp_.c_str());
    temp_.clear();
  }
}

void AtomicOutput::write(std::span<const std::byte> bytes) {
  if (committed_ || fd_ < 0) fail(ErrorKind::internal, "write to {} after commit", target_.string());
  write_all(fd_, bytes, target_);
}

void AtomicOutput::write(std::string_view text) { write(std::as_bytes(std::span(text.data(), text.size()))); }

void AtomicOutput::commit() {
  if (committed_ || fd_ < 0) fail(ErrorKind::internal, "{} committed twice", target_.string());
  int sync_result = ::fsync(fd_);
  int sync_errno = errno;
  int close_result = ::close(fd_);
  int close_errno = errno;
  fd_ = -1;
  if (sync_result != 0) fail(ErrorKind::io, "cannot write {}: fsync failed: {}", target_.string(), errno_text(sync_errno));
  // close() reports deferred write errors on network file systems.
  if (close_result != 0) fail(ErrorKind::io, "cannot write {}: {}", target_.string(), errno_text(close_errno));
  rename_into_place(temp_, target_);
  committed_ = true;
  temp_.clear();
}

}  // namespace bertscope::io
