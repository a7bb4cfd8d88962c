// Unit tests of `vma-harness vm` and `matrix` (harness/vm/): the QEMU command
// line, the init script and console protocol, the cpio writer, modules.dep
// ordering, the bzImage header, and the matrix comparison over saved guest
// reports (tests/data/vm/, see its README). No QEMU is started here.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "audit.h"
#include "environment.h"
#include "expectation.h"
#include "kconfig.h"
#include "profile.h"
#include "vm/arch.h"
#include "vm/guest.h"
#include "vm/guest_image.h"
#include "vm/initramfs.h"
#include "vm/kernel.h"
#include "vm/matrix.h"
#include "vm/matrix_svg.h"
#include "vm/qemu_command.h"

namespace fs = std::filesystem;
using namespace vma::harness;
using namespace vma::harness::vm;

namespace {

nlohmann::json saved(const std::string& name) {
  std::ifstream in(std::string(VMAKIT_TEST_DATA) + "/vm/" + name);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

/// A scratch directory removed at the end of the test.
struct Scratch {
  fs::path path;
  Scratch() {
    std::string t = (fs::temp_directory_path() / "vm-unit.XXXXXX").string();
    REQUIRE(mkdtemp(t.data()));
    path = t;
  }
  ~Scratch() { fs::remove_all(path); }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel) << text;
  }
};

struct CpioEntry {
  std::string name, data;
  unsigned mode = 0, rdev_major = 0, rdev_minor = 0;
};

/// Reads a newc archive back (the test's own reader, independent of the writer).
std::vector<CpioEntry> read_newc(const std::string& a) {
  std::vector<CpioEntry> out;
  std::size_t p = 0;
  auto field = [&](std::size_t i) { return static_cast<unsigned>(std::stoul(a.substr(p + 6 + 8 * i, 8), nullptr, 16)); };
  for (;;) {
    REQUIRE(a.substr(p, 6) == "070701");
    CpioEntry e;
    e.mode = field(1);
    const unsigned size = field(6), namesize = field(11);
    e.rdev_major = field(9);
    e.rdev_minor = field(10);
    e.name = a.substr(p + 110, namesize - 1);
    p += 110 + namesize;
    p = (p + 3) & ~std::size_t{3};
    e.data = a.substr(p, size);
    p += size;
    p = (p + 3) & ~std::size_t{3};
    if (e.name == "TRAILER!!!") break;
    out.push_back(e);
  }
  return out;
}

}  // namespace

TEST_CASE("arch table: the x86_64 row") {
  const GuestArch* a = find_guest_arch("x86_64");
  REQUIRE(a);
  CHECK(a->qemu_binary == "qemu-system-x86_64");
  CHECK(a->console == "ttyS0");
  CHECK(a->page_size == 4096);
  CHECK(find_guest_arch("riscv128") == nullptr);
}

TEST_CASE("arch table: the aarch64 row, and each row's image magic") {
  const GuestArch* a = find_guest_arch("aarch64");
  REQUIRE(a);
  CHECK(a->qemu_binary == "qemu-system-aarch64");
  CHECK(a->machine == "virt,mte=on");
  CHECK(a->console == "ttyAMA0");
  CHECK(a->debian_arch == "arm64");
  CHECK(a->elf_machine == 183);
  std::string arm64(0x40, '\0');
  arm64.replace(0x38, 4, std::string("ARM\x64", 4));
  CHECK(image_guest_arch(arm64) == a);
  std::string bz(0x210, '\0');
  bz.replace(0x202, 4, "HdrS");
  CHECK(image_guest_arch(bz) == find_guest_arch("x86_64"));
  CHECK(image_guest_arch(std::string(0x400, 'x')) == nullptr);
  CHECK(image_guest_arch("ARM") == nullptr);
}

TEST_CASE("qemu_argv: the aarch64 row") {
  QemuSpec s;
  s.arch = find_guest_arch("aarch64");
  s.kernel = "/k/vmlinuz";
  s.initrd = "/t/initrd";
  s.cpu = std::string(s.arch->default_cpu);
  s.accel = "tcg";
  s.memory_mib = 1024;
  s.smp = 2;
  const std::vector<std::string> want = {
      "qemu-system-aarch64", "-machine", "virt,mte=on,accel=tcg", "-cpu", "max,pauth-impdef=on", "-m", "1024",
      "-smp", "2", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-nodefaults",
      "-kernel", "/k/vmlinuz", "-initrd", "/t/initrd", "-append",
      "console=ttyAMA0 quiet panic=-1 rdinit=/init vmakit.accel=tcg vmakit.cpu=max,pauth-impdef=on"};
  CHECK(qemu_argv(s) == want);
}

TEST_CASE("resolve_kernel: an arm64 Image names its arch, the release comes from the file name") {
  Scratch s;
  std::string img(0x1000, '\0');
  img.replace(0x38, 4, std::string("ARM\x64", 4));
  s.write("pkg/boot/vmlinuz-6.1.0-57-arm64", img);
  auto k = resolve_kernel((s.path / "pkg").string());
  REQUIRE(k);
  CHECK(k->arch == "aarch64");
  CHECK(k->release == "6.1.0-57-arm64");
  auto bare = resolve_kernel((s.path / "pkg/boot/vmlinuz-6.1.0-57-arm64").string());
  REQUIRE(bare);
  CHECK(bare->arch == "aarch64");
  CHECK(bare->release == "6.1.0-57-arm64");
}

TEST_CASE("qemu_argv: TCG, 5-level paging off, initramfs only") {
  QemuSpec s;
  s.arch = find_guest_arch("x86_64");
  s.kernel = "/k/vmlinuz";
  s.initrd = "/t/initrd";
  s.cpu = "max,la57=off";
  s.accel = "tcg";
  s.memory_mib = 1024;
  s.smp = 2;
  const std::vector<std::string> want = {
      "qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max,la57=off", "-m", "1024", "-smp", "2",
      "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-nodefaults",
      "-kernel", "/k/vmlinuz", "-initrd", "/t/initrd", "-append",
      "console=ttyS0 quiet panic=-1 rdinit=/init vmakit.accel=tcg vmakit.cpu=max,la57=off"};
  CHECK(qemu_argv(s) == want);
  s.share = "/";
  s.append = {"la57=off"};
  const auto v = qemu_argv(s);
  CHECK(v[v.size() - 5].ends_with("vmakit.cpu=max,la57=off la57=off"));
  CHECK(v[v.size() - 3] == "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap");
  CHECK(v.back() == "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot");
}

TEST_CASE("the guest learns accelerator and CPU model from its command line") {
  // environment.cc reads these with cmdline_param.
  const std::string cmdline = "console=ttyS0 quiet vmakit.accel=tcg vmakit.cpu=max,la57=off";
  CHECK(cmdline_param(cmdline, "vmakit.accel") == "tcg");
  CHECK(cmdline_param(cmdline, "vmakit.cpu") == "max,la57=off");
}

TEST_CASE("qemu_argv: why the accelerator is not the one asked for, as one quoted parameter") {
  QemuSpec s;
  s.arch = find_guest_arch("x86_64");
  s.kernel = "/k/vmlinuz";
  s.initrd = "/t/initrd";
  s.cpu = "max";
  s.accel = "tcg";
  s.smp = 1;
  s.memory_mib = 2048;
  s.accel_note = "kvm made no progress: the guest made \"no\" progress\n";
  const auto v = qemu_argv(s);
  const std::string append = v.back();
  CHECK(append.ends_with(" vmakit.accel_note=\"kvm made no progress: the guest made 'no' progress'\""));
  CHECK(cmdline_param(append, "vmakit.accel_note") == "kvm made no progress: the guest made 'no' progress'");
  CHECK(cmdline_param(append, "vmakit.accel") == "tcg");
  s.accel_note = std::string(500, 'x');
  CHECK(qemu_argv(s).back().size() < append.size() + 200);
}

TEST_CASE("resolve_kernel: Debian 14's split layout, a bare image with its config, labelled by release") {
  Scratch s;
  std::string img(0x1000, '\0');
  img.replace(0x202, 4, "HdrS");
  img[0x20f] = 0x03;
  img.replace(0x500, 20, "7.2.13+deb14-amd64 #");
  // linux-binary-* puts image and config in usr/lib/modules/RELEASE/.
  s.write("sid/usr/lib/modules/7.2.13+deb14-amd64/vmlinuz", img);
  s.write("sid/usr/lib/modules/7.2.13+deb14-amd64/config", "CONFIG_MMU=y\n");
  s.write("sid/usr/lib/modules/7.2.13+deb14-amd64/modules.dep", "");
  auto k = resolve_kernel((s.path / "sid").string());
  REQUIRE(k);
  CHECK(k->label == "sid");
  CHECK(k->release == "7.2.13+deb14-amd64");
  CHECK(k->image == (s.path / "sid/usr/lib/modules/7.2.13+deb14-amd64/vmlinuz").string());
  CHECK(k->config == (s.path / "sid/usr/lib/modules/7.2.13+deb14-amd64/config").string());
  CHECK(k->modules_dir == (s.path / "sid/usr/lib/modules/7.2.13+deb14-amd64").string());
  // The image itself: its column is its release, not "vmlinuz".
  auto bare = resolve_kernel((s.path / "sid/usr/lib/modules/7.2.13+deb14-amd64/vmlinuz").string());
  REQUIRE(bare);
  CHECK(bare->label == "7.2.13+deb14-amd64");
  CHECK(bare->config == (s.path / "sid/usr/lib/modules/7.2.13+deb14-amd64/config").string());
  CHECK(bare->modules_dir == (s.path / "sid/usr/lib/modules/7.2.13+deb14-amd64").string());
  // A bare image anywhere with a `config` beside it.
  s.write("mine/vmlinuz", img);
  s.write("mine/config", "CONFIG_MMU=y\n");
  auto mine = resolve_kernel((s.path / "mine/vmlinuz").string());
  REQUIRE(mine);
  CHECK(mine->label == "7.2.13+deb14-amd64");
  CHECK(mine->config == (s.path / "mine/config").string());
  CHECK(mine->modules_dir.empty());
}

TEST_CASE("the guest learns why its accelerator is not the one asked for") {
  const std::string cmdline =
      "console=ttyS0 quiet vmakit.accel=tcg vmakit.cpu=max vmakit.accel_note=\"kvm made no progress: no init in 20 s\"";
  CHECK(cmdline_param(cmdline, "vmakit.accel_note") == "kvm made no progress: no init in 20 s");
}

TEST_CASE("noncanonical-jump: pc checked on hardware, named emulator difference under TCG") {
  Environment hw;
  hw.arch = "x86_64";
  hw.kernel = {6, 1, 0};
  Environment tcg = hw;
  tcg.vm_accel = "tcg";
  tcg.vm_cpu = "max";
  Environment kvm = hw;
  kvm.vm_accel = "kvm";
  auto find = [](const std::vector<ProbeDef>& defs) {
    for (const auto& d : defs)
      if (d.id == "noncanonical-jump") return d.expect;
    FAIL("no noncanonical-jump");
    return Expectation{};
  };
  const Expectation on_hw = find(builtin_probe_defs("default", hw));
  CHECK(on_hw.pc == AddrRule::jump_insn);
  CHECK(find(builtin_probe_defs("default", kvm)).pc == AddrRule::jump_insn);
  const Expectation on_tcg = find(builtin_probe_defs("default", tcg));
  // What the architecture guarantees is still checked.
  CHECK(on_tcg.signo == SIGSEGV);
  CHECK(on_tcg.code == 128);  // SI_KERNEL
  CHECK(on_tcg.addr == AddrRule::zero);
  CHECK(on_tcg.pc == AddrRule::any);
  CHECK(on_tcg.why == "#GP; pc not checked: QEMU TCG reports pc = the target, hardware the jump instruction");
}

TEST_CASE("sh_quote and the init script") {
  CHECK(sh_quote("plain") == "'plain'");
  CHECK(sh_quote("it's") == "'it'\\''s'");
  GuestCommand c;
  c.argv = {"/vmakit/bin/vma-harness", "run", "--only", "a b"};
  c.env = {"VMA_KCONFIG=/vmakit/config"};
  c.modules = {"/vmakit/modules/9p.ko"};
  const std::string s = init_script(c);
  CHECK(s.starts_with("#!/bin/busybox sh\n"));
  CHECK(s.find("insmod '/vmakit/modules/9p.ko' || fail") != std::string::npos);
  CHECK(s.find("run() { env 'VMA_KCONFIG=/vmakit/config' '/vmakit/bin/vma-harness' 'run' '--only' 'a b'; }") !=
        std::string::npos);
  CHECK(s.find("( run >/tmp/vmakit.out; echo $? >/tmp/vmakit.rc ) 2>&1 | cat\n") != std::string::npos);
  CHECK(s.find("mount -t 9p") == std::string::npos);
  c.host_root = true;
  c.cwd = "/work/build";
  const std::string h = init_script(c);
  CHECK(h.find("mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /mnt/lower") != std::string::npos);
  CHECK(h.find("chroot /mnt/root /bin/sh -c 'cd \"$0\" && exec \"$@\"' '/work/build' '/vmakit/bin/vma-harness'") !=
        std::string::npos);
}

TEST_CASE("the shell init script: a prompt, not the command") {
  GuestCommand c;
  c.argv = {"/vmakit/bin/vma-harness", "run"};
  c.env = {"VMA_KCONFIG=/vmakit/config"};
  c.modules = {"/vmakit/modules/9p.ko"};
  const std::string s = shell_init_script(c);
  CHECK(s.starts_with("#!/bin/busybox sh\n"));
  CHECK(s.find("mount -t proc proc /proc\nmount -t sysfs sysfs /sys\n") != std::string::npos);
  CHECK(s.find("mount -t tmpfs tmpfs /tmp\n") != std::string::npos);
  CHECK(s.find("insmod '/vmakit/modules/9p.ko' || echo") != std::string::npos);
  CHECK(s.find("export 'VMA_KCONFIG=/vmakit/config'\n") != std::string::npos);
  CHECK(s.find("export PATH=/vmakit/bin:") != std::string::npos);
  CHECK(s.find("export PS1='vmakit# '\n") != std::string::npos);
  CHECK(s.ends_with("while :; do setsid cttyhack sh; done\n"));
  CHECK(s.find("'run'") == std::string::npos);
  CHECK(s.find("@@vmakit") == std::string::npos);
  CHECK(s.find("poweroff") == std::string::npos);
}

namespace {

/// A file holding `data` in a fresh directory under /tmp (the caller
/// removes the directory).
std::string scratch_file(const std::string& name, const std::string& data, unsigned mode) {
  char dir[] = "/tmp/vmakit-unit.XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = std::string(dir) + "/" + name;
  std::ofstream(path) << data;
  chmod(path.c_str(), mode);
  return path;
}

}  // namespace

TEST_CASE("build_guest_initramfs: busybox, console, config, /init; shell or command") {
  const std::string box = scratch_file("busybox", "not really busybox", 0755);
  const std::string config = scratch_file("config-6.1.0", "CONFIG_X=y\n", 0644);
  GuestImageSpec spec;
  spec.arch = find_guest_arch("x86_64");
  spec.busybox = box;
  spec.kconfig = config;
  spec.command.argv = {std::string(kGuestHarness), "run"};
  auto names = [](const std::string& bytes) {
    std::map<std::string, std::string> m;
    for (const auto& e : read_newc(bytes)) m[e.name] = e.data;
    return m;
  };
  auto run = build_guest_initramfs(spec);
  REQUIRE(run);
  auto m = names(*run);
  CHECK(m.at("bin/busybox") == "not really busybox");
  CHECK(m.count("dev/console") == 1);
  CHECK(m.at("vmakit/config") == "CONFIG_X=y\n");
  CHECK(m.at("init").find("run() { env 'VMA_KCONFIG=/vmakit/config' '/vmakit/bin/vma-harness' 'run'; }") !=
        std::string::npos);
  spec.shell = true;
  auto shell = build_guest_initramfs(spec);
  REQUIRE(shell);
  m = names(*shell);
  CHECK(m.at("init") == shell_init_script(GuestCommand{spec.command.argv, {"VMA_KCONFIG=/vmakit/config"}}));
  spec.busybox = "/nonexistent/busybox";
  auto missing = build_guest_initramfs(spec);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "/nonexistent/busybox: No such file or directory (install Debian busybox-static)");
  std::filesystem::remove_all(std::filesystem::path(box).parent_path());
  std::filesystem::remove_all(std::filesystem::path(config).parent_path());
}

TEST_CASE("console protocol: output between the markers, byte for byte") {
  using Row = std::tuple<std::string, std::string, std::size_t>;
  auto [name, out, chunk] = GENERATE(table<std::string, std::string, std::size_t>({
      Row{"ends in newline", "{\n  \"a\": 1\n}\n", 1},
      Row{"no final newline", "line one\nline two", 7},
      Row{"empty", "", 4096},
      Row{"blank lines kept", "a\n\n\nb\n\n", 3},
  }));
  CAPTURE(name, chunk);
  // The tty turns \n into \r\n; boot noise before init, stderr after.
  std::string console = "[    0.000000] Linux version 6.1.0\r\nBooting\r\n@@vmakit init@@\r\nwarning: x\r\n@@vmakit out@@\r\n";
  std::string printed = out + "\n";  // cat, then echo
  for (char ch : printed) {
    if (ch == '\n') console += "\r\n";
    else console += ch;
  }
  console += "@@vmakit end 1@@\r\nreboot: Power down\r\n";
  ConsoleParser p;
  for (std::size_t i = 0; i < console.size(); i += chunk) p.feed(std::string_view(console).substr(i, chunk));
  p.finish();
  CHECK(p.reached_init());
  REQUIRE(p.exit_status() == 1);
  CHECK(p.output() == out);
  CHECK(p.take_console() == std::vector<std::string>{"warning: x"});
  CHECK(p.last_lines().front() == "[    0.000000] Linux version 6.1.0");
}

TEST_CASE("console protocol: a marker after a progress line's carriage return") {
  ConsoleParser p;
  p.feed("@@vmakit init@@\r\n\raslr [####      ] 10/30 execs\r\033[K@@vmakit out@@\r\nx\r\n\r\n@@vmakit end 0@@\r\n");
  REQUIRE(p.exit_status() == 0);
  CHECK(p.output() == "x\n");
}

TEST_CASE("console protocol: a kernel that never reaches init") {
  ConsoleParser p;
  p.feed("Kernel panic - not syncing: No working init found.\r\n---[ end Kernel panic");
  p.finish();
  CHECK_FALSE(p.reached_init());
  CHECK_FALSE(p.exit_status());
  CHECK(p.last_lines().back() == "---[ end Kernel panic");
  CHECK(p.take_console().empty());
}

TEST_CASE("cpio: newc entries, parents, device node, trailer, 512-byte blocks") {
  CpioArchive a;
  a.add_data("vmakit/bin/x", "hello", 0755);
  a.add_char_device("dev/console", 5, 1);
  a.add_symlink("lib64", "lib");
  const std::string bytes = a.finish();
  CHECK(bytes.size() % 512 == 0);
  const auto e = read_newc(bytes);
  REQUIRE(e.size() == 6);
  CHECK(e[0].name == "vmakit");
  CHECK(e[0].mode == (S_IFDIR | 0755));
  CHECK(e[1].name == "vmakit/bin");
  CHECK(e[2].name == "vmakit/bin/x");
  CHECK(e[2].mode == (S_IFREG | 0755));
  CHECK(e[2].data == "hello");
  CHECK(e[3].name == "dev");
  CHECK(e[4].name == "dev/console");
  CHECK(e[4].mode == (S_IFCHR | 0600));
  CHECK(e[4].rdev_major == 5);
  CHECK(e[4].rdev_minor == 1);
  CHECK(e[5].mode == (S_IFLNK | 0777));
  CHECK(e[5].data == "lib");
}

TEST_CASE("cpio: a missing host file is an error naming it") {
  CpioArchive a;
  auto r = a.add_file("x", "/nonexistent/vmakit-file");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "/nonexistent/vmakit-file: No such file or directory");
}

TEST_CASE("elf_closure: this test's own libraries and interpreter") {
  auto libs = elf_closure({"/proc/self/exe"}, *find_guest_arch("x86_64"));
  REQUIRE(libs);
  auto has = [&](std::string_view suffix) {
    for (const auto& l : *libs)
      if (l.ends_with(suffix)) return true;
    return false;
  };
  CHECK(has("/ld-linux-x86-64.so.2"));
  CHECK(has("/libc.so.6"));
  CHECK(has("/libstdc++.so.6"));
  CHECK(has("/libelf.so.1"));
  CHECK(has("/libz.so.1"));  // libelf's own dependency: the closure is transitive
}

TEST_CASE("module_load_order: dependencies first, built-in names left out") {
  Scratch s;
  s.write("modules.dep",
          "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n"
          "kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz\n"
          "kernel/net/9p/9pnet.ko.xz:\n"
          "kernel/fs/netfs/netfs.ko.xz:\n"
          "kernel/drivers/virtio/virtio_ring.ko.xz:\n"
          "kernel/fs/overlayfs/overlay.ko.xz:\n");
  auto order = module_load_order(s.path.string(), {"virtio_pci", "9pnet_virtio", "9p", "overlay"});
  REQUIRE(order);
  CHECK(*order == std::vector<std::string>{"kernel/net/9p/9pnet.ko.xz", "kernel/drivers/virtio/virtio_ring.ko.xz",
                                           "kernel/net/9p/9pnet_virtio.ko.xz", "kernel/fs/netfs/netfs.ko.xz",
                                           "kernel/fs/9p/9p.ko.xz", "kernel/fs/overlayfs/overlay.ko.xz"});
  auto none = module_load_order((s.path / "nope").string(), {"9p"});
  REQUIRE_FALSE(none);
  CHECK(none.error().message == (s.path / "nope").string() +
                                    "/modules.dep: No such file or directory (run depmod -b DIR RELEASE, or "
                                    "scripts/fetch-kernels.sh)");
}

TEST_CASE("bzImage header: the release string, or not a kernel") {
  std::string img(0x1000, '\0');
  img.replace(0x202, 4, "HdrS");
  // kernel_version = 0x300: the string is at 0x500.
  img[0x20e] = 0x00;
  img[0x20f] = 0x03;
  img.replace(0x500, 40, "6.1.0-57-amd64 (debian-kernel@lists) #1");
  CHECK(bzimage_release(img) == "6.1.0-57-amd64");
  CHECK_FALSE(bzimage_release(std::string(0x1000, 'x')));
  CHECK_FALSE(bzimage_release("short"));
}

TEST_CASE("resolve_kernel: a package directory, a bare image, bad paths") {
  Scratch s;
  std::string img(0x1000, '\0');
  img.replace(0x202, 4, "HdrS");
  img[0x20f] = 0x03;
  img.replace(0x500, 15, "6.12.9-amd64 #1");
  s.write("pkg/boot/vmlinuz-6.12.9-amd64", img);
  s.write("pkg/boot/config-6.12.9-amd64", "CONFIG_MMU=y\n");
  fs::create_directories(s.path / "pkg/usr/lib/modules/6.12.9-amd64");
  auto k = resolve_kernel((s.path / "pkg").string());
  REQUIRE(k);
  CHECK(k->label == "pkg");
  CHECK(k->release == "6.12.9-amd64");
  CHECK(k->config == (s.path / "pkg/boot/config-6.12.9-amd64").string());
  CHECK(k->modules_dir == (s.path / "pkg/usr/lib/modules/6.12.9-amd64").string());
  auto bare = resolve_kernel((s.path / "pkg/boot/vmlinuz-6.12.9-amd64").string());
  REQUIRE(bare);
  CHECK(bare->release == "6.12.9-amd64");
  CHECK(bare->config == (s.path / "pkg/boot/config-6.12.9-amd64").string());
  CHECK(bare->modules_dir.empty());
  s.write("notakernel", "hello");
  auto bad = resolve_kernel((s.path / "notakernel").string());
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        (s.path / "notakernel").string() + ": not a kernel image (no bzImage setup header, no arm64 Image header)");
  fs::create_directories(s.path / "empty");
  CHECK(resolve_kernel((s.path / "empty").string()).error().message ==
        (s.path / "empty").string() +
            ": no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz in this directory (an unpacked linux-image or "
            "linux-binary package?)");
  CHECK(resolve_kernel("/nonexistent/k").error().message == "/nonexistent/k: No such file or directory");
}

TEST_CASE("read_kconfig: an explicit file wins and is named") {
  Scratch s;
  s.write("config-x", "CONFIG_SECURITY_YAMA=y\n# CONFIG_COMPAT_BRK is not set\n");
  auto k = read_kconfig("0.0.0-none", (s.path / "config-x").string());
  REQUIRE(k);
  CHECK(k->source == (s.path / "config-x").string());
  CHECK(k->get("COMPAT_BRK") == "n");
  auto missing = read_kconfig("0.0.0-none", (s.path / "nope").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == (s.path / "nope").string() + ": No such file or directory");
}

namespace {

/// Two saved guest reports (tests/data/vm/README.md) and a failed boot.
std::vector<MatrixEntry> saved_matrix() {
  MatrixEntry a{"bookworm-amd64", "6.1.0-57-amd64", "max", "tcg", 17.0, 0, saved("bookworm-max.json"), ""};
  MatrixEntry b{"trixie-amd64", "6.12.117+deb13-amd64", "max,la57=off", "tcg", 9.6, 0, saved("trixie-max-la57-off.json"), ""};
  MatrixEntry c{"broken", "", "max", "tcg", 3.0, 2, std::nullopt,
                "vm broken: the kernel never reached init (QEMU exited with status 0)\n  last console lines:\n  | Kernel panic"};
  return {a, b, c};
}

const MatrixRow& row(const std::vector<MatrixRow>& rows, const std::string& section, const std::string& name) {
  for (const auto& r : rows)
    if (r.section == section && r.name == name) return r;
  FAIL("no row " << section << " " << name);
  return rows.front();
}

}  // namespace

TEST_CASE("matrix compare: saved 6.1 (5-level) and 6.12 (4-level) reports") {
  auto entries = saved_matrix();
  entries.pop_back();
  const auto rows = compare(entries);
  // mseal: skip on 6.1, pass on 6.12.
  const auto& mseal = row(rows, "probe", "mseal");
  CHECK(mseal.differs);
  CHECK(mseal.cells == std::vector<std::string>{"skip", "pass"});
  CHECK(mseal.details[0] == "mseal needs Linux 6.10");
  CHECK_FALSE(row(rows, "probe", "null-read").differs);
  CHECK(row(rows, "audit", "cpu.la57").cells == std::vector<std::string>{"yes", "no"});
  CHECK(row(rows, "env", "paging_levels").cells == std::vector<std::string>{"5", "4"});
  CHECK(row(rows, "env", "vm.accel").cells == std::vector<std::string>{"tcg", "tcg"});
  const auto& big = row(rows, "aslr", "mmap-big");
  CHECK(big.differs);
  CHECK(big.cells[0] == "28");
  CHECK(big.cells[1] == "19");
  // Sections in order, the differing rows first in each.
  std::vector<std::string> order;
  for (const auto& r : rows)
    if (order.empty() || order.back() != r.section) order.push_back(r.section);
  CHECK(order == std::vector<std::string>{"env", "probe", "audit", "aslr"});
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i].section == rows[i - 1].section) CHECK((rows[i - 1].differs || !rows[i].differs));
  CHECK(matrix_exit_status(entries) == 0);
}

TEST_CASE("matrix: a failed boot is reported, the others still compared, exit 2") {
  const auto entries = saved_matrix();
  CHECK(matrix_exit_status(entries) == 2);
  const auto j = matrix_json(entries);
  REQUIRE(j["kernels"].size() == 3);
  CHECK(j["kernels"][0]["report"] == saved("bookworm-max.json"));
  CHECK(j["kernels"][2]["report"].is_null());
  CHECK(j["kernels"][2]["error"].get<std::string>().starts_with("vm broken: the kernel never reached init"));
  bool mseal = false;
  for (const auto& d : j["differences"])
    if (d["name"] == "mseal") {
      mseal = true;
      CHECK(d["values"] == nlohmann::json{{"bookworm-amd64 max", "skip"}, {"trixie-amd64 max,la57=off", "pass"}});
    }
  CHECK(mseal);
  const std::string text = matrix_text(entries, false);
  CHECK(text.find("[3] broken, cpu max, ?, tcg: ERROR vm broken: the kernel never reached init") != std::string::npos);
  CHECK(text.find("| Kernel panic") != std::string::npos);
  CHECK(text.ends_with("a run did not report\n"));
  const std::string ktap = matrix_ktap(entries);
  CHECK(ktap.starts_with("TAP version 13\n1..3\n"));
  CHECK(ktap.find("ok 1 bookworm-amd64 cpu max\n") != std::string::npos);
  CHECK(ktap.find("    ok 31 mseal # SKIP mseal needs Linux 6.10\n") != std::string::npos);
  CHECK(ktap.find("not ok 3 broken cpu max\n") != std::string::npos);
  const std::string junit = matrix_junit(entries);
  CHECK(junit.find("<testsuite name=\"broken max\" tests=\"1\" failures=\"0\" errors=\"1\"") != std::string::npos);
}

TEST_CASE("matrix: a run that fails its profile makes exit 1") {
  auto entries = saved_matrix();
  entries.pop_back();
  entries[1].exit_status = 1;
  CHECK(matrix_exit_status(entries) == 1);
}

TEST_CASE("judge: an arm64 tagged target, whole for a tracer, untagged for a handler") {
  // arch_untagged_si_addr clears the tag for handlers without
  // SA_EXPOSE_TAGBITS; ptrace sees the siginfo as the fault wrote it.
  Expectation e = fault_expectation(SIGSEGV, 9, AddrRule::target, {});
  Observation o;
  o.outcome = Outcome::fault;
  o.signo = SIGSEGV;
  o.code = 9;
  o.target = 0x0500ffffb0d1e000;
  o.target_untagged = 0x0000ffffb0d1e000;
  o.capture = "ptrace";
  o.addr = 0x0500ffffb0d1e000;
  CHECK(judge(e, o, 4096).status == Status::pass);
  o.addr = 0x0000ffffb0d1e000;
  CHECK(judge(e, o, 4096).status == Status::fail);  // a tracer must see the tag
  o.capture = "handler";
  CHECK(judge(e, o, 4096).status == Status::pass);
  o.addr = 0x0000ffffb0d1f000;
  CHECK(judge(e, o, 4096).status == Status::fail);
}

TEST_CASE("judge: before Linux 5.11 every reader gets the tag cleared (dceec3ff7807)") {
  Environment env;
  env.arch = "aarch64";
  env.cpu.mte = true;
  auto expect_of = [&](std::string_view id) {
    for (const auto& d : builtin_probe_defs("default", env))
      if (d.id == id) return d.expect;
    FAIL("no probe " << id);
    throw;
  };
  Observation o;
  o.outcome = Outcome::fault;
  o.signo = SIGSEGV;
  o.target = 0x0500ffffb08f0000;
  o.target_untagged = 0x0000ffffb08f0000;
  for (const auto& [id, code] : {std::pair{"mte-sync", 9}, std::pair{"tbi-read", 1}}) {
    CAPTURE(id);
    o.code = code;
    env.kernel = parse_kernel_version("5.10.0-35-arm64");
    Expectation old = expect_of(id);
    old.regions.clear();  // no annotation here: the address rule alone
    CHECK(old.target_untagged);
    CHECK(old.why.ends_with("tag cleared in si_addr for every reader before Linux 5.11 (dceec3ff7807)"));
    CHECK(describe(old).find("addr=target-untagged") != std::string::npos);
    for (const char* capture : {"ptrace", "handler"}) {
      CAPTURE(capture);
      o.capture = capture;
      o.addr = 0x0000ffffb08f0000;  // what Debian 11's 5.10 reported
      CHECK(judge(old, o, 4096).status == Status::pass);
      o.addr = 0x0500ffffb08f0000;  // a 5.10 kernel cannot show the tag
      CHECK(judge(old, o, 4096).status == Status::fail);
    }
    env.kernel = parse_kernel_version("5.11.0");
    Expectation now = expect_of(id);
    now.regions.clear();
    CHECK_FALSE(now.target_untagged);
    o.capture = "ptrace";
    o.addr = 0x0000ffffb08f0000;
    CHECK(judge(now, o, 4096).status == Status::fail);
    o.addr = 0x0500ffffb08f0000;
    CHECK(judge(now, o, 4096).status == Status::pass);
  }
}

TEST_CASE("audit: vm.unprivileged_userfaultfd's stock default follows the kernel version") {
  const auto v510 = audit_expectations("default", "x86_64", parse_kernel_version("5.10.0-35-amd64"));
  CHECK(v510.at("unprivileged_userfaultfd").expected == "0|1|not present");
  CHECK(v510.at("unprivileged_userfaultfd").why.starts_with("1 is the stock default before Linux 5.11"));
  CHECK(audit_expectations("default", "x86_64", parse_kernel_version("5.11.0")).at("unprivileged_userfaultfd").expected ==
        "0|not present");
  CHECK(audit_expectations("default", "x86_64", parse_kernel_version("6.1.0-57-amd64"))
            .at("unprivileged_userfaultfd")
            .expected == "0|not present");
  CHECK(audit_expectations("hardened", "x86_64", parse_kernel_version("5.10.0"))
            .at("unprivileged_userfaultfd")
            .expected == "0|not present");
}

TEST_CASE("arm64 expectations come from the arch table, x86-only probes skip there") {
  Environment env;
  env.arch = "aarch64";
  env.kernel = parse_kernel_version("6.1.0-57-arm64");
  env.cpu.mte = env.cpu.bti = env.cpu.paca = true;
  auto defs = builtin_probe_defs("default", env);
  auto find = [&](std::string_view id) -> const Expectation& {
    for (const auto& d : defs)
      if (d.id == id) return d.expect;
    FAIL("no probe " << id);
    throw;
  };
  CHECK(find("mte-sync").code == 9);
  CHECK(find("mte-async").code == 8);
  CHECK(find("bti-landing").signo == SIGILL);
  CHECK(find("bti-landing").code == 1);
  CHECK(find("pac-auth").signo == SIGSEGV);  // no FPAC
  env.cpu.fpac = true;
  CHECK(builtin_probe_defs("default", env)[0].id == "null-read");
  for (const auto& d : builtin_probe_defs("default", env))
    if (d.id == "pac-auth") CHECK((d.expect.signo == SIGILL && d.expect.code == 2));
  for (std::string_view id : {"noncanonical-jump", "vsyscall-read", "vsyscall-call", "pkey"})
    CHECK(find(id).skip.has_value());
  for (const auto& d : builtin_probe_defs("hardened", env))
    if (d.id == "vsyscall-read") CHECK(d.expect.skip.has_value());
  env.cpu.mte = false;
  for (const auto& d : builtin_probe_defs("default", env))
    if (d.id == "mte-sync") CHECK(d.expect.skip == std::string("no MTE (AT_HWCAP2 lacks HWCAP2_MTE)"));
  env.arch = "x86_64";
  for (const auto& d : builtin_probe_defs("default", env))
    if (d.id == "tbi-read") CHECK(d.expect.skip == std::string("arm64 only: top-byte-ignore (x86 LAM is not probed)"));
}

namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = s.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

}  // namespace

// `vma-harness matrix --svg` (issue 17): the picture of the saved reports,
// and a saved `matrix --format json` read back.

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
  CHECK((*back)[2].error == entries[2].error);
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

namespace {

/// Code points of XML text once its entities are read back.
std::size_t xml_chars(std::string s) {
  for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
    for (std::size_t at; (at = s.find(e)) != std::string::npos;) s.replace(at, std::strlen(e), "x");
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

}  // namespace

// Issue 22: docs/vma-harness-matrix.png ended in "ASLR bars: 40 bits fill a
// ce". Every <text> must end inside the picture: its x plus its characters
// at DejaVu Sans Mono's advance (0.602 em of its font size).
TEST_CASE("matrix svg: the picture is wide enough for every text it draws") {
  auto all = saved_matrix();
  MatrixEntry longer = all[0];
  longer.kernel = "a-kernel-with-a-rather-long-name-from-a-saved-report-0123456789";
  for (const std::vector<MatrixEntry>& entries :
       {std::vector<MatrixEntry>{all[0]}, std::vector<MatrixEntry>{all[2]}, std::vector<MatrixEntry>{all[0], all[1]},
        all, std::vector<MatrixEntry>{all[0], longer}}) {
    const std::string svg = matrix_svg(entries);
    std::smatch m;
    REQUIRE(std::regex_search(svg, m, std::regex("<svg [^>]*width=\"(\\d+)\"")));
    const int width = std::stoi(m[1]);
    const std::regex text("<text x=\"(\\d+)\"([^>]*)>([^<]*)</text>");
    std::size_t texts = 0;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator(); ++it) {
      ++texts;
      const int x = std::stoi((*it)[1]);
      const std::string attrs = (*it)[2];
      std::smatch fs;
      const double size = std::regex_search(attrs, fs, std::regex("font-size=\"(\\d+)\"")) ? std::stod(fs[1]) : 12;
      const double right = x + static_cast<double>(xml_chars((*it)[3])) * size * 0.602;
      CAPTURE(entries.size(), width, (*it)[0].str());
      CHECK(right <= width);
    }
    CHECK(texts > 5);
  }
}

// Issue 22: a bzImage cut to its first 100 KB was handed to QEMU, which died
// of Killed (KVM) or never reached init (TCG), neither saying why.
TEST_CASE("kernel image: a header that says more than the file is refused") {
  std::string head(0x10000, '\0');
  head[0x1f1] = 31;                       // setup_sects
  const std::uint32_t syssize = 0x7e000;  // 16-byte paragraphs: 8 MiB in all
  for (int i = 0; i < 4; ++i) head[0x1f4 + i] = static_cast<char>((syssize >> (8 * i)) & 0xff);
  head.replace(0x202, 4, "HdrS");
  const std::uint64_t whole = 32 * 512 + std::uint64_t{syssize} * 16;
  CHECK_FALSE(image_truncated(head, whole));
  CHECK_FALSE(image_truncated(head, whole + 4096));
  CHECK(image_truncated(head, 100000) ==
        "truncated: its bzImage setup header says " + std::to_string(whole) + " bytes, the file has 100000");
  head[0x1f1] = 0;  // 0 means 4 setup sectors
  CHECK(image_truncated(head, 5 * 512 + std::uint64_t{syssize} * 16 - 1).has_value());
  CHECK_FALSE(image_truncated(head, 5 * 512 + std::uint64_t{syssize} * 16));
  // An arm64 Image with an EFI stub: the PE section table places each
  // section's bytes in the file.
  std::string pe(0x1000, '\0');
  pe.replace(0, 2, "MZ");
  pe.replace(0x38, 4, std::string("ARM\x64", 4));
  pe[0x3c] = 0x40;
  pe.replace(0x40, 4, std::string("PE\0\0", 4));
  pe[0x40 + 6] = 1;     // one section
  pe[0x40 + 20] = 0;    // no optional header
  const std::size_t sh = 0x40 + 24;
  auto put32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) pe[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  put32(sh + 16, 0x200000);  // SizeOfRawData
  put32(sh + 20, 0x10000);   // PointerToRawData
  CHECK_FALSE(image_truncated(pe, 0x210000));
  CHECK(image_truncated(pe, 0x100000) ==
        std::string("truncated: its PE/COFF section table says 2162688 bytes, the file has 1048576"));
  CHECK_FALSE(image_truncated(std::string(0x1000, 'x'), 10));
}
