// vma-core-tool: test helper for tests/core. Prints, as JSON, what core/
// makes of a core file or of a live process, so core_live_test.py can compare
// the two:
//   vma-core-tool core FILE [--exe EXE] [ADDR...]  CoreSource: mappings, threads,
//                                                  fault, regions, ADDRs' kinds
//   vma-core-tool pid PID [ADDR...]                 ProcSource: the same, live
// Exit 0 on success; 2 with the error message on stderr.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "address_map.h"
#include "annotation.h"
#include "core_source.h"
#include "proc_source.h"

namespace {

using nlohmann::json;

json describe(vma::RegionSource& src, const vma::Snapshot& snap, const std::vector<vma::Addr>& addrs) {
  json out;
  out["source"] = src.describe();
  out["target"] = snap.target.name();
  out["page_size"] = snap.target.page_size;
  out["mmap_min_addr"] = vma::hex(snap.target.mmap_min_addr);
  out["threads_known"] = snap.threads_known;
  out["main_tid"] = snap.main_tid ? json(*snap.main_tid) : json(nullptr);
  json threads = json::array();
  for (const auto& t : snap.threads)
    threads.push_back({{"tid", t.tid}, {"sp", t.sp ? json(vma::hex(*t.sp)) : json(nullptr)}});
  out["threads"] = threads;
  json maps = json::array();
  for (const auto& m : snap.mappings)
    maps.push_back({{"start", vma::hex(m.range.start)},
                    {"end", vma::hex(m.range.end)},
                    {"perms", vma::to_string(m.perms)},
                    {"offset", vma::hex(m.offset)},
                    {"file_info_known", m.file_info_known},
                    {"name", m.name}});
  out["mappings"] = maps;
  vma::ElfCache cache;
  vma::AddressMap map = vma::AddressMap::build(snap, cache);
  json regions = json::array();
  for (const auto& r : map.regions()) {
    json j{{"start", vma::hex(r.mapping.range.start)},
           {"end", vma::hex(r.mapping.range.end)},
           {"kind", std::string(vma::to_string(r.kind))},
           {"name", r.mapping.name},
           {"note", r.note}};
    j["tid"] = r.tid ? json(*r.tid) : json(nullptr);
    j["image"] = r.image ? json(r.image->path) : json(nullptr);
    if (r.vma) j["vma"] = {{"start", vma::hex(r.vma->start)}, {"end", vma::hex(r.vma->end)}};
    regions.push_back(j);
  }
  out["regions"] = regions;
  json lookups = json::array();
  for (vma::Addr a : addrs) {
    vma::Annotation an = vma::annotate(map, a);
    lookups.push_back({{"addr", vma::hex(a)},
                       {"kind", std::string(vma::to_string(an.kind))},
                       {"tid", an.thread ? json(*an.thread) : json(nullptr)}});
    for (const vma::Reading& r : an.readings)
      lookups.back()["readings"].push_back(std::string(vma::to_string(r.kind)));
  }
  out["lookups"] = lookups;
  return out;
}

int fail(const std::string& msg) {
  std::cerr << msg << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: vma-core-tool core FILE [--exe EXE] [ADDR...] | pid PID [ADDR...]");
  const std::string mode = argv[1];
  std::optional<std::string> exe;
  std::vector<vma::Addr> addrs;
  for (int i = 3; i < argc; ++i) {
    if (std::string(argv[i]) == "--exe" && i + 1 < argc) {
      exe = argv[++i];
      continue;
    }
    std::string why;
    auto a = vma::parse_address(argv[i], &why);
    if (!a) return fail(why);
    addrs.push_back(*a);
  }
  if (mode == "core") {
    auto src = vma::CoreSource::open(argv[2], exe);
    if (!src) return fail(src.error().message);
    auto snap = (*src)->snapshot();
    if (!snap) return fail(snap.error().message);
    json out = describe(**src, *snap, addrs);
    if (auto f = (*src)->fatal_fault()) {
      out["fault"] = {{"signo", f->signo},
                      {"code", f->code},
                      {"addr", f->addr ? json(vma::hex(*f->addr)) : json(nullptr)},
                      {"pc", f->pc ? json(vma::hex(*f->pc)) : json(nullptr)},
                      {"tid", *(*src)->fatal_tid()}};
    } else {
      out["fault"] = nullptr;
    }
    out["executable"] = (*src)->executable();
    json checks = json::array();
    for (const auto& c : (*src)->file_checks())
      checks.push_back({{"path", c.path}, {"usable", c.usable()}, {"status", c.describe()}});
    out["file_checks"] = checks;
    std::cout << out.dump(1) << "\n";
    return 0;
  }
  if (mode == "pid") {
    auto src = vma::ProcSource::open(std::atoi(argv[2]));
    if (!src) return fail(src.error().message);
    auto snap = (*src)->snapshot();
    if (!snap) return fail(snap.error().message);
    std::cout << describe(**src, *snap, addrs).dump(1) << "\n";
    return 0;
  }
  return fail("unknown mode " + mode);
}
