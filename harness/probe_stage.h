#pragma once
/// \file
/// Built-in probes for a user who cannot reach them. Run as root, the
/// harness drops each probe to nobody; a build tree under a directory only
/// root can enter (a clone in /root, mode 0700) leaves nobody unable to
/// execute the probe (EACCES at execve). Such probes are copied, once per
/// run, into a fresh directory every user can enter, removed afterwards.

#include <sys/types.h>

#include <map>
#include <optional>
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

/// The TMPDIR probes get when they run as another user (root drops them to
/// nobody): the caller's TMPDIR may be one only root can write (a 0700
/// directory under /root), and sigbus-eof, which makes its file there,
/// failed with mkstemp EACCES. A fresh directory under /tmp owned by that
/// user (mode 0700) is made and exported as TMPDIR for the run, removed
/// afterwards; when it cannot be made, TMPDIR=/tmp.
class ProbeTmpDir {
 public:
  ProbeTmpDir() = default;
  ProbeTmpDir(const ProbeTmpDir&) = delete;
  ProbeTmpDir& operator=(const ProbeTmpDir&) = delete;
  /// Restores the caller's TMPDIR and removes the directory.
  ~ProbeTmpDir();

  /// Makes the directory for `uid`:`gid` and sets TMPDIR to it in this
  /// process's environment (the probes inherit it). The directory, or "/tmp".
  std::string use_for(uid_t uid, gid_t gid);

 private:
  std::string dir_;
  std::optional<std::string> saved_;
  bool set_ = false;
};

}  // namespace vma::harness
