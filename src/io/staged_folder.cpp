#include "io/staged_folder.hpp"

#include <fstream>
#include <exception>
#include <sstream>
#include <system_error>

#include "io/atomic_output.hpp"
#include "io/error.hpp"

namespace bertscope::io {

namespace {

constexpr const char* kManifest = ".manifest";

std::filesystem::path beside(const std::filesystem::path& target, const std::string& suffix) {
  auto name = target.filename().string();
  if (name.empty()) name = target.parent_path().filename().string();  // "out/"
  const auto parent = target.filename().empty() ? target.parent_path().parent_path() : target.parent_path();
  return parent / ("." + name + suffix);
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::filesystem::path StagedFolder::staging_path(const std::filesystem::path& target) { return beside(target, ".partial"); }

StagedFolder::StagedFolder(std::filesystem::path target, const std::string& manifest)
    : target_(std::move(target)), staging_(beside(target_, ".partial")), uncaught_(std::uncaught_exceptions()) {
  std::error_code ec;
  if (std::filesystem::exists(target_, ec) && !std::filesystem::is_directory(target_, ec))
    fail(ErrorKind::io, "{}: exists and is not a folder", target_.string());
  if (std::filesystem::is_directory(staging_, ec) && std::filesystem::exists(staging_ / kManifest, ec) &&
      read_all(staging_ / kManifest) == manifest) {
    resumed_ = true;
    return;
  }
  std::filesystem::remove_all(staging_, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot clear the unfinished output {}: {}", target_.string(), staging_.string(), ec.message());
  std::filesystem::create_directories(staging_, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot create {}: {}", target_.string(), staging_.string(), ec.message());
  try {
    AtomicOutput out(staging_ / kManifest);
    out.write(manifest);
    out.commit();
  } catch (const Error& e) {
    // No manifest (a full disk): an empty folder nothing can resume.
    std::filesystem::remove_all(staging_, ec);
    fail(e.kind(), "{}: {}", target_.string(), e.what());
  }
}

StagedFolder::~StagedFolder() {
  if (committed_ || resumed_ || std::uncaught_exceptions() <= uncaught_) return;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

void StagedFolder::commit() {
  std::error_code ec;
  std::filesystem::remove(staging_ / kManifest, ec);
  const auto old = beside(target_, ".replaced");
  std::filesystem::remove_all(old, ec);
  if (std::filesystem::exists(target_, ec)) {
    std::filesystem::rename(target_, old, ec);
    if (ec) fail(ErrorKind::io, "{}: cannot move the previous output aside: {}", target_.string(), ec.message());
  }
  std::filesystem::rename(staging_, target_, ec);
  if (ec) fail(ErrorKind::io, "{}: cannot move the finished output into place: {}", target_.string(), ec.message());
  committed_ = true;
  std::filesystem::remove_all(old, ec);
}

}  // namespace bertscope::io
