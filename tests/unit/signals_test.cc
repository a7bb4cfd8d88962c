#include <csignal>

#include <catch2/catch.hpp>

#include "annotation.h"
#include "region_source.h"
#include "signals.h"

using namespace vma;

TEST_CASE("signal and si_code names", "[signals]") {
  CHECK(signal_name(SIGSEGV) == "SIGSEGV");
  CHECK(signal_name(SIGBUS) == "SIGBUS");
  CHECK(signal_name(99) == "SIG99");
  CHECK(si_code_name(SIGSEGV, 1) == "SEGV_MAPERR");
  CHECK(si_code_name(SIGSEGV, 2) == "SEGV_ACCERR");
  CHECK(si_code_name(SIGSEGV, 4) == "SEGV_PKUERR");
  CHECK(si_code_name(SIGSEGV, 10) == "SEGV_CPERR");
  CHECK(si_code_name(SIGSEGV, 128) == "SI_KERNEL");
  CHECK(si_code_name(SIGBUS, 2) == "BUS_ADRERR");
  CHECK(si_code_name(SIGILL, 2) == "ILL_ILLOPN");
  CHECK(si_code_name(SIGSEGV, 0) == "SI_USER");
  CHECK(si_code_name(SIGSEGV, -6) == "SI_TKILL");
  CHECK(si_code_name(SIGSEGV, 77) == "77");
  CHECK(parse_signal("SIGSEGV") == SIGSEGV);
  CHECK(parse_signal("segv") == SIGSEGV);
  CHECK_FALSE(parse_signal("SIGFOO"));
  CHECK(parse_si_code(SIGSEGV, "SEGV_ACCERR") == 2);
  CHECK(parse_si_code(SIGBUS, "SI_KERNEL") == 128);
  CHECK_FALSE(parse_si_code(SIGSEGV, "BUS_ADRERR"));
}

TEST_CASE("fault explanations", "[signals]") {
  auto t = Target::parse("x86_64");
  REQUIRE(t);
  t->mmap_min_addr = 4096;
  TextSource src(
      "555555554000-555555555000 r-xp 00001000 fd:01 99                          /bin/prog\n"
      "555555560000-555555561000 rw-p 00000000 00:00 0 \n"
      "555555561000-555555562000 ---p 00000000 00:00 0 \n"
      "7f0000000000-7f0000002000 r--p 00000000 fd:01 98                          /tmp/f\n",
      "f", *t);
  auto s = src.snapshot();
  REQUIRE(s);
  ElfCache cache;
  AddressMap map = AddressMap::build(std::move(s).value(), cache);
  auto explain = [&](int sig, int code, Addr a, std::optional<Addr> pc = std::nullopt) {
    Fault f{sig, code, a, pc, Access::unknown, ""};
    return explain_fault(f, annotate(map, a));
  };
  CHECK(explain(SIGSEGV, 2, 0x555555554010) == "write to a read-only text page of /bin/prog");
  CHECK(explain(SIGSEGV, 2, 0x555555560010, 0x555555560010) == "execute of a non-executable anon page (NX)");
  CHECK(explain(SIGSEGV, 2, 0x555555561000) == "access to an inaccessible (PROT_NONE) guard page");
  CHECK(explain(SIGSEGV, 1, 0) == "access to the null page: a NULL pointer dereference");
  CHECK(explain(SIGSEGV, 1, 0xffffffff81000000) == "user-mode access to a kernel address");
  CHECK(explain(SIGSEGV, 128, 0).rfind("general protection fault", 0) == 0);
  CHECK(explain(SIGBUS, 2, 0x7f0000001000) == "access past the end of the file behind a file mapping of /tmp/f");
}
