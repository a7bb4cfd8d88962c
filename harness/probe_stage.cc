#include "probe_stage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace vma::harness {

namespace fs = std::filesystem;

bool others_can_execute(const std::string& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  struct stat st {};
  if (stat(p.c_str(), &st) != 0 || !(st.st_mode & S_IXOTH)) return false;
  for (fs::path d = p.parent_path(); !d.empty(); d = d.parent_path()) {
    if (stat(d.c_str(), &st) != 0 || !(st.st_mode & S_IXOTH)) return false;
    if (d == d.root_path()) break;
  }
  return true;
}

ProbeStage::~ProbeStage() {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string ProbeStage::reachable(const std::string& path) {
  if (others_can_execute(path)) return path;
  if (auto it = copies_.find(path); it != copies_.end()) return it->second;
  std::error_code ec;
  if (dir_.empty()) {
    // $TMPDIR first, then /tmp: a caller's TMPDIR may be private to it (a
    // 0700 directory, or one under /root) where uid 65534 cannot reach.
    const char* tmp = std::getenv("TMPDIR");
    for (const std::string base : {std::string(tmp && *tmp ? tmp : "/tmp"), std::string("/tmp")}) {
      std::string tmpl = base + "/vma-harness-probes.XXXXXX";
      if (!mkdtemp(tmpl.data())) continue;
      if (chmod(tmpl.c_str(), 0755) == 0 && others_can_execute(tmpl + "/.")) {
        dir_ = tmpl;
        break;
      }
      fs::remove_all(tmpl, ec);
    }
    if (dir_.empty()) return path;  // nowhere others can reach: staging cannot help
  }
  fs::path copy = fs::path(dir_) / fs::path(path).filename();
  if (!fs::copy_file(path, copy, fs::copy_options::overwrite_existing, ec) || chmod(copy.c_str(), 0755) != 0)
    return path;
  copies_[path] = copy.string();
  return copy.string();
}

ProbeTmpDir::~ProbeTmpDir() {
  if (set_) {
    if (saved_) setenv("TMPDIR", saved_->c_str(), 1);
    else unsetenv("TMPDIR");
  }
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string ProbeTmpDir::use_for(uid_t uid, gid_t gid) {
  if (!set_) {
    if (const char* t = std::getenv("TMPDIR")) saved_ = t;
    set_ = true;
  }
  std::string tmpl = "/tmp/vma-harness-tmp.XXXXXX";
  if (dir_.empty() && mkdtemp(tmpl.data())) {
    if (chown(tmpl.c_str(), uid, gid) == 0 && chmod(tmpl.c_str(), 0700) == 0) {
      dir_ = tmpl;
    } else {
      std::error_code ec;
      fs::remove_all(tmpl, ec);
    }
  }
  const std::string use = dir_.empty() ? "/tmp" : dir_;
  setenv("TMPDIR", use.c_str(), 1);
  return use;
}

}  // namespace vma::harness
