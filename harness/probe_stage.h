#pragma once
/// \file
/// Built-in probes for a user who cannot reach them. Run as root, the
/// harness drops each probe to nobody; a build tree under a directory only
/// root can enter (a clone in /root, mode 0700) leaves nobody unable to
/// execute the probe (EACCES at execve). Such probes are copied, once per
/// run, into a fresh directory every user can enter, removed afterwards.

#include <sys/types.h>

#include <map>
#include <string>

namespace vma::harness {

/// True when a user other than the file's owner and group can execute `path`:
/// every directory on the way has o+x and the file o+x.
bool others_can_execute(const std::string& path);

class ProbeStage {
 public:
  ProbeStage() = default;
  ProbeStage(const ProbeStage&) = delete;
  ProbeStage& operator=(const ProbeStage&) = delete;
  /// Removes the staging directory and its copies.
  ~ProbeStage();

  /// `path` itself when others can execute it; else a copy (mode 0755) in
  /// the staging directory (made on first use under $TMPDIR or /tmp, mode
  /// 0755, owned by root). On a failed copy, `path` (execve then reports why).
  std::string reachable(const std::string& path);

  /// The staging directory, empty when nothing was copied.
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::map<std::string, std::string> copies_;
};

}  // namespace vma::harness
