#include "kconfig.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "read_file.h"

namespace vma::harness {

std::optional<std::string> Kconfig::get(std::string_view name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

Result<Kconfig> parse_kconfig(std::string_view text, std::string source) {
  Kconfig k;
  k.source = std::move(source);
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      // "# CONFIG_FOO is not set"; any other comment is a heading.
      constexpr std::string_view kPrefix = "# CONFIG_", kSuffix = " is not set";
      if (line.starts_with(kPrefix) && line.ends_with(kSuffix)) {
        std::string_view name = line.substr(kPrefix.size(), line.size() - kPrefix.size() - kSuffix.size());
        k.options[std::string(name)] = "n";
      }
      continue;
    }
    const std::size_t eq = line.find('=');
    if (!line.starts_with("CONFIG_") || eq == std::string_view::npos || eq == 7)
      return Error{k.source + ":" + std::to_string(line_no) + ": expected CONFIG_NAME=value"};
    k.options[std::string(line.substr(7, eq - 7))] = std::string(line.substr(eq + 1));
  }
  return k;
}

Result<std::string> read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return Error{path + ": " + std::strerror(errno ? errno : ENOMEM)};
  std::string out;
  char buf[65536];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int zerr = 0;
      std::string msg = gzerror(f, &zerr);
      gzclose(f);
      return Error{path + ": " + msg};
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(f);
  return out;
}

Result<Kconfig> read_kconfig(const std::string& release, const std::string& file) {
  if (!file.empty()) {
    auto text = os::read_file(file);
    if (!text) return text.error();
    return parse_kconfig(*text, file);
  }
  const std::string proc = "/proc/config.gz";
  const std::string boot = "/boot/config-" + release;
  // Why /proc/config.gz did not serve, when it exists.
  std::string proc_problem;
  if (access(proc.c_str(), R_OK) == 0) {
    auto text = read_gzip(proc);
    if (text) return parse_kconfig(*text, proc);
    proc_problem = text.error().message;
  } else if (errno != ENOENT) {
    proc_problem = proc + ": " + std::strerror(errno);
  }
  // Debian 11-13 install the config as /boot/config-RELEASE; Debian 14's
  // split packages (linux-binary-*) as /usr/lib/modules/RELEASE/config.
  const std::string modules = "/usr/lib/modules/" + release + "/config";
  for (const std::string& path : {boot, modules}) {
    if (auto text = os::read_file(path)) return parse_kconfig(*text, path);
  }
  if (proc_problem.empty()) return Error{"no " + proc + ", " + boot + " or " + modules};
  return Error{proc_problem + "; no " + boot + " or " + modules};
}

}  // namespace vma::harness
