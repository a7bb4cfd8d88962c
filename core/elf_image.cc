#include "elf_image.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fd.h"

namespace vma {

namespace {

/// Ends the Elf handle, then closes the descriptor, on every path.
struct ElfHandle {
  os::Fd fd;
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf) elf_end(elf);
  }
};

void read_symbols(Elf* elf, Elf_Scn* scn, const GElf_Shdr& sh, std::vector<ElfSymbol>& out) {
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || sh.sh_entsize == 0) return;
  std::size_t n = sh.sh_size / sh.sh_entsize;
  for (std::size_t i = 0; i < n; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(data, static_cast<int>(i), &sym)) break;
    int type = GELF_ST_TYPE(sym.st_info);
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE && type != STT_GNU_IFUNC && type != STT_TLS)
      continue;
    if (type == STT_TLS) continue;  // TLS offsets are not addresses
    const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
    if (!name || !*name) continue;
    out.push_back({name, sym.st_value, sym.st_size});
  }
}

}  // namespace

Result<std::shared_ptr<const ElfImage>> ElfImage::open(const std::string& path) {
  static const bool version_ok = elf_version(EV_CURRENT) != EV_NONE;
  if (!version_ok) return Error{"libelf: version mismatch"};
  ElfHandle h;
  // O_NONBLOCK: the path comes from the target (a maps line, a core's
  // NT_FILE) and may name a FIFO, whose open() would wait for a writer.
  auto fd = os::Fd::open(path, O_RDONLY | O_NONBLOCK);
  if (!fd) return fd.error();
  h.fd = std::move(*fd);
  struct stat st {};
  if (fstat(h.fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Error{fmt::format("{}: not a regular file", path)};
  // ELF_C_READ: libelf reads what it needs with pread. With ELF_C_READ_MMAP a
  // file that shrinks while it is read (a library rewritten by an upgrade)
  // raises SIGBUS in whatever process reads it: a debugger here
  // (tests/robustness/elf_truncate_test.cc died of it).
  h.elf = elf_begin(h.fd.get(), ELF_C_READ, nullptr);
  if (!h.elf || elf_kind(h.elf) != ELF_K_ELF) return Error{fmt::format("{}: not an ELF file", path)};
  GElf_Ehdr eh;
  if (!gelf_getehdr(h.elf, &eh)) return Error{fmt::format("{}: bad ELF header: {}", path, elf_errmsg(-1))};

  auto img = std::make_shared<ElfImage>();
  img->path_ = path;
  img->machine_ = eh.e_machine;
  img->type_ = eh.e_type;

  std::size_t nph = 0;
  if (elf_getphdrnum(h.elf, &nph) != 0) return Error{fmt::format("{}: bad program headers: {}", path, elf_errmsg(-1))};
  for (std::size_t i = 0; i < nph; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(h.elf, static_cast<int>(i), &ph)) continue;
    ElfSegment s{ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_align,
                 (ph.p_flags & PF_R) != 0, (ph.p_flags & PF_W) != 0, (ph.p_flags & PF_X) != 0};
    if (ph.p_type == PT_LOAD) img->loads_.push_back(s);
    else if (ph.p_type == PT_GNU_RELRO) img->relro_ = s;
  }

  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(h.elf, &shstrndx) == 0) {
    std::vector<ElfSymbol> symtab, dynsym;
    for (Elf_Scn* scn = elf_nextscn(h.elf, nullptr); scn; scn = elf_nextscn(h.elf, scn)) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      const char* name = elf_strptr(h.elf, shstrndx, sh.sh_name);
      if (sh.sh_type == SHT_SYMTAB) read_symbols(h.elf, scn, sh, symtab);
      else if (sh.sh_type == SHT_DYNSYM) read_symbols(h.elf, scn, sh, dynsym);
      if ((sh.sh_flags & SHF_ALLOC) && sh.sh_size > 0 && name) {
        bool tls = (sh.sh_flags & SHF_TLS) != 0;
        if (tls && sh.sh_type == SHT_NOBITS) continue;  // .tbss takes no address space
        img->sections_.push_back({name, sh.sh_addr, sh.sh_size, sh.sh_offset, true, sh.sh_type == SHT_NOBITS});
      }
    }
    img->symbols_ = symtab.empty() ? std::move(dynsym) : std::move(symtab);
  }
  std::sort(img->sections_.begin(), img->sections_.end(),
            [](const ElfSection& a, const ElfSection& b) { return a.addr < b.addr; });
  std::sort(img->symbols_.begin(), img->symbols_.end(), [](const ElfSymbol& a, const ElfSymbol& b) {
    // Prefer sized symbols, then longer names are no better: keep the first name.
    return a.value < b.value || (a.value == b.value && a.size > b.size);
  });
  return std::shared_ptr<const ElfImage>(std::move(img));
}

const ElfSegment* ElfImage::load_for_offset(std::uint64_t file_offset, bool writable, std::uint64_t page_size) const {
  const ElfSegment* found = nullptr;
  for (const ElfSegment& s : loads_) {
    std::uint64_t lo = s.offset & ~(page_size - 1);
    std::uint64_t hi = s.offset + std::max(s.filesz, std::uint64_t{1});
    if (file_offset < lo || file_offset >= hi) continue;
    if (!found || s.w == writable) found = &s;
    if (s.w == writable) break;
  }
  return found;
}

const ElfSection* ElfImage::section_at(std::uint64_t vaddr) const {
  auto it = std::upper_bound(sections_.begin(), sections_.end(), vaddr,
                             [](std::uint64_t v, const ElfSection& s) { return v < s.addr; });
  // Sections may nest (rare); walk back a little to find one that contains vaddr.
  for (int i = 0; i < 4 && it != sections_.begin(); ++i) {
    --it;
    if (vaddr >= it->addr && vaddr < it->addr + it->size) return &*it;
  }
  return nullptr;
}

const ElfSymbol* ElfImage::symbol_at(std::uint64_t vaddr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                             [](std::uint64_t v, const ElfSymbol& s) { return v < s.value; });
  if (it == symbols_.begin()) return nullptr;
  --it;
  // Step back over zero-sized aliases at the same address to a sized one.
  auto best = it;
  while (best != symbols_.begin() && best->size == 0 && std::prev(best)->value == it->value) --best;
  if (best->size != 0) it = best;
  if (it->size != 0 && vaddr >= it->value + it->size) {
    // Past the end of a sized symbol: only trust it inside its own section.
    const ElfSection* a = section_at(it->value);
    const ElfSection* b = section_at(vaddr);
    if (a != b || a == nullptr) return nullptr;
    if (vaddr - it->value > 0x10000) return nullptr;
  }
  return &*it;
}

std::shared_ptr<const ElfImage> ElfCache::get(const std::string& host_path) {
  std::lock_guard lock(mu_);
  auto it = images_.find(host_path);
  if (it != images_.end()) return it->second;
  auto r = ElfImage::open(host_path);
  std::shared_ptr<const ElfImage> img = r ? std::move(r).value() : nullptr;
  images_.emplace(host_path, img);
  return img;
}

}  // namespace vma
