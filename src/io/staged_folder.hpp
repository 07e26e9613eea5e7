// A folder output that appears whole or not at all: it is written as a hidden staging folder
// beside its target and renamed onto the target when complete, so a killed command leaves no
// target (or the previous one) rather than part of a new one. The staging folder holds a
// manifest saying what produced it; a later run with the same manifest resumes it (the files in
// it are complete, each written atomically), any other run starts it afresh.
#pragma once

#include <filesystem>
#include <string>

namespace bertscope::io {

class StagedFolder {
 public:
  // Creates the staging folder, or resumes it when its manifest equals `manifest`. Throws
  // Error(io) naming the target.
  StagedFolder(std::filesystem::path target, const std::string& manifest);
  // Where to write the folder's files.
  const std::filesystem::path& path() const { return staging_; }
  bool resumed() const { return resumed_; }
  // Replaces the target by the staged folder (a previous target is removed after the rename).
  void commit();

 private:
  std::filesystem::path target_, staging_;
  bool resumed_ = false;
};

}  // namespace bertscope::io
