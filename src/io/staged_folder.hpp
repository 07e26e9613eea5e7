// A folder output that appears whole or not at all: it is written as a hidden staging folder
// beside its target and renamed onto the target when complete, so a killed command leaves no
// target (or the previous one) rather than part of a new one. The staging folder holds a
// manifest saying what produced it; a later run with the same manifest resumes it (the files in
// it are complete, each written atomically), any other run starts it afresh. A run that fails
// with an error (a full disk, a bad input) removes the staging folder it created, so it leaves
// nothing behind; a killed run leaves it to be resumed, and a resumed one keeps it.
#pragma once

#include <filesystem>
#include <string>

namespace bertscope::io {

class StagedFolder {
 public:
  // Creates the staging folder, or resumes it when its manifest equals `manifest`. Throws
  // Error(io) naming the target.
  StagedFolder(std::filesystem::path target, const std::string& manifest);
  // Destroyed by an exception before commit(), removes the staging folder unless it was resumed.
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  // Where to write the folder's files.
  const std::filesystem::path& path() const { return staging_; }
  // The staging folder of `target` (what path() is): where the other processes of a distributed
  // run write their files while process 0 holds the StagedFolder.
  static std::filesystem::path staging_path(const std::filesystem::path& target);
  bool resumed() const { return resumed_; }
  // Replaces the target by the staged folder (a previous target is removed after the rename).
  void commit();

 private:
  std::filesystem::path target_, staging_;
  bool resumed_ = false;
  bool committed_ = false;
  int uncaught_ = 0;  // std::uncaught_exceptions() when constructed
};

}  // namespace bertscope::io
