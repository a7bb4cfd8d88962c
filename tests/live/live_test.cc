// Live tier: the project's own test process, checked by properties.
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "annotation.h"
#include "maps_parser.h"
#include "proc_source.h"
#include "testee.h"

using namespace vma;

namespace {

std::pair<int, int> kernel_version() {
  struct utsname u {};
  uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  return {major, minor};
}

bool kernel_at_least(int major, int minor) {
  auto [a, b] = kernel_version();
  return a > major || (a == major && b >= minor);
}

std::unique_ptr<ProcSource> open(pid_t pid, ProcOptions o = {}) {
  auto s = ProcSource::open(pid, o);
  REQUIRE(s);
  return std::move(s).value();
}

Annotation where(ProcSource& src, Addr a) {
  static ElfCache cache;
  auto r = whereis(src, a, cache);
  REQUIRE(r);
  return std::move(r).value();
}

AddressMap full_map(ProcSource& src) {
  static ElfCache cache;
  // A thread that has printed but not yet blocked in its futex is "running":
  // /proc/PID/task/TID/syscall then has no SP. Wait (up to 2 s) until every
  // thread of the testee is blocked.
  for (int i = 0; i < 200; ++i) {
    auto s = src.snapshot();
    REQUIRE(s);
    bool all = std::all_of(s->threads.begin(), s->threads.end(), [](const ThreadInfo& t) { return t.sp.has_value(); });
    if (all || i == 199) return AddressMap::build(std::move(s).value(), cache);
    usleep(10000);
  }
  FAIL("unreachable");
  std::abort();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("every address of the testee classifies as it should", "[live]") {
  auto [name, kind] = GENERATE(table<const char*, const char*>({
      {"global_data", "data"},
      {"global_bss", "bss"},
      {"rodata", "rodata"},
      {"relro", "relro"},
      {"text", "text"},
      {"libc_text", "text"},
      {"main_stack", "stack"},
      {"heap", "heap"},
      {"arena", "heap"},
      {"thread_stack", "thread-stack"},
      {"anon", "anon"},
      {"guard", "guard"},
      {"madv_guard", "guard"},
      {"memfd", "shared"},
      {"deleted", "file"},
      {"gap", "unmapped"},
  }));
  CAPTURE(name);
  Testee t;
  auto src = open(t.pid());
  AddressMap map = full_map(*src);
  auto lines = t.all(name);
  if (lines.empty() && std::string(name) == "madv_guard") {
    WARN("skipped: MADV_GUARD_INSTALL is not supported by this kernel (needs Linux 6.13)");
    return;
  }
  REQUIRE_FALSE(lines.empty());
  for (const TesteeLine& l : lines) {
    CAPTURE(fmt::format("{:#x}", l.addr));
    Annotation fast = where(*src, l.addr);
    Annotation slow = annotate(map, l.addr);
    CHECK(to_string(fast.kind) == kind);
    CHECK(to_string(slow.kind) == kind);
    if (std::string(name) == "thread_stack") CHECK(fast.thread == l.tid);
  }
}

TEST_CASE("symbols and sections of image addresses come from the ELF file", "[live]") {
  Testee t;
  auto src = open(t.pid());
  Annotation m = where(*src, t.addr("text"));
  CHECK(m.section == ".text");
  CHECK(m.symbol == "main");
  CHECK(m.symbol_offset == 0);
  Annotation d = where(*src, t.addr("global_data"));
  CHECK(d.section == ".data");
  CHECK(d.symbol == "global_data");
  Annotation b = where(*src, t.addr("global_bss"));
  CHECK(b.section == ".bss");
  CHECK(b.symbol == "global_bss");
  Annotation r = where(*src, t.addr("relro"));
  CHECK(r.section == ".data.rel.ro");
  Annotation p = where(*src, t.addr("libc_text"));
  CHECK(p.symbol.find("printf") != std::string::npos);
}

TEST_CASE("the PROCMAP_QUERY window agrees with the full map on every region", "[live]") {
  Testee t;
  auto src = open(t.pid());
  AddressMap map = full_map(*src);
  for (const Region& r : map.regions()) {
    for (Addr a : {r.mapping.range.start, r.mapping.range.end - 1}) {
      CAPTURE(fmt::format("{:#x} in {} {}", a, to_string(r.kind), r.mapping.name));
      Annotation fast = where(*src, a);
      Annotation slow = annotate(map, a);
      CHECK(fast.kind == slow.kind);
      REQUIRE(fast.region);
      CHECK(fast.region->mapping.range == r.mapping.range);
      CHECK(fast.region->mapping.perms == r.mapping.perms);
      CHECK(fast.region->mapping.name == r.mapping.name);
      CHECK(fast.region->mapping.offset == r.mapping.offset);
      CHECK(fast.region->mapping.inode == r.mapping.inode);
      CHECK(fast.region->tid == r.tid);
      CHECK(fast.section == slow.section);
      CHECK(fast.symbol == slow.symbol);
    }
  }
  // Gaps: the neighbours agree too.
  const auto& rs = map.regions();
  for (std::size_t i = 1; i < rs.size(); ++i) {
    Addr lo = rs[i - 1].mapping.range.end, hi = rs[i].mapping.range.start;
    if (lo >= hi || hi > map.target().user_end()) continue;
    Addr a = lo + (hi - lo) / 2;
    CAPTURE(fmt::format("gap address {:#x}", a));
    Annotation fast = where(*src, a);
    CHECK(fast.kind == RegionKind::unmapped);
    REQUIRE(fast.below);
    REQUIRE(fast.above);
    CHECK(fast.below->mapping.range == rs[i - 1].mapping.range);
    CHECK(fast.above->mapping.range == rs[i].mapping.range);
    CHECK(fast.below->kind == rs[i - 1].kind);
    CHECK(fast.above->kind == rs[i].kind);
  }
  if (kernel_at_least(6, 11)) {
    where(*src, t.addr("heap"));
    CHECK(src->used_procmap_query());
  } else {
    WARN("PROCMAP_QUERY needs Linux 6.11: the window path fell back to reading maps");
  }
}

TEST_CASE("map lists exactly the kernel's regions, in order, without overlap", "[live]") {
  Testee t;
  auto src = open(t.pid());
  AddressMap map = full_map(*src);
  std::string text = slurp(fmt::format("/proc/{}/maps", t.pid()));
  std::vector<std::string> kernel_lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) kernel_lines.push_back(line);
  // A VMA that holds two things (a .bss and what the kernel merged after
  // it) is its parts, in order, each naming the whole VMA: fold them back.
  std::vector<Mapping> vmas;
  for (const Region& r : map.regions()) {
    if (r.vma && !vmas.empty() && vmas.back().range == *r.vma) continue;
    vmas.push_back(r.mapping);
    if (r.vma) {
      CHECK(r.vma->start == r.mapping.range.start);  // the first part starts the VMA
      vmas.back().range = *r.vma;
    }
  }
  for (std::size_t i = 1; i < map.regions().size(); ++i)
    CHECK(map.regions()[i - 1].mapping.range.end <= map.regions()[i].mapping.range.start);
  REQUIRE(vmas.size() == kernel_lines.size());
  for (std::size_t i = 0; i < kernel_lines.size(); ++i) {
    const Mapping& m = vmas[i];
    CHECK(kernel_lines[i].rfind(fmt::format("{:08x}-{:08x} {} ", m.range.start, m.range.end, to_string(m.perms)), 0) == 0);
  }
}

TEST_CASE("each thread's SP lies in its own stack, tagged with its TID", "[live]") {
  Testee t;
  auto src = open(t.pid());
  AddressMap map = full_map(*src);
  const Snapshot& s = map.snapshot();
  REQUIRE(s.threads_known);
  REQUIRE(s.threads.size() == 3);
  for (const ThreadInfo& th : s.threads) {
    CAPTURE(th.tid);
    REQUIRE(th.sp);
    const Region* r = map.find(*th.sp);
    REQUIRE(r);
    if (th.tid == t.pid()) {
      CHECK(r->kind == RegionKind::stack);
    } else {
      CHECK(r->kind == RegionKind::thread_stack);
    }
    CHECK(r->tid == th.tid);
  }
  // The locals each thread printed are on that thread's stack.
  for (const TesteeLine& l : t.all("thread_stack")) {
    const Region* r = map.find(l.addr);
    REQUIRE(r);
    CHECK(r->tid == l.tid);
  }
}

TEST_CASE("MADV guard pages are found in pagemap", "[live]") {
  Testee t({"--shared-guard"});
  Addr g = t.addr("madv_guard");
  if (!g) {
    WARN("skipped: MADV_GUARD_INSTALL is not supported by this kernel (needs Linux 6.13)");
    return;
  }
  auto src = open(t.pid());
  AddressMap map = full_map(*src);
  REQUIRE(map.guard_page(g));
  CHECK(map.guard_page(g)->start == g);
  CHECK(map.guard_page(g)->size() == 4096);
  CHECK_FALSE(map.guard_page(g - 1));
  CHECK_FALSE(map.guard_page(g + 4096));
  auto page = src->page_state(g);
  REQUIRE(page);
  CHECK(page->guard);
  // PAGEMAP_SCAN (one ioctl beside the map read) and the fallback (pagemap
  // entries of the VMAs, read after it) find the same guard pages.
  if (kernel_at_least(6, 14)) CHECK(src->used_pagemap_scan());
  ProcOptions fallback;
  fallback.use_pagemap_scan = false;
  auto old_way = open(t.pid(), fallback);
  auto a = src->snapshot(), b = old_way->snapshot();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(old_way->used_pagemap_scan());
  CHECK(a->guard_pages_scanned);
  CHECK(b->guard_pages_scanned);
  REQUIRE(a->guard_pages.size() == b->guard_pages.size());
  for (std::size_t i = 0; i < a->guard_pages.size(); ++i) {
    CHECK(a->guard_pages[i].start == b->guard_pages[i].start);
    CHECK(a->guard_pages[i].end == b->guard_pages[i].end);
  }
  // A guard inside a shared mapping (a memfd): both ways find it.
  if (Addr sg = t.addr("shared_guard")) {
    AddressMap shared_map = full_map(*old_way);
    REQUIRE(shared_map.guard_page(sg));
    CHECK(shared_map.guard_page(sg)->start == sg);
    CHECK(map.guard_page(sg));
    const Region* r = map.find(sg);
    REQUIRE(r);
    CHECK(r->kind == RegionKind::shared);
  } else if (kernel_at_least(6, 15)) {
    FAIL("MADV_GUARD_INSTALL in a shared mapping failed on Linux 6.15 or later");
  } else {
    WARN("skipped the shared-mapping guard: MADV_GUARD_INSTALL there needs Linux 6.15");
  }
}

TEST_CASE("smaps on request gives VmFlags", "[live]") {
  Testee t;
  ProcOptions o;
  o.read_smaps = true;
  auto src = open(t.pid(), o);
  AddressMap map = full_map(*src);
  const Region* st = map.find(t.addr("main_stack"));
  REQUIRE(st);
  CHECK(st->mapping.has_vm_flag("gd"));
  CHECK(map.regions().size() == full_map(*open(t.pid())).regions().size());
}

TEST_CASE("a big map read in pieces equals the same map read line by line", "[live]") {
  // 3,000 extra VMAs: some 150 KiB of maps and 3 MiB of smaps, so the reader
  // hands its parser thread many 64 KiB pieces, cut between a mapping line
  // and its smaps properties as often as not. Reference: the same files read
  // whole and parsed by parse_maps, which never sees a piece.
  Testee t({"--vmas=3000"});
  for (bool smaps : {false, true}) {
    CAPTURE(smaps);
    ProcOptions o;
    o.read_smaps = smaps;
    o.scan_guard_pages = false;
    auto src = open(t.pid(), o);
    auto snap = src->snapshot();
    REQUIRE(snap);
    std::string path = fmt::format("/proc/{}/{}", t.pid(), smaps ? "smaps" : "maps");
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    REQUIRE(text.str().size() > 128 * 1024);
    auto whole = parse_maps(text.str(), path);
    REQUIRE(whole);
    REQUIRE(snap->mappings.size() == whole->size());
    CHECK(snap->mappings.size() > 3000);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < whole->size(); ++i) {
      const Mapping &a = snap->mappings[i], &b = (*whole)[i];
      if (a.range.start != b.range.start || a.range.end != b.range.end || a.perms != b.perms || a.name != b.name ||
          a.vm_flags != b.vm_flags || a.offset != b.offset || a.inode != b.inode)
        ++differ;
      if (smaps && a.vm_flags.empty()) ++differ;
    }
    CHECK(differ == 0);
  }
}

TEST_CASE("errors name the pid and say why", "[live]") {
  auto none = ProcSource::open(999999999);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "pid 999999999: no such process");
  auto zero = ProcSource::open(0);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().message == "pid 0: not a valid process id");

  std::unique_ptr<ProcSource> src;
  pid_t pid;
  {
    Testee t;
    pid = t.pid();
    src = open(pid);
  }
  auto gone = src->snapshot();
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message == fmt::format("pid {}: no such process (it exited)", pid));
}

TEST_CASE("another user's process: permission denied, naming the pid", "[live]") {
  if (geteuid() != 0) {
    // As an ordinary user, pid 1 (root's init) is another user's process.
    auto r = ProcSource::open(1);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "pid 1: permission denied reading /proc/1/maps (needs ptrace access to the process)");
    return;
  }
  // As root, drop to nobody in a child and look at a root-owned testee.
  Testee t;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    auto r = ProcSource::open(t.pid());
    if (r) _exit(1);
    _exit(r.error().message ==
                  fmt::format("pid {}: permission denied reading /proc/{}/maps (needs ptrace access to the process)",
                              t.pid(), t.pid())
              ? 0
              : 2);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
