// An ELF file that shrinks while ElfImage reads it (a library being
// rewritten by a package upgrade while a debugger looks at the process).
// libelf reading through mmap() would touch pages past the new end of file
// and die of SIGBUS, taking the debugger with it; ElfImage reads with pread
// (ELF_C_READ), so it gets a short read and reports an error instead.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "elf_image.h"

using namespace vma;

TEST_CASE("an ELF file truncated while it is read gives errors, not SIGBUS", "[robust][elf]") {
  // A copy of a small program (fast to rewrite, so the race runs often):
  // section headers and symbol tables sit at the end of the file, exactly
  // what a truncation removes.
  std::ifstream self(access("/bin/true", R_OK) == 0 ? "/bin/true" : "/proc/self/exe", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 16384);
  char dir[] = "/tmp/vmakit-elf-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string path = std::string(dir) + "/image";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));

  // Truncate to a page and write the bytes back, over and over.
  std::atomic<bool> stop{false};
  std::atomic<long> cycles{0};
  std::thread shrinker([&] {
    while (!stop) {
      if (ftruncate(fd, 4096) != 0) break;
      if (pwrite(fd, bytes.data() + 4096, bytes.size() - 4096, 4096) != static_cast<ssize_t>(bytes.size() - 4096)) break;
      ++cycles;
    }
  });
  int opened = 0, failed = 0;
  for (int i = 0; i < 3000; ++i) {
    auto img = ElfImage::open(path);
    if (img) ++opened;
    else ++failed;
  }
  stop = true;
  shrinker.join();
  close(fd);
  unlink(path.c_str());
  rmdir(dir);
  // Reaching this line is the test: the mmap reader died of SIGBUS before it
  // (exit 135, every run). A read that finds the file short gives an image
  // without sections or an error; either is fine, a signal is not.
  INFO("opened " << opened << ", failed " << failed << ", truncation cycles " << cycles.load());
  CHECK(cycles.load() > 0);
  CHECK(opened + failed == 3000);
  auto whole = ElfImage::open(path + "-gone");
  CHECK_FALSE(whole);
}
