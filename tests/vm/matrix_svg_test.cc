// `vma-harness matrix --svg`: the picture of saved guest reports
// (tests/data/vm/), and reading a saved `matrix --format json` back.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

#include "vm/matrix_svg.h"

using namespace vma::harness::vm;

namespace {

nlohmann::json saved(const std::string& name) {
  std::ifstream in(std::string(VMAKIT_TEST_DATA) + "/vm/" + name);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

std::vector<MatrixEntry> saved_matrix() {
  MatrixEntry a{"bookworm-amd64", "6.1.0-57-amd64", "max", "tcg", 17.0, 0, saved("bookworm-max.json"), ""};
  MatrixEntry b{"trixie-amd64", "6.12.117+deb13-amd64", "max,la57=off", "tcg", 9.6, 0,
                saved("trixie-max-la57-off.json"), ""};
  MatrixEntry c{"broken", "", "max", "tcg", 3.0, 2, std::nullopt, "vm broken: the kernel never reached init"};
  return {a, b, c};
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = s.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

}  // namespace

TEST_CASE("matrix svg: one cell per probe and kernel, coloured by verdict") {
  const auto entries = saved_matrix();
  const std::string svg = matrix_svg(entries);
  CHECK(svg.starts_with("<?xml"));
  std::size_t probes = 0;
  for (const auto& r : compare(entries)) probes += r.section == "probe";
  REQUIRE(probes > 20);
  CHECK(count(svg, "<g class=\"cell\"") == probes * entries.size());
  // mseal: skip on 6.1 (needs 6.10), pass on 6.12; the broken boot has no report.
  CHECK(svg.find("<g class=\"cell\" data-probe=\"mseal\" data-col=\"0\" data-status=\"skip\"><title>mseal on "
                 "bookworm-amd64 max: skip (mseal needs Linux 6.10)</title>") != std::string::npos);
  CHECK(svg.find("data-probe=\"mseal\" data-col=\"1\" data-status=\"pass\"") != std::string::npos);
  CHECK(svg.find("data-probe=\"mseal\" data-col=\"2\" data-status=\"no-report\"") != std::string::npos);
  CHECK(svg.find("<text x=\"10\" y=\"148\" font-weight=\"bold\">* mseal</text>") != std::string::npos);
  CHECK(svg.find("vm broken: the kernel never reached init") != std::string::npos);
}

TEST_CASE("matrix svg: ASLR bits per kernel as bars") {
  const std::string svg = matrix_svg(saved_matrix());
  CHECK(svg.find("<g class=\"aslr\" data-region=\"mmap-big\" data-col=\"0\" data-bits=\"28\"><title>mmap-big on "
                 "bookworm-amd64 max: 28 bits</title>") != std::string::npos);
  CHECK(svg.find("data-region=\"mmap-big\" data-col=\"1\" data-bits=\"19\"") != std::string::npos);
  // The bar's length is proportional to the bits: 28 of 40 bits of 140 px.
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, std::regex("data-region=\"mmap-big\" data-col=\"0\"[^\n]*?width=\"(\\d+)\"")));
  CHECK(m[1] == "98");
  REQUIRE(std::regex_search(svg, m, std::regex("data-region=\"mmap-big\" data-col=\"1\"[^\n]*?width=\"(\\d+)\"")));
  CHECK(m[1] == "66");
  CHECK(svg.find("data-region=\"mmap-big\" data-col=\"2\"") == std::string::npos);
}

TEST_CASE("matrix svg: a saved --format json document reads back") {
  const auto entries = saved_matrix();
  auto back = entries_from_json(matrix_json(entries));
  REQUIRE(back);
  REQUIRE(back->size() == 3);
  CHECK((*back)[1].label() == "trixie-amd64 max,la57=off");
  CHECK((*back)[0].report == entries[0].report);
  CHECK_FALSE((*back)[2].report);
  CHECK((*back)[2].error == "vm broken: the kernel never reached init");
  CHECK(matrix_svg(*back) == matrix_svg(entries));
}

TEST_CASE("matrix svg: bad saved documents name the field") {
  CHECK(entries_from_json(nlohmann::json::array()).error().message ==
        "kernels: expected an array (the output of `vma-harness matrix --format json`)");
  auto j = matrix_json(saved_matrix());
  j["kernels"][1]["exit_status"] = "0";
  CHECK(entries_from_json(j).error().message == "kernels[1].exit_status: expected a number");
  j = matrix_json(saved_matrix());
  j["kernels"][0].erase("cpu");
  CHECK(entries_from_json(j).error().message == "kernels[0].cpu: expected a string");
  j = matrix_json(saved_matrix());
  j["kernels"][2]["report"] = 5;
  CHECK(entries_from_json(j).error().message == "kernels[2].report: expected an object or null");
}
